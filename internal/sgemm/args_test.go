package sgemm

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// expectArgPanic runs f and checks that it panicked with the package's own
// report of a bad argument (an error or message saying want), not with the
// runtime's index error that an unchecked call may run into later, or not
// at all.
func expectArgPanic(t *testing.T, what, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		var msg string
		switch v := r.(type) {
		case nil:
			t.Errorf("%s: no panic", what)
			return
		case interface{ RuntimeError() }:
			t.Errorf("%s: runtime panic %v, want the argument check", what, v)
			return
		case error:
			msg = v.Error()
		case string:
			msg = v
		}
		if !strings.Contains(msg, want) {
			t.Errorf("%s: panic %q, want one saying %q", what, msg, want)
		}
	}()
	f()
}

// Every argument check of Gemm, GemmRows and DotRows reports its own
// problem. Each call here is 2×2 (k = 3 where it matters) with one argument
// wrong.
func TestBadArgumentsAreReported(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	for _, tc := range []struct {
		what, want string
		call       func()
	}{
		{"negative m", "negative dimension", func() { Gemm(false, false, -1, 2, 3, 1, f(6), 3, f(6), 2, 0, f(4), 2) }},
		{"negative k", "negative dimension", func() { Gemm(false, false, 2, 2, -3, 1, f(6), 3, f(6), 2, 0, f(4), 2) }},
		{"lda < k", "lda 2 < 3", func() { Gemm(false, false, 2, 2, 3, 1, f(6), 2, f(6), 2, 0, f(4), 2) }},
		{"lda < m transposed", "lda 1 < 2", func() { Gemm(true, false, 2, 2, 3, 1, f(6), 1, f(6), 2, 0, f(4), 2) }},
		{"ldb < n", "ldb 1 < 2", func() { Gemm(false, false, 2, 2, 3, 1, f(6), 3, f(6), 1, 0, f(4), 2) }},
		{"ldb < k transposed", "ldb 2 < 3", func() { Gemm(false, true, 2, 2, 3, 1, f(6), 3, f(6), 2, 0, f(4), 2) }},
		{"ldc < n", "ldc 1 < 2", func() { Gemm(false, false, 2, 2, 3, 1, f(6), 3, f(6), 2, 0, f(4), 1) }},
		{"short A", "A has 5 elements, needs 6", func() { Gemm(false, false, 2, 2, 3, 1, f(5), 3, f(6), 2, 0, f(4), 2) }},
		{"short B", "B has 5 elements, needs 6", func() { Gemm(false, false, 2, 2, 3, 1, f(6), 3, f(5), 2, 0, f(4), 2) }},
		{"short C", "C has 3 elements, needs 4", func() { Gemm(false, false, 2, 2, 3, 1, f(6), 3, f(6), 2, 0, f(3), 2) }},

		{"GemmRows negative n", "negative dimension", func() { GemmRows(2, -2, 3, 1, f(6), 3, f(6), []int{0, 0, 0}, 0, f(4), 2) }},
		{"GemmRows offsets for k", "2 row offsets for k=3", func() { GemmRows(2, 2, 3, 1, f(6), 3, f(6), []int{0, 0}, 0, f(4), 2) }},
		{"GemmRows lda < k", "lda 2 or ldc 2 too small", func() { GemmRows(2, 2, 3, 1, f(6), 2, f(6), []int{0, 0, 0}, 0, f(4), 2) }},
		{"GemmRows ldc < n", "lda 3 or ldc 1 too small", func() { GemmRows(2, 2, 3, 1, f(6), 3, f(6), []int{0, 0, 0}, 0, f(4), 1) }},
		{"GemmRows short A", "A has 5 elements, needs 6", func() { GemmRows(2, 2, 3, 1, f(5), 3, f(6), []int{0, 0, 0}, 0, f(4), 2) }},
		{"GemmRows short C", "C has 3 elements, needs 4", func() { GemmRows(2, 2, 3, 1, f(6), 3, f(6), []int{0, 0, 0}, 0, f(3), 2) }},
		{"GemmRows row past B", "row 2 at 5 runs past B's 6 values", func() { GemmRows(2, 2, 3, 1, f(6), 3, f(6), []int{0, 4, 5}, 0, f(4), 2) }},
		{"GemmRows negative row", "row 1 at -1", func() { GemmRows(2, 2, 3, 1, f(6), 3, f(6), []int{0, -1, 0}, 0, f(4), 2) }},

		{"DotRows negative k", "negative k=-1", func() { DotRows(-1, 1, f(8), []int{0}, 0, f(8), []int{0}, 0, f(1), 1) }},
		{"DotRows negative stride", "negative k=2, count=2 or b stride -1", func() { DotRows(2, 2, f(8), []int{0}, 2, f(8), []int{0}, -1, f(1), 1) }},
		{"DotRows row of a past the end", "row of a at 7", func() { DotRows(2, 1, f(8), []int{7}, 0, f(8), []int{0}, 0, f(1), 1) }},
		{"DotRows negative row of b", "row of b at -1", func() { DotRows(2, 1, f(8), []int{0}, 0, f(8), []int{-1}, 0, f(1), 1) }},
		{"DotRows last image past the end", "row of b at 0 (k=4, 2×stride 5)", func() { DotRows(4, 2, f(9), []int{0}, 5, f(8), []int{0}, 5, f(1), 1) }},
		{"DotRows short C", "C has 3 elements and ldc 2, needs 2×2", func() { DotRows(2, 1, f(8), []int{0, 2}, 0, f(8), []int{0, 2}, 0, f(3), 2) }},
		{"DotRows ldc < n", "C has 4 elements and ldc 1, needs 2×2", func() { DotRows(2, 1, f(8), []int{0, 2}, 0, f(8), []int{0, 2}, 0, f(4), 1) }},
	} {
		expectArgPanic(t, tc.what, tc.want, tc.call)
	}
}

// BLAS reads neither A nor B when α = 0: C ← β·C even where A holds NaN
// or Inf (0·Inf is NaN).
func TestAlphaZeroReadsNeitherAnorB(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, im := range variants() {
		withImpl(im, func() {
			c := []float32{1, 2, 3, 4}
			Gemm(false, false, 2, 2, 2, 0, []float32{inf, nan, 1, 1}, 2, []float32{nan, 1, 1, inf}, 2, 0.5, c, 2)
			if want := []float32{0.5, 1, 1.5, 2}; !slices.Equal(c, want) {
				t.Errorf("%s: Gemm with α = 0 gave %v, want β·C = %v", im.name, c, want)
			}
			c = []float32{1, 2, 3, 4}
			GemmRows(2, 2, 2, 0, []float32{inf, nan, 1, 1}, 2, []float32{nan, 1, inf}, []int{0, 1}, 0.5, c, 2)
			if want := []float32{0.5, 1, 1.5, 2}; !slices.Equal(c, want) {
				t.Errorf("%s: GemmRows with α = 0 gave %v, want β·C = %v", im.name, c, want)
			}
		})
	}
}
