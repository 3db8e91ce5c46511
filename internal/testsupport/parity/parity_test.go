package parity

import (
	"fmt"
	"math"
	"testing"
)

func TestRelErr(t *testing.T) {
	for _, tc := range []struct {
		got, want []float32
		err       float64
	}{
		{[]float32{1, 2, 4}, []float32{1, 2, 4}, 0},
		{[]float32{1, 2.5, 4}, []float32{1, 2, 4}, 0.5 / 4}, // against the largest |want|
		{[]float32{-1, 2, -8.5}, []float32{-1, 2, -8}, 0.5 / 8},
		{[]float32{0.25, 0}, []float32{0, 0}, 0.25}, // want all zero: the absolute difference
	} {
		if e := RelErr(tc.got, tc.want); e != tc.err {
			t.Errorf("RelErr(%v, %v) = %g, want %g", tc.got, tc.want, e, tc.err)
		}
	}
	if e := RelErr([]float32{float32(math.NaN())}, []float32{1}); !math.IsNaN(e) {
		t.Errorf("RelErr of a NaN = %g: it must not compare as within tolerance", e)
	}
}

// recorder is a testing.TB that notes failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
}
func (r *recorder) Logf(string, ...any) {}

// ExpectClose passes what is within tolerance and fails everything else: a
// larger error, a NaN, a tensor of another length.
func TestExpectClose(t *testing.T) {
	want := []float32{1, -2, 4}
	for _, tc := range []struct {
		what string
		got  []float32
		fail bool
	}{
		{"equal", []float32{1, -2, 4}, false},
		{"within tolerance", []float32{1, -2, 4 + 3e-4}, false}, // 7.5e-5 of 4
		{"beyond tolerance", []float32{1, -2, 4 + 5e-4}, true},  // 1.25e-4 of 4
		{"a NaN", []float32{1, float32(math.NaN()), 4}, true},
		{"shorter", []float32{1, -2}, true},
		{"longer", []float32{1, -2, 4, 0}, true},
	} {
		r := &recorder{TB: t}
		ExpectClose(r, "x", tc.got, want, Tol)
		if r.failed != tc.fail {
			t.Errorf("%s: failed %v (%q), want %v", tc.what, r.failed, r.msg, tc.fail)
		}
	}
}
