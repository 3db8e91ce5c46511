package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dotImpls are the kernels this machine runs: "selected" and, where the
// assembly is selected, "go" too.
func dotImpls() map[string]bool {
	m := map[string]bool{"selected": dotAVX512}
	if dotAVX512 {
		m["go"] = false
	}
	return m
}

// TestDotRows checks DotRows against float64 sums on shapes with edge
// tiles (rows not multiples of 4), tails of p (k not a multiple of 16),
// overlapping shifted rows, several images and C's existing values, for
// every kernel, within the bound (k·count+2)·ε·Σ|a||b| (+|c|).
func TestDotRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, asm := range dotImpls() {
		t.Run(name, func(t *testing.T) {
			defer setDotAVX512(setDotAVX512(asm))
			for _, tc := range []struct{ m, n, k, count int }{
				{1, 1, 1, 1}, {4, 4, 16, 1}, {6, 75, 892, 3}, {16, 150, 136, 2}, {3, 5, 17, 4}, {5, 7, 0, 2}, {2, 9, 31, 0},
				{5, 3, 33, 2}, {10, 6, 47, 1}, {12, 4, 16, 3}, {7, 9, 100, 2},
			} {
				aStride, bStride := tc.m*tc.k+3, tc.k+40
				a := make([]float32, max(1, tc.count)*aStride)
				b := make([]float32, max(1, tc.count)*bStride)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				aRows := make([]int, tc.m)
				for i := range aRows {
					aRows[i] = i * tc.k
				}
				bRows := make([]int, tc.n)
				for j := range bRows {
					bRows[j] = rng.IntN(41) // shifted, overlapping windows, as a convolution reads them
				}
				ldc := tc.n + 2
				c := make([]float32, tc.m*ldc)
				for i := range c {
					c[i] = float32(rng.NormFloat64())
				}
				want := make([]float64, len(c))
				mag := make([]float64, len(c))
				for i := range c {
					want[i], mag[i] = float64(c[i]), math.Abs(float64(c[i]))
				}
				for i := 0; i < tc.m; i++ {
					for j := 0; j < tc.n; j++ {
						for u := 0; u < tc.count; u++ {
							for p := 0; p < tc.k; p++ {
								x := float64(a[aRows[i]+u*aStride+p]) * float64(b[bRows[j]+u*bStride+p])
								want[i*ldc+j] += x
								mag[i*ldc+j] += math.Abs(x)
							}
						}
					}
				}
				DotRows(tc.k, tc.count, a, aRows, aStride, b, bRows, bStride, c, ldc)
				eps := math.Pow(2, -23)
				for i := range c {
					bound := float64(tc.k*tc.count+2) * eps * mag[i]
					if d := math.Abs(float64(c[i]) - want[i]); d > bound {
						t.Fatalf("%+v: c[%d] = %v, want %v (|error| %.3g > bound %.3g)", tc, i, c[i], want[i], d, bound)
					}
				}
			}
		})
	}
}

// TestDotRowsKernelsAgree: the assembly adds in the Go kernels' order, so
// they agree to within the rounding of fused against separate multiply-adds.
func TestDotRowsKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	k, count := 100, 3
	a := make([]float32, 6*k*count)
	b := make([]float32, 4*k*count)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	ap := [6]*float32{&a[0], &a[k], &a[2*k], &a[3*k], &a[4*k], &a[5*k]}
	bp := [4]*float32{&b[0], &b[k], &b[2*k], &b[3*k]}
	check := func(name string, got, want []float32) {
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Abs(float64(want[i]))+1e-5 {
				t.Errorf("%s: out[%d] = %v, Go kernel %v", name, i, got[i], want[i])
			}
		}
	}
	var got4, want4 [16]float32
	ap4 := (*[4]*float32)(ap[:4])
	dot4x4(k, count, ap4, &bp, 6*k, 4*k, &got4)
	dot4x4Go(k, count, ap4, &bp, 6*k, 4*k, &want4)
	check("4x4", got4[:], want4[:])
	var got6, want6 [24]float32
	dot6x4(k, count, &ap, &bp, 6*k, 4*k, &got6)
	dot6x4Go(k, count, &ap, &bp, 6*k, 4*k, &want6)
	check("6x4", got6[:], want6[:])
}

// TestDotRowsRefusesRowsPastTheEnd: a row that would read past its operand
// is a programming error, reported before any memory is touched.
func TestDotRowsRefusesRowsPastTheEnd(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("DotRows read past the end of b without panicking")
		}
	}()
	a, b, c := make([]float32, 32), make([]float32, 32), make([]float32, 1)
	DotRows(16, 2, a, []int{0}, 16, b, []int{1}, 16, c, 1)
}
