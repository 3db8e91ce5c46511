// Package ops declares cnntrain's layer operations as backend-neutral
// descriptors: what each op is (its kind and attributes), the shape rule that
// gives its output, the tensors its forward pass saves for its backward pass,
// the state it updates, and which inputs are differentiable. Descriptors hold
// no data and run nothing: a backend (internal/backend) turns each one into a
// kernel for its device, and the executor (internal/vm) plans the memory of
// every tensor named here, saved tensors included, before the first step.
//
// An op has one output. State that a layer changes as it runs (BatchNorm's
// running statistics and batch counter) is declared by Updates: those inputs
// are overwritten in place by the forward pass, so the executor keeps them in
// persistent storage and never shares their memory.
package ops

import (
	"fmt"
	"strings"
)

// Kind names an operation.
type Kind string

// The op kinds of cnntrain's models, each with PyTorch's semantics.
const (
	// Linear is nn.Linear: inputs x (N, …), weight (out, in), bias (out); x
	// is flattened after the batch dimension as x.view(-1, in) does.
	Linear Kind = "Linear"
	// Conv2d is nn.Conv2d with square kernels, stride 1 and zero padding:
	// x (N, Cin, H, W), weight (Cout, Cin, k, k), bias (Cout).
	Conv2d Kind = "Conv2d"
	// MaxPool2d is nn.MaxPool2d(Size) with stride Size, floor mode; the first
	// maximum of a window wins ties and NaN always wins.
	MaxPool2d Kind = "MaxPool2d"
	// ReLU is max(x, 0), NaN kept; its backward masks on the output.
	ReLU Kind = "ReLU"
	// LogSoftmax is log_softmax over dim 1 of (N, K).
	LogSoftmax Kind = "LogSoftmax"
	// NLLLoss is the mean negative log-likelihood of targets (N) given
	// log-probabilities (N, K); targets are class indices as float32.
	NLLLoss Kind = "NLLLoss"
	// CrossEntropyLoss is NLLLoss of log_softmax of raw scores.
	CrossEntropyLoss Kind = "CrossEntropyLoss"
	// BatchNorm2d is nn.BatchNorm2d: x (N, C, H, W), weight, bias,
	// running_mean, running_var (C) and num_batches_tracked (1).
	BatchNorm2d Kind = "BatchNorm2d"
)

// BNMode is how BatchNorm2d normalizes.
type BNMode int

const (
	// BNTrain normalizes with the batch's mean and biased variance and moves
	// the running statistics towards the batch's (unbiased variance), counting
	// the batch: PyTorch's model.train().
	BNTrain BNMode = iota
	// BNEval normalizes with the running statistics: model.eval().
	BNEval
	// BNBatchStats normalizes with the batch's statistics and leaves the
	// running ones alone, as a notebook that never calls model.eval() tests.
	BNBatchStats
)

func (m BNMode) String() string {
	switch m {
	case BNTrain:
		return "train"
	case BNEval:
		return "eval"
	case BNBatchStats:
		return "batch-stats"
	}
	return fmt.Sprintf("BNMode(%d)", int(m))
}

// Op is one operation with its attributes. The zero values of attributes an
// op does not use are ignored.
type Op struct {
	Kind Kind
	// Conv2d: kernel size and zero padding on every side.
	KernelSize, Padding int
	// MaxPool2d: window size and stride.
	Size int
	// BatchNorm2d: eps, momentum and mode.
	Eps, Momentum float64
	Mode          BNMode
}

func (o Op) String() string {
	switch o.Kind {
	case Conv2d:
		return fmt.Sprintf("Conv2d(k=%d,p=%d)", o.KernelSize, o.Padding)
	case MaxPool2d:
		return fmt.Sprintf("MaxPool2d(%d)", o.Size)
	case BatchNorm2d:
		return fmt.Sprintf("BatchNorm2d(eps=%g,momentum=%g,%s)", o.Eps, o.Momentum, o.Mode)
	}
	return string(o.Kind)
}

// Shape is a tensor's dimensions in C order; empty for a scalar.
type Shape []int

// Size is the number of elements (1 for a scalar).
func (s Shape) Size() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether s and t have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// DType is the element type of a tensor. Every element is 4 bytes.
type DType int

const (
	F32 DType = iota
	I32
)

// TensorSpec declares a tensor an op needs beyond its inputs and output.
type TensorSpec struct {
	Name  string
	Shape Shape
	DType DType
}

// Inputs names the op's inputs in order.
func (o Op) Inputs() []string {
	switch o.Kind {
	case Linear, Conv2d:
		return []string{"x", "weight", "bias"}
	case MaxPool2d, ReLU, LogSoftmax:
		return []string{"x"}
	case NLLLoss, CrossEntropyLoss:
		return []string{"scores", "targets"}
	case BatchNorm2d:
		return []string{"x", "weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
	}
	return nil
}

// Differentiable says whether input i can have a gradient: never the loss
// targets, nor BatchNorm's running statistics and counter.
func (o Op) Differentiable(i int) bool {
	switch o.Kind {
	case NLLLoss, CrossEntropyLoss:
		return i == 0
	case BatchNorm2d:
		return i < 3
	}
	return i < len(o.Inputs())
}

// Updates lists the inputs the forward pass overwrites with new state: in
// training, BatchNorm2d's running_mean, running_var and num_batches_tracked.
func (o Op) Updates() []int {
	if o.Kind == BatchNorm2d && o.Mode == BNTrain {
		return []int{3, 4, 5}
	}
	return nil
}

// Saved declares the tensors the forward pass writes for the backward pass,
// given the input shapes: MaxPool2d's argmax (per output, the index of its
// input within the H×W plane), BatchNorm2d's mean and 1/√(var+eps) per
// channel, CrossEntropyLoss's log-probabilities.
func (o Op) Saved(in []Shape) []TensorSpec {
	switch o.Kind {
	case MaxPool2d:
		out, err := o.OutputShape(in)
		if err != nil {
			return nil
		}
		return []TensorSpec{{"argmax", out, I32}}
	case BatchNorm2d:
		c := Shape{in[0][1]}
		return []TensorSpec{{"mean", c, F32}, {"invstd", c, F32}}
	case CrossEntropyLoss:
		return []TensorSpec{{"log_probs", append(Shape(nil), in[0]...), F32}}
	}
	return nil
}

// OutputShape checks the input shapes and returns the output's.
func (o Op) OutputShape(in []Shape) (Shape, error) {
	if want := len(o.Inputs()); want == 0 {
		return nil, fmt.Errorf("unknown op kind %q", o.Kind)
	} else if len(in) != want {
		return nil, fmt.Errorf("%s takes %d inputs (%s), got %d", o, want, strings.Join(o.Inputs(), ", "), len(in))
	}
	switch o.Kind {
	case Linear:
		x, w, b := in[0], in[1], in[2]
		if len(x) < 2 || len(w) != 2 || len(b) != 1 {
			return nil, fmt.Errorf("want x (N, …), weight (out, in), bias (out); got %v, %v, %v", x, w, b)
		}
		if features := x.Size() / x[0]; features != w[1] {
			return nil, fmt.Errorf("input has %d features per sample (shape %v), weight expects %d", features, x, w[1])
		}
		if b[0] != w[0] {
			return nil, fmt.Errorf("bias has %d elements, weight has %d outputs", b[0], w[0])
		}
		return Shape{x[0], w[0]}, nil
	case Conv2d:
		x, w, b := in[0], in[1], in[2]
		if len(x) != 4 || len(w) != 4 || len(b) != 1 {
			return nil, fmt.Errorf("want x (N, C, H, W), weight (Cout, Cin, k, k), bias (Cout); got %v, %v, %v", x, w, b)
		}
		if w[1] != x[1] {
			return nil, fmt.Errorf("input has %d channels, weight expects %d", x[1], w[1])
		}
		k, p := o.KernelSize, o.Padding
		if w[2] != k || w[3] != k || b[0] != w[0] {
			return nil, fmt.Errorf("weight %v and bias %v do not fit a %dx%d convolution", w, b, k, k)
		}
		ho, wo := x[2]+2*p-k+1, x[3]+2*p-k+1
		if ho < 1 || wo < 1 {
			return nil, fmt.Errorf("input of %dx%d pixels is smaller than the %dx%d kernel", x[2], x[3], k, k)
		}
		return Shape{x[0], w[0], ho, wo}, nil
	case MaxPool2d:
		x := in[0]
		if len(x) != 4 {
			return nil, fmt.Errorf("want x (N, C, H, W), got %v", x)
		}
		if o.Size < 1 || x[2] < o.Size || x[3] < o.Size {
			return nil, fmt.Errorf("input of %dx%d pixels is smaller than the %dx%d window", x[2], x[3], o.Size, o.Size)
		}
		return Shape{x[0], x[1], x[2] / o.Size, x[3] / o.Size}, nil
	case ReLU:
		return append(Shape(nil), in[0]...), nil
	case LogSoftmax:
		if len(in[0]) != 2 {
			return nil, fmt.Errorf("want (N, K) scores, got %v", in[0])
		}
		return append(Shape(nil), in[0]...), nil
	case NLLLoss, CrossEntropyLoss:
		x, t := in[0], in[1]
		if len(x) != 2 || len(t) != 1 || t[0] != x[0] {
			return nil, fmt.Errorf("want scores (N, K) and targets (N); got %v and %v", x, t)
		}
		return Shape{}, nil
	case BatchNorm2d:
		x := in[0]
		if len(x) != 4 {
			return nil, fmt.Errorf("want x (N, C, H, W), got %v", x)
		}
		for i, s := range in[1:5] {
			if len(s) != 1 || s[0] != x[1] {
				return nil, fmt.Errorf("%s has shape %v, want (%d)", o.Inputs()[i+1], s, x[1])
			}
		}
		if in[5].Size() != 1 {
			return nil, fmt.Errorf("num_batches_tracked has shape %v, want one value", in[5])
		}
		if o.Mode != BNEval && x[0]*x[2]*x[3] < 2 {
			return nil, fmt.Errorf("expected more than 1 value per channel when training, got input %v", x)
		}
		return append(Shape(nil), x...), nil
	}
	return nil, fmt.Errorf("unknown op kind %q", o.Kind)
}

// BackwardReads says which forward tensors the gradient with respect to
// input wrt reads, besides the output's gradient and the saved tensors: in[i]
// for each forward input, and the forward output. The executor frees a
// forward tensor once nothing that reads it is left to run, so what a
// backward pass does not read is not kept for it.
func (o Op) BackwardReads(wrt int) (in []bool, out bool) {
	in = make([]bool, len(o.Inputs()))
	switch o.Kind {
	case Linear, Conv2d:
		switch wrt {
		case 0: // dx = dy·W
			in[1] = true
		case 1: // dW = dyᵀ·x
			in[0] = true
		}
	case MaxPool2d: // the saved argmax routes dy
	case ReLU, LogSoftmax:
		out = true
	case NLLLoss, CrossEntropyLoss: // the targets; CrossEntropy's saved log-probabilities
		in[1] = true
	case BatchNorm2d: // x̂ from x and the saved statistics; dx scales by γ
		in[0] = true
		in[1] = wrt == 0
	}
	return in, out
}
