package vm_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Training a tiny classifier on the CPU backend: the model's tensors go to
// the device once, each step uploads a batch and brings back only the loss,
// and the optimizer updates the weights where they are.
func Example() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := graph.Sequential{
		graph.NewConv2d("conv1", 1, 2, 3, 1, rng),
		graph.ReLU{},
		graph.MaxPool2d{Size: 2},
		graph.NewLinear("fc", 2*4*4, 3, rng),
	}
	dev, err := vm.NewDevice(cpu.New(), model.Params())
	if err != nil {
		fmt.Println(err)
		return
	}
	net, err := graph.Compile(model, []int{4, 1, 8, 8}, graph.NetOptions{Training: true, Loss: graph.CrossEntropy, Gradients: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	prog, err := vm.Compile(dev, net)
	if err != nil {
		fmt.Println(err)
		return
	}
	images := make([]float32, 4*8*8)
	for i := range images {
		images[i] = float32(i%7) / 7
	}
	labels := []uint8{0, 1, 2, 1}
	opt := &optim.SGD{LR: 0.5}
	var losses []float32
	for range 20 {
		if err := prog.Run(images, labels); err != nil {
			fmt.Println(err)
			return
		}
		losses = append(losses, prog.Loss())
		if err := prog.Update(opt); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Printf("loss fell: %v, steps: %d\n", losses[19] < losses[0]/2, dev.Steps)
	// Output: loss fell: true, steps: 20
}
