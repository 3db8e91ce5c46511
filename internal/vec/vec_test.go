package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// lengths cover empty slices, tails of every size and several whole steps.
var lengths = []int{0, 1, 15, 16, 17, 63, 64, 65, 100, 257, 1000}

// special are values whose handling differs between careless
// implementations: signed zeros, NaNs of both signs, infinities.
var special = []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), -float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40, -1e-40}

func data(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(4) == 0 {
			x[i] = special[rng.IntN(len(special))]
		} else {
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

func same(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// withEach runs f once per implementation this machine has, selected.
func withEach(t *testing.T, f func(t *testing.T)) {
	t.Run("selected", f)
	if !hasAVX512 {
		return
	}
	r, rg, a, s, as, asr, mp := relu, reluGrad, addTo, sum, addScalar, addScalarRows, maxPool2Plane
	relu, reluGrad, addTo, sum, addScalar, addScalarRows, maxPool2Plane = reluGo, reluGradGo, addToGo, sumGo, addScalarGo, addScalarRowsGo, maxPool2PlaneGo
	defer func() { relu, reluGrad, addTo, sum, addScalar, addScalarRows, maxPool2Plane = r, rg, a, s, as, asr, mp }()
	t.Run("go", f)
}

func TestReLU(t *testing.T) {
	withEach(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range lengths {
			src := data(rng, n+1)[1:] // unaligned
			dst := make([]float32, n+1)
			dst[n] = 42 // a guard past the end
			ReLU(dst[:n], src)
			for i, v := range src {
				want := v
				if v < 0 { // NaN and −0 stay as they are
					want = 0
				}
				if !same(dst[i], want) {
					t.Fatalf("n=%d: relu(%v) = %v, want %v", n, v, dst[i], want)
				}
			}
			if dst[n] != 42 {
				t.Fatalf("n=%d: wrote past the end", n)
			}
		}
		neg0 := float32(math.Copysign(0, -1))
		dst := []float32{1}
		ReLU(dst, []float32{neg0})
		if !math.Signbit(float64(dst[0])) {
			t.Errorf("relu(−0) = %v, PyTorch keeps −0", dst[0])
		}
	})
}

func TestReLUGrad(t *testing.T) {
	withEach(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range lengths {
			out, dy := data(rng, n), data(rng, n)
			dx := make([]float32, n+1)
			dx[n] = 42
			ReLUGrad(dx[:n], dy, out)
			for i := range out {
				want := dy[i]
				if out[i] <= 0 {
					want = 0
				}
				if !same(dx[i], want) {
					t.Fatalf("n=%d: out %v, dy %v: dx %v, want %v", n, out[i], dy[i], dx[i], want)
				}
			}
			if dx[n] != 42 {
				t.Fatalf("n=%d: wrote past the end", n)
			}
		}
	})
}

func TestAddTo(t *testing.T) {
	withEach(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, n := range lengths {
			dst, src := data(rng, n+1), data(rng, n)
			want := append([]float32(nil), dst...)
			for i := range src {
				want[i] += src[i]
			}
			AddTo(dst[:n], src)
			for i := range want {
				if !same(dst[i], want[i]) {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want[i])
				}
			}
		}
	})
}

func TestAddScalar(t *testing.T) {
	withEach(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, n := range lengths {
			src, dst := data(rng, n), make([]float32, n+1)
			dst[n] = 42
			AddScalar(dst[:n], src, -0.75)
			for i, v := range src {
				if !same(dst[i], v+(-0.75)) {
					t.Fatalf("n=%d: %v + −0.75 = %v", n, v, dst[i])
				}
			}
			if dst[n] != 42 {
				t.Fatalf("n=%d: wrote past the end", n)
			}
		}
	})
}

func TestAddScalarRows(t *testing.T) {
	withEach(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(15, 16))
		for _, cols := range []int{1, 5, 16, 28, 33} {
			for _, rows := range []int{1, 3, 10} {
				srcStride, dstStride := cols+3, cols+1
				src := data(rng, (rows-1)*srcStride+cols)
				dst := make([]float32, rows*dstStride+1)
				for i := range dst {
					dst[i] = 42 // the gaps between rows and past the end stay
				}
				AddScalarRows(dst, dstStride, src, srcStride, rows, cols, 0.5)
				for i, v := range dst {
					r, j := i/dstStride, i%dstStride
					want := float32(42)
					if r < rows && j < cols {
						want = src[r*srcStride+j] + 0.5
					}
					if !same(v, want) {
						t.Fatalf("%d×%d: dst[%d] = %v, want %v", rows, cols, i, v, want)
					}
				}
			}
		}
	})
}

// TestSum checks the exact lane order (Go and assembly bit-identical) and
// the value against float64 within the bound of 64-lane summation.
func TestSum(t *testing.T) {
	withEach(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, n := range append(lengths, 64*5+16*3+7, 64*2+16+1, 64+32) {
			x := make([]float32, n)
			var exact, mag float64
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				exact += float64(x[i])
				mag += math.Abs(float64(x[i]))
			}
			got := Sum(x)
			if !same(got, sumGo(x)) {
				t.Fatalf("n=%d: Sum = %v, the portable order gives %v", n, got, sumGo(x))
			}
			if d := math.Abs(float64(got) - exact); d > float64(n/64+8)*math.Pow(2, -23)*mag {
				t.Fatalf("n=%d: Sum = %v, exact %v", n, got, exact)
			}
		}
		if s := Sum([]float32{1, float32(math.NaN()), 2}); s == s {
			t.Errorf("Sum with a NaN = %v", s)
		}
	})
}

func TestMismatchedLengthsPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("ReLU of 2 into 1 values did not panic")
		}
	}()
	ReLU(make([]float32, 1), make([]float32, 2))
}
