package graph

import (
	"testing"

	"github.com/cnntrain/cnntrain/internal/testsupport/parity"
	"gorgonia.org/tensor"
)

// Parity with PyTorch 1.13, layer by layer. The fixtures in testdata/parity
// come from scripts/parity/make_fixtures.py: for each layer an input, its
// parameters, PyTorch's output, an upstream gradient and PyTorch's gradients
// of (output·grad_output).sum().
//
// Tolerance: parity.Tol of each tensor's scale (see its doc).

// fixtureBuffer reads a fixture tensor as a kernel buffer.
func fixtureBuffer(t *testing.T, fx parity.Fixture, name string) buffer {
	t.Helper()
	data, shape := fx.Floats(t, name)
	return buffer{data: data, shape: tensor.Shape(shape)}
}

func metaInt(t *testing.T, fx parity.Fixture, key string) int {
	t.Helper()
	var n int
	fx.MetaJSON(t, key, &n)
	return n
}

func expectClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	parity.ExpectClose(t, what, got, want, parity.Tol)
}

func TestLayerParityWithPyTorch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kernel func(fx parity.Fixture) kernel
		inputs []string // fixture names of the kernel's inputs, in order
		grads  []string // fixture gradient key per input ("" for none)
	}{
		{"linear", func(parity.Fixture) kernel { return linearKernel{} }, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"linear_flatten", func(parity.Fixture) kernel { return linearKernel{} }, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"conv2d", func(fx parity.Fixture) kernel {
			return &conv2dKernel{kernelSize: metaInt(t, fx, "kernel_size"), padding: metaInt(t, fx, "padding")}
		}, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"conv2d_pad", func(fx parity.Fixture) kernel {
			return &conv2dKernel{kernelSize: metaInt(t, fx, "kernel_size"), padding: metaInt(t, fx, "padding")}
		}, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"maxpool2d", func(fx parity.Fixture) kernel { return &maxPool2dKernel{size: metaInt(t, fx, "kernel_size")} }, []string{"input"}, []string{"grad.input"}},
		{"relu", func(parity.Fixture) kernel { return reluKernel{} }, []string{"input"}, []string{"grad.input"}},
		{"logsoftmax", func(parity.Fixture) kernel { return logSoftmaxKernel{} }, []string{"input"}, []string{"grad.input"}},
		{"nll_loss", func(parity.Fixture) kernel { return &classLossKernel{} }, []string{"input", "target"}, []string{"grad.input", ""}},
		{"cross_entropy", func(parity.Fixture) kernel { return &classLossKernel{fromLogits: true} }, []string{"input", "target"}, []string{"grad.input", ""}},
		{"batchnorm2d_train", func(fx parity.Fixture) kernel { return bnKernelFor(t, fx, bnTrain) },
			[]string{"input", "weight", "bias", "running_mean", "running_var"}, []string{"grad.input", "grad.weight", "grad.bias", "", ""}},
		{"batchnorm2d_eval", func(fx parity.Fixture) kernel { return bnKernelFor(t, fx, bnEval) },
			[]string{"input", "weight", "bias", "running_mean", "running_var"}, []string{"grad.input", "grad.weight", "grad.bias", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := parity.Load(t, tc.name)
			k := tc.kernel(fx)
			in := make([]buffer, len(tc.inputs))
			shapes := make([]tensor.Shape, len(tc.inputs))
			for i, name := range tc.inputs {
				in[i] = fixtureBuffer(t, fx, name)
				shapes[i] = in[i].shape
			}
			want := fixtureBuffer(t, fx, "output")
			shape, err := k.outputShape(shapes)
			if err != nil {
				t.Fatal(err)
			}
			if !shape.Eq(want.shape) {
				t.Fatalf("output shape %v, PyTorch %v", shape, want.shape)
			}
			out := buffer{data: make([]float32, max(1, shape.TotalSize())), shape: shape}
			if err := k.forward(in, out); err != nil {
				t.Fatal(err)
			}
			expectClose(t, "output", out.data, want.data)
			dOut := fixtureBuffer(t, fx, "grad_output")
			for i, key := range tc.grads {
				if key == "" {
					continue
				}
				dIn := buffer{data: make([]float32, in[i].shape.TotalSize()), shape: in[i].shape}
				if err := k.backward(i, in, out, dOut, dIn); err != nil {
					t.Fatal(err)
				}
				expectClose(t, key, dIn.data, fixtureBuffer(t, fx, key).data)
			}
			if bn, ok := k.(*batchNormKernel); ok {
				// Forward updated the running statistics in place (in[3], in[4]).
				expectClose(t, "after.running_mean", in[3].data, fixtureBuffer(t, fx, "after.running_mean").data)
				expectClose(t, "after.running_var", in[4].data, fixtureBuffer(t, fx, "after.running_var").data)
				expectClose(t, "after.num_batches_tracked", bn.numBatches.Data(), fixtureBuffer(t, fx, "after.num_batches_tracked").data)
			}
		})
	}
}

func bnKernelFor(t *testing.T, fx parity.Fixture, mode bnMode) *batchNormKernel {
	counter := newParam("num_batches_tracked", 1)
	counter.Data()[0] = fixtureBuffer(t, fx, "num_batches_tracked").data[0]
	return &batchNormKernel{eps: fx.MetaFloat(t, "eps"), momentum: fx.MetaFloat(t, "momentum"), mode: mode, numBatches: counter}
}
