package cpu

import (
	"math"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/vec"
)

// maxPool2d is PyTorch's MaxPool2d(k) (stride k, no padding, floor mode):
// (N, C, H, W) → (N, C, H/k, W/k). Forward saves where each maximum was (the
// op's "argmax") so backward routes each gradient to exactly that input. The
// rule is PyTorch's: scanning the window row by row, a value replaces the
// maximum when it is greater or NaN, so the first maximum wins a tie and NaN
// always wins.
type maxPool2d struct {
	size    int
	x, out  ops.Shape
	workers int
	// The call in progress, for run.
	src, dst []float32
	argmax   []int32
}

func (*maxPool2d) Workspace() int { return 0 }

func (p *maxPool2d) Forward(a backend.Args) error {
	p.src, p.dst, p.argmax = f32(a.In[0]), f32(a.Out), i32(a.Saved[0])
	parallelFor(p.x[0]*p.x[1], p.x[2]*p.x[3], p.workers, p)
	return nil
}

// run pools planes [lo, hi).
func (p *maxPool2d) run(_, lo, hi int) {
	h, w := p.x[2], p.x[3]
	ho, wo := h/p.size, w/p.size
	for pl := lo; pl < hi; pl++ {
		src := p.src[pl*h*w : (pl+1)*h*w]
		dst, arg := p.dst[pl*ho*wo:(pl+1)*ho*wo], p.argmax[pl*ho*wo:(pl+1)*ho*wo]
		if p.size == 2 {
			// Vectorized: branches on which of four values is largest
			// mispredict half the time.
			vec.MaxPool2Plane(src, w, ho, wo, dst, arg)
			continue
		}
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				best, at := float32(math.Inf(-1)), oy*p.size*w+ox*p.size
				for ky := 0; ky < p.size; ky++ {
					row := (oy*p.size+ky)*w + ox*p.size
					for kx, v := range src[row : row+p.size] {
						if v > best || v != v {
							best, at = v, row+kx
						}
					}
				}
				dst[oy*wo+ox], arg[oy*wo+ox] = best, int32(at)
			}
		}
	}
}

func (p *maxPool2d) Backward(_ int, a backend.Args) error {
	dOut, dIn, argmax := f32(a.DOut), f32(a.DIn), i32(a.Saved[0])
	hw := p.x[2] * p.x[3]
	per := p.out[2] * p.out[3]
	clear(dIn)
	for pl := range p.x[0] * p.x[1] {
		plane := dIn[pl*hw : (pl+1)*hw]
		for o, g := range dOut[pl*per : (pl+1)*per] {
			plane[argmax[pl*per+o]] += g
		}
	}
	return nil
}

// relu is max(x, 0) as PyTorch computes it (vec.ReLU: NaN stays NaN), its
// backward PyTorch's threshold_backward (vec.ReLUGrad). Large tensors are
// split over the workers in blocks of reluBlock values.
type relu struct {
	workers int
	// The call in progress, for run.
	backward     bool
	x, y, dy, dx []float32
}

// reluBlock values per work item: 16 KB, a multiple of the 16-value vectors.
const reluBlock = 4096

func (*relu) Workspace() int { return 0 }

func (r *relu) Forward(a backend.Args) error {
	r.backward, r.x = false, f32(a.In[0])
	r.y = f32(a.Out)[:len(r.x)]
	r.split(len(r.x))
	return nil
}

func (r *relu) Backward(_ int, a backend.Args) error {
	r.backward, r.y = true, f32(a.Out)
	r.dy, r.dx = f32(a.DOut)[:len(r.y)], f32(a.DIn)[:len(r.y)]
	r.split(len(r.y))
	return nil
}

// split runs the pass over n values, a block per item; an element counts
// as a few multiply-adds' worth of work.
func (r *relu) split(n int) {
	parallelFor((n+reluBlock-1)/reluBlock, reluBlock/8, r.workers, r)
}

func (r *relu) run(_, lo, hi int) {
	a, b := lo*reluBlock, min(hi*reluBlock, len(r.y))
	if r.backward {
		vec.ReLUGrad(r.dx[a:b], r.dy[a:b], r.y[a:b])
		return
	}
	vec.ReLU(r.y[a:b], r.x[a:b])
}
