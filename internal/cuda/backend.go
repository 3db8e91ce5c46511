package cuda

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/cuda/kernels"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// Options tune a CUDA backend.
type Options struct {
	// TF32 lets cuBLAS use tensor cores with TF32 inputs for matrix products
	// (and so convolutions). Off, products are strict FP32 (cuBLAS's
	// pedantic math mode).
	TF32 bool
}

// Backend is one GPU. It is not safe for concurrent use: the executor
// issues its calls one after another on the default stream.
type Backend struct {
	l       *libs
	ordinal int
	gpu     GPU
	dev     int32
	ctx     uintptr
	module  uintptr
	fns     map[string]uintptr
	blas    uintptr
	status  *Buffer // one int32 a loss kernel sets when a target is not a class
	args    launchArgs
	opts    Options
	closed  bool
}

var _ backend.Backend = (*Backend)(nil)

// Open starts GPU ordinal: its primary context, the kernels' module, a
// cuBLAS handle.
func Open(ordinal int, opts Options) (*Backend, error) {
	l := load()
	if !l.driverOK || l.err != nil {
		return nil, l.err
	}
	d := l.drv
	var n int32
	if err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&n)); err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= int(n) {
		return nil, fmt.Errorf("cuda:%d: this machine has %d GPU(s)", ordinal, n)
	}
	if kernels.PTX == "" {
		return nil, fmt.Errorf("this build carries no PTX for its CUDA kernels (run make ptx and rebuild)")
	}
	if kernels.PTXSourceHash() != kernels.SourceHash() {
		return nil, fmt.Errorf("the embedded PTX was made from another kernels.cu (run make ptx and rebuild)")
	}
	b := &Backend{l: l, ordinal: ordinal, opts: opts, fns: map[string]uintptr{}}
	var err error
	if b.gpu, err = describe(d, ordinal); err != nil {
		return nil, err
	}
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&b.dev, int32(ordinal))); err != nil {
		return nil, err
	}
	if err := d.check("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&b.ctx, b.dev)); err != nil {
		return nil, err
	}
	if err := d.check("cuCtxSetCurrent", d.cuCtxSetCurrent(b.ctx)); err != nil {
		return nil, err
	}
	if err := d.check("cuModuleLoadData (JIT of the embedded PTX)", d.cuModuleLoadData(&b.module, CString(kernels.PTX))); err != nil {
		return nil, err
	}
	for _, name := range kernels.Names {
		var fn uintptr
		if err := d.check("cuModuleGetFunction "+name, d.cuModuleGetFunction(&fn, b.module, CString(name))); err != nil {
			return nil, err
		}
		b.fns[name] = fn
	}
	bl := l.blas
	if err := bl.check("cublasCreate", bl.create(&b.blas)); err != nil {
		return nil, err
	}
	mode := int32(mathPedantic)
	if opts.TF32 {
		mode = mathTF32
	}
	if err := bl.check("cublasSetMathMode", bl.setMathMode(b.blas, mode)); err != nil {
		return nil, err
	}
	st, err := b.Alloc(1)
	if err != nil {
		return nil, err
	}
	b.status = st.(*Buffer)
	return b, nil
}

// GPU describes the device.
func (b *Backend) GPU() GPU { return b.gpu }

func (b *Backend) Name() string { return fmt.Sprintf("cuda:%d", b.ordinal) }

// Buffer is device memory: an address and a length in 4-byte elements.
type Buffer struct {
	ptr uint64
	n   int
}

func (x *Buffer) Len() int { return x.n }

func dev(x backend.Buffer) *Buffer {
	if x == nil {
		return nil
	}
	return x.(*Buffer)
}

// ptr is x's device address, 0 for nil (a kernel's NULL).
func ptr(x backend.Buffer) arg {
	if d := dev(x); d != nil {
		return arg(d.ptr)
	}
	return 0
}

func (b *Backend) Alloc(n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: cannot allocate %d elements", n)
	}
	buf := &Buffer{n: n}
	if n == 0 {
		return buf, nil
	}
	d := b.l.drv
	if err := d.check(fmt.Sprintf("cuMemAlloc of %.1f MB", float64(n)*4/(1<<20)), d.cuMemAlloc(&buf.ptr, uint64(n)*4)); err != nil {
		return nil, err
	}
	if err := d.check("cuMemsetD32", d.cuMemsetD32(buf.ptr, 0, uint64(n))); err != nil {
		return nil, err
	}
	return buf, nil
}

func (b *Backend) Slice(x backend.Buffer, off, n int) backend.Buffer {
	d := dev(x)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: slice [%d, %d) of a buffer of %d", off, off+n, d.n)) // an executor bug
	}
	return &Buffer{ptr: d.ptr + uint64(off)*4, n: n}
}

func (b *Backend) Upload(dst backend.Buffer, src []float32) error {
	d := dev(dst)
	if d.n != len(src) {
		return fmt.Errorf("cuda: upload of %d values into a buffer of %d", len(src), d.n)
	}
	if len(src) == 0 {
		return nil
	}
	return b.l.drv.check("cuMemcpyHtoD", b.l.drv.cuMemcpyHtoD(d.ptr, unsafe.Pointer(&src[0]), uint64(len(src))*4))
}

func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	s := dev(src)
	if s.n != len(dst) {
		return fmt.Errorf("cuda: download of a buffer of %d values into %d", s.n, len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	return b.l.drv.check("cuMemcpyDtoH", b.l.drv.cuMemcpyDtoH(unsafe.Pointer(&dst[0]), s.ptr, uint64(len(dst))*4))
}

func (b *Backend) Fill(x backend.Buffer, v float32) error {
	d := dev(x)
	return b.l.drv.check("cuMemsetD32", b.l.drv.cuMemsetD32(d.ptr, math.Float32bits(v), uint64(d.n)))
}

func (b *Backend) Sync() error {
	return b.l.drv.check("cuCtxSynchronize", b.l.drv.cuCtxSynchronize())
}

func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var first error
	keep := func(err error) {
		if first == nil {
			first = err
		}
	}
	keep(b.Sync())
	if b.blas != 0 {
		keep(b.l.blas.check("cublasDestroy", b.l.blas.destroy(b.blas)))
	}
	if b.module != 0 {
		keep(b.l.drv.check("cuModuleUnload", b.l.drv.cuModuleUnload(b.module)))
	}
	keep(b.l.drv.check("cuDevicePrimaryCtxRelease", b.l.drv.cuDevicePrimaryCtxRelease(b.dev)))
	return first
}

func (b *Backend) SGD(p, g, velocity backend.Buffer, s ops.SGDStep) error {
	n := dev(p).n
	first := 0
	if s.First {
		first = 1
	}
	return b.launchN("sgd_step", n, ptr(p), ptr(g), ptr(velocity), i32(n), f32(s.LR), f32(s.Momentum), f32(s.WeightDecay), i32(first))
}

func (b *Backend) Adam(p, g, m, v backend.Buffer, s ops.AdamStep) error {
	n := dev(p).n
	return b.launchN("adam_step", n, ptr(p), ptr(g), ptr(m), ptr(v), i32(n),
		f32(s.Beta1), f32(s.OneMinusBeta1), f32(s.Beta2), f32(s.OneMinusBeta2),
		f32(s.NegStepSize), f32(s.BiasCorrection2Sqrt), f32(s.Eps), f32(s.WeightDecay))
}
