package graph_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/cnntrain/cnntrain/internal/graph"
	"gorgonia.org/tensor"
)

// A tiny classifier compiled for batches of 4 one-channel 8×8 images: one
// training step's loss and the shapes of the gradients it produced.
func ExampleCompile() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := graph.Sequential{
		graph.NewConv2d("conv1", 1, 2, 3, 1, rng), // 8×8 stays 8×8 with padding 1
		graph.ReLU{},
		graph.MaxPool2d{Size: 2}, // 4×4
		graph.NewLinear("fc", 2*4*4, 3, rng),
	}
	net, err := graph.Compile(model, tensor.Shape{4, 1, 8, 8}, graph.NetOptions{Training: true, Loss: graph.CrossEntropy, Gradients: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	images := make([]float32, 4*8*8)
	for i := range images {
		images[i] = float32(i%7) / 7
	}
	if err := net.Run(images, []uint8{0, 1, 2, 1}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("loss is finite: %v\n", net.Loss() > 0 && net.Loss() < 10)
	for i, p := range net.Params() {
		fmt.Println(p.Name, p.Shape(), len(net.Grads()[i]))
	}
	// Output:
	// loss is finite: true
	// conv1.weight (2, 1, 3, 3) 18
	// conv1.bias (2) 2
	// fc.weight (3, 32) 96
	// fc.bias (3) 3
}
