package vec

import (
	"math/rand/v2"
	"testing"
)

// TestMaxPool2Row compares the selected kernel with the portable one, bit
// for bit, values and indices, on lines of every width up to 40 (the masked
// tails) and with ties, NaNs and infinities in the windows.
func TestMaxPool2Row(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for wo := 0; wo <= 40; wo++ {
		for trial := range 20 {
			w := 2*wo + trial%3 // planes may be wider than the pooled part
			plane := make([]float32, 2*w+1)
			for i := range plane {
				switch rng.IntN(6) {
				case 0:
					plane[i] = special[rng.IntN(len(special))]
				case 1:
					plane[i] = 1 // ties
				default:
					plane[i] = float32(rng.NormFloat64())
				}
			}
			base := 1 + 2*w*rng.IntN(5) // an index of a later line in a larger plane
			r0, r1 := plane[1:1+w], plane[1+w:1+2*w]
			got, gotArg := make([]float32, wo+1), make([]int32, wo+1)
			want, wantArg := make([]float32, wo), make([]int32, wo)
			got[wo], gotArg[wo] = 42, 42
			MaxPool2Row(r0, r1, wo, base, w, got, gotArg)
			if wo > 0 {
				maxPool2RowGo(&r0[0], &r1[0], wo, base, w, &want[0], &wantArg[0])
			}
			for ox := range want {
				if !same(got[ox], want[ox]) || gotArg[ox] != wantArg[ox] {
					t.Fatalf("wo=%d ox=%d window %v %v %v %v: got %v at %d, want %v at %d", wo, ox,
						r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1], got[ox], gotArg[ox], want[ox], wantArg[ox])
				}
			}
			if got[wo] != 42 || gotArg[wo] != 42 {
				t.Fatalf("wo=%d: wrote past the end", wo)
			}
		}
	}
}

// TestMaxPool2RowRule pins the portable kernel to PyTorch's rule on
// hand-made windows, so that the comparison above compares with the right
// thing.
func TestMaxPool2RowRule(t *testing.T) {
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
		for name, f := range map[string]func(r0, r1 *float32, wo, base, w int, dst *float32, arg *int32){"go": maxPool2RowGo, "selected": maxPool2Row} {
			r0, r1 := tc.window[:2], tc.window[2:]
			var dst [1]float32
			var arg [1]int32
			f(&r0[0], &r1[0], 1, 100, 10, &dst[0], &arg[0])
			want := tc.at%2 + 10*(tc.at/2) + 100
			if arg[0] != want || !same(dst[0], tc.window[tc.at]) {
				t.Errorf("%s: window %v: %v at %d, want %v at %d", name, tc.window, dst[0], arg[0], tc.window[tc.at], want)
			}
		}
	}
}
