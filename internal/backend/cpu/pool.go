package cpu

import (
	"math"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
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
			pool2(src, w, ho, wo, dst, arg)
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

// pool2 is the 2×2 window unrolled: the common case, and the one where the
// general loop's bookkeeping costs as much as the comparisons.
func pool2(src []float32, w, ho, wo int, dst []float32, arg []int32) {
	for oy := 0; oy < ho; oy++ {
		r0 := src[2*oy*w : 2*oy*w+2*wo]
		r1 := src[(2*oy+1)*w : (2*oy+1)*w+2*wo]
		d, g := dst[oy*wo:oy*wo+wo], arg[oy*wo:oy*wo+wo]
		base := int32(2 * oy * w)
		for ox := range d {
			a, b, c, e := r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1]
			best, at := a, int32(2*ox) // PyTorch starts from −inf: the first value always enters
			if b > best || b != b {
				best, at = b, int32(2*ox+1)
			}
			if c > best || c != c {
				best, at = c, int32(w+2*ox)
			}
			if e > best || e != e {
				best, at = e, int32(w+2*ox+1)
			}
			d[ox], g[ox] = best, base+at
		}
	}
}

func (p *maxPool2d) Backward(_ int, a backend.Args) error {
	dOut, dIn, argmax := f32(a.DOut), f32(a.DIn), i32(a.Saved[0])
	hw := p.x[2] * p.x[3]
	per := p.out[2] * p.out[3]
	clear(dIn)
	for o, g := range dOut {
		dIn[(o/per)*hw+int(argmax[o])] += g
	}
	return nil
}

// relu is max(x, 0), keeping NaN so the NaN guard sees it.
type relu struct{}

func (relu) Workspace() int { return 0 }

// Forward uses Go's max, which compiles without a branch (signs of
// activations are a coin toss, so a branch mispredicts half the time) and
// returns NaN for NaN.
func (relu) Forward(a backend.Args) error {
	x := f32(a.In[0])
	dst := f32(a.Out)[:len(x)]
	for i, v := range x {
		dst[i] = max(v, 0)
	}
	return nil
}

// Backward passes the gradient where the output is positive, like PyTorch's
// threshold_backward on the result. Without a branch: the output is +0 or
// positive, so the negated bit pattern's sign smeared over 32 bits is a mask
// that is all ones exactly where the output is positive.
func (relu) Backward(_ int, a backend.Args) error {
	out := f32(a.Out)
	dy, dx := f32(a.DOut)[:len(out)], f32(a.DIn)[:len(out)]
	for i, y := range out {
		mask := uint32(-int32(math.Float32bits(y)) >> 31)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & mask)
	}
	return nil
}
