package graph

import (
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	"github.com/cnntrain/cnntrain/internal/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// layerOp puts an ops.Op descriptor into a Gorgonia graph. It carries no
// data and no kernel: Gorgonia checks its types and shapes, and its SymDiff
// adds one gradOp per differentiable input, so gorgonia.Grad builds the
// backward graph out of our ops alone. The executor (internal/vm) reads the
// descriptors back with OpOf and runs them on a backend.
type layerOp struct {
	op       ops.Op
	id       int64
	inDims   []int
	inShapes []ops.Shape
	outShape ops.Shape
	// grads says which inputs get a gradient node; data inputs, labels and
	// BatchNorm's statistics do not.
	grads []bool
}

// opIDs makes every op unique: Gorgonia hashes ops, and two layers of the same
// kind must never be mistaken for one another.
var opIDs atomic.Int64

// errNotTape is what Gorgonia's own machines get if asked to run our ops.
var errNotTape = errors.New("cnntrain ops run on cnntrain's executor (internal/vm), not on Gorgonia's machines")

func newLayerOp(op ops.Op, grads []bool, inputs ...*G.Node) (*G.Node, error) {
	shapes := make([]ops.Shape, len(inputs))
	dims := make([]int, len(inputs))
	for i, n := range inputs {
		shapes[i] = ops.Shape(n.Shape().Clone())
		if n.IsScalar() {
			shapes[i] = ops.Shape{}
		}
		dims[i] = n.Dims()
		if n.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("%s: input %d is %v, want float32", op, i, n.Dtype())
		}
	}
	out, err := op.OutputShape(shapes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	lo := &layerOp{op: op, id: opIDs.Add(1), inDims: dims, inShapes: shapes, outShape: out, grads: grads}
	node, err := G.ApplyOp(lo, inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return node, nil
}

func valueType(dims int) hm.Type {
	if dims == 0 {
		return tensor.Float32
	}
	return G.TensorType{Dims: dims, Of: tensor.Float32}
}

func (op *layerOp) Arity() int { return len(op.inDims) }

func (op *layerOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.inDims)+1)
	for _, d := range op.inDims {
		ts = append(ts, valueType(d))
	}
	ts = append(ts, valueType(len(op.outShape)))
	return hm.NewFnType(ts...)
}

func (op *layerOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.outShape...)), nil
}

func (op *layerOp) Do(...G.Value) (G.Value, error) {
	return nil, fmt.Errorf("%s: %w", op.op, errNotTape)
}
func (op *layerOp) ReturnsPtr() bool      { return false }
func (op *layerOp) CallsExtern() bool     { return false }
func (op *layerOp) OverwritesInput() int  { return -1 }
func (op *layerOp) String() string        { return op.op.String() }
func (op *layerOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", op.op, op.id) }
func (op *layerOp) Hashcode() uint32      { return hashOf(op) }

func (op *layerOp) DiffWRT(int) []bool { return append([]bool(nil), op.grads...) }

// SymDiff adds one gradOp per differentiable input; it reads the forward
// inputs, the forward output and the output's gradient.
func (op *layerOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	args := make([]*G.Node, 0, len(inputs)+2)
	args = append(args, inputs...)
	args = append(args, output, grad)
	ret := make(G.Nodes, len(inputs))
	for i := range inputs {
		if !op.grads[i] {
			continue
		}
		g := &gradOp{fwd: op, wrt: i, id: opIDs.Add(1)}
		n, err := G.ApplyOp(g, args...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		ret[i] = n
	}
	return ret, nil
}

// gradOp is the gradient of a layerOp's output with respect to one of its
// inputs. Its arguments are the forward inputs, the forward output and the
// output's gradient.
type gradOp struct {
	fwd *layerOp
	wrt int
	id  int64
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

func (op *gradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(append([]int(nil), op.fwd.inShapes[op.wrt]...)), nil
}

func (op *gradOp) Do(...G.Value) (G.Value, error) { return nil, fmt.Errorf("%s: %w", op, errNotTape) }
func (op *gradOp) ReturnsPtr() bool               { return false }
func (op *gradOp) CallsExtern() bool              { return false }
func (op *gradOp) OverwritesInput() int           { return -1 }
func (op *gradOp) String() string {
	return fmt.Sprintf("∂%s/∂%s", op.fwd.op, op.fwd.op.Inputs()[op.wrt])
}
func (op *gradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", op, op.id) }
func (op *gradOp) Hashcode() uint32      { return hashOf(op) }

func hashOf(op G.Op) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// OpInfo is what a node of a compiled graph computes, for the executor.
type OpInfo struct {
	Op ops.Op
	// In are the shapes of the forward op's inputs; Out its output's.
	In  []ops.Shape
	Out ops.Shape
	// Grad is set for a gradient node: the gradient of the forward op's
	// output with respect to input Wrt. Its children are the forward inputs,
	// the forward node itself and the output's gradient.
	Grad bool
	Wrt  int
}

// OpOf describes node n's op; ok is false for nodes that are not cnntrain
// ops (inputs, constants, or Gorgonia's own ops).
func OpOf(n *G.Node) (info OpInfo, ok bool) {
	switch op := n.Op().(type) {
	case *layerOp:
		return OpInfo{Op: op.op, In: op.inShapes, Out: op.outShape}, true
	case *gradOp:
		return OpInfo{Op: op.fwd.op, In: op.fwd.inShapes, Out: op.fwd.outShape, Grad: true, Wrt: op.wrt}, true
	}
	return OpInfo{}, false
}
