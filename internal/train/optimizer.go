package train

import (
	"fmt"
	"math"

	"github.com/cnntrain/cnntrain/internal/graph"
)

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Step applies one update; grads[i] is the gradient of params[i].
	Step(params []*graph.Param, grads [][]float32) error
	// Name describes the optimizer and its settings.
	Name() string
}

// SGD is torch.optim.SGD without dampening or Nesterov:
//
//	g ← g + weight_decay·p
//	v ← g on the first step, μ·v + g after
//	p ← p − lr·v
//
// Gorgonia's Momentum solver is not used: it keeps v ← μ·v − lr·g, which
// equals PyTorch's rule only while lr never changes, and it scales the
// gradient in place.
type SGD struct {
	LR, Momentum, WeightDecay float64
	velocity                  map[*graph.Param][]float32
}

func (s *SGD) Name() string {
	return fmt.Sprintf("SGD(lr=%g, momentum=%g, weight_decay=%g)", s.LR, s.Momentum, s.WeightDecay)
}

func (s *SGD) Step(params []*graph.Param, grads [][]float32) error {
	if len(params) != len(grads) {
		return fmt.Errorf("sgd: %d parameters, %d gradients", len(params), len(grads))
	}
	if s.velocity == nil {
		s.velocity = map[*graph.Param][]float32{}
	}
	negLR, mu, wd := float32(-s.LR), float32(s.Momentum), float32(s.WeightDecay)
	for i, p := range params {
		w, g := p.Data(), grads[i]
		if len(w) != len(g) {
			return fmt.Errorf("sgd: %s has %d values, its gradient %d", p.Name, len(w), len(g))
		}
		if mu == 0 {
			for j := range w {
				w[j] += negLR * (g[j] + wd*w[j])
			}
			continue
		}
		v, seen := s.velocity[p]
		if !seen {
			v = make([]float32, len(w))
			s.velocity[p] = v
		}
		for j := range w {
			d := g[j] + wd*w[j]
			if seen {
				v[j] = mu*v[j] + d
			} else {
				v[j] = d
			}
			w[j] += negLR * v[j]
		}
	}
	return nil
}

// Adam is torch.optim.Adam (amsgrad off), step t from 1:
//
//	g ← g + weight_decay·p
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g·g
//	p ← p − (lr/(1−β1ᵗ))·m / (√v / √(1−β2ᵗ) + eps)
//
// Hyperparameters are float64, like Python floats, and reach the float32
// arithmetic the way PyTorch's kernels take them (each scalar rounded to
// float32, the operations in PyTorch's order), so updates match bit for bit
// as far as float32 allows.
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	step                               int
	m, v                               map[*graph.Param][]float32
}

// NewAdam is Adam with PyTorch's defaults (β1 0.9, β2 0.999, eps 1e-8).
func NewAdam(lr, weightDecay float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

func (a *Adam) Name() string {
	return fmt.Sprintf("Adam(lr=%g, betas=(%g, %g), eps=%g, weight_decay=%g)", a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay)
}

func (a *Adam) Step(params []*graph.Param, grads [][]float32) error {
	if len(params) != len(grads) {
		return fmt.Errorf("adam: %d parameters, %d gradients", len(params), len(grads))
	}
	if a.m == nil {
		a.m, a.v = map[*graph.Param][]float32{}, map[*graph.Param][]float32{}
	}
	a.step++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.step))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.step))
	var (
		b1, oneMinusB1 = float32(a.Beta1), float32(1 - a.Beta1)
		b2, oneMinusB2 = float32(a.Beta2), float32(1 - a.Beta2)
		negStep        = float32(-(a.LR / bc1))
		bc2Sqrt        = float32(math.Sqrt(bc2))
		eps, wd        = float32(a.Eps), float32(a.WeightDecay)
	)
	for i, p := range params {
		w, g := p.Data(), grads[i]
		if len(w) != len(g) {
			return fmt.Errorf("adam: %s has %d values, its gradient %d", p.Name, len(w), len(g))
		}
		m, ok := a.m[p]
		if !ok {
			m, a.v[p] = make([]float32, len(w)), make([]float32, len(w))
			a.m[p] = m
		}
		v := a.v[p]
		for j := range w {
			d := g[j]
			if wd != 0 {
				d += wd * w[j]
			}
			m[j] = b1*m[j] + oneMinusB1*d
			v[j] = b2*v[j] + oneMinusB2*d*d
			denom := float32(math.Sqrt(float64(v[j])))/bc2Sqrt + eps
			w[j] += negStep * m[j] / denom
		}
	}
	return nil
}
