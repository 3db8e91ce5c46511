package graph

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// kernel is the arithmetic of one layer: its forward pass and the gradient with
// respect to each of its inputs, on flat float32 buffers in C order. Every layer
// of cnntrain is one kernel wrapped in a kernelOp, so the CPU tape machine and
// the CUDA VM see one op per layer and one gradient op per differentiable input.
//
// A kernel may keep state computed by forward for backward (pooling keeps its
// argmax, BatchNorm its batch statistics): Gorgonia's tape runs the forward op
// before every gradient op that reads its output, and one kernel belongs to one
// node of one graph.
type kernel interface {
	// name is the op's name in graph dumps and error messages, with its settings.
	name() string
	// outputShape checks the input shapes and returns the output's; an empty
	// shape means a scalar.
	outputShape(in []tensor.Shape) (tensor.Shape, error)
	forward(in []buffer, out buffer) error
	// backward writes into dIn the gradient of the loss with respect to input
	// wrt, given the forward inputs, the forward output and dOut, the gradient
	// with respect to the output.
	backward(wrt int, in []buffer, out, dOut, dIn buffer) error
}

// buffer is a value's flat data with its shape.
type buffer struct {
	data  []float32
	shape tensor.Shape
}

// opIDs makes every op unique: Gorgonia hashes ops, and two layers of the same
// kind must never be mistaken for one another.
var opIDs atomic.Int64

// kernelOp adapts a kernel to gorgonia.Op and gorgonia.SDOp. Its output lives in
// a buffer the op owns, allocated on the first run and reused by every later one,
// so the training step does not allocate.
type kernelOp struct {
	k        kernel
	id       int64
	inDims   []int
	outShape tensor.Shape
	// grads says which inputs get a gradient node; data inputs and labels do not.
	grads []bool
	out   G.Value
	in    []buffer // reused views of the inputs
}

func newKernelOp(k kernel, grads []bool, inputs ...*G.Node) (*G.Node, error) {
	shapes := make([]tensor.Shape, len(inputs))
	dims := make([]int, len(inputs))
	for i, n := range inputs {
		shapes[i] = n.Shape().Clone()
		dims[i] = n.Dims()
		if n.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("%s: input %d is %v, want float32", k.name(), i, n.Dtype())
		}
	}
	out, err := k.outputShape(shapes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.name(), err)
	}
	op := &kernelOp{k: k, id: opIDs.Add(1), inDims: dims, outShape: out, grads: grads}
	node, err := G.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.name(), err)
	}
	return node, nil
}

func valueType(dims int) hm.Type {
	if dims == 0 {
		return tensor.Float32
	}
	return G.TensorType{Dims: dims, Of: tensor.Float32}
}

func (op *kernelOp) Arity() int { return len(op.inDims) }

func (op *kernelOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.inDims)+1)
	for _, d := range op.inDims {
		ts = append(ts, valueType(d))
	}
	ts = append(ts, valueType(len(op.outShape)))
	return hm.NewFnType(ts...)
}

func (op *kernelOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.outShape.Clone(), nil
}

func (op *kernelOp) Do(vals ...G.Value) (G.Value, error) {
	in, err := buffers(op.in, vals)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op.k.name(), err)
	}
	op.in = in
	if op.out == nil {
		op.out = newValue(op.outShape)
	}
	if err := op.k.forward(in, bufferOf(op.out)); err != nil {
		return nil, fmt.Errorf("%s: %w", op.k.name(), err)
	}
	return op.out, nil
}

func (op *kernelOp) ReturnsPtr() bool      { return false }
func (op *kernelOp) CallsExtern() bool     { return false }
func (op *kernelOp) OverwritesInput() int  { return -1 }
func (op *kernelOp) String() string        { return op.k.name() }
func (op *kernelOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", op.k.name(), op.id) }
func (op *kernelOp) Hashcode() uint32      { return hashOf(op) }

func (op *kernelOp) DiffWRT(int) []bool { return append([]bool(nil), op.grads...) }

// SymDiff adds one gradOp per differentiable input; it reads the forward
// inputs, the forward output and the output's gradient.
func (op *kernelOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	args := make([]*G.Node, 0, len(inputs)+2)
	args = append(args, inputs...)
	args = append(args, output, grad)
	ret := make(G.Nodes, len(inputs))
	for i := range inputs {
		if !op.grads[i] {
			continue
		}
		g := &gradOp{fwd: op, wrt: i, id: opIDs.Add(1), shape: inputs[i].Shape().Clone()}
		n, err := G.ApplyOp(g, args...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		ret[i] = n
	}
	return ret, nil
}

// gradOp computes the gradient of a kernelOp's output with respect to one of
// its inputs.
type gradOp struct {
	fwd   *kernelOp
	wrt   int
	id    int64
	shape tensor.Shape
	out   G.Value
	in    []buffer // reused views of the inputs
}

func (op *gradOp) Arity() int { return len(op.fwd.inDims) + 2 }

func (op *gradOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.fwd.inDims)+3)
	for _, d := range op.fwd.inDims {
		ts = append(ts, valueType(d))
	}
	outT := valueType(len(op.fwd.outShape))
	ts = append(ts, outT, outT, valueType(op.fwd.inDims[op.wrt]))
	return hm.NewFnType(ts...)
}

func (op *gradOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }

func (op *gradOp) Do(vals ...G.Value) (G.Value, error) {
	bufs, err := buffers(op.in, vals)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	op.in = bufs
	n := len(op.fwd.inDims)
	if op.out == nil {
		op.out = newValue(op.shape)
	}
	if err := op.fwd.k.backward(op.wrt, bufs[:n], bufs[n], bufs[n+1], bufferOf(op.out)); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return op.out, nil
}

func (op *gradOp) ReturnsPtr() bool      { return false }
func (op *gradOp) CallsExtern() bool     { return false }
func (op *gradOp) OverwritesInput() int  { return -1 }
func (op *gradOp) String() string        { return fmt.Sprintf("∂%s/∂in%d", op.fwd.k.name(), op.wrt) }
func (op *gradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", op, op.id) }
func (op *gradOp) Hashcode() uint32      { return hashOf(op) }

func hashOf(op G.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func newValue(s tensor.Shape) G.Value {
	if len(s) == 0 {
		return G.NewF32(0)
	}
	return tensor.New(tensor.WithShape(s...), tensor.Of(tensor.Float32))
}

// bufferOf views a Gorgonia value as a flat float32 buffer without copying.
func bufferOf(v G.Value) buffer {
	switch v := v.(type) {
	case *tensor.Dense:
		return buffer{data: v.Float32s(), shape: v.Shape()}
	case *G.F32:
		return buffer{data: unsafe.Slice((*float32)(unsafe.Pointer(v)), 1), shape: tensor.ScalarShape()}
	}
	panic(fmt.Sprintf("graph: unexpected value %T", v)) // only our own values reach here
}

// buffers views vals as buffers, reusing dst's storage.
func buffers(dst []buffer, vals []G.Value) ([]buffer, error) {
	out := dst[:0]
	if cap(out) < len(vals) {
		out = make([]buffer, 0, len(vals))
	}
	out = out[:len(vals)]
	for i, v := range vals {
		switch v.(type) {
		case *tensor.Dense, *G.F32:
			if v.Dtype() != tensor.Float32 {
				return nil, fmt.Errorf("input %d is %v, want float32", i, v.Dtype())
			}
			out[i] = bufferOf(v)
		default:
			return nil, fmt.Errorf("input %d: unsupported value %T", i, v)
		}
	}
	return out, nil
}
