package vec

import "golang.org/x/sys/cpu"

//go:noescape
func reluAVX512(dst, src []float32)

//go:noescape
func reluGradAVX512(dx, dy, out []float32)

//go:noescape
func addToAVX512(dst, src []float32)

//go:noescape
func addScalarAVX512(dst, src []float32, c float32)

//go:noescape
func addScalarRowsAVX512(dst *float32, dstStride int, src *float32, srcStride int, rows, cols int, c float32)

//go:noescape
func sumAVX512(x []float32) float32

//go:noescape
func maxPool2PlaneAVX512(src *float32, w, ho, wo int, dst *float32, arg *int32)

//go:noescape
func sumF64AVX512(x []float32) float64

//go:noescape
func sumSqDevF64AVX512(x []float32, mean float64) float64

//go:noescape
func sumsDyXcAVX512(dy, x []float32, mean float64) (sumDy, sumDyXc float64)

//go:noescape
func affineF64AVX512(dst, src []float32, scale, shift float64)

//go:noescape
func bnGradF64AVX512(dx, dy, x []float32, gain, a, b, mean float64)

var hasAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// The implementations this CPU runs; tests switch them.
var (
	relu      = pick(reluAVX512, reluGo)
	reluGrad  = pick(reluGradAVX512, reluGradGo)
	addTo     = pick(addToAVX512, addToGo)
	sum       = pick(sumAVX512, sumGo)
	addScalar = pick(addScalarAVX512, addScalarGo)

	addScalarRows = pick(addScalarRowsAVX512, addScalarRowsGo)

	maxPool2Plane = pick(maxPool2PlaneAVX512, maxPool2PlaneGo)

	sumF64      = pick(sumF64AVX512, sumF64Go)
	sumSqDevF64 = pick(sumSqDevF64AVX512, sumSqDevF64Go)
	sumsDyXc    = pick(sumsDyXcAVX512, sumsDyXcGo)
	affineF64   = pick(affineF64AVX512, affineF64Go)
	bnGradF64   = pick(bnGradF64AVX512, bnGradF64Go)
)

func pick[F any](fast, portable F) F {
	if hasAVX512 {
		return fast
	}
	return portable
}
