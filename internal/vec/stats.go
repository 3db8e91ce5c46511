package vec

// The BatchNorm loops: float32 data, float64 arithmetic (PyTorch accumulates
// a float tensor's statistics in double on the CPU). The assembly converts
// 8 values at a time to float64 and keeps 16 partial sums; the Go versions
// sum in order. Both agree to float64 rounding, far below float32's.

// SumF64 is Σ x in float64.
func SumF64(x []float32) float64 { return sumF64(x) }

// SumSqDevF64 is Σ (x − mean)² in float64.
func SumSqDevF64(x []float32, mean float64) float64 { return sumSqDevF64(x, mean) }

// SumsDyXc is Σ dy and Σ dy·(x − mean) in float64: what BatchNorm's
// backward needs of a channel.
func SumsDyXc(dy, x []float32, mean float64) (sumDy, sumDyXc float64) {
	mustMatch("SumsDyXc", len(dy), len(x))
	return sumsDyXc(dy, x, mean)
}

// AffineF64 sets dst[i] = float32(src[i]·scale + shift), computed in float64.
func AffineF64(dst, src []float32, scale, shift float64) {
	mustMatch("AffineF64", len(dst), len(src))
	affineF64(dst, src, scale, shift)
}

// BNGradF64 sets dx[i] = float32(g·dy[i] + a + b·(x[i] − mean)), in float64:
// BatchNorm's input gradient with its per-channel constants folded.
func BNGradF64(dx, dy, x []float32, g, a, b, mean float64) {
	mustMatch("BNGradF64", len(dx), len(dy))
	mustMatch("BNGradF64", len(dx), len(x))
	bnGradF64(dx, dy, x, g, a, b, mean)
}

func sumF64Go(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

func sumSqDevF64Go(x []float32, mean float64) float64 {
	var s float64
	for _, v := range x {
		d := float64(v) - mean
		s += d * d
	}
	return s
}

func sumsDyXcGo(dy, x []float32, mean float64) (sumDy, sumDyXc float64) {
	for i, g := range dy {
		sumDy += float64(g)
		sumDyXc += float64(g) * (float64(x[i]) - mean)
	}
	return sumDy, sumDyXc
}

func affineF64Go(dst, src []float32, scale, shift float64) {
	for i, v := range src {
		dst[i] = float32(float64(v)*scale + shift)
	}
}

func bnGradF64Go(dx, dy, x []float32, g, a, b, mean float64) {
	for i, d := range dy {
		dx[i] = float32(g*float64(d) + a + b*(float64(x[i])-mean))
	}
}
