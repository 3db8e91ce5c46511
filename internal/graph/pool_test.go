package graph

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// MaxPool2d follows PyTorch: the first maximum of a window gets the gradient,
// a NaN always wins (the last one, scanning row by row), for the unrolled 2×2
// path and the general one alike.
func TestMaxPoolTiesAndNaN(t *testing.T) {
	nan := float32(math.NaN())
	for _, size := range []int{2, 3} {
		// Window 0: a tie between positions 1 and 2; window 1: NaN at its third position.
		plane := make([]float32, size*2*size)
		set := func(window, pos int, v float32) {
			plane[(pos/size)*2*size+window*size+pos%size] = v
		}
		set(0, 1, 5)
		set(0, 2, 5)
		set(1, 0, 9)
		set(1, 2, nan)
		k := &maxPool2dKernel{size: size}
		in := []buffer{{data: plane, shape: tensor.Shape{1, 1, size, 2 * size}}}
		out := buffer{data: make([]float32, 2), shape: tensor.Shape{1, 1, 1, 2}}
		if err := k.forward(in, out); err != nil {
			t.Fatal(err)
		}
		if out.data[0] != 5 || !math.IsNaN(float64(out.data[1])) {
			t.Errorf("size %d: pooled %v, want [5 NaN]", size, out.data)
		}
		dIn := buffer{data: make([]float32, len(plane)), shape: in[0].shape}
		if err := k.backward(0, in, out, buffer{data: []float32{1, 2}}, dIn); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(plane))
		want[(1/size)*2*size+1%size] = 1      // first of the tied 5s
		want[(2/size)*2*size+size+2%size] = 2 // the NaN
		for i := range want {
			if dIn.data[i] != want[i] {
				t.Errorf("size %d: gradient %v, want %v", size, dIn.data, want)
				break
			}
		}
	}
}
