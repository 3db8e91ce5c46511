package optim_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/vm"
	"gorgonia.org/tensor"
)

// steps applies opt to a one-value parameter w0 with the given gradients and
// returns w after each step.
func steps(t *testing.T, opt vm.Optimizer, w0 float32, grads ...float32) []float32 {
	t.Helper()
	b := cpu.New()
	p := &graph.Param{Name: "w", Value: tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{w0}))}
	dev, err := vm.NewDevice(b, []*graph.Param{p})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := b.Alloc(1)
	var out []float32
	for _, v := range grads {
		if err := b.Upload(g, []float32{v}); err != nil {
			t.Fatal(err)
		}
		if err := dev.Apply(opt, []*graph.Param{p}, []backend.Buffer{g}); err != nil {
			t.Fatal(err)
		}
		if err := dev.Pull(); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Data()[0])
	}
	return out
}

func TestSGDMatchesPyTorchsRule(t *testing.T) {
	// Hand-computed: lr 0.1, momentum 0.9, weight decay 0.01, w0 = 1.
	// step 1: d = g + 0.01·w = 0.5 + 0.01 = 0.51; v = 0.51;              w = 1 − 0.051 = 0.949
	// step 2: d = 0.5 + 0.00949 = 0.50949;     v = 0.9·0.51 + d = 0.96849; w = 0.949 − 0.096849 = 0.852151
	got := steps(t, &optim.SGD{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01}, 1, 0.5, 0.5)
	if math.Abs(float64(got[1])-0.852151) > 1e-6 {
		t.Errorf("after two steps w = %.7f, want 0.852151", got[1])
	}
}

func TestAdamMatchesPyTorchsRule(t *testing.T) {
	// lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, w0 = 1 and
	// gradients 0.5, −0.2, 0.3. Worked through the update in float64:
	// step 1: g = 0.51, m = 0.051, v = 0.00026010, m̂ = 0.51, v̂ = 0.2601 → w = 1 − 0.1·0.51/0.51 = 0.9
	// step 2: g = −0.191, m = 0.0268, v = 0.00029632…, m̂ = 0.14105…, √v̂ = 0.38502… → w = 0.8633641
	// step 3: w = 0.8072126
	got := steps(t, optim.NewAdam(0.1, 0.01), 1, 0.5, -0.2, 0.3)
	for i, want := range []float64{0.9000000019607843, 0.8633641380701821, 0.8072125541848459} {
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("after step %d w = %.7f, want %.7f", i+1, got[i], want)
		}
	}
}

func ExampleSGD() {
	opt := &optim.SGD{LR: 0.01, Momentum: 0.5}
	fmt.Println(opt.Name())
	// Output: SGD(lr=0.01, momentum=0.5, weight_decay=0)
}

// device puts a parameter of the given values on a fresh CPU device.
func device(t *testing.T, values ...float32) (*vm.Device, *graph.Param) {
	t.Helper()
	p := &graph.Param{Name: "w", Value: tensor.New(tensor.WithShape(len(values)), tensor.WithBacking(values))}
	dev, err := vm.NewDevice(cpu.New(), []*graph.Param{p})
	if err != nil {
		t.Fatal(err)
	}
	return dev, p
}

// apply runs one update of opt with gradient g and returns the weights.
func apply(t *testing.T, dev *vm.Device, p *graph.Param, opt vm.Optimizer, g ...float32) []float32 {
	t.Helper()
	b := dev.Backend()
	buf, err := b.Alloc(len(g))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(buf, g); err != nil {
		t.Fatal(err)
	}
	if err := dev.Apply(opt, []*graph.Param{p}, []backend.Buffer{buf}); err != nil {
		t.Fatal(err)
	}
	if err := dev.Pull(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), p.Data()...)
}

func TestSGDWithoutMomentumKeepsNoStateAndDecaysWeights(t *testing.T) {
	// lr 0.5, weight decay 0.25, w0 = 2, g = 1 twice (exact in float32):
	// step 1: w = 2 − 0.5·(1 + 0.5) = 1.25; step 2: w = 1.25 − 0.5·(1 + 0.3125) = 0.59375.
	dev, p := device(t, 2)
	opt := &optim.SGD{LR: 0.5, WeightDecay: 0.25}
	for i, want := range []float32{1.25, 0.59375} {
		if got := apply(t, dev, p, opt, 1)[0]; got != want {
			t.Errorf("after step %d w = %v, want %v", i+1, got, want)
		}
	}
	state, err := dev.OptimizerState()
	if err != nil {
		t.Fatal(err)
	}
	if len(state) != 0 {
		t.Errorf("SGD without momentum keeps state %v", state)
	}
}

// PyTorch's first momentum step sets the buffer to the gradient, whatever
// the state holds; the rule must say it is the first step rather than rely
// on a zeroed buffer.
func TestSGDFirstStepOverwritesTheMomentumBuffer(t *testing.T) {
	dev, p := device(t, 1)
	v, err := dev.State(p, optim.MomentumBuffer)
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Backend().Fill(v, 1000); err != nil {
		t.Fatal(err)
	}
	opt := &optim.SGD{LR: 0.1, Momentum: 0.9}
	// step 1: v = 0.5, w = 0.95; step 2: v = 0.45 + 0.5, w = 0.95 − 0.095 = 0.855.
	for i, want := range []float64{0.95, 0.855} {
		if got := apply(t, dev, p, opt, 0.5)[0]; math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("after step %d w = %v, want %v", i+1, got, want)
		}
	}
}

// The state tensors are named as in PyTorch's optimizer state_dict: the
// names are the checkpoint format, and a checkpoint written before a rename
// would no longer load.
func TestOptimizerStateNames(t *testing.T) {
	for _, tc := range []struct {
		opt  vm.Optimizer
		want []string
	}{
		{&optim.SGD{LR: 0.1, Momentum: 0.9}, []string{"w.momentum_buffer"}},
		{optim.NewAdam(0.1, 0), []string{"w.exp_avg", "w.exp_avg_sq"}},
	} {
		dev, p := device(t, 1, 2)
		apply(t, dev, p, tc.opt, 0.5, -0.5)
		state, err := dev.OptimizerState()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range state {
			names = append(names, s.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%s: state %v, want %v", tc.opt.Name(), names, tc.want)
		}
	}
}

func TestUpdateRejectsGradientsThatDoNotFit(t *testing.T) {
	for _, opt := range []vm.Optimizer{&optim.SGD{LR: 0.1, Momentum: 0.9}, optim.NewAdam(0.1, 0)} {
		dev, p := device(t, 1, 2)
		b := dev.Backend()
		g2, _ := b.Alloc(2)
		g3, _ := b.Alloc(3)
		other := &graph.Param{Name: "other", Value: tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2}))}
		for _, tc := range []struct {
			what   string
			params []*graph.Param
			grads  []backend.Buffer
			errHas string
		}{
			{"two gradients for one parameter", []*graph.Param{p}, []backend.Buffer{g2, g2}, "1 parameters, 2 gradients"},
			{"a gradient of 3 for 2 values", []*graph.Param{p}, []backend.Buffer{g3}, "w has 2 values, its gradient 3"},
			{"a parameter not on the device", []*graph.Param{other}, []backend.Buffer{g2}, "other is not on the device"},
		} {
			err := dev.Apply(opt, tc.params, tc.grads)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%s, %s: error %v, want one saying %q", opt.Name(), tc.what, err, tc.errHas)
			}
		}
		if dev.Steps != 0 {
			t.Errorf("%s: failed updates counted as %d steps", opt.Name(), dev.Steps)
		}
	}
}

// groupCPU is the CPU backend posing as one that updates all parameters at
// once (as CUDA does), recording the groups it was given.
type groupCPU struct {
	*cpu.Backend
	sizes [][]int // per call: len(p), len(g), then the lengths of the state lists
}

func (b *groupCPU) SGDGroup(p, g, velocity []backend.Buffer, s ops.SGDStep) error {
	b.sizes = append(b.sizes, []int{len(p), len(g), len(velocity)})
	for i := range p {
		var v backend.Buffer
		if velocity != nil {
			v = velocity[i]
		}
		if err := b.SGD(p[i], g[i], v, s); err != nil {
			return err
		}
	}
	return nil
}

func (b *groupCPU) AdamGroup(p, g, m, v []backend.Buffer, s ops.AdamStep) error {
	b.sizes = append(b.sizes, []int{len(p), len(g), len(m), len(v)})
	for i := range p {
		if err := b.Adam(p[i], g[i], m[i], v[i], s); err != nil {
			return err
		}
	}
	return nil
}

// On a backend that updates groups, every step hands it one list entry per
// parameter, each step's lists as long as the first's, and the result is
// the per-parameter rule's.
func TestGroupUpdatesMatchThePerParameterRule(t *testing.T) {
	for _, newOpt := range []func() vm.Optimizer{
		func() vm.Optimizer { return &optim.SGD{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01} },
		func() vm.Optimizer { return &optim.SGD{LR: 0.1} },
		func() vm.Optimizer { return optim.NewAdam(0.1, 0.01) },
	} {
		run := func(b backend.Backend) [][]float32 {
			params := []*graph.Param{
				{Name: "a", Value: tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, -1}))},
				{Name: "b", Value: tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{0.5, 2, -3}))},
			}
			dev, err := vm.NewDevice(b, params)
			if err != nil {
				t.Fatal(err)
			}
			ga, _ := b.Alloc(2)
			gb, _ := b.Alloc(3)
			opt := newOpt()
			var out [][]float32
			for step := range 3 {
				s := float32(step + 1)
				if err := b.Upload(ga, []float32{0.5 * s, -0.25}); err != nil {
					t.Fatal(err)
				}
				if err := b.Upload(gb, []float32{-1, 0.125 * s, 2}); err != nil {
					t.Fatal(err)
				}
				if err := dev.Apply(opt, params, []backend.Buffer{ga, gb}); err != nil {
					t.Fatal(err)
				}
				if err := dev.Pull(); err != nil {
					t.Fatal(err)
				}
				out = append(out, append(append([]float32(nil), params[0].Data()...), params[1].Data()...))
			}
			return out
		}
		want := run(cpu.New())
		group := &groupCPU{Backend: cpu.New()}
		got := run(group)
		name := newOpt().Name()
		if len(group.sizes) != 3 {
			t.Fatalf("%s: %d group updates in 3 steps", name, len(group.sizes))
		}
		for step, sizes := range group.sizes {
			wantSizes := []int{2, 2, 2, 2}[:len(sizes)]
			if sgd, ok := newOpt().(*optim.SGD); ok && sgd.Momentum == 0 {
				wantSizes = []int{2, 2, 0}
			}
			if !slices.Equal(sizes, wantSizes) {
				t.Errorf("%s step %d: group lists of lengths %v, want %v", name, step+1, sizes, wantSizes)
			}
			if !slices.Equal(got[step], want[step]) {
				t.Errorf("%s step %d: group update gives %v, per parameter %v", name, step+1, got[step], want[step])
			}
		}
	}
}
