package ops

// The optimizer rules are backend operations too, so weights, gradients and
// optimizer state stay on the device between steps. The host works out each
// step's scalars (bias corrections in float64, as Python computes them) and
// rounds them to float32, as PyTorch's kernels take them; the backend applies
// the rule elementwise.

// SGDStep is one torch.optim.SGD update of a parameter p with gradient g and
// momentum buffer v:
//
//	d ← g + WeightDecay·p
//	v ← d on the first step (First), Momentum·v + d after
//	p ← p − LR·v
//
// With Momentum 0 there is no buffer and p ← p − LR·d.
type SGDStep struct {
	LR, Momentum, WeightDecay float32
	First                     bool
}

// AdamStep is one torch.optim.Adam update (1.13, single-tensor path) of a
// parameter p with gradient g and moments m, v:
//
//	d ← g + WeightDecay·p   (only when WeightDecay ≠ 0)
//	m ← Beta1·m + OneMinusBeta1·d
//	v ← Beta2·v + OneMinusBeta2·d·d
//	p ← p + NegStepSize·m / (√v / BiasCorrection2Sqrt + Eps)
//
// where NegStepSize is −lr/(1−β1ᵗ) and BiasCorrection2Sqrt is √(1−β2ᵗ).
type AdamStep struct {
	Beta1, OneMinusBeta1, Beta2, OneMinusBeta2 float32
	NegStepSize, BiasCorrection2Sqrt, Eps      float32
	WeightDecay                                float32
}
