package cpu

import (
	"math"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// batchNorm is PyTorch's BatchNorm2d: inputs x (N, C, H, W), weight γ (C),
// bias β (C), running_mean (C), running_var (C), num_batches_tracked (1). In
// training it normalizes with the batch mean and biased variance, then
// updates running ← (1−momentum)·running + momentum·batch using the unbiased
// variance, in place, and counts the batch (the op's declared Updates). The
// mean and 1/√(var+eps) that normalized the batch are the op's saved tensors.
// Sums run in float64.
type batchNorm struct {
	eps, momentum float64
	mode          ops.BNMode
	x             ops.Shape
	workers       int
	// The call in progress, for run: forward, or the gradient wrt.
	backward bool
	wrt      int
	a        backend.Args
}

// run does channels [lo, hi) of the call in progress.
func (k *batchNorm) run(_, lo, hi int) {
	if k.backward {
		k.backwardChannels(lo, hi)
	} else {
		k.forwardChannels(lo, hi)
	}
}

func (*batchNorm) Workspace() int { return 0 }

func (k *batchNorm) Forward(a backend.Args) error {
	k.a, k.backward = a, false
	parallelFor(k.x[1], k.x[0]*k.x[2]*k.x[3], k.workers, k)
	if k.mode == ops.BNTrain {
		f32(a.In[5])[0]++ // num_batches_tracked
	}
	return nil
}

func (k *batchNorm) forwardChannels(lo, hi int) {
	a := k.a
	x, gamma, beta := f32(a.In[0]), f32(a.In[1]), f32(a.In[2])
	runMean, runVar := f32(a.In[3]), f32(a.In[4])
	out, saveMean, saveInvStd := f32(a.Out), f32(a.Saved[0]), f32(a.Saved[1])
	n, c, hw := k.x[0], k.x[1], k.x[2]*k.x[3]
	m := float64(n * hw)
	for ch := lo; ch < hi; ch++ {
		var mean, variance float64
		if k.mode == ops.BNEval {
			mean, variance = float64(runMean[ch]), float64(runVar[ch])
		} else {
			for i := 0; i < n; i++ {
				for _, v := range x[(i*c+ch)*hw : (i*c+ch+1)*hw] {
					mean += float64(v)
				}
			}
			mean /= m
			for i := 0; i < n; i++ {
				for _, v := range x[(i*c+ch)*hw : (i*c+ch+1)*hw] {
					d := float64(v) - mean
					variance += d * d
				}
			}
			variance /= m
			if k.mode == ops.BNTrain {
				runMean[ch] = float32((1-k.momentum)*float64(runMean[ch]) + k.momentum*mean)
				runVar[ch] = float32((1-k.momentum)*float64(runVar[ch]) + k.momentum*variance*m/(m-1))
			}
		}
		invStd := 1 / math.Sqrt(variance+k.eps)
		saveMean[ch], saveInvStd[ch] = float32(mean), float32(invStd)
		scale := float64(gamma[ch]) * invStd
		shift := float64(beta[ch]) - mean*scale
		for i := 0; i < n; i++ {
			src := x[(i*c+ch)*hw : (i*c+ch+1)*hw]
			dst := out[(i*c+ch)*hw : (i*c+ch+1)*hw]
			for j, v := range src {
				dst[j] = float32(float64(v)*scale + shift)
			}
		}
	}
}

func (k *batchNorm) Backward(wrt int, a backend.Args) error {
	k.a, k.backward, k.wrt = a, true, wrt
	parallelFor(k.x[1], k.x[0]*k.x[2]*k.x[3], k.workers, k)
	return nil
}

func (k *batchNorm) backwardChannels(lo, hi int) {
	a, wrt := k.a, k.wrt
	x, gamma, dOut, dIn := f32(a.In[0]), f32(a.In[1]), f32(a.DOut), f32(a.DIn)
	saveMean, saveInvStd := f32(a.Saved[0]), f32(a.Saved[1])
	n, c, hw := k.x[0], k.x[1], k.x[2]*k.x[3]
	m := float64(n * hw)
	for ch := lo; ch < hi; ch++ {
		mean, invStd := float64(saveMean[ch]), float64(saveInvStd[ch])
		// Σdy and Σdy·x̂ over the channel.
		var sumDy, sumDyXhat float64
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			for j, g := range dOut[off : off+hw] {
				sumDy += float64(g)
				sumDyXhat += float64(g) * (float64(x[off+j]) - mean) * invStd
			}
		}
		switch wrt {
		case 1:
			dIn[ch] = float32(sumDyXhat)
		case 2:
			dIn[ch] = float32(sumDy)
		case 0:
			g := float64(gamma[ch]) * invStd
			for i := 0; i < n; i++ {
				off := (i*c + ch) * hw
				dst := dIn[off : off+hw]
				for j, dy := range dOut[off : off+hw] {
					if k.mode == ops.BNEval {
						// Running statistics are constants.
						dst[j] = float32(float64(dy) * g)
						continue
					}
					xhat := (float64(x[off+j]) - mean) * invStd
					dst[j] = float32(g * (float64(dy) - sumDy/m - xhat*sumDyXhat/m))
				}
			}
		}
	}
}
