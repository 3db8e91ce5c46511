package cuda

import (
	"fmt"
	"math"
	"unsafe"
)

// arg is one kernel argument as the bytes CUDA copies: a device address
// (8 bytes), an int or float (the low 4 bytes) or a double.
type arg uint64

func i32(v int) arg     { return arg(uint32(int32(v))) }
func f32(v float32) arg { return arg(math.Float32bits(v)) }
func f64(v float64) arg { return arg(math.Float64bits(v)) }

// launchArgs is the backend's reusable argument block: cuLaunchKernel takes
// an array of pointers to the argument values, and keeping both arrays in
// the backend means a launch allocates nothing.
type launchArgs struct {
	vals [20]arg
	ptrs [21]unsafe.Pointer // NULL after the last: the GPU emulator checks the count
}

const (
	blockSize = 256   // threads per block, as kernels/README.md prescribes
	maxGrid   = 65535 // blocks for grid-stride kernels
)

// launch runs kernel name on a 1-D grid.
func (b *Backend) launch(name string, grid, block int, args ...arg) error {
	fn, ok := b.fns[name]
	if !ok {
		return fmt.Errorf("cuda: no kernel %s", name)
	}
	if len(args) > len(b.args.vals) {
		return fmt.Errorf("cuda: %s takes %d arguments, the launch block holds %d", name, len(args), len(b.args.vals))
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	la := &b.args
	for i, a := range args {
		la.vals[i] = a
		la.ptrs[i] = unsafe.Pointer(&la.vals[i])
	}
	la.ptrs[len(args)] = nil
	r := b.l.drv.cuLaunchKernel(fn, uint32(grid), 1, 1, uint32(block), 1, 1, 0, b.stream, &la.ptrs[0], nil)
	return b.l.drv.check("launch "+name, r)
}

// launchN runs a grid-stride kernel over n elements.
func (b *Backend) launchN(name string, n int, args ...arg) error {
	if n == 0 {
		return nil
	}
	return b.launch(name, min((n+blockSize-1)/blockSize, maxGrid), blockSize, args...)
}

// launchBlocks runs a kernel with one block per work item (slices of channels) or one block.
func (b *Backend) launchBlocks(name string, blocks int, args ...arg) error {
	return b.launch(name, blocks, blockSize, args...)
}
