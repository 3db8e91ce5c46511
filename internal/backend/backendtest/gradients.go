package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Gradients compares every analytic gradient of three small models
// (parameters and input) with central finite differences of the loss.
func Gradients(t *testing.T, b backend.Backend) {
	t.Run("ConvPoolLinear", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		model := graph.Sequential{
			graph.NewConv2d("conv1", 2, 3, 3, 1, rng),
			graph.ReLU{},
			graph.MaxPool2d{Size: 2},
			graph.NewConv2d("conv2", 3, 2, 2, 0, rng),
			graph.ReLU{},
			graph.NewLinear("fc", 2*2*2, 4, rng),
			graph.LogSoftmax{},
		}
		checkGradients(t, b, model, graph.NLL, []int{3, 2, 6, 6}, 4)
	})
	t.Run("CrossEntropy", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		model := graph.Sequential{graph.NewLinear("fc1", 6, 5, rng), graph.ReLU{}, graph.NewLinear("fc2", 5, 3, rng)}
		checkGradients(t, b, model, graph.CrossEntropy, []int{4, 1, 2, 3}, 3)
	})
	t.Run("BatchNorm", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		bn := graph.NewBatchNorm2d("features.1", 3)
		for i := range 3 { // not the identity init, so γ and β matter
			bn.Weight.Data()[i] = 0.5 + float32(i)
			bn.Bias.Data()[i] = float32(i) - 1
		}
		model := graph.Sequential{
			graph.NewConv2d("features.0", 2, 3, 3, 1, rng),
			bn,
			graph.ReLU{},
			graph.MaxPool2d{Size: 2},
			graph.NewLinear("classifier", 3*2*2, 4, rng),
		}
		checkGradients(t, b, model, graph.CrossEntropy, []int{4, 2, 4, 4}, 4)
	})
}

func checkGradients(t *testing.T, b backend.Backend, model graph.Layer, loss graph.LossKind, shape []int, classes int) {
	t.Helper()
	x, y := randomBatch(rand.New(rand.NewPCG(7, 7)), shape[0], shape[1]*shape[2]*shape[3], classes)
	dev := must[*vm.Device](t)(vm.NewDevice(b, model.Params()))
	train := program(t, dev, model, shape, graph.NetOptions{Training: true, Loss: loss, Gradients: true, InputGrad: true})
	probe := program(t, dev, model, shape, graph.NetOptions{Training: true, Loss: loss})
	if err := train.Run(x, y); err != nil {
		t.Fatal(err)
	}
	type target struct {
		name string
		vals []float32
		grad []float32
	}
	targets := []target{{"input", x, must[[]float32](t)(train.InputGrad())}}
	grads := must[[][]float32](t)(train.Grads())
	for i, p := range train.Params() {
		targets = append(targets, target{p.Name, p.Data(), grads[i]})
	}
	lossAt := func() float64 {
		if err := dev.Push(); err != nil {
			t.Fatal(err)
		}
		if err := probe.Run(x, y); err != nil {
			t.Fatal(err)
		}
		return float64(probe.Loss())
	}
	const eps = 1e-3
	for _, tg := range targets {
		for i := range tg.vals {
			orig := tg.vals[i]
			tg.vals[i] = orig + eps
			up := lossAt()
			tg.vals[i] = orig - eps
			down := lossAt()
			tg.vals[i] = orig
			numeric := (up - down) / (2 * eps)
			if diff := math.Abs(numeric - float64(tg.grad[i])); diff > 2e-3+2e-2*math.Abs(numeric) {
				t.Errorf("%s[%d]: analytic %g, numeric %g", tg.name, i, tg.grad[i], numeric)
			}
		}
	}
}

// BatchNormModes checks BatchNorm2d's three modes on numbers worked out by
// hand: training normalizes with the batch's statistics and moves the
// running ones (unbiased variance) and the counter; evaluation uses the
// running statistics and changes nothing; batch statistics at test time
// normalize like training and change nothing.
func BatchNormModes(t *testing.T, b backend.Backend) {
	bn := graph.NewBatchNorm2d("bn", 2)
	// Channel 0 holds 1..8, channel 1 holds 10·(1..8): N=2, H=W=2.
	x := make([]float32, 16)
	for i := range 2 {
		for j := range 4 {
			x[i*8+j] = float32(i*4 + j + 1)
			x[i*8+4+j] = 10 * float32(i*4+j+1)
		}
	}
	dev := must[*vm.Device](t)(vm.NewDevice(b, bn.Params()))
	shape := []int{2, 2, 2, 2}
	run := func(opt graph.NetOptions) []float32 {
		t.Helper()
		p := program(t, dev, graph.Sequential{bn}, shape, opt)
		if err := p.Run(x, nil); err != nil {
			t.Fatal(err)
		}
		if err := dev.Pull(); err != nil {
			t.Fatal(err)
		}
		return must[[]float32](t)(p.Output())
	}
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	// Batch mean 4.5, biased variance 5.25 (unbiased 6) for channel 0.
	want0 := (1 - 4.5) / math.Sqrt(5.25+1e-5)
	near("train output[0]", float64(run(graph.NetOptions{Training: true})[0]), want0, 1e-6)
	// running ← 0.9·running + 0.1·batch, with the unbiased variance.
	near("running_mean[0]", float64(bn.RunningMean.Data()[0]), 0.45, 1e-6)
	near("running_mean[1]", float64(bn.RunningMean.Data()[1]), 4.5, 1e-5)
	near("running_var[0]", float64(bn.RunningVar.Data()[0]), 0.9+0.6, 1e-6)
	near("running_var[1]", float64(bn.RunningVar.Data()[1]), 0.9+60, 1e-4)
	near("num_batches_tracked", float64(bn.NumBatchesTracked.Data()[0]), 1, 0)

	near("eval output[0]", float64(run(graph.NetOptions{})[0]), (1-0.45)/math.Sqrt(1.5+1e-5), 1e-6)
	near("num_batches_tracked after eval", float64(bn.NumBatchesTracked.Data()[0]), 1, 0)

	near("batch-stats-at-test output[0]", float64(run(graph.NetOptions{BatchStatsAtTest: true})[0]), want0, 1e-6)
	near("running_mean[0] after batch-stats-at-test", float64(bn.RunningMean.Data()[0]), 0.45, 1e-6)
	near("num_batches_tracked after batch-stats-at-test", float64(bn.NumBatchesTracked.Data()[0]), 1, 0)
}
