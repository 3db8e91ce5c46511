package graph

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/cnntrain/cnntrain/internal/ops"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is a named tensor of a model. Its name is the key of PyTorch's
// state_dict ("conv1.weight", "network.0.bias"), so checkpoints move between
// cnntrain and PyTorch unchanged. Value is the host copy: the executor keeps
// the working copy on its device (vm.Device) and copies it back with Pull
// before a checkpoint is written.
type Param struct {
	Name  string
	Value *tensor.Dense
	Kind  ParamKind
}

// ParamKind says how a state_dict entry is trained and saved.
type ParamKind int

const (
	// Trainable parameters get gradients and optimizer updates.
	Trainable ParamKind = iota
	// Buffer is a float32 statistic (BatchNorm's running mean and variance):
	// saved and loaded, never differentiated.
	Buffer
	// Counter is a count kept as one float32 value (exact to 2²⁴) and saved as
	// a 0-dimensional int64, as PyTorch saves num_batches_tracked.
	Counter
)

// Trainable says whether p gets gradients.
func (p *Param) Trainable() bool { return p.Kind == Trainable }

// Data is the parameter's values in C order.
func (p *Param) Data() []float32 { return p.Value.Float32s() }

// Shape is the parameter's shape.
func (p *Param) Shape() tensor.Shape { return p.Value.Shape() }

func newParam(name string, shape ...int) *Param {
	return &Param{Name: name, Value: tensor.New(tensor.WithShape(shape...), tensor.Of(tensor.Float32)), Kind: Trainable}
}

// Layer is one step of a model's forward pass.
type Layer interface {
	// Forward adds the layer to the builder's graph, reading x.
	Forward(b *Builder, x *G.Node) (*G.Node, error)
	// Params lists the layer's parameters in state_dict order.
	Params() []*Param
}

// Builder is the context a model is built in: the graph, whether the graph
// trains (BatchNorm's batch statistics) and which nodes need gradients.
type Builder struct {
	Graph    *G.ExprGraph
	Training bool
	// BatchStatsAtTest makes BatchNorm in an evaluation graph normalize with
	// the batch's statistics (leaving the running ones alone), as a notebook
	// that never calls model.eval() does.
	BatchStatsAtTest bool
	nodes            map[*Param]*G.Node
	// dataInputs are nodes that never need a gradient (images, labels).
	dataInputs map[*G.Node]bool
}

// NewBuilder starts a graph.
func NewBuilder(training bool) *Builder {
	return &Builder{Graph: G.NewGraph(), Training: training, nodes: map[*Param]*G.Node{}, dataInputs: map[*G.Node]bool{}}
}

// Node returns p's input node in this graph; the executor binds it to p's
// device copy. Buffers are inputs without gradients.
func (b *Builder) Node(p *Param) *G.Node {
	if n, ok := b.nodes[p]; ok {
		return n
	}
	n := G.NewTensor(b.Graph, tensor.Float32, len(p.Shape()), G.WithShape(p.Shape()...), G.WithName(p.Name))
	b.nodes[p] = n
	if !p.Trainable() {
		b.dataInputs[n] = true
	}
	return n
}

// Input adds a data node of the given shape; it gets a gradient only when
// wantGrad is set (parity tests check the input's gradient).
func (b *Builder) Input(name string, shape tensor.Shape, wantGrad bool) *G.Node {
	n := G.NewTensor(b.Graph, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name))
	if !wantGrad {
		b.dataInputs[n] = true
	}
	return n
}

// apply adds op on the inputs, asking for gradients of every
// differentiable input that is not plain data.
func (b *Builder) apply(op ops.Op, inputs ...*G.Node) (*G.Node, error) {
	grads := make([]bool, len(inputs))
	for i, n := range inputs {
		grads[i] = !b.dataInputs[n] && op.Differentiable(i)
	}
	return newLayerOp(op, grads, inputs...)
}

// Sequential runs layers one after another, like nn.Sequential.
type Sequential []Layer

func (s Sequential) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	var err error
	for _, l := range s {
		if x, err = l.Forward(b, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (s Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// Linear is nn.Linear: weight (out, in), bias (out).
type Linear struct{ Weight, Bias *Param }

// NewLinear makes a Linear layer whose parameters are called prefix.weight and
// prefix.bias, initialised as PyTorch does from rng.
func NewLinear(prefix string, in, out int, rng *rand.Rand) *Linear {
	l := &Linear{Weight: newParam(prefix+".weight", out, in), Bias: newParam(prefix+".bias", out)}
	initDefault(rng, in, l.Weight, l.Bias)
	return l
}

func (l *Linear) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	return b.apply(ops.Op{Kind: ops.Linear}, x, b.Node(l.Weight), b.Node(l.Bias))
}
func (l *Linear) Params() []*Param { return []*Param{l.Weight, l.Bias} }

// Conv2d is nn.Conv2d with square kernels, stride 1 and zero padding.
type Conv2d struct {
	Weight, Bias *Param
	Padding      int
}

// NewConv2d makes a Conv2d whose parameters are prefix.weight and prefix.bias.
func NewConv2d(prefix string, in, out, kernelSize, padding int, rng *rand.Rand) *Conv2d {
	c := &Conv2d{
		Weight:  newParam(prefix+".weight", out, in, kernelSize, kernelSize),
		Bias:    newParam(prefix+".bias", out),
		Padding: padding,
	}
	initDefault(rng, in*kernelSize*kernelSize, c.Weight, c.Bias)
	return c
}

func (c *Conv2d) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	op := ops.Op{Kind: ops.Conv2d, KernelSize: c.Weight.Shape()[2], Padding: c.Padding}
	return b.apply(op, x, b.Node(c.Weight), b.Node(c.Bias))
}
func (c *Conv2d) Params() []*Param { return []*Param{c.Weight, c.Bias} }

// MaxPool2d is nn.MaxPool2d(Size) with stride Size.
type MaxPool2d struct{ Size int }

func (p MaxPool2d) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	return b.apply(ops.Op{Kind: ops.MaxPool2d, Size: p.Size}, x)
}
func (MaxPool2d) Params() []*Param { return nil }

// ReLU is nn.ReLU.
type ReLU struct{}

func (ReLU) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	return b.apply(ops.Op{Kind: ops.ReLU}, x)
}
func (ReLU) Params() []*Param { return nil }

// LogSoftmax is nn.LogSoftmax(dim=1).
type LogSoftmax struct{}

func (LogSoftmax) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	return b.apply(ops.Op{Kind: ops.LogSoftmax}, x)
}
func (LogSoftmax) Params() []*Param { return nil }

// BatchNorm2d is nn.BatchNorm2d(C) with eps 1e-5 and momentum 0.1: γ = 1,
// β = 0, running mean 0, running variance 1, as PyTorch initialises them.
type BatchNorm2d struct {
	Weight, Bias, RunningMean, RunningVar, NumBatchesTracked *Param
	Eps, Momentum                                            float64
}

// NewBatchNorm2d makes a BatchNorm2d whose state_dict entries are
// prefix.{weight,bias,running_mean,running_var,num_batches_tracked}.
func NewBatchNorm2d(prefix string, channels int) *BatchNorm2d {
	bn := &BatchNorm2d{
		Weight:            newParam(prefix+".weight", channels),
		Bias:              newParam(prefix+".bias", channels),
		RunningMean:       newParam(prefix+".running_mean", channels),
		RunningVar:        newParam(prefix+".running_var", channels),
		NumBatchesTracked: newParam(prefix+".num_batches_tracked", 1),
		Eps:               1e-5,
		Momentum:          0.1,
	}
	bn.RunningMean.Kind, bn.RunningVar.Kind, bn.NumBatchesTracked.Kind = Buffer, Buffer, Counter
	for i := range channels {
		bn.Weight.Data()[i] = 1
		bn.RunningVar.Data()[i] = 1
	}
	return bn
}

func (bn *BatchNorm2d) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	op := ops.Op{Kind: ops.BatchNorm2d, Eps: bn.Eps, Momentum: bn.Momentum, Mode: ops.BNEval}
	switch {
	case b.Training:
		op.Mode = ops.BNTrain
	case b.BatchStatsAtTest:
		op.Mode = ops.BNBatchStats
	}
	return b.apply(op, x, b.Node(bn.Weight), b.Node(bn.Bias), b.Node(bn.RunningMean), b.Node(bn.RunningVar), b.Node(bn.NumBatchesTracked))
}

func (bn *BatchNorm2d) Params() []*Param {
	return []*Param{bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, bn.NumBatchesTracked}
}

// LossKind names the loss a model trains with.
type LossKind string

const (
	// NLL is F.nll_loss on log-probabilities (models ending in LogSoftmax).
	NLL LossKind = "nll"
	// CrossEntropy is F.cross_entropy on raw scores.
	CrossEntropy LossKind = "cross_entropy"
)

// Loss adds the mean loss of scores against targets (class indices as float32).
func (b *Builder) Loss(kind LossKind, scores, targets *G.Node) (*G.Node, error) {
	switch kind {
	case NLL:
		return b.apply(ops.Op{Kind: ops.NLLLoss}, scores, targets)
	case CrossEntropy:
		return b.apply(ops.Op{Kind: ops.CrossEntropyLoss}, scores, targets)
	}
	return nil, fmt.Errorf("unknown loss %q", kind)
}

// initDefault fills weight and bias uniformly in ±1/√fanIn: PyTorch's default
// for Linear and Conv2d (kaiming_uniform_ with a=√5 gives exactly this bound).
// Weight first, then bias, as PyTorch's reset_parameters does.
func initDefault(rng *rand.Rand, fanIn int, weight, bias *Param) {
	bound := 1 / math.Sqrt(float64(fanIn))
	for _, p := range []*Param{weight, bias} {
		data := p.Data()
		for i := range data {
			data[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
}

// CountParams is the number of trainable values, as the notebooks print it.
func CountParams(ps []*Param) int {
	n := 0
	for _, p := range ps {
		if p.Trainable() {
			n += p.Value.Shape().TotalSize()
		}
	}
	return n
}
