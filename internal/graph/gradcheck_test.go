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
