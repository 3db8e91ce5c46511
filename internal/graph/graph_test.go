package graph

import (
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestCompileRefusals(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := Sequential{NewLinear("fc", 4, 3, rng)}
	for _, tc := range []struct {
		what  string
		shape []int
		opt   NetOptions
		want  string
	}{
		{"gradients without a loss", []int{2, 1, 2, 2}, NetOptions{Gradients: true}, "gradients need a loss"},
		{"a rank-3 input", []int{2, 2, 2}, NetOptions{}, "is not (N, C, H, W)"},
		{"an unknown loss", []int{2, 1, 2, 2}, NetOptions{Loss: "hinge"}, `unknown loss "hinge"`},
		{"a shape the layer does not take", []int{2, 1, 3, 3}, NetOptions{}, "input has 9 features per sample"},
	} {
		if _, err := Compile(model, tc.shape, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.what, err, tc.want)
		}
	}
}

// Ops run on float32 tensors only: any other input is refused where the
// graph is built, not when a backend meets it.
func TestOpsRefuseOtherDtypes(t *testing.T) {
	b := NewBuilder(false)
	x := G.NewTensor(b.Graph, tensor.Float64, 2, G.WithShape(2, 4), G.WithName("x"))
	if _, err := (ReLU{}).Forward(b, x); err == nil || !strings.Contains(err.Error(), "want float32") {
		t.Errorf("ReLU of a float64 input: %v", err)
	}
}

// The same op applied twice to the same input is two nodes: Gorgonia merges
// nodes whose ops hash alike, and two layers must never become one.
func TestTwoLayersOfAKindStayTwo(t *testing.T) {
	b := NewBuilder(false)
	x := b.Input("x", tensor.Shape{2, 3}, false)
	a, err := (ReLU{}).Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	c, err := (ReLU{}).Forward(b, x)
	if err != nil {
		t.Fatal(err)
	}
	if a == c || a.ID() == c.ID() {
		t.Error("two ReLUs of the same input became one node")
	}
}

// A summary lists the forward layers only, not the loss, and counts the
// trainable values of each: BatchNorm's γ and β, not its statistics.
func TestSummaryCountsTrainableParamsAndSkipsTheLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := Sequential{NewConv2d("features.0", 1, 4, 3, 1, rng), NewBatchNorm2d("features.1", 4), NewLinear("classifier", 4*5*5, 3, rng)}
	net, err := Compile(model, []int{2, 1, 5, 5}, NetOptions{Training: true, Loss: CrossEntropy, Gradients: true})
	if err != nil {
		t.Fatal(err)
	}
	layers, err := net.Summary()
	if err != nil {
		t.Fatal(err)
	}
	want := []LayerSummary{
		{Name: "features.0", Params: 4*9 + 4},
		{Name: "features.1", Params: 2 * 4},
		{Name: "classifier", Params: 100*3 + 3},
	}
	if len(layers) != len(want) {
		t.Fatalf("summary %+v, want %d layers", layers, len(want))
	}
	for i, w := range want {
		if layers[i].Name != w.Name || layers[i].Params != w.Params {
			t.Errorf("layer %d: %s with %d parameters, want %s with %d", i, layers[i].Name, layers[i].Params, w.Name, w.Params)
		}
	}
}
