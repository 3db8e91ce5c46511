package backendtest

import (
	"math"
	"testing"

	"github.com/cnntrain/cnntrain/internal/testsupport/parity"
)

// parity.RelErr is what decides whether a GPU op agrees with the CPU's: a larger
// difference, a NaN or a tensor of another length must never read as
// within tolerance.
func TestRelErr(t *testing.T) {
	for _, tc := range []struct {
		got, want []float32
		err       float64
	}{
		{[]float32{1, 2, 4}, []float32{1, 2, 4}, 0},
		{[]float32{1, 2.5, -4}, []float32{1, 2, -4}, 0.5 / 4},
		{[]float32{0.25, 0}, []float32{0, 0}, 0.25},
	} {
		if e := parity.RelErr(tc.got, tc.want); e != tc.err {
			t.Errorf("parity.RelErr(%v, %v) = %g, want %g", tc.got, tc.want, e, tc.err)
		}
	}
	if e := parity.RelErr([]float32{1, float32(math.NaN())}, []float32{1, 2}); !math.IsNaN(e) {
		t.Errorf("RelErr with a NaN = %g, want NaN", e)
	}
	if e := parity.RelErr([]float32{1}, []float32{1, 2}); !math.IsInf(e, 1) {
		t.Errorf("RelErr of tensors of different lengths = %g, want +Inf", e)
	}
}
