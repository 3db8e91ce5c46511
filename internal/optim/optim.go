// Package optim holds the optimizer rules, PyTorch's: torch.optim.SGD and
// torch.optim.Adam. A rule is its hyperparameters and nothing else; the state
// it keeps between steps (momentum buffers, Adam's moments, the step count)
// lives on the device beside the weights (vm.Device), so it never crosses to
// the host during training and is saved with the checkpoint.
//
// Each step the rule works out its scalars on the host, in float64 as Python
// computes them, rounds them to float32 as PyTorch's kernels take them, and
// asks the backend to apply the update in place (ops.SGDStep, ops.AdamStep).
package optim

import (
	"fmt"
	"math"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Names of the state tensors, as in PyTorch's optimizer state_dict.
const (
	MomentumBuffer = "momentum_buffer"
	ExpAvg         = "exp_avg"
	ExpAvgSq       = "exp_avg_sq"
)

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
	g                         group
}

var (
	_ vm.Optimizer = (*SGD)(nil)
	_ vm.Optimizer = (*Adam)(nil)
)

func (s *SGD) Name() string {
	return fmt.Sprintf("SGD(lr=%g, momentum=%g, weight_decay=%g)", s.LR, s.Momentum, s.WeightDecay)
}

func (s *SGD) Update(dev *vm.Device, params []*graph.Param, grads []backend.Buffer) error {
	step := ops.SGDStep{LR: float32(s.LR), Momentum: float32(s.Momentum), WeightDecay: float32(s.WeightDecay), First: dev.Steps == 0}
	if err := s.g.collect(dev, params, grads); err != nil {
		return err
	}
	var velocity []backend.Buffer
	if step.Momentum != 0 {
		var err error
		if velocity, err = s.g.state(dev, params, 0, MomentumBuffer); err != nil {
			return err
		}
	}
	if gu, ok := dev.Backend().(backend.GroupUpdater); ok {
		return gu.SGDGroup(s.g.w, s.g.grads, velocity, step)
	}
	for i, p := range params {
		var v backend.Buffer
		if velocity != nil {
			v = velocity[i]
		}
		if err := dev.Backend().SGD(s.g.w[i], s.g.grads[i], v, step); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
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
// Hyperparameters are float64, like Python floats (1 − 0.9 in float32 is not
// float32(0.1)).
type Adam struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	g                                  group
}

// NewAdam is Adam with PyTorch's defaults (β1 0.9, β2 0.999, eps 1e-8).
func NewAdam(lr, weightDecay float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

func (a *Adam) Name() string {
	return fmt.Sprintf("Adam(lr=%g, betas=(%g, %g), eps=%g, weight_decay=%g)", a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay)
}

func (a *Adam) Update(dev *vm.Device, params []*graph.Param, grads []backend.Buffer) error {
	t := float64(dev.Steps + 1)
	bc1 := 1 - math.Pow(a.Beta1, t)
	bc2 := 1 - math.Pow(a.Beta2, t)
	step := ops.AdamStep{
		Beta1: float32(a.Beta1), OneMinusBeta1: float32(1 - a.Beta1),
		Beta2: float32(a.Beta2), OneMinusBeta2: float32(1 - a.Beta2),
		NegStepSize:         float32(-(a.LR / bc1)),
		BiasCorrection2Sqrt: float32(math.Sqrt(bc2)),
		Eps:                 float32(a.Eps), WeightDecay: float32(a.WeightDecay),
	}
	if err := a.g.collect(dev, params, grads); err != nil {
		return err
	}
	m, err := a.g.state(dev, params, 0, ExpAvg)
	if err != nil {
		return err
	}
	v, err := a.g.state(dev, params, 1, ExpAvgSq)
	if err != nil {
		return err
	}
	if gu, ok := dev.Backend().(backend.GroupUpdater); ok {
		return gu.AdamGroup(a.g.w, a.g.grads, m, v, step)
	}
	for i, p := range params {
		if err := dev.Backend().Adam(a.g.w[i], a.g.grads[i], m[i], v[i], step); err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
	}
	return nil
}

// group is an update's buffers, one entry per parameter, kept between steps
// so that a step allocates nothing.
type group struct {
	w, grads []backend.Buffer
	states   [2][]backend.Buffer
}

// collect sets the parameters' device buffers and checks the gradients
// against them.
func (g *group) collect(dev *vm.Device, params []*graph.Param, grads []backend.Buffer) error {
	if len(params) != len(grads) {
		return fmt.Errorf("%d parameters, %d gradients", len(params), len(grads))
	}
	g.w, g.grads = g.w[:0], append(g.grads[:0], grads...)
	for i, p := range params {
		w, ok := dev.Buffer(p)
		if !ok {
			return fmt.Errorf("parameter %s is not on the device", p.Name)
		}
		if w.Len() != grads[i].Len() {
			return fmt.Errorf("%s has %d values, its gradient %d", p.Name, w.Len(), grads[i].Len())
		}
		g.w = append(g.w, w)
	}
	return nil
}

// state returns the parameters' optimizer state tensors of the given name,
// in slot (0 or 1) of the group.
func (g *group) state(dev *vm.Device, params []*graph.Param, slot int, name string) ([]backend.Buffer, error) {
	s := g.states[slot][:0]
	for _, p := range params {
		b, err := dev.State(p, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name, err)
		}
		s = append(s, b)
	}
	g.states[slot] = s
	return s, nil
}
