package graph

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Net is a model's expression graph for one input shape (N, C, H, W): the
// image and label inputs, the output, the loss and, for training, the
// gradient of every trainable parameter. It holds no data and runs nothing;
// vm.Compile plans its memory and runs it on a backend. Training compiles one
// Net per batch size it meets (the last partial batch gets its own).
type Net struct {
	Graph          *G.ExprGraph
	Images, Labels *G.Node // Labels is nil without a loss
	Output         *G.Node
	Loss           *G.Node // nil for a forward-only net
	// Params are the trainable parameters in the order of Grads.
	Params []*Param
	Grads  G.Nodes
	// InputGrad is the gradient with respect to the images (InputGrad nets).
	InputGrad *G.Node
	Options   NetOptions
	params    map[*G.Node]*Param
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
// (N, C, H, W), with the loss and gradients opt asks for.
func Compile(model Layer, inputShape []int, opt NetOptions) (*Net, error) {
	if opt.Gradients && opt.Loss == "" {
		return nil, fmt.Errorf("compile: gradients need a loss")
	}
	if len(inputShape) != 4 {
		return nil, fmt.Errorf("compile: input shape %v is not (N, C, H, W)", inputShape)
	}
	b := NewBuilder(opt.Training)
	b.BatchStatsAtTest = opt.BatchStatsAtTest
	n := &Net{Graph: b.Graph, Options: opt}
	x := b.Input("images", tensor.Shape(inputShape), opt.InputGrad)
	n.Images = x
	out, err := model.Forward(b, x)
	if err != nil {
		return nil, fmt.Errorf("compile model for input %v: %w", inputShape, err)
	}
	n.Output = out
	if opt.Loss != "" {
		n.Labels = b.Input("labels", tensor.Shape{inputShape[0]}, false)
		if n.Loss, err = b.Loss(opt.Loss, out, n.Labels); err != nil {
			return nil, fmt.Errorf("compile loss: %w", err)
		}
	}
	if opt.Gradients {
		wrt := G.Nodes{}
		for _, p := range model.Params() {
			if p.Trainable() {
				n.Params = append(n.Params, p)
				wrt = append(wrt, b.Node(p))
			}
		}
		if opt.InputGrad {
			wrt = append(wrt, x)
		}
		grads, err := G.Grad(n.Loss, wrt...)
		if err != nil {
			return nil, fmt.Errorf("differentiate: %w", err)
		}
		if opt.InputGrad {
			n.InputGrad = grads[len(grads)-1]
			grads = grads[:len(grads)-1]
		}
		n.Grads = grads
	}
	n.params = make(map[*G.Node]*Param, len(b.nodes))
	for p, node := range b.nodes {
		n.params[node] = p
	}
	return n, nil
}

// ParamOf is the parameter (or buffer) bound to an input node.
func (n *Net) ParamOf(node *G.Node) (*Param, bool) {
	p, ok := n.params[node]
	return p, ok
}

// BatchSize is the number of images the net takes at once.
func (n *Net) BatchSize() int { return n.Images.Shape()[0] }
