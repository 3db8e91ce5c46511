package graph

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// logSoftmaxKernel is log_softmax over dim 1 of an (N, K) input.
type logSoftmaxKernel struct{}

func (logSoftmaxKernel) name() string { return "LogSoftmax" }

func (logSoftmaxKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 2 {
		return nil, fmt.Errorf("want (N, K) scores, got %v", in[0])
	}
	return in[0].Clone(), nil
}

func (logSoftmaxKernel) forward(in []buffer, out buffer) error {
	n, k := in[0].shape[0], in[0].shape[1]
	for i := 0; i < n; i++ {
		logSoftmaxRow(in[0].data[i*k:(i+1)*k], out.data[i*k:(i+1)*k])
	}
	return nil
}

// backward: dx = dy − softmax·Σdy, with softmax = exp(output).
func (logSoftmaxKernel) backward(_ int, _ []buffer, out, dOut, dIn buffer) error {
	n, k := out.shape[0], out.shape[1]
	for i := 0; i < n; i++ {
		y, dy, dx := out.data[i*k:(i+1)*k], dOut.data[i*k:(i+1)*k], dIn.data[i*k:(i+1)*k]
		var sum float32
		for _, g := range dy {
			sum += g
		}
		for j := range dx {
			dx[j] = dy[j] - float32(math.Exp(float64(y[j])))*sum
		}
	}
	return nil
}

// logSoftmaxRow writes x − max − log Σ exp(x − max), the stable form.
func logSoftmaxRow(x, dst []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float64
	for _, v := range x {
		sum += math.Exp(float64(v - m))
	}
	lse := m + float32(math.Log(sum))
	for j, v := range x {
		dst[j] = v - lse
	}
}

// classLossKernel is the mean negative log-likelihood of the target classes,
// given either log-probabilities (NLLLoss, after a LogSoftmax layer) or raw
// scores (CrossEntropyLoss, which applies log_softmax itself). Targets are
// class indices stored as float32 so they travel through the graph like any
// other value; the loss is not differentiable with respect to them.
type classLossKernel struct {
	fromLogits bool
	logProbs   []float32 // CrossEntropy's log_softmax, kept for backward
	classes    []int     // the targets as indices, reused
}

func (l *classLossKernel) name() string {
	if l.fromLogits {
		return "CrossEntropyLoss"
	}
	return "NLLLoss"
}

func (l *classLossKernel) outputShape(in []tensor.Shape) (tensor.Shape, error) {
	x, t := in[0], in[1]
	if len(x) != 2 || len(t) != 1 || t[0] != x[0] {
		return nil, fmt.Errorf("want scores (N, K) and targets (N); got %v and %v", x, t)
	}
	return tensor.ScalarShape(), nil
}

func (l *classLossKernel) targets(in []buffer) ([]int, error) {
	n, k := in[0].shape[0], in[0].shape[1]
	if len(l.classes) != n {
		l.classes = make([]int, n)
	}
	idx := l.classes
	for i, t := range in[1].data {
		c := int(t)
		if float32(c) != t || c < 0 || c >= k {
			return nil, fmt.Errorf("target %v of sample %d is not a class in [0, %d)", t, i, k)
		}
		idx[i] = c
	}
	return idx, nil
}

func (l *classLossKernel) forward(in []buffer, out buffer) error {
	x := in[0]
	n, k := x.shape[0], x.shape[1]
	targets, err := l.targets(in)
	if err != nil {
		return err
	}
	logp := x.data
	if l.fromLogits {
		if len(l.logProbs) != len(x.data) {
			l.logProbs = make([]float32, len(x.data))
		}
		for i := 0; i < n; i++ {
			logSoftmaxRow(x.data[i*k:(i+1)*k], l.logProbs[i*k:(i+1)*k])
		}
		logp = l.logProbs
	}
	var sum float32
	for i, c := range targets {
		sum -= logp[i*k+c]
	}
	out.data[0] = sum / float32(n)
	return nil
}

func (l *classLossKernel) backward(_ int, in []buffer, _, dOut, dIn buffer) error {
	n, k := in[0].shape[0], in[0].shape[1]
	targets, err := l.targets(in)
	if err != nil {
		return err
	}
	scale := dOut.data[0] / float32(n)
	if l.fromLogits { // (softmax − onehot) / N
		for i, v := range l.logProbs {
			dIn.data[i] = float32(math.Exp(float64(v))) * scale
		}
	} else {
		clear(dIn.data)
	}
	for i, c := range targets {
		dIn.data[i*k+c] -= scale
	}
	return nil
}
