package backendtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/testsupport/parity"
	G "gorgonia.org/gorgonia"
)

// OpCase is one op at the shapes a real model gives it.
type OpCase struct {
	Model string
	Op    ops.Op
	In    []ops.Shape
}

// ModelOps lists the distinct ops of the notebook models at their real
// shapes: the MNIST MLP and CNN at batch 64, the LeNet at 64 and VGG11 and
// VGG16 at 128, in training mode, plus BatchNorm's evaluation modes.
func ModelOps() ([]OpCase, error) {
	mnist := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	cifar := models.Input{C: 3, H: 32, W: 32, Classes: 10}
	var cases []OpCase
	seen := map[string]bool{}
	for _, m := range []struct {
		name  string
		in    models.Input
		batch int
	}{{"mlp", mnist, 64}, {"cnn", mnist, 64}, {"cnn", cifar, 64}, {"vgg11", cifar, 128}, {"vgg16", cifar, 128}} {
		model, err := models.New(m.name, m.in, models.Config{Seed: 1})
		if err != nil {
			return nil, err
		}
		for _, opt := range []graph.NetOptions{{Training: true, Loss: model.Loss, Gradients: true}, {Loss: model.Loss}, {Loss: model.Loss, BatchStatsAtTest: true}} {
			net, err := graph.Compile(model.Net, []int{m.batch, m.in.C, m.in.H, m.in.W}, opt)
			if err != nil {
				return nil, err
			}
			nodes, err := G.Sort(net.Graph)
			if err != nil {
				return nil, err
			}
			for _, n := range nodes {
				info, ok := graph.OpOf(n)
				if !ok || info.Grad {
					continue
				}
				key := fmt.Sprint(info.Op, info.In)
				if !seen[key] {
					seen[key] = true
					cases = append(cases, OpCase{Model: m.name, Op: info.Op, In: info.In})
				}
			}
		}
	}
	return cases, nil
}

// OpError is the largest relative error of one op's results against the
// reference backend, forward and every gradient.
type OpError struct {
	Case OpCase
	Max  float64
	What string // which result it was in
}

// AgainstReference runs every op of ModelOps on b and on ref (the CPU) with
// the same random inputs and returns the largest relative error per op, in
// the form RelErr measures: max|got − want| / max|want| per tensor.
func AgainstReference(ref, b backend.Backend) ([]OpError, error) {
	cases, err := ModelOps()
	if err != nil {
		return nil, err
	}
	var out []OpError
	for i, c := range cases {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		inputs := make([][]float32, len(c.In))
		for j, s := range c.In {
			inputs[j] = randomInput(rng, c.Op, j, s)
		}
		outShape, err := c.Op.OutputShape(c.In)
		if err != nil {
			return nil, err
		}
		dOut := make([]float32, outShape.Size())
		for j := range dOut {
			dOut[j] = float32(rng.NormFloat64())
		}
		want, err := runOp(ref, c, inputs, dOut)
		if err != nil {
			return nil, fmt.Errorf("%s %v on %s: %w", c.Op, c.In, ref.Name(), err)
		}
		got, err := runOp(b, c, inputs, dOut)
		if err != nil {
			return nil, fmt.Errorf("%s %v on %s: %w", c.Op, c.In, b.Name(), err)
		}
		e := OpError{Case: c}
		for _, k := range sortedKeys(want) {
			if r := parity.RelErr(got[k], want[k]); r > e.Max || math.IsNaN(r) {
				e.Max, e.What = r, k
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// randomInput draws an op's input j: class indices for loss targets,
// BatchNorm's variance positive and its counter a count, N(0, 1) otherwise.
func randomInput(rng *rand.Rand, op ops.Op, j int, s ops.Shape) []float32 {
	x := make([]float32, s.Size())
	for i := range x {
		switch {
		case (op.Kind == ops.NLLLoss || op.Kind == ops.CrossEntropyLoss) && j == 1:
			x[i] = float32(rng.IntN(10))
		case op.Kind == ops.BatchNorm2d && j == 4:
			x[i] = 0.5 + rng.Float32()
		case op.Kind == ops.BatchNorm2d && j == 5:
			x[i] = 3
		default:
			x[i] = float32(rng.NormFloat64())
		}
	}
	return x
}

// runOp runs c forward and, for each differentiable input, backward with
// the upstream gradient dOut; it returns every result by name.
func runOp(b backend.Backend, c OpCase, inputs [][]float32, dOut []float32) (map[string][]float32, error) {
	k, err := b.Compile(c.Op, c.In)
	if err != nil {
		return nil, err
	}
	outShape, err := c.Op.OutputShape(c.In)
	if err != nil {
		return nil, err
	}
	alloc := func(data []float32) (backend.Buffer, error) {
		buf, err := b.Alloc(max(len(data), 1))
		if err == nil && len(data) > 0 {
			err = b.Upload(b.Slice(buf, 0, len(data)), data)
		}
		return buf, err
	}
	a := backend.Args{}
	for _, in := range inputs {
		buf, err := alloc(in)
		if err != nil {
			return nil, err
		}
		a.In = append(a.In, buf)
	}
	if a.Out, err = alloc(make([]float32, max(outShape.Size(), 1))); err != nil {
		return nil, err
	}
	for _, s := range c.Op.Saved(c.In) {
		buf, err := alloc(make([]float32, s.Shape.Size()))
		if err != nil {
			return nil, err
		}
		a.Saved = append(a.Saved, buf)
	}
	if a.Workspace, err = alloc(make([]float32, k.Workspace())); err != nil {
		return nil, err
	}
	if err := k.Forward(a); err != nil {
		return nil, err
	}
	res := map[string][]float32{}
	fetch := func(name string, buf backend.Buffer, n int) error {
		v := make([]float32, buf.Len())
		if err := b.Download(v, buf); err != nil {
			return err
		}
		res[name] = v[:n]
		return nil
	}
	if err := fetch("output", a.Out, outShape.Size()); err != nil {
		return nil, err
	}
	for _, i := range c.Op.Updates() {
		if err := fetch("updated "+c.Op.Inputs()[i], a.In[i], c.In[i].Size()); err != nil {
			return nil, err
		}
	}
	for wrt := range c.In {
		if !c.Op.Differentiable(wrt) {
			continue
		}
		reads, readsOut := c.Op.BackwardReads(wrt)
		ba := backend.Args{In: make([]backend.Buffer, len(a.In)), Saved: a.Saved, Workspace: a.Workspace}
		for i, r := range reads {
			if r {
				ba.In[i] = a.In[i]
			}
		}
		if readsOut {
			ba.Out = a.Out
		}
		if ba.DOut, err = alloc(dOut); err != nil {
			return nil, err
		}
		if ba.DIn, err = alloc(make([]float32, c.In[wrt].Size())); err != nil {
			return nil, err
		}
		if err := k.Backward(wrt, ba); err != nil {
			return nil, err
		}
		if err := fetch("grad "+c.Op.Inputs()[wrt], ba.DIn, c.In[wrt].Size()); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func sortedKeys(m map[string][]float32) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ReportAgainstReference runs AgainstReference and fails t for any op
// beyond tol, logging one line per op: model, op, shapes, largest error.
func ReportAgainstReference(t *testing.T, ref, b backend.Backend, tol float64) {
	errs, err := AgainstReference(ref, b)
	if err != nil {
		if errors.Is(err, backend.ErrUnsupported) {
			t.Fatalf("an op of a model has no kernel on %s: %v", b.Name(), err)
		}
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Logf("%-6s %-40s %-34v max rel err %.2g (%s)", e.Case.Model, e.Case.Op, e.Case.In[0], e.Max, e.What)
		if !(e.Max <= tol) {
			t.Errorf("%s %v: %s differs from %s by %.3g > %g", e.Case.Op, e.Case.In, e.What, ref.Name(), e.Max, tol)
		}
	}
}
