package backendtest

import (
	"math"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// UpdateEdges checks the parts of the optimizer kernels the PyTorch fixtures
// (momentum 0.9 and 0.5, always with a zero velocity before the first step)
// cannot tell apart, on values exact in float32:
//
//   - without momentum there is no buffer and weight decay still applies:
//     p ← p − lr·(g + wd·p);
//   - the first step with momentum sets v ← d whatever the buffer held (a
//     backend need not zero it, nor a checkpoint's be zero), and later steps
//     read it.
func UpdateEdges(t *testing.T, b backend.Backend) {
	upload := func(data ...float32) backend.Buffer {
		t.Helper()
		buf := must[backend.Buffer](t)(b.Alloc(len(data)))
		if err := b.Upload(buf, data); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	download := func(buf backend.Buffer) []float32 {
		t.Helper()
		out := make([]float32, buf.Len())
		if err := b.Download(out, buf); err != nil {
			t.Fatal(err)
		}
		return out
	}
	expect := func(what string, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s = %v, want %v", what, got, want)
				return
			}
		}
	}

	// p = 2, −4; g = 1, 0.5; lr 0.5, wd 0.25: d = 1.5, −0.5 and p − lr·d.
	p, g := upload(2, -4), upload(1, 0.5)
	if err := b.SGD(p, g, nil, ops.SGDStep{LR: 0.5, WeightDecay: 0.25, First: true}); err != nil {
		t.Fatal(err)
	}
	expect("SGD without momentum, p", download(p), []float32{1.25, -3.75})

	// The same step with momentum 0.5 and a velocity full of NaN: the first
	// step must not read it.
	p, v := upload(2, -4), upload(float32(math.NaN()), float32(math.Inf(1)))
	step := ops.SGDStep{LR: 0.5, Momentum: 0.5, WeightDecay: 0.25, First: true}
	if err := b.SGD(p, g, v, step); err != nil {
		t.Fatal(err)
	}
	expect("SGD first step, v", download(v), []float32{1.5, -0.5})
	expect("SGD first step, p", download(p), []float32{1.25, -3.75})
	// Second step, g = 1, 0.5 again: d = 1 + 0.3125, 0.5 − 0.9375;
	// v = 0.5·v + d = 2.0625, −0.6875; p − 0.5·v = 0.21875, −3.40625.
	step.First = false
	if err := b.SGD(p, g, v, step); err != nil {
		t.Fatal(err)
	}
	expect("SGD second step, v", download(v), []float32{2.0625, -0.6875})
	expect("SGD second step, p", download(p), []float32{0.21875, -3.40625})
}

// LossEdges checks what no fixture reaches: targets that are no class are
// an error (from Forward, or from the next Download on a device that checks
// on the device), not a read of another sample's score; and log-softmax
// subtracts the row's maximum, so scores far from zero give finite
// log-probabilities.
func LossEdges(t *testing.T, b backend.Backend) {
	for _, kind := range []ops.Kind{ops.NLLLoss, ops.CrossEntropyLoss} {
		for _, bad := range []float32{-1, 3, 1.5, float32(math.NaN())} {
			// Two samples of three classes; the second sample's target is bad.
			shapes := []ops.Shape{{2, 3}, {2}}
			r, _ := newKernelRun(t, b, ops.Op{Kind: kind}, [][]float32{{-1, -2, -3, -1, -2, -3}, {0, bad}}, shapes)
			err := r.kernel.Forward(backend.Args{In: r.in, Out: r.out, Saved: r.saved, Workspace: r.ws})
			if err == nil {
				err = b.Download(make([]float32, r.out.Len()), r.out)
			}
			if err == nil {
				t.Errorf("%s with target %v of 3 classes: no error", kind, bad)
			}
		}
	}

	const ln2 = 0.6931472
	for _, tc := range []struct {
		scores, want []float32
	}{
		{[]float32{1000, 1000, 0}, []float32{-ln2, -ln2, -1000 - ln2}},
		{[]float32{-1000, -1000, -3000}, []float32{-ln2, -ln2, -2000 - ln2}},
	} {
		r, _ := newKernelRun(t, b, ops.Op{Kind: ops.LogSoftmax}, [][]float32{tc.scores}, []ops.Shape{{1, 3}})
		got := r.forward()
		for i := range tc.want {
			if math.Abs(float64(got[i]-tc.want[i])) > 1e-3*max(1, math.Abs(float64(tc.want[i]))) {
				t.Errorf("log_softmax(%v) = %v, want %v", tc.scores, got, tc.want)
				break
			}
		}
		// Cross-entropy applies the same log-softmax: the loss of class 0 is ln 2.
		r, _ = newKernelRun(t, b, ops.Op{Kind: ops.CrossEntropyLoss}, [][]float32{tc.scores, {0}}, []ops.Shape{{1, 3}, {1}})
		if loss := r.forward()[0]; math.Abs(float64(loss)-ln2) > 1e-3 {
			t.Errorf("cross_entropy(%v, 0) = %v, want ln 2", tc.scores, loss)
		}
	}
}

// Transfers checks the memory primitives every check above relies on:
// Upload and Download refuse a length that is not the buffer's, a Slice is
// a view of its buffer's elements, Fill sets every element.
func Transfers(t *testing.T, b backend.Backend) {
	buf := must[backend.Buffer](t)(b.Alloc(6))
	if buf.Len() != 6 {
		t.Fatalf("Alloc(6) has %d elements", buf.Len())
	}
	got := make([]float32, 6)
	if err := b.Download(got, buf); err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v != 0 {
			t.Fatalf("Alloc is not zeroed: %v", got)
		}
	}
	if err := b.Upload(buf, make([]float32, 5)); err == nil {
		t.Error("Upload of 5 values into a buffer of 6: no error")
	}
	if err := b.Download(make([]float32, 7), buf); err == nil {
		t.Error("Download of a buffer of 6 into 7: no error")
	}
	if err := b.Upload(buf, []float32{1, 2, 3, 4, 5, 6}); err != nil {
		t.Fatal(err)
	}
	view := b.Slice(buf, 2, 3)
	if view.Len() != 3 {
		t.Fatalf("Slice(buf, 2, 3) has %d elements", view.Len())
	}
	part := make([]float32, 3)
	if err := b.Download(part, view); err != nil {
		t.Fatal(err)
	}
	if part[0] != 3 || part[1] != 4 || part[2] != 5 {
		t.Errorf("Slice(buf, 2, 3) of 1..6 reads %v, want [3 4 5]", part)
	}
	if err := b.Fill(view, -1); err != nil {
		t.Fatal(err)
	}
	if err := b.Download(got, buf); err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 2, -1, -1, -1, 6}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after filling the view with −1 the buffer is %v, want %v", got, want)
			break
		}
	}
}
