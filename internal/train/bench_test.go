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

// benchCase is one notebook's model with the batch sizes it trains and is
// tested at.
type benchCase struct {
	name, model      string
	in               models.Input
	cfg              models.Config
	batch, testBatch int
}

// benchCases are the notebooks' setups: the MNIST test batches are 1000,
// the CIFAR LeNet notebook's 8, the VGGs' 128.
func benchCases() []benchCase {
	mnist := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	cifar := models.Input{C: 3, H: 32, W: 32, Classes: 10}
	return []benchCase{
		{"mnist-mlp", "mlp", mnist, models.Config{}, 64, 1000},
		{"mnist-cnn", "cnn", mnist, models.Config{}, 64, 1000},
		{"cifar10-lenet", "cnn", cifar, models.Config{}, 64, 8},
		{"cifar10-vgg11-width0.25", "vgg11", cifar, models.Config{Width: 0.25}, 128, 128},
		{"cifar10-vgg11", "vgg11", cifar, models.Config{}, 128, 128},
		{"cifar10-vgg16", "vgg16", cifar, models.Config{}, 128, 128},
	}
}

// program compiles bc's model for batch images on the CPU with opts, and
// makes a random batch for it.
func (bc benchCase) program(b *testing.B, opts graph.NetOptions, batch int) (*vm.Program, []float32, []uint8) {
	bc.cfg.Seed = 1
	m, err := models.New(bc.model, bc.in, bc.cfg)
	if err != nil {
		b.Fatal(err)
	}
	dev, err := vm.NewDevice(cpu.New(), m.Params())
	if err != nil {
		b.Fatal(err)
	}
	opts.Loss = m.Loss
	progs := &vm.Programs{Device: dev, Model: m.Net, Input: [3]int{bc.in.C, bc.in.H, bc.in.W}, Options: opts}
	prog, err := progs.Get(batch)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*bc.in.C*bc.in.H*bc.in.W)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, batch)
	for i := range y {
		y[i] = uint8(rng.IntN(10))
	}
	return prog, x, y
}

// BenchmarkTrainStep times one minibatch of each notebook's setup: forward,
// backward and the optimizer update. images/s is what an epoch runs at.
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			prog, x, y := bc.program(b, graph.NetOptions{Training: true, Gradients: true}, bc.batch)
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
// predictions, at the notebooks' test batch sizes.
func BenchmarkEvalStep(b *testing.B) {
	for _, bc := range benchCases() {
		b.Run(bc.name, func(b *testing.B) {
			prog, x, y := bc.program(b, graph.NetOptions{}, bc.testBatch)
			b.ResetTimer()
			for b.Loop() {
				if err := prog.Run(x, y); err != nil {
					b.Fatal(err)
				}
				if _, err := prog.Output(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.testBatch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
