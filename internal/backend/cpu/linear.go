package cpu

import (
	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/sgemm"
)

// linear is y = x·Wᵀ + b with PyTorch's layout: W is (out, in). x may have
// any rank ≥ 2; everything after the batch dimension is flattened, as
// PyTorch's x.view(-1, in) does before a Linear.
type linear struct {
	n, nOut, nIn, workers int
	// With few outputs, where the rows of x and of W start, for DotRows,
	// whose rows the workers share; x, w and out are the call in progress.
	xRows, wRows []int
	x, w, out    []float32
}

// dotMaxOut is the most outputs a Linear computes as dot products of x's
// and W's rows (sgemm.DotRows) rather than as Gemm with W transposed: the
// product's tiles are 32 columns wide, so the MNIST MLP's 8 hidden units
// would use a quarter of each, and dot products of whole rows waste none.
const dotMaxOut = 16

func newLinear(n, nOut, nIn, workers int) *linear {
	l := &linear{n: n, nOut: nOut, nIn: nIn, workers: workers}
	if nOut <= dotMaxOut {
		l.xRows, l.wRows = make([]int, n), make([]int, nOut)
		for i := range l.xRows {
			l.xRows[i] = i * nIn
		}
		for o := range l.wRows {
			l.wRows[o] = o * nIn
		}
	}
	return l
}

// linearSplitMin is the fewest multiply-adds a dot-product Linear spreads
// over the workers: the MNIST MLP's first layer at a training batch of 64
// (0.4M) ran 1.7× slower split in two, at a test batch of 1,000 (6.3M) 2×
// faster.
const linearSplitMin = 1 << 21

func (*linear) Workspace() int { return 0 }

func (l *linear) Forward(a backend.Args) error {
	x, w, b, out := f32(a.In[0]), f32(a.In[1]), f32(a.In[2]), f32(a.Out)
	for i := 0; i < l.n; i++ {
		copy(out[i*l.nOut:(i+1)*l.nOut], b)
	}
	if l.xRows != nil {
		l.x, l.w, l.out = x, w, out
		if l.n*l.nOut*l.nIn < linearSplitMin {
			l.run(0, 0, l.n) // a training batch: measured faster on one core
			return nil
		}
		parallelFor(l.n, l.nOut*l.nIn, l.workers, l)
		return nil
	}
	sgemm.Gemm(false, true, l.n, l.nOut, l.nIn, 1, x, l.nIn, w, l.nIn, 1, out, l.nOut)
	return nil
}

// run computes rows [lo, hi) of the output as dot products.
func (l *linear) run(_, lo, hi int) {
	sgemm.DotRows(l.nIn, 1, l.x, l.xRows[lo:hi], 0, l.w, l.wRows, 0, l.out[lo*l.nOut:], l.nOut)
}

func (l *linear) Backward(wrt int, a backend.Args) error {
	x, w, dOut, dIn := f32(a.In[0]), f32(a.In[1]), f32(a.DOut), f32(a.DIn)
	switch wrt {
	case 0: // dx = dy·W
		sgemm.Gemm(false, false, l.n, l.nIn, l.nOut, 1, dOut, l.nOut, w, l.nIn, 0, dIn, l.nIn)
	case 1: // dW = dyᵀ·x
		sgemm.Gemm(true, false, l.nOut, l.nIn, l.n, 1, dOut, l.nOut, x, l.nIn, 0, dIn, l.nIn)
	case 2: // db = Σ_rows dy
		sumRows(dOut, l.n, l.nOut, dIn)
	}
	return nil
}

// sumRows writes the column sums of the (rows, cols) matrix m into dst.
func sumRows(m []float32, rows, cols int, dst []float32) {
	clear(dst)
	for r := 0; r < rows; r++ {
		row := m[r*cols : (r+1)*cols]
		for c, v := range row {
			dst[c] += v
		}
	}
}
