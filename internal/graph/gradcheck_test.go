package graph

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// lossOf runs a forward-only net and returns its loss.
func lossOf(t *testing.T, net *Net, x []float32, y []uint8) float64 {
	t.Helper()
	if err := net.Run(x, y); err != nil {
		t.Fatal(err)
	}
	return float64(net.Loss())
}

// checkGradients compares every analytic gradient of model (parameters and
// input) with central finite differences of the loss.
func checkGradients(t *testing.T, model Layer, loss LossKind, shape tensor.Shape, classes int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, shape.TotalSize())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]uint8, shape[0])
	for i := range y {
		y[i] = uint8(rng.IntN(classes))
	}
	train, err := Compile(model, shape, NetOptions{Training: true, Loss: loss, Gradients: true, InputGrad: true})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := Compile(model, shape, NetOptions{Training: true, Loss: loss})
	if err != nil {
		t.Fatal(err)
	}
	if err := train.Run(x, y); err != nil {
		t.Fatal(err)
	}
	type target struct {
		name string
		vals []float32
		grad []float32
	}
	targets := []target{{"input", x, append([]float32(nil), train.InputGrad()...)}}
	for i, p := range train.Params() {
		targets = append(targets, target{p.Name, p.Data(), append([]float32(nil), train.Grads()[i]...)})
	}
	const eps = 1e-3
	for _, tg := range targets {
		for i := range tg.vals {
			orig := tg.vals[i]
			tg.vals[i] = orig + eps
			up := lossOf(t, probe, x, y)
			tg.vals[i] = orig - eps
			down := lossOf(t, probe, x, y)
			tg.vals[i] = orig
			numeric := (up - down) / (2 * eps)
			if diff := math.Abs(numeric - float64(tg.grad[i])); diff > 2e-3+2e-2*math.Abs(numeric) {
				t.Errorf("%s[%d]: analytic %g, numeric %g", tg.name, i, tg.grad[i], numeric)
			}
		}
	}
}

func TestGradientsConvPoolLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	model := Sequential{
		NewConv2d("conv1", 2, 3, 3, 1, rng),
		ReLU{},
		MaxPool2d{Size: 2},
		NewConv2d("conv2", 3, 2, 2, 0, rng),
		ReLU{},
		NewLinear("fc", 2*2*2, 4, rng),
		LogSoftmax{},
	}
	checkGradients(t, model, NLL, tensor.Shape{3, 2, 6, 6}, 4)
}

func TestGradientsCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	model := Sequential{NewLinear("fc1", 6, 5, rng), ReLU{}, NewLinear("fc2", 5, 3, rng)}
	checkGradients(t, model, CrossEntropy, tensor.Shape{4, 1, 2, 3}, 3)
}

func TestGradientsBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	bn := NewBatchNorm2d("features.1", 3)
	for i := range 3 { // not the identity init, so γ and β matter
		bn.Weight.Data()[i] = 0.5 + float32(i)
		bn.Bias.Data()[i] = float32(i) - 1
	}
	model := Sequential{
		NewConv2d("features.0", 2, 3, 3, 1, rng),
		bn,
		ReLU{},
		MaxPool2d{Size: 2},
		NewLinear("classifier", 3*2*2, 4, rng),
	}
	checkGradients(t, model, CrossEntropy, tensor.Shape{4, 2, 4, 4}, 4)
}

func TestBatchNormTrainAndEval(t *testing.T) {
	bn := NewBatchNorm2d("bn", 2)
	// Channel 0 holds 1..8, channel 1 holds 10·(1..8): N=2, H=W=2.
	x := make([]float32, 16)
	for i := range 2 {
		for j := range 4 {
			x[i*8+j] = float32(i*4 + j + 1)
			x[i*8+4+j] = 10 * float32(i*4+j+1)
		}
	}
	train, err := Compile(Sequential{bn}, tensor.Shape{2, 2, 2, 2}, NetOptions{Training: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := train.Run(x, nil); err != nil {
		t.Fatal(err)
	}
	// Batch mean 4.5, biased variance 5.25 (unbiased 6) for channel 0.
	out := train.Output()
	want0 := float32((1 - 4.5) / math.Sqrt(5.25+1e-5))
	if math.Abs(float64(out[0]-want0)) > 1e-6 {
		t.Errorf("train output %v, want %v", out[0], want0)
	}
	// running ← 0.9·running + 0.1·batch, with the unbiased variance.
	if got := bn.RunningMean.Data(); math.Abs(float64(got[0])-0.45) > 1e-6 || math.Abs(float64(got[1])-4.5) > 1e-5 {
		t.Errorf("running_mean %v, want [0.45 4.5]", got)
	}
	if got := bn.RunningVar.Data(); math.Abs(float64(got[0])-(0.9+0.6)) > 1e-6 || math.Abs(float64(got[1])-(0.9+60)) > 1e-4 {
		t.Errorf("running_var %v, want [1.5 60.9]", got)
	}
	if got := bn.NumBatchesTracked.Data()[0]; got != 1 {
		t.Errorf("num_batches_tracked %v, want 1", got)
	}

	eval, err := Compile(Sequential{bn}, tensor.Shape{2, 2, 2, 2}, NetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eval.Run(x, nil); err != nil {
		t.Fatal(err)
	}
	wantEval := float32((1 - 0.45) / math.Sqrt(1.5+1e-5))
	if got := eval.Output()[0]; math.Abs(float64(got-wantEval)) > 1e-6 {
		t.Errorf("eval output %v, want %v (running statistics)", got, wantEval)
	}
	if got := bn.NumBatchesTracked.Data()[0]; got != 1 {
		t.Errorf("eval changed num_batches_tracked to %v", got)
	}

	frozen, err := Compile(Sequential{bn}, tensor.Shape{2, 2, 2, 2}, NetOptions{BatchStatsAtTest: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := frozen.Run(x, nil); err != nil {
		t.Fatal(err)
	}
	if got := frozen.Output()[0]; math.Abs(float64(got-want0)) > 1e-6 {
		t.Errorf("batch-stats-at-test output %v, want %v (batch statistics)", got, want0)
	}
	if got := bn.RunningMean.Data()[0]; math.Abs(float64(got)-0.45) > 1e-6 {
		t.Errorf("batch-stats-at-test moved running_mean to %v", got)
	}
}
