//go:build !amd64

package vec

const hasAVX512 = false

var (
	relu      = reluGo
	reluGrad  = reluGradGo
	addTo     = addToGo
	sum       = sumGo
	addScalar = addScalarGo

	maxPool2Row = maxPool2RowGo
)
