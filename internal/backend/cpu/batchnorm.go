package cpu

import (
	"math"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/vec"
)

// batchNorm is PyTorch's BatchNorm2d: inputs x (N, C, H, W), weight γ (C),
// bias β (C), running_mean (C), running_var (C), num_batches_tracked (1). In
// training it normalizes with the batch mean and biased variance, then
// updates running ← (1−momentum)·running + momentum·batch using the unbiased
// variance, in place, and counts the batch (the op's declared Updates). The
// mean and 1/√(var+eps) that normalized the batch are the op's saved tensors.
// Sums run in float64, as PyTorch's do on the CPU (vec's F64 loops).
//
// The three gradients all need Σdy and Σdy·x̂ per channel: the first
// backward call after a forward computes them for every channel and the
// other two reuse them, so the backward reads dy and x twice, not four
// times.
type batchNorm struct {
	eps, momentum float64
	mode          ops.BNMode
	x             ops.Shape
	workers       int
	// The call in progress, for run: forward, or the gradient wrt.
	backward bool
	wrt      int
	a        backend.Args
	// Σdy and Σdy·x̂ per channel (allocated with the kernel), valid while
	// fresh: set by the first backward call, cleared by the forward.
	sumDy, sumDyXhat []float64
	fresh            bool
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
	k.a, k.backward, k.fresh = a, false, false
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
				mean += vec.SumF64(x[(i*c+ch)*hw : (i*c+ch+1)*hw])
			}
			mean /= m
			for i := 0; i < n; i++ {
				variance += vec.SumSqDevF64(x[(i*c+ch)*hw:(i*c+ch+1)*hw], mean)
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
			vec.AffineF64(out[(i*c+ch)*hw:(i*c+ch+1)*hw], x[(i*c+ch)*hw:(i*c+ch+1)*hw], scale, shift)
		}
	}
}

func (k *batchNorm) Backward(wrt int, a backend.Args) error {
	k.a, k.backward, k.wrt = a, true, wrt
	if !k.fresh {
		k.wrt = -1 // the sums only
		parallelFor(k.x[1], k.x[0]*k.x[2]*k.x[3], k.workers, k)
		k.wrt, k.fresh = wrt, true
	}
	switch wrt {
	case 1:
		for ch, v := range k.sumDyXhat {
			f32(a.DIn)[ch] = float32(v)
		}
	case 2:
		for ch, v := range k.sumDy {
			f32(a.DIn)[ch] = float32(v)
		}
	case 0:
		parallelFor(k.x[1], k.x[0]*k.x[2]*k.x[3], k.workers, k)
	}
	return nil
}

// backwardChannels computes, for channels [lo, hi), the sums (k.wrt = −1)
// or the input gradient (k.wrt = 0).
func (k *batchNorm) backwardChannels(lo, hi int) {
	a := k.a
	x, gamma, dOut, dIn := f32(a.In[0]), f32(a.In[1]), f32(a.DOut), f32(a.DIn)
	saveMean, saveInvStd := f32(a.Saved[0]), f32(a.Saved[1])
	n, c, hw := k.x[0], k.x[1], k.x[2]*k.x[3]
	m := float64(n * hw)
	for ch := lo; ch < hi; ch++ {
		mean, invStd := float64(saveMean[ch]), float64(saveInvStd[ch])
		if k.wrt < 0 {
			var sumDy, sumDyXc float64
			for i := 0; i < n; i++ {
				off := (i*c + ch) * hw
				s, sx := vec.SumsDyXc(dOut[off:off+hw], x[off:off+hw], mean)
				sumDy += s
				sumDyXc += sx
			}
			k.sumDy[ch], k.sumDyXhat[ch] = sumDy, sumDyXc*invStd
			continue
		}
		g := float64(gamma[ch]) * invStd
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			if k.mode == ops.BNEval {
				// Running statistics are constants.
				vec.AffineF64(dIn[off:off+hw], dOut[off:off+hw], g, 0)
				continue
			}
			// g·(dy − Σdy/m − x̂·Σdy·x̂/m) with x̂ = (x − mean)·invStd.
			vec.BNGradF64(dIn[off:off+hw], dOut[off:off+hw], x[off:off+hw], g, -g*k.sumDy[ch]/m, -g*invStd*k.sumDyXhat[ch]/m, mean)
		}
	}
}
