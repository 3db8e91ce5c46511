//go:build !amd64

package vec

var (
	relu      = reluGo
	reluGrad  = reluGradGo
	addTo     = addToGo
	sum       = sumGo
	addScalar = addScalarGo

	maxPool2Row = maxPool2RowGo
)
