package train

import (
	"fmt"

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
	LR, Momentum, WeightDecay float32
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
	for i, p := range params {
		w, g := p.Data(), grads[i]
		if len(w) != len(g) {
			return fmt.Errorf("sgd: %s has %d values, its gradient %d", p.Name, len(w), len(g))
		}
		if s.Momentum == 0 {
			for j := range w {
				w[j] -= s.LR * (g[j] + s.WeightDecay*w[j])
			}
			continue
		}
		v, seen := s.velocity[p]
		if !seen {
			v = make([]float32, len(w))
			s.velocity[p] = v
		}
		for j := range w {
			d := g[j] + s.WeightDecay*w[j]
			if seen {
				v[j] = s.Momentum*v[j] + d
			} else {
				v[j] = d
			}
			w[j] -= s.LR * v[j]
		}
	}
	return nil
}
