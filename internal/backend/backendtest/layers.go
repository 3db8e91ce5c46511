package backendtest

import (
	"math"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/testsupport/parity"
)

// kernelRun runs one op on a backend from host data, the way the executor
// calls it: saved tensors and workspace as the op and kernel declare them,
// backward given only the forward tensors the op says it reads.
type kernelRun struct {
	t      *testing.T
	b      backend.Backend
	op     ops.Op
	shapes []ops.Shape
	kernel backend.Kernel
	in     []backend.Buffer
	out    backend.Buffer
	saved  []backend.Buffer
	ws     backend.Buffer
}

func (r *kernelRun) upload(data []float32) backend.Buffer {
	r.t.Helper()
	buf, err := r.b.Alloc(len(data))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.b.Upload(buf, data); err != nil {
		r.t.Fatal(err)
	}
	return buf
}

// garbage is a buffer of n NaNs: kernels must overwrite what they write, as
// the executor's reused memory holds whatever was there before.
func (r *kernelRun) garbage(n int) backend.Buffer {
	r.t.Helper()
	buf, err := r.b.Alloc(max(n, 1))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.b.Fill(buf, float32(math.NaN())); err != nil {
		r.t.Fatal(err)
	}
	return buf
}

func (r *kernelRun) download(buf backend.Buffer) []float32 {
	r.t.Helper()
	out := make([]float32, buf.Len())
	if err := r.b.Download(out, buf); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// newKernelRun compiles op for inputs and uploads them.
func newKernelRun(t *testing.T, b backend.Backend, op ops.Op, inputs [][]float32, shapes []ops.Shape) (*kernelRun, ops.Shape) {
	t.Helper()
	r := &kernelRun{t: t, b: b, op: op, shapes: shapes}
	out, err := op.OutputShape(shapes)
	if err != nil {
		t.Fatal(err)
	}
	if r.kernel, err = b.Compile(op, shapes); err != nil {
		t.Fatal(err)
	}
	for _, d := range inputs {
		r.in = append(r.in, r.upload(d))
	}
	r.out = r.garbage(out.Size())
	for _, s := range op.Saved(shapes) {
		r.saved = append(r.saved, r.garbage(s.Shape.Size()))
	}
	r.ws = r.garbage(r.kernel.Workspace())
	return r, out
}

func (r *kernelRun) forward() []float32 {
	r.t.Helper()
	if err := r.kernel.Forward(backend.Args{In: r.in, Out: r.out, Saved: r.saved, Workspace: r.ws}); err != nil {
		r.t.Fatal(err)
	}
	return r.download(r.out)
}

func (r *kernelRun) backward(wrt int, dOut []float32) []float32 {
	r.t.Helper()
	reads, readsOut := r.op.BackwardReads(wrt)
	a := backend.Args{In: make([]backend.Buffer, len(r.in)), Saved: r.saved, Workspace: r.ws,
		DOut: r.upload(dOut), DIn: r.garbage(r.shapes[wrt].Size())}
	for i, ok := range reads {
		if ok {
			a.In[i] = r.in[i]
		}
	}
	if readsOut {
		a.Out = r.out
	}
	if err := r.kernel.Backward(wrt, a); err != nil {
		r.t.Fatal(err)
	}
	return r.download(a.DIn)
}

// LayerParity compares every op, forward and backward, with PyTorch 1.13's
// results in testdata/parity: for each layer an input, its parameters,
// PyTorch's output, an upstream gradient and PyTorch's gradients of
// (output·grad_output).sum(), within parity.LayerTol of each tensor's scale.
func LayerParity(t *testing.T, b backend.Backend) {
	metaInt := func(fx parity.Fixture, key string) int {
		var n int
		fx.MetaJSON(t, key, &n)
		return n
	}
	conv := func(fx parity.Fixture) ops.Op {
		return ops.Op{Kind: ops.Conv2d, KernelSize: metaInt(fx, "kernel_size"), Padding: metaInt(fx, "padding")}
	}
	bn := func(mode ops.BNMode) func(parity.Fixture) ops.Op {
		return func(fx parity.Fixture) ops.Op {
			return ops.Op{Kind: ops.BatchNorm2d, Eps: fx.MetaFloat(t, "eps"), Momentum: fx.MetaFloat(t, "momentum"), Mode: mode}
		}
	}
	plain := func(k ops.Kind) func(parity.Fixture) ops.Op {
		return func(parity.Fixture) ops.Op { return ops.Op{Kind: k} }
	}
	bnInputs := []string{"input", "weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
	bnGrads := []string{"grad.input", "grad.weight", "grad.bias", "", "", ""}
	for _, tc := range []struct {
		name   string
		op     func(parity.Fixture) ops.Op
		inputs []string // fixture names of the op's inputs, in order
		grads  []string // fixture gradient key per input ("" for none)
	}{
		{"linear", plain(ops.Linear), []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"linear_flatten", plain(ops.Linear), []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"conv2d", conv, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"conv2d_pad", conv, []string{"input", "weight", "bias"}, []string{"grad.input", "grad.weight", "grad.bias"}},
		{"maxpool2d", func(fx parity.Fixture) ops.Op { return ops.Op{Kind: ops.MaxPool2d, Size: metaInt(fx, "kernel_size")} }, []string{"input"}, []string{"grad.input"}},
		{"relu", plain(ops.ReLU), []string{"input"}, []string{"grad.input"}},
		{"logsoftmax", plain(ops.LogSoftmax), []string{"input"}, []string{"grad.input"}},
		{"nll_loss", plain(ops.NLLLoss), []string{"input", "target"}, []string{"grad.input", ""}},
		{"cross_entropy", plain(ops.CrossEntropyLoss), []string{"input", "target"}, []string{"grad.input", ""}},
		{"batchnorm2d_train", bn(ops.BNTrain), bnInputs, bnGrads},
		{"batchnorm2d_eval", bn(ops.BNEval), bnInputs, bnGrads},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := parity.Load(t, tc.name)
			op := tc.op(fx)
			var inputs [][]float32
			var shapes []ops.Shape
			for _, name := range tc.inputs {
				data, shape := fx.Floats(t, name)
				if name == "num_batches_tracked" {
					shape = []int{1} // a 0-dimensional int64 in PyTorch, one float32 here
				}
				inputs, shapes = append(inputs, data), append(shapes, ops.Shape(shape))
			}
			want, wantShape := fx.Floats(t, "output")
			r, shape := newKernelRun(t, b, op, inputs, shapes)
			if !shape.Equal(ops.Shape(wantShape)) && !(len(shape) == 0 && len(wantShape) == 0) {
				t.Fatalf("output shape %v, PyTorch %v", shape, wantShape)
			}
			parity.ExpectClose(t, "output", r.forward(), want, parity.LayerTol)
			dOut := fx.Values(t, "grad_output")
			for i, key := range tc.grads {
				if key != "" {
					parity.ExpectClose(t, key, r.backward(i, dOut), fx.Values(t, key), parity.LayerTol)
				}
			}
			if op.Kind == ops.BatchNorm2d {
				// Forward updated the running statistics in place (its Updates).
				for i, name := range []string{"running_mean", "running_var", "num_batches_tracked"} {
					parity.ExpectClose(t, "after."+name, r.download(r.in[3+i]), fx.Values(t, "after."+name), parity.LayerTol)
				}
			}
		})
	}
}

// MaxPoolTiesAndNaN checks PyTorch's rule: the first maximum of a window gets
// the gradient, a NaN always wins, for the unrolled 2×2 window and the
// general one alike.
func MaxPoolTiesAndNaN(t *testing.T, b backend.Backend) {
	nan := float32(math.NaN())
	for _, size := range []int{2, 3} {
		// Window 0: a tie between positions 1 and 2; window 1: NaN at its third position.
		plane := make([]float32, size*2*size)
		set := func(window, pos int, v float32) {
			plane[(pos/size)*2*size+window*size+pos%size] = v
		}
		set(0, 1, 5)
		set(0, 2, 5)
		set(1, 0, 9)
		set(1, 2, nan)
		r, _ := newKernelRun(t, b, ops.Op{Kind: ops.MaxPool2d, Size: size}, [][]float32{plane}, []ops.Shape{{1, 1, size, 2 * size}})
		out := r.forward()
		if out[0] != 5 || !math.IsNaN(float64(out[1])) {
			t.Errorf("size %d: pooled %v, want [5 NaN]", size, out)
		}
		got := r.backward(0, []float32{1, 2})
		want := make([]float32, len(plane))
		want[(1/size)*2*size+1%size] = 1      // first of the tied 5s
		want[(2/size)*2*size+size+2%size] = 2 // the NaN
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("size %d: gradient %v, want %v", size, got, want)
				break
			}
		}
	}
}
