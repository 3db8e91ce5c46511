package graph_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/cnntrain/cnntrain/internal/graph"
	G "gorgonia.org/gorgonia"
)

// A tiny classifier compiled for batches of 4 one-channel 8×8 images, with
// its loss and gradients: the graph holds one op per layer and one gradient
// op per differentiable input, each an ops descriptor the executor runs.
func ExampleCompile() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := graph.Sequential{
		graph.NewConv2d("conv1", 1, 2, 3, 1, rng), // 8×8 stays 8×8 with padding 1
		graph.ReLU{},
		graph.MaxPool2d{Size: 2}, // 4×4
		graph.NewLinear("fc", 2*4*4, 3, rng),
	}
	net, err := graph.Compile(model, []int{4, 1, 8, 8}, graph.NetOptions{Training: true, Loss: graph.CrossEntropy, Gradients: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	sorted, err := G.Sort(net.Graph)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := len(sorted) - 1; i >= 0; i-- { // Sort puts the root first
		if _, ok := graph.OpOf(sorted[i]); ok {
			fmt.Println(sorted[i].Op(), sorted[i].Shape())
		}
	}
	// Output:
	// Conv2d(k=3,p=1) (4, 2, 8, 8)
	// ReLU (4, 2, 8, 8)
	// MaxPool2d(2) (4, 2, 4, 4)
	// Linear (4, 3)
	// CrossEntropyLoss ()
	// ∂CrossEntropyLoss/∂scores (4, 3)
	// ∂Linear/∂x (4, 2, 4, 4)
	// ∂Linear/∂weight (3, 32)
	// ∂Linear/∂bias (3)
	// ∂MaxPool2d(2)/∂x (4, 2, 8, 8)
	// ∂ReLU/∂x (4, 2, 8, 8)
	// ∂Conv2d(k=3,p=1)/∂weight (2, 1, 3, 3)
	// ∂Conv2d(k=3,p=1)/∂bias (2)
}

// The layer table of the MNIST notebook's CNN, as `cnntrain models
// --summary cnn --dataset mnist` prints it.
func ExampleNet_Summary() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := graph.Sequential{
		graph.NewConv2d("conv1", 1, 6, 5, 0, rng), graph.ReLU{}, graph.MaxPool2d{Size: 2},
		graph.NewLinear("fc", 6*12*12, 10, rng), graph.LogSoftmax{},
	}
	net, err := graph.Compile(model, []int{1, 1, 28, 28}, graph.NetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	layers, err := net.Summary()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range layers {
		fmt.Println(l.Name, l.Output, l.Params)
	}
	// Output:
	// conv1 (1, 6, 24, 24) 156
	// ReLU (1, 6, 24, 24) 0
	// MaxPool2d(2) (1, 6, 12, 12) 0
	// fc (1, 10) 8650
	// LogSoftmax (1, 10) 0
}
