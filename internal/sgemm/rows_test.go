package sgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGemmRowsMatchesDefinition runs GemmRows on every implementation and
// path (rows read in place by the offset kernels, or packed) against the
// float64 definition of the product with B's rows spelled out, on shifted,
// overlapping windows of one array as a convolution reads them, with edge
// tiles in both directions, several blocks of k and of n, and every α, β.
func TestGemmRowsMatchesDefinition(t *testing.T) {
	const eps = 0x1p-23
	shapes := [][3]int{{6, 892, 75}, {16, 136, 150}, {1, 1, 1}, {7, 33, 5}, {9, 40, 200}, {13, 1100, 20}, {300, 70, 30}, {8, 32, 0}}
	for _, im := range variants() {
		rng := rand.New(rand.NewPCG(3, 4))
		withImpl(im, func() {
			for _, s := range shapes {
				m, n, k := s[0], s[1], s[2]
				img := random(rng, n+100)
				bRows := make([]int, k)
				dense := make([]float32, max(1, k*n))
				for p := range bRows {
					bRows[p] = rng.IntN(100)
					copy(dense[p*n:(p+1)*n], img[bRows[p]:])
				}
				for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, -2}} {
					lda, ldc := k+3, n+5
					a := random(rng, max(1, m*lda))
					c := random(rng, m*ldc)
					want, mag := reference(false, false, m, n, k, ab[0], a, lda, dense, n, ab[1], c, ldc)
					GemmRows(m, n, k, ab[0], a, lda, img, bRows, ab[1], c, ldc)
					for i := range c {
						if d := math.Abs(float64(c[i]) - want[i]); d > float64(k+2)*eps*mag[i] {
							t.Fatalf("%s m=%d n=%d k=%d α,β=%v: c[%d] = %v, want %v", im.name, m, n, k, ab, i, c[i], want[i])
						}
					}
				}
			}
		})
	}
}
