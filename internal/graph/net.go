package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Net is a model compiled for one batch shape: an expression graph with its
// input and label nodes, the loss, the gradient of every trainable parameter,
// and the machine that runs it. Training compiles one Net per batch size it
// meets (the last partial batch gets its own); all share the model's Params.
type Net struct {
	builder *Builder
	images  *tensor.Dense
	labels  *tensor.Dense
	output  *G.Node
	loss    *G.Node
	params  []*Param
	grads   G.Nodes
	// gradData is Grads' result, kept so a training step allocates nothing.
	gradData [][]float32
	inGrad   *G.Node
	machine  G.VM
}

// NetOptions say what a Net computes beyond the forward pass.
type NetOptions struct {
	Training bool // training-mode layers (BatchNorm uses batch statistics)
	// BatchStatsAtTest: BatchNorm of a non-training net uses batch statistics.
	BatchStatsAtTest bool
	Loss             LossKind // "" for a forward-only net
	Gradients        bool     // add the backward pass for every trainable parameter
	InputGrad        bool     // also differentiate with respect to the input images
}

// Compile builds model into a fresh graph for inputs of the given shape
// (N, C, H, W) and prepares the tape machine that runs it.
func Compile(model Layer, inputShape tensor.Shape, opt NetOptions) (*Net, error) {
	if opt.Gradients && opt.Loss == "" {
		return nil, fmt.Errorf("compile: gradients need a loss")
	}
	b := NewBuilder(opt.Training)
	b.BatchStatsAtTest = opt.BatchStatsAtTest
	n := &Net{
		builder: b,
		images:  tensor.New(tensor.WithShape(inputShape...), tensor.Of(tensor.Float32)),
		labels:  tensor.New(tensor.WithShape(inputShape[0]), tensor.Of(tensor.Float32)),
	}
	x := b.Input("images", n.images, opt.InputGrad)
	out, err := model.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("compile model for input %v: %w", inputShape, err)
	}
	n.output = out
	if opt.Loss != "" {
		y := b.Input("labels", n.labels, false)
		if n.loss, err = b.Loss(opt.Loss, out, y); err != nil {
			return nil, fmt.Errorf("compile loss: %w", err)
		}
	}
	if opt.Gradients {
		wrt := G.Nodes{}
		for _, p := range model.Params() {
			if p.Trainable() {
				n.params = append(n.params, p)
				wrt = append(wrt, b.Node(p))
			}
		}
		if opt.InputGrad {
			wrt = append(wrt, x)
		}
		grads, err := G.Grad(n.loss, wrt...)
		if err != nil {
			return nil, fmt.Errorf("differentiate: %w", err)
		}
		if opt.InputGrad {
			n.inGrad = grads[len(grads)-1]
			grads = grads[:len(grads)-1]
		}
		n.grads = grads
	}
	n.machine = G.NewTapeMachine(b.Graph)
	return n, nil
}

// BatchSize is the number of images the net takes at once.
func (n *Net) BatchSize() int { return n.images.Shape()[0] }

// Run copies a batch in and runs the graph once: forward, loss and, when
// compiled with gradients, the backward pass. labels may be nil for a
// forward-only net.
func (n *Net) Run(images []float32, labels []uint8) error {
	dst := n.images.Float32s()
	if len(images) != len(dst) {
		return fmt.Errorf("run: batch has %d values, net takes %d (shape %v)", len(images), len(dst), n.images.Shape())
	}
	copy(dst, images)
	if n.loss != nil {
		ls := n.labels.Float32s()
		if len(labels) != len(ls) {
			return fmt.Errorf("run: batch has %d labels, net takes %d", len(labels), len(ls))
		}
		for i, l := range labels {
			ls[i] = float32(l)
		}
	}
	defer n.machine.Reset()
	if err := n.machine.RunAll(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// Output is the model's output for the last batch, (N, classes) flattened.
func (n *Net) Output() []float32 { return bufferOf(n.output.Value()).data }

// Loss is the mean loss of the last batch.
func (n *Net) Loss() float32 { return bufferOf(n.loss.Value()).data[0] }

// Params are the trainable parameters, in the order of Grads.
func (n *Net) Params() []*Param { return n.params }

// Grads returns the gradient of each trainable parameter from the last run.
// The slices are the gradient ops' own buffers, valid until the next Run.
func (n *Net) Grads() [][]float32 {
	if len(n.gradData) != len(n.grads) {
		n.gradData = make([][]float32, len(n.grads))
	}
	for i, g := range n.grads {
		n.gradData[i] = bufferOf(g.Value()).data
	}
	return n.gradData
}

// InputGrad is the gradient with respect to the images (InputGrad nets only).
func (n *Net) InputGrad() []float32 { return bufferOf(n.inGrad.Value()).data }

// Close releases the machine.
func (n *Net) Close() { n.machine.Close() }
