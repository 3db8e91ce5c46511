package vec

import (
	"math/rand/v2"
	"testing"
)

// TestMaxPool2Plane compares the selected kernel with the portable one, bit
// for bit, values and indices, on planes of every width up to 40 (the
// masked tails), several line pairs, planes wider than the pooled part, and
// with ties, NaNs and infinities in the windows.
func TestMaxPool2Plane(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for wo := 0; wo <= 40; wo++ {
		for trial := range 12 {
			w, ho := 2*wo+trial%3, 1+trial%4
			src := make([]float32, 2*ho*w+1)
			for i := range src {
				switch rng.IntN(6) {
				case 0:
					src[i] = special[rng.IntN(len(special))]
				case 1:
					src[i] = 1 // ties
				default:
					src[i] = float32(rng.NormFloat64())
				}
			}
			plane := src[1:] // unaligned
			n := ho * wo
			got, gotArg := make([]float32, n+1), make([]int32, n+1)
			want, wantArg := make([]float32, n), make([]int32, n)
			got[n], gotArg[n] = 42, 42
			MaxPool2Plane(plane, w, ho, wo, got, gotArg)
			if n > 0 {
				maxPool2PlaneGo(&plane[0], w, ho, wo, &want[0], &wantArg[0])
			}
			for i := range want {
				if !same(got[i], want[i]) || gotArg[i] != wantArg[i] {
					t.Fatalf("w=%d ho=%d wo=%d: output %d = %v at %d, want %v at %d", w, ho, wo, i, got[i], gotArg[i], want[i], wantArg[i])
				}
			}
			if got[n] != 42 || gotArg[n] != 42 {
				t.Fatalf("w=%d ho=%d wo=%d: wrote past the end", w, ho, wo)
			}
		}
	}
}

// TestMaxPool2Rule pins both kernels to PyTorch's rule on hand-made
// windows, so that the comparison above compares with the right thing.
func TestMaxPool2Rule(t *testing.T) {
	nan := special[2]
	for _, tc := range []struct {
		window [4]float32
		at     int32
	}{
		{[4]float32{1, 2, 3, 4}, 3},
		{[4]float32{4, 3, 2, 1}, 0},
		{[4]float32{5, 5, 5, 5}, 0}, // the first of equal values
		{[4]float32{1, nan, 9, 2}, 1},
		{[4]float32{nan, 3, nan, 1}, 2}, // a later NaN replaces a NaN
		{[4]float32{special[5], special[5], special[5], special[5]}, 0},
	} {
		for name, f := range map[string]func(src *float32, w, ho, wo int, dst *float32, arg *int32){"go": maxPool2PlaneGo, "selected": maxPool2Plane} {
			var dst [1]float32
			var arg [1]int32
			f(&tc.window[0], 2, 1, 1, &dst[0], &arg[0])
			if arg[0] != tc.at || !same(dst[0], tc.window[tc.at]) {
				t.Errorf("%s: window %v: %v at %d, want %v at %d", name, tc.window, dst[0], arg[0], tc.window[tc.at], tc.at)
			}
		}
	}
}
