package train

import (
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// BenchmarkTrainStep times one minibatch of each notebook's setup: forward,
// backward and the optimizer update. images/s is what an epoch runs at.
func BenchmarkTrainStep(b *testing.B) {
	mnist := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	cifar := models.Input{C: 3, H: 32, W: 32, Classes: 10}
	for _, bc := range []struct {
		name, model string
		in          models.Input
		cfg         models.Config
		batch       int
	}{
		{"mnist-mlp", "mlp", mnist, models.Config{}, 64},
		{"mnist-cnn", "cnn", mnist, models.Config{}, 64},
		{"cifar10-lenet", "cnn", cifar, models.Config{}, 64},
		{"cifar10-vgg11-width0.25", "vgg11", cifar, models.Config{Width: 0.25}, 128},
		{"cifar10-vgg11", "vgg11", cifar, models.Config{}, 128},
		{"cifar10-vgg16", "vgg16", cifar, models.Config{}, 128},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.cfg.Seed = 1
			m, err := models.New(bc.model, bc.in, bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			dev, err := vm.NewDevice(cpu.New(), m.Params())
			if err != nil {
				b.Fatal(err)
			}
			progs := &vm.Programs{Device: dev, Model: m.Net, Input: [3]int{bc.in.C, bc.in.H, bc.in.W},
				Options: graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true}}
			prog, err := progs.Get(bc.batch)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, bc.batch*bc.in.C*bc.in.H*bc.in.W)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]uint8, bc.batch)
			for i := range y {
				y[i] = uint8(rng.IntN(10))
			}
			opt := &optim.SGD{LR: 0.01, Momentum: 0.5}
			b.ResetTimer()
			for b.Loop() {
				if err := prog.Run(x, y); err != nil {
					b.Fatal(err)
				}
				if err := prog.Update(opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkEvalStep times one test batch of each notebook's setup as
// evaluation runs it (internal/evaluate): forward and loss in eval mode,
// BatchNorm on its running statistics, and the logits copied out for the
// predictions, at the notebooks' test batch sizes (1000 on MNIST, the
// CIFAR LeNet notebook's 8, 128 for the VGGs).
func BenchmarkEvalStep(b *testing.B) {
	mnist := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	cifar := models.Input{C: 3, H: 32, W: 32, Classes: 10}
	for _, bc := range []struct {
		name, model string
		in          models.Input
		cfg         models.Config
		batch       int
	}{
		{"mnist-mlp", "mlp", mnist, models.Config{}, 1000},
		{"mnist-cnn", "cnn", mnist, models.Config{}, 1000},
		{"cifar10-lenet", "cnn", cifar, models.Config{}, 8},
		{"cifar10-vgg11-width0.25", "vgg11", cifar, models.Config{Width: 0.25}, 128},
		{"cifar10-vgg11", "vgg11", cifar, models.Config{}, 128},
		{"cifar10-vgg16", "vgg16", cifar, models.Config{}, 128},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.cfg.Seed = 1
			m, err := models.New(bc.model, bc.in, bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			dev, err := vm.NewDevice(cpu.New(), m.Params())
			if err != nil {
				b.Fatal(err)
			}
			progs := &vm.Programs{Device: dev, Model: m.Net, Input: [3]int{bc.in.C, bc.in.H, bc.in.W},
				Options: graph.NetOptions{Loss: m.Loss}}
			prog, err := progs.Get(bc.batch)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, bc.batch*bc.in.C*bc.in.H*bc.in.W)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]uint8, bc.batch)
			for i := range y {
				y[i] = uint8(rng.IntN(10))
			}
			b.ResetTimer()
			for b.Loop() {
				if err := prog.Run(x, y); err != nil {
					b.Fatal(err)
				}
				if _, err := prog.Output(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
