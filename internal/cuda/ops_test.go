package cuda

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/ops"
	G "gorgonia.org/gorgonia"
)

// Every op of every model, in training (forward and gradients), evaluation
// and batch-statistics evaluation, has a CUDA translation: a GPU run never
// meets an op it must refuse, and never falls back to the CPU.
func TestEveryModelOpHasACUDAKernel(t *testing.T) {
	inputs := []models.Input{{C: 1, H: 28, W: 28, Classes: 10}, {C: 3, H: 32, W: 32, Classes: 10}}
	for _, name := range models.Names() {
		for _, in := range inputs {
			m, err := models.New(name, in, models.Config{Width: 0.0625, Seed: 1})
			if errors.Is(err, models.ErrIncompatible) {
				continue // VGG on MNIST
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, opt := range []graph.NetOptions{
				{Training: true, Loss: m.Loss, Gradients: true},
				{Loss: m.Loss},
				{Loss: m.Loss, BatchStatsAtTest: true},
			} {
				net, err := graph.Compile(m.Net, []int{2, in.C, in.H, in.W}, opt)
				if err != nil {
					t.Fatal(err)
				}
				nodes, err := G.Sort(net.Graph)
				if err != nil {
					t.Fatal(err)
				}
				checked := 0
				for _, n := range nodes {
					info, ok := graph.OpOf(n)
					if !ok {
						continue
					}
					checked++
					if err := Supports(info.Op); err != nil {
						t.Errorf("%s on %v: %v", name, in, err)
					}
				}
				if checked == 0 {
					t.Fatalf("%s on %v: no ops found in the graph", name, in)
				}
			}
		}
	}
}

func TestUnsupportedOpIsRefusedByName(t *testing.T) {
	err := Supports(ops.Op{Kind: "AvgPool2d"})
	if !errors.Is(err, backend.ErrUnsupported) || !strings.Contains(err.Error(), "AvgPool2d") {
		t.Errorf("got %v", err)
	}
}
