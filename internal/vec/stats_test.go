package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// closeF64 allows float64 rounding of sums of n terms of magnitude mag.
func closeF64(got, want, mag float64, n int) bool {
	return math.Abs(got-want) <= float64(n+4)*0x1p-52*mag+1e-300
}

// TestStatsMatchFloat64 compares the selected and the portable BatchNorm
// loops with each other and with plain float64 loops on every tail length,
// offsets from zero large enough that a float32 accumulation would show.
func TestStatsMatchFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	impls := []struct {
		name   string
		sum    func([]float32) float64
		sq     func([]float32, float64) float64
		dxc    func(dy, x []float32, mean float64) (float64, float64)
		affine func(dst, src []float32, scale, shift float64)
		grad   func(dx, dy, x []float32, g, a, b, mean float64)
	}{
		{"selected", sumF64, sumSqDevF64, sumsDyXc, affineF64, bnGradF64},
		{"go", sumF64Go, sumSqDevF64Go, sumsDyXcGo, affineF64Go, bnGradF64Go},
	}
	for _, im := range impls {
		for _, n := range append(lengths, 4096+13) {
			x, dy := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(100 + rng.NormFloat64())
				dy[i] = float32(rng.NormFloat64())
			}
			var sum, mag float64
			for _, v := range x {
				sum += float64(v)
				mag += math.Abs(float64(v))
			}
			if got := im.sum(x); !closeF64(got, sum, mag, n) {
				t.Fatalf("%s n=%d: SumF64 = %v, want %v", im.name, n, got, sum)
			}
			mean := 100.25
			var sq, sqMag, sdy, sdyMag, sdx, sdxMag float64
			for i, v := range x {
				d := float64(v) - mean
				sq += d * d
				sqMag += d * d
				sdy += float64(dy[i])
				sdyMag += math.Abs(float64(dy[i]))
				sdx += float64(dy[i]) * d
				sdxMag += math.Abs(float64(dy[i]) * d)
			}
			if got := im.sq(x, mean); !closeF64(got, sq, sqMag, n) {
				t.Fatalf("%s n=%d: SumSqDevF64 = %v, want %v", im.name, n, got, sq)
			}
			gotDy, gotDx := im.dxc(dy, x, mean)
			if !closeF64(gotDy, sdy, sdyMag, n) || !closeF64(gotDx, sdx, sdxMag, n) {
				t.Fatalf("%s n=%d: SumsDyXc = %v, %v, want %v, %v", im.name, n, gotDy, gotDx, sdy, sdx)
			}
			out := make([]float32, n+1)
			out[n] = 42
			im.affine(out[:n], x, 0.5, -3)
			for i, v := range x {
				if want := float32(float64(v)*0.5 - 3); out[i] != want {
					t.Fatalf("%s n=%d: affine(%v) = %v, want %v", im.name, n, v, out[i], want)
				}
			}
			im.grad(out[:n], dy, x, 1.5, -0.25, 0.125, mean)
			for i := range x {
				want := 1.5*float64(dy[i]) - 0.25 + 0.125*(float64(x[i])-mean)
				if d := math.Abs(float64(out[i]) - want); d > 0x1p-23*math.Abs(want)+1e-30 {
					t.Fatalf("%s n=%d: grad[%d] = %v, want %v", im.name, n, i, out[i], want)
				}
			}
			if out[n] != 42 {
				t.Fatalf("%s n=%d: wrote past the end", im.name, n)
			}
		}
	}
}
