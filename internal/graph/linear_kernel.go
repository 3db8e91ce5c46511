package graph

import (
	"fmt"

	"github.com/cnntrain/cnntrain/internal/sgemm"

	"gorgonia.org/tensor"
)

// linearKernel is y = x·Wᵀ + b with PyTorch's layout: W is (out, in). x may have
// any rank ≥ 2; everything after the batch dimension is flattened, as
// PyTorch's x.view(-1, in) does before a Linear.
type linearKernel struct{}

func (linearKernel) name() string { return "Linear" }

func (linearKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) {
	x, w, b := in[0], in[1], in[2]
	if len(x) < 2 || len(w) != 2 || len(b) != 1 {
		return nil, fmt.Errorf("want x (N, …), weight (out, in), bias (out); got %v, %v, %v", x, w, b)
	}
	if features := x.TotalSize() / x[0]; features != w[1] {
		return nil, fmt.Errorf("input has %d features per sample (shape %v), weight expects %d", features, x, w[1])
	}
	if b[0] != w[0] {
		return nil, fmt.Errorf("bias has %d elements, weight has %d outputs", b[0], w[0])
	}
	return tensor.Shape{x[0], w[0]}, nil
}

func (linearKernel) forward(in []buffer, out buffer) error {
	x, w, b := in[0], in[1], in[2]
	n, nOut, nIn := x.shape[0], w.shape[0], w.shape[1]
	for i := 0; i < n; i++ {
		copy(out.data[i*nOut:(i+1)*nOut], b.data)
	}
	sgemm.Gemm(false, true, n, nOut, nIn, 1, x.data, nIn, w.data, nIn, 1, out.data, nOut)
	return nil
}

func (linearKernel) backward(wrt int, in []buffer, _, dOut, dIn buffer) error {
	x, w := in[0], in[1]
	n, nOut, nIn := x.shape[0], w.shape[0], w.shape[1]
	switch wrt {
	case 0: // dx = dy·W
		sgemm.Gemm(false, false, n, nIn, nOut, 1, dOut.data, nOut, w.data, nIn, 0, dIn.data, nIn)
	case 1: // dW = dyᵀ·x
		sgemm.Gemm(true, false, nOut, nIn, n, 1, dOut.data, nOut, x.data, nIn, 0, dIn.data, nIn)
	case 2: // db = Σ_rows dy
		sumRows(dOut.data, n, nOut, dIn.data)
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
