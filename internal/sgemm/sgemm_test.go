package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// naive is the definition, accumulated in float64.
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			old := float64(c[i*ldc+j])
			if beta == 0 {
				old = 0
			}
			c[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*old)
		}
	}
}

func random(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestGemmMatchesDefinition(t *testing.T) {
	kernels := map[string]func(int, *float32, *float32, *float32, int){"go": kernelGo, "selected": kernel}
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {6, 16, 1}, {6, 16, 256}, {7, 17, 3}, {5, 15, 2}, {13, 40, 300}, {100, 530, 70}, {97, 33, 513}, {3, 1030, 9}, {0, 4, 3}, {4, 0, 3}, {4, 5, 0}}
	for name, kern := range kernels {
		saved := kernel
		kernel = kern
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, -2}} {
					// Leading dimensions larger than needed, to catch stride mistakes.
					lda, ldb, ldc := k+3, n+2, n+5
					if tr[0] {
						lda = m + 3
					}
					if tr[1] {
						ldb = k + 2
					}
					rowsA, rowsB := m, k
					if tr[0] {
						rowsA = k
					}
					if tr[1] {
						rowsB = n
					}
					a, b := random(rng, max(1, rowsA*lda)), random(rng, max(1, rowsB*ldb))
					c := random(rng, max(1, m*ldc))
					want := append([]float32(nil), c...)
					naive(tr[0], tr[1], m, n, k, ab[0], a, lda, b, ldb, ab[1], want, ldc)
					Gemm(tr[0], tr[1], m, n, k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
					for i := range c {
						if d := math.Abs(float64(c[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i])))*math.Sqrt(float64(k+1)) {
							t.Fatalf("%s kernel, m=%d n=%d k=%d trans=%v alpha,beta=%v: c[%d] = %v, want %v", name, m, n, k, tr, ab, i, c[i], want[i])
						}
					}
				}
			}
		}
		kernel = saved
	}
}

func TestBetaZeroClearsNaN(t *testing.T) {
	c := []float32{float32(math.NaN()), 1}
	Gemm(false, false, 1, 2, 1, 1, []float32{2}, 1, []float32{3, 4}, 2, 0, c, 2)
	if c[0] != 6 || c[1] != 8 {
		t.Errorf("got %v, want [6 8]", c)
	}
}

func TestBadArgumentsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a too-short C did not panic")
		}
	}()
	Gemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
}

// BenchmarkGemm compares with gonum's Sgemm, single-threaded use as the
// convolution makes of it (GOMAXPROCS decides gonum's own threads).
func BenchmarkGemm(b *testing.B) {
	for _, s := range [][3]int{{16, 1024, 27}, {64, 1024, 576}, {128, 256, 1152}, {512, 64, 4608}} {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(1, 1))
		x, y, z := random(rng, m*k), random(rng, k*n), make([]float32, m*n)
		flops := 2 * float64(m*n*k)
		b.Run(fmt.Sprintf("ours/%dx%dx%d", m, n, k), func(b *testing.B) {
			for b.Loop() {
				Gemm(false, false, m, n, k, 1, x, k, y, n, 0, z, n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("gonum/%dx%dx%d", m, n, k), func(b *testing.B) {
			var g gonum.Implementation
			for b.Loop() {
				g.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, x, k, y, n, 0, z, n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
