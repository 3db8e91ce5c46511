//go:build !amd64

package vec

const hasAVX512 = false

var (
	relu      = reluGo
	reluGrad  = reluGradGo
	addTo     = addToGo
	sum       = sumGo
	addScalar = addScalarGo

	addScalarRows = addScalarRowsGo

	maxPool2Plane = maxPool2PlaneGo

	sumF64      = sumF64Go
	sumSqDevF64 = sumSqDevF64Go
	sumsDyXc    = sumsDyXcGo
	affineF64   = affineF64Go
	bnGradF64   = bnGradF64Go
)
