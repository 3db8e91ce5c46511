package cpu_test

import (
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// After the first step (which allocates the optimizer state), a training
// step allocates nothing: every buffer is planned at compile time and every
// kernel call's arguments are bound. Every model family runs: each takes
// different kernels (the wide convolution of the CNN, BatchNorm and padded
// convolutions of VGG, the MLP's products).
func TestTrainingStepAllocatesNothing(t *testing.T) {
	mnist := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	cifar := models.Input{C: 3, H: 32, W: 32, Classes: 10}
	for _, tc := range []struct {
		model string
		in    models.Input
		cfg   models.Config
	}{
		{"mlp", mnist, models.Config{Seed: 1}},
		{"cnn", mnist, models.Config{Seed: 1}},
		{"cnn", cifar, models.Config{Seed: 1}},
		{"vgg11", cifar, models.Config{Width: 1.0 / 16, Seed: 1}},
	} {
		for _, opt := range []vm.Optimizer{&optim.SGD{LR: 0.01, Momentum: 0.9}, optim.NewAdam(1e-3, 0)} {
			m, err := models.New(tc.model, tc.in, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			dev, err := vm.NewDevice(cpu.New(), m.Params())
			if err != nil {
				t.Fatal(err)
			}
			const batch = 8
			net, err := graph.Compile(m.Net, []int{batch, tc.in.C, tc.in.H, tc.in.W}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
			if err != nil {
				t.Fatal(err)
			}
			prog, err := vm.Compile(dev, net)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, batch*tc.in.C*tc.in.H*tc.in.W)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := []uint8{0, 1, 2, 3, 4, 5, 6, 7}
			step := func() {
				if err := prog.Run(x, y); err != nil {
					t.Fatal(err)
				}
				if err := prog.Update(opt); err != nil {
					t.Fatal(err)
				}
			}
			step()
			if n := testing.AllocsPerRun(5, step); n != 0 {
				t.Errorf("%s on %dx%dx%d, %s: %v allocations per training step after the first", tc.model, tc.in.C, tc.in.H, tc.in.W, opt.Name(), n)
			}
		}
	}
}
