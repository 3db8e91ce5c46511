package cpu

import (
	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/sgemm"
)

// linear is y = x·Wᵀ + b with PyTorch's layout: W is (out, in). x may have
// any rank ≥ 2; everything after the batch dimension is flattened, as
// PyTorch's x.view(-1, in) does before a Linear.
type linear struct{ n, nOut, nIn int }

func (*linear) Workspace() int { return 0 }

func (l *linear) Forward(a backend.Args) error {
	x, w, b, out := f32(a.In[0]), f32(a.In[1]), f32(a.In[2]), f32(a.Out)
	for i := 0; i < l.n; i++ {
		copy(out[i*l.nOut:(i+1)*l.nOut], b)
	}
	sgemm.Gemm(false, true, l.n, l.nOut, l.nIn, 1, x, l.nIn, w, l.nIn, 1, out, l.nOut)
	return nil
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
