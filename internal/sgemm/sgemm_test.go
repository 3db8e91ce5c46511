package sgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// reference is the definition in float64: the exact α·op(A)·op(B) + β·C
// rounded once (want), and the scale of its rounding error,
// |α|·Σ_p |a_ip|·|b_pj| + |β|·|c_ij| (mag).
func reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want, mag = make([]float64, len(c)), make([]float64, len(c))
	for i := range c {
		want[i] = float64(c[i]) // outside the m×n view C is untouched
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
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
				sa += math.Abs(float64(av) * float64(bv))
			}
			old := float64(c[i*ldc+j])
			if beta == 0 {
				old = 0
			}
			want[i*ldc+j] = float64(alpha)*s + float64(beta)*old
			mag[i*ldc+j] = math.Abs(float64(alpha))*sa + math.Abs(float64(beta)*old)
		}
	}
	return want, mag
}

// withImpl runs f with Gemm forced onto im.
func withImpl(im *impl, f func()) {
	saved := use
	use = im
	defer func() { use = saved }()
	f()
}

func random(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestGemmMatchesDefinition runs every implementation this CPU supports
// (AVX-512, AVX2, pure Go) on shapes that exercise full and edge tiles and
// several blocks in each dimension, all transpositions, α and β, and strides
// larger than needed, against the float64 definition with the standard
// bound for a dot product of length k summed in any order:
//
//	|computed − exact| ≤ c·(k+2)·ε·(|α|·Σ|a||b| + |β|·|c|),  ε = 2⁻²³, c = 1
//
// (k+2: the k products and additions, plus α's and β's roundings).
func TestGemmMatchesDefinition(t *testing.T) {
	const eps = 0x1p-23
	shapes := [][3]int{{1, 1, 1}, {6, 16, 1}, {6, 16, 256}, {8, 32, 192}, {7, 17, 3}, {5, 15, 2}, {9, 33, 193},
		{13, 40, 300}, {100, 530, 70}, {97, 33, 513}, {3, 1030, 9}, {150, 40, 200}, {9, 1100, 5}, {130, 70, 390},
		{0, 4, 3}, {4, 0, 3}, {4, 5, 0}}
	if testing.Short() {
		shapes = append(shapes[:9:9], shapes[14:]...)
	}
	for _, im := range variants() {
		rng := rand.New(rand.NewPCG(1, 2))
		withImpl(im, func() {
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
						want, mag := reference(tr[0], tr[1], m, n, k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
						Gemm(tr[0], tr[1], m, n, k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
						for i := range c {
							bound := float64(k+2) * eps * mag[i]
							if d := math.Abs(float64(c[i]) - want[i]); d > bound {
								t.Fatalf("%s, m=%d n=%d k=%d trans=%v alpha,beta=%v: c[%d] = %v, want %v (error %.3g > bound %.3g)",
									im.name, m, n, k, tr, ab, i, c[i], want[i], d, bound)
							}
						}
					}
				}
			}
		})
	}
}

// variants is every implementation with its kernel alone (no narrow
// fallback) twice, B always packed and B read in place whenever it is not
// transposed, then the selected one as Gemm runs it.
func variants() []*impl {
	var l []*impl
	for _, im := range impls {
		packed, direct := *im, *im
		packed.name, packed.directM, packed.narrow = im.name+"/packed", 0, nil
		direct.name, direct.directM, direct.narrow = im.name+"/direct", math.MaxInt, nil
		l = append(l, &packed, &direct)
	}
	return append(l, use)
}

// TestImplsSelected checks that the fastest path this CPU has is the one
// Gemm uses, so that a detection mistake cannot silently fall back.
func TestImplsSelected(t *testing.T) {
	names := make([]string, len(impls))
	for i, im := range impls {
		names[i] = im.name
	}
	t.Logf("implementations on this CPU, selected first: %v", names)
	if use != impls[0] || impls[len(impls)-1] != goImpl {
		t.Errorf("use = %s, impls = %v", use.name, names)
	}
	for _, im := range impls {
		if im.mr > maxMR || im.nr > maxNR || im.mc*im.kc > maxA || im.kc*im.nc > maxB || im.mc%im.mr != 0 || im.nc%im.nr != 0 {
			t.Errorf("%s: block sizes exceed the workspace or are not multiples of the tile", im.name)
		}
	}
}

func TestBetaZeroClearsNaN(t *testing.T) {
	c := []float32{float32(math.NaN()), 1}
	Gemm(false, false, 1, 2, 1, 1, []float32{2}, 1, []float32{3, 4}, 2, 0, c, 2)
	if c[0] != 6 || c[1] != 8 {
		t.Errorf("got %v, want [6 8]", c)
	}
}

// gemmShapes are the matrix products of the convolutions (forward: Cout ×
// unfolded columns × Cin·k·k) of LeNet (6×784×75, 16×400×150) and VGG
// (the rest), with the chunking of internal/backend/cpu/conv.go.
var gemmShapes = [][3]int{{6, 784, 75}, {16, 400, 150}, {16, 1024, 27}, {64, 1024, 576}, {128, 256, 1152}, {512, 64, 4608}}

// BenchmarkGemm times on the convolution shapes what Gemm runs here
// ("selected": the fastest kernel, with the 6-row AVX2 one for products of
// at most 6 rows where AVX-512 is selected), each kernel this CPU has on its
// own, all single-threaded as the convolution uses them (each worker runs
// its own products), then the selected path on two goroutines that split
// the columns (the convolution's split over images; compare with a
// two-thread BLAS), and gonum's Sgemm, which cnntrain used first.
func BenchmarkGemm(b *testing.B) {
	for _, s := range gemmShapes {
		m, n, k := s[0], s[1], s[2]
		rng := rand.New(rand.NewPCG(1, 1))
		x, y, z := random(rng, m*k), random(rng, k*n), make([]float32, m*n)
		flops := 2 * float64(m*n*k)
		alone := make([]*impl, len(impls))
		for i, im := range impls {
			c := *im
			c.narrow = nil
			alone[i] = &c
		}
		for _, im := range append([]*impl{use}, alone...) {
			name := im.name
			if im == use {
				name = "selected"
			}
			b.Run(fmt.Sprintf("%s/%dx%dx%d", name, m, n, k), func(b *testing.B) {
				withImpl(im, func() {
					for b.Loop() {
						Gemm(false, false, m, n, k, 1, x, k, y, n, 0, z, n)
					}
				})
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		b.Run(fmt.Sprintf("selected-2threads/%dx%dx%d", m, n, k), func(b *testing.B) {
			// Two goroutines on one product, as the CPU backend's pool
			// runs them (a helper that spins for its next item rather
			// than parking: waking a parked thread costs tens of µs on a
			// VM), split at a tile boundary: by rows when there are two
			// tiles' worth (each half packs half of A and reads B in
			// place or packs it once), else by columns.
			var first, second func()
			if m >= 2*maxMR {
				half := (m/2 + maxMR - 1) / maxMR * maxMR
				first = func() { Gemm(false, false, half, n, k, 1, x, k, y, n, 0, z, n) }
				second = func() { Gemm(false, false, m-half, n, k, 1, x[half*k:], k, y, n, 0, z[half*n:], n) }
			} else {
				half := min(n/2, (n/2+maxNR-1)/maxNR*maxNR)
				first = func() { Gemm(false, false, m, half, k, 1, x, k, y, n, 0, z, n) }
				second = func() { Gemm(false, false, m, n-half, k, 1, x, k, y[half:], n, 0, z[half:], n) }
			}
			helper := newSpinner()
			defer helper.stop()
			for b.Loop() {
				helper.start(first)
				second()
				helper.wait()
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

// spinner is a goroutine that runs one function at a time, spinning (and
// yielding) while it waits, like internal/backend/cpu's pool.
type spinner struct {
	job   func()
	state atomic.Int32 // 0 idle, 1 posted, 2 stopping
}

func newSpinner() *spinner {
	s := &spinner{}
	go func() {
		for {
			switch s.state.Load() {
			case 1:
				s.job()
				s.state.Store(0)
			case 2:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	return s
}

func (s *spinner) start(f func()) { s.job = f; s.state.Store(1) }

func (s *spinner) wait() {
	for s.state.Load() != 0 {
		runtime.Gosched()
	}
}

func (s *spinner) stop() { s.state.Store(2) }
