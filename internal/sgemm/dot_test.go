package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// dotImpls are the dot kernels this machine runs, by name.
func dotImpls() map[string]func(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32) {
	m := map[string]func(k, count int, a, b *[4]*float32, aStride, bStride int, out *[16]float32){"go": dot4x4Go}
	if dot4x4 != nil {
		m["selected"] = dot4x4
	}
	return m
}

// TestDotRows checks DotRows against float64 sums on shapes with edge
// tiles (rows not multiples of 4), tails of p (k not a multiple of 16),
// overlapping shifted rows, several images and C's existing values, for
// every kernel, within the bound (k·count+2)·ε·Σ|a||b| (+|c|).
func TestDotRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, kernel := range dotImpls() {
		t.Run(name, func(t *testing.T) {
			saved := dot4x4
			dot4x4 = kernel
			defer func() { dot4x4 = saved }()
			for _, tc := range []struct{ m, n, k, count int }{
				{1, 1, 1, 1}, {4, 4, 16, 1}, {6, 75, 892, 3}, {16, 150, 136, 2}, {3, 5, 17, 4}, {5, 7, 0, 2}, {2, 9, 31, 0},
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

// TestDotRowsKernelsAgree: the assembly adds in the Go kernel's order, so the
// two agree to within the rounding of fused against separate multiply-adds.
func TestDotRowsKernelsAgree(t *testing.T) {
	if dot4x4 == nil {
		t.Skip("no assembly kernel")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	k, count := 100, 3
	a := make([]float32, 4*k*count)
	b := make([]float32, 4*k*count)
	for i := range a {
		a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	ap := [4]*float32{&a[0], &a[k], &a[2*k], &a[3*k]}
	bp := [4]*float32{&b[0], &b[k], &b[2*k], &b[3*k]}
	var got, want [16]float32
	dot4x4(k, count, &ap, &bp, 4*k, 4*k, &got)
	dot4x4Go(k, count, &ap, &bp, 4*k, 4*k, &want)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*math.Abs(float64(want[i]))+1e-5 {
			t.Errorf("out[%d] = %v, Go kernel %v", i, got[i], want[i])
		}
	}
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
