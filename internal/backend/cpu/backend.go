// Package cpu is cnntrain's CPU backend: every op of internal/ops as a kernel
// on host memory, matrix products through internal/sgemm, work spread over
// GOMAXPROCS goroutines. Results are bit-for-bit repeatable on one machine:
// no kernel's arithmetic depends on how goroutines are scheduled.
package cpu

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// Backend is the CPU. The zero value is not usable; call New.
type Backend struct {
	workers int
}

var _ backend.Backend = (*Backend)(nil)

// New returns the CPU backend, using GOMAXPROCS goroutines per op.
func New() *Backend { return &Backend{workers: runtime.GOMAXPROCS(0)} }

// Buffer is host memory.
type Buffer struct {
	data []float32
	own  []float32 // while data is host memory (ReadHost), the buffer's own
}

func (b *Buffer) Len() int { return len(b.data) }

// Floats is the buffer's memory, for tests and the executor's host views.
func (b *Buffer) Floats() []float32 { return b.data }

func (*Backend) Name() string { return "cpu" }

// Workers is the number of goroutines an op is spread over.
func (c *Backend) Workers() int { return c.workers }

func (*Backend) Alloc(n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cpu: cannot allocate %d elements", n)
	}
	// Go cannot recover from running out of memory, so an allocation the
	// machine cannot hold is refused while it can still be reported.
	const checkAbove = 64 << 20 // bytes: smaller buffers cannot be the problem
	if n*4 < checkAbove {
		return &Buffer{data: make([]float32, n)}, nil
	}
	if avail, ok := availableMemory(); ok && uint64(n)*4 > avail {
		return nil, fmt.Errorf("cpu: %.2f GB needed, %.2f GB of memory available", float64(n)*4/1e9, float64(avail)/1e9)
	}
	return &Buffer{data: make([]float32, n)}, nil
}

// availableMemory is MemAvailable of /proc/meminfo, where there is one.
func availableMemory() (uint64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// Free drops the buffer's memory for the garbage collector (views keep it).
func (*Backend) Free(b backend.Buffer) error {
	if buf, ok := b.(*Buffer); ok {
		buf.data = nil
	}
	return nil
}

func (*Backend) Slice(b backend.Buffer, off, n int) backend.Buffer {
	return &Buffer{data: f32(b)[off : off+n : off+n]}
}

func (*Backend) Upload(dst backend.Buffer, src []float32) error {
	b := dst.(*Buffer)
	if b.own != nil { // it was reading host memory: back to its own
		b.data, b.own = b.own, nil
	}
	d := b.data
	if len(d) != len(src) {
		return fmt.Errorf("cpu: upload of %d values into a buffer of %d", len(src), len(d))
	}
	copy(d, src)
	return nil
}

// ReadHost makes dst read src in place: a training or test batch is used
// where the data pipeline left it instead of copied (3 MB per MNIST test
// batch of 1,000). Upload of dst later copies into memory of its own again.
func (*Backend) ReadHost(dst backend.Buffer, src []float32) bool {
	b := dst.(*Buffer)
	if len(b.data) != len(src) {
		return false
	}
	if b.own == nil {
		b.own = b.data
	}
	b.data = src
	return true
}

func (*Backend) Download(dst []float32, src backend.Buffer) error {
	s := f32(src)
	if len(s) != len(dst) {
		return fmt.Errorf("cpu: download of a buffer of %d values into %d", len(s), len(dst))
	}
	copy(dst, s)
	return nil
}

func (*Backend) Fill(b backend.Buffer, v float32) error {
	d := f32(b)
	for i := range d {
		d[i] = v
	}
	return nil
}

func (*Backend) Sync() error  { return nil }
func (*Backend) Close() error { return nil }

// Compile makes the CPU kernel of op for the given input shapes.
func (c *Backend) Compile(op ops.Op, in []ops.Shape) (backend.Kernel, error) {
	out, err := op.OutputShape(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch op.Kind {
	case ops.Linear:
		return newLinear(in[0][0], in[1][0], in[1][1], c.workers), nil
	case ops.Conv2d:
		return newConv2d(op, in, c.workers), nil
	case ops.MaxPool2d:
		return &maxPool2d{size: op.Size, x: in[0], out: out, workers: c.workers}, nil
	case ops.ReLU:
		return &relu{workers: c.workers}, nil
	case ops.LogSoftmax:
		return &logSoftmax{n: in[0][0], k: in[0][1], workers: c.workers}, nil
	case ops.NLLLoss, ops.CrossEntropyLoss:
		return &classLoss{fromLogits: op.Kind == ops.CrossEntropyLoss, n: in[0][0], k: in[0][1]}, nil
	case ops.BatchNorm2d:
		return &batchNorm{eps: op.Eps, momentum: op.Momentum, mode: op.Mode, x: in[0], workers: c.workers,
			sumDy: make([]float64, in[0][1]), sumDyXhat: make([]float64, in[0][1])}, nil
	}
	return nil, fmt.Errorf("%w: %s", backend.ErrUnsupported, op)
}

// SGD is torch.optim.SGD's update (see ops.SGDStep).
func (*Backend) SGD(p, g, velocity backend.Buffer, s ops.SGDStep) error {
	w, grad := f32(p), f32(g)
	if len(w) != len(grad) {
		return fmt.Errorf("sgd: parameter has %d values, its gradient %d", len(w), len(grad))
	}
	negLR, mu, wd := -s.LR, s.Momentum, s.WeightDecay
	if mu == 0 {
		for j := range w {
			w[j] += negLR * (grad[j] + wd*w[j])
		}
		return nil
	}
	v := f32(velocity)
	for j := range w {
		d := grad[j] + wd*w[j]
		if s.First {
			v[j] = d
		} else {
			v[j] = mu*v[j] + d
		}
		w[j] += negLR * v[j]
	}
	return nil
}

// Adam is torch.optim.Adam's update (see ops.AdamStep).
func (*Backend) Adam(p, g, m, v backend.Buffer, s ops.AdamStep) error {
	w, grad, mm, vv := f32(p), f32(g), f32(m), f32(v)
	if len(w) != len(grad) || len(mm) != len(w) || len(vv) != len(w) {
		return fmt.Errorf("adam: parameter has %d values, gradient %d, moments %d and %d", len(w), len(grad), len(mm), len(vv))
	}
	for j := range w {
		d := grad[j]
		if s.WeightDecay != 0 {
			d += s.WeightDecay * w[j]
		}
		mm[j] = s.Beta1*mm[j] + s.OneMinusBeta1*d
		vv[j] = s.Beta2*vv[j] + s.OneMinusBeta2*d*d
		denom := float32(math.Sqrt(float64(vv[j])))/s.BiasCorrection2Sqrt + s.Eps
		w[j] += s.NegStepSize * mm[j] / denom
	}
	return nil
}

// f32 is a CPU buffer's memory; any other buffer is a programming error of
// the executor, which never mixes backends.
func f32(b backend.Buffer) []float32 {
	if b == nil {
		return nil
	}
	return b.(*Buffer).data
}

// i32 views a buffer's memory as int32 (ops.I32 tensors).
func i32(b backend.Buffer) []int32 {
	d := f32(b)
	if len(d) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&d[0])), len(d))
}
