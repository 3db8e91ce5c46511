package graph

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cnntrain/cnntrain/internal/safetensors"
	"gorgonia.org/tensor"
)

// Parity with PyTorch 1.13, layer by layer. The fixtures in testdata/parity
// come from scripts/parity/make_fixtures.py: for each layer an input, its
// parameters, PyTorch's output, an upstream gradient and PyTorch's gradients
// of (output·grad_output).sum().
//
// Tolerance: the largest absolute difference divided by the largest magnitude
// of PyTorch's tensor must be ≤ 1e-4. Relative to the tensor's scale rather
// than per element, because elements near zero (a gradient that cancels, a
// normalized activation) carry float32 rounding of the sum they came from,
// not of their own size. Summation order differs between our kernels and
// PyTorch's (im2col products, float64 accumulators in BatchNorm), so bitwise
// equality is not expected; 1e-4 is about 1000 float32 ulps of the scale.
const parityTol = 1e-4

// fixture is one parity file.
type fixture struct {
	path string
	f    *safetensors.File
}

func loadFixture(t *testing.T, name string) fixture {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "parity", name+".safetensors")
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatalf("fixture %s: %v (regenerate with: /usr/bin/python3 scripts/parity/make_fixtures.py)", name, err)
	}
	return fixture{path, f}
}

// tensor returns a float view of a fixture tensor (integers converted).
func (fx fixture) buffer(t *testing.T, name string) buffer {
	t.Helper()
	ts, ok := fx.f.Get(name)
	if !ok {
		t.Fatalf("%s: no tensor %q", fx.path, name)
	}
	data := ts.F32
	if data == nil {
		data = make([]float32, len(ts.I64))
		for i, v := range ts.I64 {
			data[i] = float32(v)
		}
	}
	return buffer{data: append([]float32(nil), data...), shape: tensor.Shape(ts.Shape)}
}

func (fx fixture) meta(t *testing.T, key string) string {
	t.Helper()
	v, ok := fx.f.Metadata[key]
	if !ok {
		t.Fatalf("%s: no metadata %q", fx.path, key)
	}
	return v
}

func (fx fixture) metaInt(t *testing.T, key string) int {
	t.Helper()
	var n int
	if err := json.Unmarshal([]byte(fx.meta(t, key)), &n); err != nil {
		t.Fatalf("%s: metadata %s: %v", fx.path, key, err)
	}
	return n
}

func (fx fixture) metaFloat(t *testing.T, key string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(fx.meta(t, key), 64)
	if err != nil {
		t.Fatalf("%s: metadata %s: %v", fx.path, key, err)
	}
	return v
}

// relErr is max|got − want| / max|want|.
func relErr(got, want []float32) float64 {
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

func expectClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, PyTorch has %d", what, len(got), len(want))
		return
	}
	e := relErr(got, want)
	if !(e <= parityTol) {
		t.Errorf("%s: relative error %.3g > %g", what, e, parityTol)
	}
	t.Logf("%s: relative error %.2g", what, e)
}

func TestLayerParityWithPyTorch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kernel func(fx fixture) kernel
		inputs []string // fixture names of the kernel's inputs, in order
		grads  []string // fixture gradient key per input ("" for none)
	}{
		{"linear", func(fixture) kernel { return linearKernel{} }, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"linear_flatten", func(fixture) kernel { return linearKernel{} }, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"conv2d", func(fx fixture) kernel {
			return &conv2dKernel{kernelSize: fx.metaInt(t, "kernel_size"), padding: fx.metaInt(t, "padding")}
		}, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"conv2d_pad", func(fx fixture) kernel {
			return &conv2dKernel{kernelSize: fx.metaInt(t, "kernel_size"), padding: fx.metaInt(t, "padding")}
		}, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"maxpool2d", func(fx fixture) kernel { return &maxPool2dKernel{size: fx.metaInt(t, "kernel_size")} }, []string{"input"}, []string{"grad.input"}},
		{"relu", func(fixture) kernel { return reluKernel{} }, []string{"input"}, []string{"grad.input"}},
		{"logsoftmax", func(fixture) kernel { return logSoftmaxKernel{} }, []string{"input"}, []string{"grad.input"}},
		{"nll_loss", func(fixture) kernel { return &classLossKernel{} }, []string{"input", "target"}, []string{"grad.input", ""}},
		{"cross_entropy", func(fixture) kernel { return &classLossKernel{fromLogits: true} }, []string{"input", "target"}, []string{"grad.input", ""}},
		{"batchnorm2d_train", func(fx fixture) kernel { return bnKernelFor(t, fx, bnTrain) },
			[]string{"input", "weight", "bias", "running_mean", "running_var"}, []string{"grad.input", "grad.weight", "grad.bias", "", ""}},
		{"batchnorm2d_eval", func(fx fixture) kernel { return bnKernelFor(t, fx, bnEval) },
			[]string{"input", "weight", "bias", "running_mean", "running_var"}, []string{"grad.input", "grad.weight", "grad.bias", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, tc.name)
			k := tc.kernel(fx)
			in := make([]buffer, len(tc.inputs))
			shapes := make([]tensor.Shape, len(tc.inputs))
			for i, name := range tc.inputs {
				in[i] = fx.buffer(t, name)
				shapes[i] = in[i].shape
			}
			want := fx.buffer(t, "output")
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
			dOut := fx.buffer(t, "grad_output")
			for i, key := range tc.grads {
				if key == "" {
					continue
				}
				dIn := buffer{data: make([]float32, in[i].shape.TotalSize()), shape: in[i].shape}
				if err := k.backward(i, in, out, dOut, dIn); err != nil {
					t.Fatal(err)
				}
				expectClose(t, key, dIn.data, fx.buffer(t, key).data)
			}
			if bn, ok := k.(*batchNormKernel); ok {
				// Forward updated the running statistics in place (in[3], in[4]).
				expectClose(t, "after.running_mean", in[3].data, fx.buffer(t, "after.running_mean").data)
				expectClose(t, "after.running_var", in[4].data, fx.buffer(t, "after.running_var").data)
				expectClose(t, "after.num_batches_tracked", bn.numBatches.Data(), fx.buffer(t, "after.num_batches_tracked").data)
			}
		})
	}
}

func bnKernelFor(t *testing.T, fx fixture, mode bnMode) *batchNormKernel {
	counter := newParam("num_batches_tracked", 1)
	counter.Data()[0] = fx.buffer(t, "num_batches_tracked").data[0]
	return &batchNormKernel{eps: fx.metaFloat(t, "eps"), momentum: fx.metaFloat(t, "momentum"), mode: mode, numBatches: counter}
}
