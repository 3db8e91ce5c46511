package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/testsupport/parity"
	"github.com/cnntrain/cnntrain/internal/vm"
	"gorgonia.org/tensor"
)

// program compiles model for shape on dev.
func program(t *testing.T, dev *vm.Device, model graph.Layer, shape []int, opt graph.NetOptions) *vm.Program {
	t.Helper()
	net, err := graph.Compile(model, shape, opt)
	if err != nil {
		t.Fatal(err)
	}
	p, err := vm.Compile(dev, net)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// randomBatch is n images of size standard normal values and their labels,
// uniform over classes.
func randomBatch(rng *rand.Rand, n, size, classes int) ([]float32, []uint8) {
	x := make([]float32, n*size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, n)
	for i := range y {
		y[i] = uint8(rng.IntN(classes))
	}
	return x, y
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// buildFixtureModel makes the fixture's model and loads its initial
// state_dict.
func buildFixtureModel(t *testing.T, fx parity.Fixture) *models.Model {
	t.Helper()
	var shape []int
	fx.MetaJSON(t, "input_shape", &shape)
	cfg := models.Config{}
	if w := fx.File.Metadata["width"]; w != "" {
		cfg.Width = fx.MetaFloat(t, "width")
	}
	m, err := models.New(fx.Meta(t, "model"), models.Input{C: shape[1], H: shape[2], W: shape[3], Classes: 10}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fx.MetaJSON(t, "state_dict", &names)
	if len(names) != len(m.Params()) {
		t.Fatalf("PyTorch's state_dict has %d entries, ours %d", len(names), len(m.Params()))
	}
	for i, p := range m.Params() {
		if p.Name != names[i] {
			t.Fatalf("state_dict entry %d: ours %q, PyTorch %q", i, p.Name, names[i])
		}
		copy(p.Data(), fx.Values(t, "param."+p.Name))
	}
	return m
}

// ModelParity runs every notebook model on the backend against PyTorch 1.13:
// the notebooks' classes with their default init, one batch, from
// scripts/parity/make_fixtures.py. Each model is rebuilt from the fixture's
// state_dict and must match PyTorch's train-mode output, loss, every
// gradient, BatchNorm's buffers after the step, the eval-mode output, the
// weights after two SGD steps and after three Adam steps, within parity.Tol
// of each tensor's scale, except the optimizer results (see checkSteps).
func ModelParity(t *testing.T, b backend.Backend) {
	for _, name := range []string{"model_mlp", "model_cnn", "model_lenet", "model_vgg11", "model_vgg16"} {
		t.Run(name, func(t *testing.T) {
			fx := parity.Load(t, name)
			x := fx.Values(t, "input")
			var labels []uint8
			for _, v := range fx.Values(t, "target") {
				labels = append(labels, uint8(v))
			}
			var shape []int
			fx.MetaJSON(t, "input_shape", &shape)

			m := buildFixtureModel(t, fx)
			dev := must[*vm.Device](t)(vm.NewDevice(b, m.Params()))
			// Eval mode first: it must see the initial buffers.
			eval := program(t, dev, m.Net, shape, graph.NetOptions{Loss: m.Loss})
			if err := eval.Run(x, labels); err != nil {
				t.Fatal(err)
			}
			parity.ExpectClose(t, "eval_output", must[[]float32](t)(eval.Output()), fx.Values(t, "eval_output"), parity.Tol)

			train := program(t, dev, m.Net, shape, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true, InputGrad: true})
			if err := train.Run(x, labels); err != nil {
				t.Fatal(err)
			}
			parity.ExpectClose(t, "output", must[[]float32](t)(train.Output()), fx.Values(t, "output"), parity.Tol)
			parity.ExpectClose(t, "loss", []float32{train.Loss()}, fx.Values(t, "loss"), parity.Tol)
			parity.ExpectClose(t, "grad.input", must[[]float32](t)(train.InputGrad()), fx.Values(t, "grad.input"), parity.Tol)
			zero := zeroGradParams(m)
			grads := map[string][]float32{}
			all := must[[][]float32](t)(train.Grads())
			for i, p := range train.Params() {
				grads[p.Name] = all[i]
			}
			for _, p := range train.Params() {
				if weight, ok := zero[p.Name]; ok {
					expectZeroGrad(t, grads, p.Name, weight, fx)
					continue
				}
				parity.ExpectClose(t, "grad."+p.Name, grads[p.Name], fx.Values(t, "grad."+p.Name), parity.Tol)
			}
			if err := dev.Pull(); err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params() {
				if !p.Trainable() {
					parity.ExpectClose(t, "after."+p.Name, p.Data(), fx.Values(t, "after."+p.Name), parity.Tol)
				}
			}

			checkSteps(t, b, fx, "sgd2", 2, &optim.SGD{LR: 0.01, Momentum: 0.5}, x, labels, shape, nil)
			checkSteps(t, b, fx, "adam3", 3, optim.NewAdam(0.001, 0), x, labels, shape, grads)
		})
	}
}

// zeroGradParams finds the convolution biases that feed a BatchNorm (VGG's
// features.N.bias before features.N+1): batch normalization subtracts the
// batch mean, so in training the loss does not depend on them and their
// gradient is exactly zero in exact arithmetic. In float32 both PyTorch and
// cnntrain return rounding noise (about 1e-7 against weight gradients of
// order 1), which no tolerance on the noise itself can compare. The map
// gives each such bias the name of its weight, the scale the noise is
// measured against.
func zeroGradParams(m *models.Model) map[string]string {
	names := map[string]bool{}
	for _, p := range m.Params() {
		names[p.Name] = true
	}
	zero := map[string]string{}
	for _, p := range m.Params() {
		prefix, ok := strings.CutSuffix(p.Name, ".bias")
		if !ok {
			continue
		}
		layer, idx, found := strings.Cut(prefix, ".")
		n, err := strconv.Atoi(idx)
		if !found || err != nil {
			continue
		}
		if names[fmt.Sprintf("%s.%d.running_mean", layer, n+1)] {
			zero[p.Name] = prefix + ".weight"
		}
	}
	return zero
}

// expectZeroGrad checks that a gradient which is zero in exact arithmetic is
// zero to rounding in both implementations: below 1e-5 of the layer's weight
// gradient.
func expectZeroGrad(t *testing.T, grads map[string][]float32, name, weight string, fx parity.Fixture) {
	t.Helper()
	maxAbs := func(xs []float32) float64 {
		m := 0.0
		for _, v := range xs {
			m = max(m, math.Abs(float64(v)))
		}
		return m
	}
	ours, wscale, torch := maxAbs(grads[name]), maxAbs(grads[weight]), maxAbs(fx.Values(t, "grad."+name))
	if ours > 1e-5*wscale || torch > 1e-5*wscale {
		t.Errorf("grad.%s should be zero to rounding: ours %.3g, PyTorch %.3g, against %.3g for %s", name, ours, torch, wscale, weight)
	}
}

// checkSteps trains a fresh copy of the fixture's model for n steps on its
// batch and compares the whole state_dict with PyTorch's.
//
// The parameters are compared by the size of the update rather than of the
// weights: after a few small steps the weights are still almost the initial
// ones, and a relative error on them would hide a wrong update. So the test
// is |Δours − Δtorch| ≤ 1e-4·max|Δtorch| + 1e-7 per element, where Δ is the
// change from the initial value (1e-7 covers float32 rounding of weights near
// 1, whose ulp is 6e-8).
//
// Adam (grads given) needs one more term. It divides each gradient by its own
// running magnitude, so an element's step is about lr whatever its size, and
// a relative error r in that element's gradient becomes an error of about
// lr·r in its step. Elements whose gradient is tiny next to the rest of its
// tensor carry a large relative error from float32 rounding in both
// implementations (the layer and rule tests bound the arithmetic itself).
// The allowance is therefore 2·lr·steps·min(1, r), with r measured on the
// first step's gradients: at r = 1 the two steps may point opposite ways,
// each about lr long. Biases feeding a BatchNorm (zero gradient, see
// zeroGradParams) have no defined Adam direction at all: only the size of
// their step is checked, and their BatchNorm's running mean, which follows
// them, is not compared. Those random first steps then perturb every later
// gradient of the model a little, so for models with such biases (the VGGs)
// Adam's later steps are compared within 1e-2 of the largest update instead
// of 1e-4 (measured: below 5e-3). The same models' gradients, SGD steps and
// the Adam rule itself (OptimizerRules) keep the strict tolerances.
func checkSteps(t *testing.T, b backend.Backend, fx parity.Fixture, prefix string, n int, opt vm.Optimizer, x []float32, labels []uint8, shape []int, grads map[string][]float32) {
	t.Helper()
	m := buildFixtureModel(t, fx)
	dev := must[*vm.Device](t)(vm.NewDevice(b, m.Params()))
	train := program(t, dev, m.Net, shape, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
	for range n {
		if err := train.Run(x, labels); err != nil {
			t.Fatal(err)
		}
		if err := train.Update(opt); err != nil {
			t.Fatal(err)
		}
	}
	if err := dev.Pull(); err != nil {
		t.Fatal(err)
	}
	lr := 0.0
	if a, ok := opt.(*optim.Adam); ok {
		lr = a.LR
	}
	zero := zeroGradParams(m)
	followsZeroGrad := map[string]bool{}
	for bias := range zero {
		layer, idx, _ := strings.Cut(strings.TrimSuffix(bias, ".bias"), ".")
		n, _ := strconv.Atoi(idx)
		followsZeroGrad[fmt.Sprintf("%s.%d.running_mean", layer, n+1)] = true
	}
	propagated := 0.0
	if grads != nil && len(zero) > 0 {
		propagated = 1e-2
	}
	for _, p := range m.Params() {
		want := fx.Values(t, prefix+"."+p.Name)
		if !p.Trainable() {
			if grads != nil && followsZeroGrad[p.Name] {
				continue
			}
			parity.ExpectClose(t, prefix+"."+p.Name, p.Data(), want, parity.Tol)
			continue
		}
		initial := fx.Values(t, "param."+p.Name)
		if _, ok := zero[p.Name]; ok && grads != nil {
			// Adam steps a zero-to-rounding gradient by about lr in a direction
			// rounding picks: nothing to compare but the step's size, which
			// Adam bounds by lr·(1−β1)/√(1−β2) ≈ 3.2·lr per step.
			for i, w := range p.Data() {
				if d := math.Abs(float64(w) - float64(initial[i])); d > 3.2*lr*float64(n) {
					t.Errorf("%s.%s[%d] moved %.3g, more than Adam's bound", prefix, p.Name, i, d)
				}
			}
			continue
		}
		var gTorch []float32
		if grads != nil {
			gTorch = fx.Values(t, "grad."+p.Name)
		}
		var scale float64
		for i := range want {
			scale = max(scale, math.Abs(float64(want[i])-float64(initial[i])))
		}
		worst, worstAt := 0.0, -1
		for i, w := range p.Data() {
			dOurs := float64(w) - float64(initial[i])
			dTorch := float64(want[i]) - float64(initial[i])
			allowed := max(parity.Tol, propagated)*scale + 1e-7
			if grads != nil {
				r := 1.0
				if g := float64(gTorch[i]); g != 0 {
					r = min(1, math.Abs(float64(grads[p.Name][i])-g)/math.Abs(g))
				}
				allowed += 2 * lr * float64(n) * r
			}
			if excess := math.Abs(dOurs-dTorch) - allowed; excess > worst {
				worst, worstAt = excess, i
			}
		}
		if worstAt >= 0 {
			t.Errorf("%s.%s[%d]: update differs from PyTorch's by %.3g more than allowed (largest update %.3g)", prefix, p.Name, worstAt, worst, scale)
		}
	}
}

// OptimizerRules feeds PyTorch's own gradient sequence to the optimizer rules
// on the backend and compares the parameter after every step. No model is
// involved, so nothing but the update rule can differ: the tolerance is 1e-6
// of the parameter's scale (about 10 float32 ulps).
func OptimizerRules(t *testing.T, b backend.Backend) {
	for _, tc := range []struct {
		name string
		opt  func(settings map[string]float64) vm.Optimizer
	}{
		{"sgd_rule", func(s map[string]float64) vm.Optimizer {
			return &optim.SGD{LR: s["lr"], Momentum: s["momentum"], WeightDecay: s["weight_decay"]}
		}},
		{"adam_rule", func(s map[string]float64) vm.Optimizer { return optim.NewAdam(s["lr"], s["weight_decay"]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := parity.Load(t, tc.name)
			var settings map[string]float64
			fx.MetaJSON(t, "settings", &settings)
			opt := tc.opt(settings)
			p := &graph.Param{Name: "p", Value: tensor.New(tensor.WithShape(64), tensor.WithBacking(fx.Values(t, "param")))}
			dev := must[*vm.Device](t)(vm.NewDevice(b, []*graph.Param{p}))
			g := must[backend.Buffer](t)(b.Alloc(64))
			for step := 1; step <= 3; step++ {
				if err := b.Upload(g, fx.Values(t, "grad."+strconv.Itoa(step))); err != nil {
					t.Fatal(err)
				}
				if err := dev.Apply(opt, []*graph.Param{p}, []backend.Buffer{g}); err != nil {
					t.Fatal(err)
				}
				if err := dev.Pull(); err != nil {
					t.Fatal(err)
				}
				want := fx.Values(t, "step."+strconv.Itoa(step))
				if e := parity.RelErr(p.Data(), want); e > 1e-6 {
					t.Errorf("step %d: relative error %.3g > 1e-6", step, e)
				}
			}
		})
	}
}
