package graph

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// bnMode is how BatchNorm normalizes.
type bnMode int

const (
	// bnTrain: batch statistics, and the running statistics move towards them.
	bnTrain bnMode = iota
	// bnEval: the running statistics (PyTorch's model.eval()).
	bnEval
	// bnBatchStatsFrozen: batch statistics without touching the running ones,
	// to reproduce a notebook that tested without calling model.eval().
	bnBatchStatsFrozen
)

// batchNormKernel is PyTorch's BatchNorm2d: inputs x (N, C, H, W), weight γ (C),
// bias β (C), running_mean (C), running_var (C). In training it normalizes
// with the batch mean and biased variance, then updates
// running ← (1−momentum)·running + momentum·batch using the unbiased variance,
// in place, and counts the batch in numBatches.
type batchNormKernel struct {
	eps, momentum float64
	mode          bnMode
	numBatches    *Param
	// Per channel, kept by forward for backward: the mean and 1/√(var+eps)
	// that normalized the batch.
	mean, invStd []float64
}

func (k *batchNormKernel) name() string {
	return fmt.Sprintf("BatchNorm2d(eps=%g,momentum=%g,mode=%d)", k.eps, k.momentum, k.mode)
}

func (k *batchNormKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) != 4 {
		return nil, fmt.Errorf("want x (N, C, H, W), got %v", x)
	}
	for i, s := range in[1:] {
		if len(s) != 1 || s[0] != x[1] {
			return nil, fmt.Errorf("parameter %d has shape %v, want (%d)", i+1, s, x[1])
		}
	}
	if k.mode != bnEval && x[0]*x[2]*x[3] < 2 {
		return nil, fmt.Errorf("expected more than 1 value per channel when training, got input %v", x)
	}
	return x.Clone(), nil
}

func (k *batchNormKernel) forward(in []buffer, out buffer) error {
	x, gamma, beta, runMean, runVar := in[0], in[1].data, in[2].data, in[3].data, in[4].data
	n, c, hw := x.shape[0], x.shape[1], x.shape[2]*x.shape[3]
	if len(k.mean) != c {
		k.mean, k.invStd = make([]float64, c), make([]float64, c)
	}
	m := float64(n * hw)
	parallelFor(c, n*hw, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			var mean, variance float64
			if k.mode == bnEval {
				mean, variance = float64(runMean[ch]), float64(runVar[ch])
			} else {
				for i := 0; i < n; i++ {
					for _, v := range x.data[(i*c+ch)*hw : (i*c+ch+1)*hw] {
						mean += float64(v)
					}
				}
				mean /= m
				for i := 0; i < n; i++ {
					for _, v := range x.data[(i*c+ch)*hw : (i*c+ch+1)*hw] {
						d := float64(v) - mean
						variance += d * d
					}
				}
				variance /= m
				if k.mode == bnTrain {
					runMean[ch] = float32((1-k.momentum)*float64(runMean[ch]) + k.momentum*mean)
					runVar[ch] = float32((1-k.momentum)*float64(runVar[ch]) + k.momentum*variance*m/(m-1))
				}
			}
			invStd := 1 / math.Sqrt(variance+k.eps)
			k.mean[ch], k.invStd[ch] = mean, invStd
			scale := float64(gamma[ch]) * invStd
			shift := float64(beta[ch]) - mean*scale
			for i := 0; i < n; i++ {
				src := x.data[(i*c+ch)*hw : (i*c+ch+1)*hw]
				dst := out.data[(i*c+ch)*hw : (i*c+ch+1)*hw]
				for j, v := range src {
					dst[j] = float32(float64(v)*scale + shift)
				}
			}
		}
	})
	if k.mode == bnTrain && k.numBatches != nil {
		k.numBatches.Data()[0]++
	}
	return nil
}

func (k *batchNormKernel) backward(wrt int, in []buffer, _, dOut, dIn buffer) error {
	x, gamma := in[0], in[1].data
	n, c, hw := x.shape[0], x.shape[1], x.shape[2]*x.shape[3]
	m := float64(n * hw)
	parallelFor(c, n*hw, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invStd := k.mean[ch], k.invStd[ch]
			// Σdy and Σdy·x̂ over the channel.
			var sumDy, sumDyXhat float64
			for i := 0; i < n; i++ {
				off := (i*c + ch) * hw
				for j, g := range dOut.data[off : off+hw] {
					sumDy += float64(g)
					sumDyXhat += float64(g) * (float64(x.data[off+j]) - mean) * invStd
				}
			}
			switch wrt {
			case 1:
				dIn.data[ch] = float32(sumDyXhat)
			case 2:
				dIn.data[ch] = float32(sumDy)
			case 0:
				g := float64(gamma[ch]) * invStd
				for i := 0; i < n; i++ {
					off := (i*c + ch) * hw
					dst := dIn.data[off : off+hw]
					for j, dy := range dOut.data[off : off+hw] {
						if k.mode == bnEval {
							// Running statistics are constants.
							dst[j] = float32(float64(dy) * g)
							continue
						}
						xhat := (float64(x.data[off+j]) - mean) * invStd
						dst[j] = float32(g * (float64(dy) - sumDy/m - xhat*sumDyXhat/m))
					}
				}
			}
		}
	})
	return nil
}
