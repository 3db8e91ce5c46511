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
// step of a BatchNorm VGG allocates nothing: every buffer is planned at
// compile time and every kernel call's arguments are bound.
func TestTrainingStepAllocatesNothing(t *testing.T) {
	for _, opt := range []vm.Optimizer{&optim.SGD{LR: 0.01, Momentum: 0.9}, optim.NewAdam(1e-3, 0)} {
		m, err := models.New("vgg11", models.Input{C: 3, H: 32, W: 32, Classes: 10}, models.Config{Width: 1.0 / 16, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		dev, err := vm.NewDevice(cpu.New(), m.Params())
		if err != nil {
			t.Fatal(err)
		}
		net, err := graph.Compile(m.Net, []int{8, 3, 32, 32}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
		if err != nil {
			t.Fatal(err)
		}
		prog, err := vm.Compile(dev, net)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 1))
		x := make([]float32, 8*3*32*32)
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
			t.Errorf("%s: %v allocations per training step after the first", opt.Name(), n)
		}
	}
}
