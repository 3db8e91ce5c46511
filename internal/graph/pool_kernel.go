package graph

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// maxPool2dKernel is PyTorch's MaxPool2d(k) (stride k, no padding, floor mode):
// (N, C, H, W) → (N, C, H/k, W/k). Forward remembers where each maximum was so
// backward routes each gradient to exactly that input. The rule is PyTorch's:
// scanning the window row by row, a value replaces the maximum when it is
// greater or NaN, so the first maximum wins a tie and NaN always wins.
type maxPool2dKernel struct {
	size   int
	argmax []int32 // per output element: its input's index within the (H, W) plane
}

func (p *maxPool2dKernel) name() string { return fmt.Sprintf("MaxPool2d(%d)", p.size) }

func (p *maxPool2dKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) != 4 {
		return nil, fmt.Errorf("want x (N, C, H, W), got %v", x)
	}
	if x[2] < p.size || x[3] < p.size {
		return nil, fmt.Errorf("input of %dx%d pixels is smaller than the %dx%d window", x[2], x[3], p.size, p.size)
	}
	return tensor.Shape{x[0], x[1], x[2] / p.size, x[3] / p.size}, nil
}

func (p *maxPool2dKernel) forward(in []buffer, out buffer) error {
	x := in[0]
	h, w := x.shape[2], x.shape[3]
	ho, wo := h/p.size, w/p.size
	planes := x.shape[0] * x.shape[1]
	if len(p.argmax) != len(out.data) {
		p.argmax = make([]int32, len(out.data))
	}
	parallelFor(planes, h*w, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src := x.data[pl*h*w : (pl+1)*h*w]
			dst, arg := out.data[pl*ho*wo:(pl+1)*ho*wo], p.argmax[pl*ho*wo:(pl+1)*ho*wo]
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
	})
	return nil
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

func (p *maxPool2dKernel) backward(_ int, in []buffer, out, dOut, dIn buffer) error {
	x := in[0]
	hw := x.shape[2] * x.shape[3]
	per := len(out.data) / (x.shape[0] * x.shape[1])
	clear(dIn.data)
	for o, g := range dOut.data {
		dIn.data[(o/per)*hw+int(p.argmax[o])] += g
	}
	return nil
}

// reluKernel is max(x, 0), keeping NaN so the NaN guard sees it.
type reluKernel struct{}

func (reluKernel) name() string { return "ReLU" }

func (reluKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) { return in[0].Clone(), nil }

// forward uses Go's max, which compiles without a branch (signs of
// activations are a coin toss, so a branch mispredicts half the time) and
// returns NaN for NaN.
func (reluKernel) forward(in []buffer, out buffer) error {
	dst := out.data[:len(in[0].data)]
	for i, v := range in[0].data {
		dst[i] = max(v, 0)
	}
	return nil
}

// backward passes the gradient where the output is positive, like PyTorch's
// threshold_backward on the result. Without a branch: the output is +0 or
// positive, so the negated bit pattern's sign smeared over 32 bits is a mask
// that is all ones exactly where the output is positive.
func (reluKernel) backward(_ int, _ []buffer, out, dOut, dIn buffer) error {
	dy, dx := dOut.data[:len(out.data)], dIn.data[:len(out.data)]
	for i, y := range out.data {
		mask := uint32(-int32(math.Float32bits(y)) >> 31)
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & mask)
	}
	return nil
}
