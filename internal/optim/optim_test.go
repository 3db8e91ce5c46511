package optim_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
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
