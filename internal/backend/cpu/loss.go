package cpu

import (
	"fmt"
	"math"

	"github.com/cnntrain/cnntrain/internal/backend"
)

// logSoftmax is log_softmax over dim 1 of an (N, K) input. The forward's
// rows are spread over the workers (a test batch of 1,000 MNIST images
// spends as long in its exponentials as in the MLP's products).
type logSoftmax struct {
	n, k, workers int
	x, out        []float32 // the forward in progress, for run
}

func (*logSoftmax) Workspace() int { return 0 }

func (l *logSoftmax) Forward(a backend.Args) error {
	l.x, l.out = f32(a.In[0]), f32(a.Out)
	parallelFor(l.n, 20*l.k, l.workers, l)
	return nil
}

// run computes rows [lo, hi).
func (l *logSoftmax) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		logSoftmaxRow(l.x[i*l.k:(i+1)*l.k], l.out[i*l.k:(i+1)*l.k])
	}
}

// Backward: dx = dy − softmax·Σdy, with softmax = exp(output).
func (l *logSoftmax) Backward(_ int, a backend.Args) error {
	out, dOut, dIn := f32(a.Out), f32(a.DOut), f32(a.DIn)
	k := l.k
	for i := 0; i < l.n; i++ {
		y, dy, dx := out[i*k:(i+1)*k], dOut[i*k:(i+1)*k], dIn[i*k:(i+1)*k]
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

// classLoss is the mean negative log-likelihood of the target classes, given
// either log-probabilities (NLLLoss, after a LogSoftmax layer) or raw scores
// (CrossEntropyLoss, which applies log_softmax itself and saves the result
// for backward). Targets are class indices stored as float32 so they travel
// like any other tensor; the loss is not differentiable with respect to them.
type classLoss struct {
	fromLogits bool
	n, k       int
}

func (*classLoss) Workspace() int { return 0 }

// target is sample i's class, checked.
func (l *classLoss) target(targets []float32, i int) (int, error) {
	t := targets[i]
	c := int(t)
	if float32(c) != t || c < 0 || c >= l.k {
		return 0, fmt.Errorf("target %v of sample %d is not a class in [0, %d)", t, i, l.k)
	}
	return c, nil
}

func (l *classLoss) Forward(a backend.Args) error {
	x, targets, out := f32(a.In[0]), f32(a.In[1]), f32(a.Out)
	n, k := l.n, l.k
	logp := x
	if l.fromLogits {
		logp = f32(a.Saved[0])
		for i := 0; i < n; i++ {
			logSoftmaxRow(x[i*k:(i+1)*k], logp[i*k:(i+1)*k])
		}
	}
	var sum float32
	for i := range n {
		c, err := l.target(targets, i)
		if err != nil {
			return err
		}
		sum -= logp[i*k+c]
	}
	out[0] = sum / float32(n)
	return nil
}

func (l *classLoss) Backward(_ int, a backend.Args) error {
	targets, dOut, dIn := f32(a.In[1]), f32(a.DOut), f32(a.DIn)
	scale := dOut[0] / float32(l.n)
	if l.fromLogits { // (softmax − onehot) / N
		for i, v := range f32(a.Saved[0]) {
			dIn[i] = float32(math.Exp(float64(v))) * scale
		}
	} else {
		clear(dIn)
	}
	for i := range l.n {
		c, err := l.target(targets, i)
		if err != nil {
			return err
		}
		dIn[i*l.k+c] -= scale
	}
	return nil
}
