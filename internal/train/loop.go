package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Step describes one finished minibatch, before the optimizer applies it.
type Step struct {
	Epoch      int     // from 1
	Batch      int     // index within the epoch, from 0
	NumBatches int     // minibatches per epoch
	BatchSize  int     // images in this minibatch
	Seen       int     // images of this epoch before this minibatch
	Total      int     // images per epoch
	Loss       float32 // mean loss of this minibatch
}

// EpochEnd describes a finished epoch.
type EpochEnd struct {
	Epoch    int
	Images   int           // images trained on in this epoch
	Duration time.Duration // training time, without evaluation
}

// StepHook runs after every minibatch's forward and backward pass; an error
// stops training before the update is applied.
type StepHook interface {
	OnStep(Step) error
}

// EpochHook runs after every epoch.
type EpochHook interface {
	OnEpochEnd(context.Context, EpochEnd) error
}

// StepFunc adapts a function to StepHook.
type StepFunc func(Step) error

func (f StepFunc) OnStep(s Step) error { return f(s) }

// EveryN runs h on the first minibatch of every n (minibatches 0, n, 2n, …
// of each epoch), as the notebooks log.
func EveryN(n int, h StepHook) StepHook {
	return StepFunc(func(s Step) error {
		if n <= 0 || s.Batch%n != 0 {
			return nil
		}
		return h.OnStep(s)
	})
}

type namedStepHook struct {
	name string
	hook StepHook
}

type namedEpochHook struct {
	name string
	hook EpochHook
}

// Trainer is the training loop. It stays small: logging, evaluation, the NaN
// guard and anything else attach as hooks, registered by type with a name
// that prefixes their errors.
type Trainer struct {
	Model     *models.Model
	Device    *vm.Device
	Optimizer vm.Optimizer
	steps     []namedStepHook
	epochs    []namedEpochHook
}

// OnStep registers a hook to run after every minibatch's backward pass.
func (t *Trainer) OnStep(name string, h StepHook) {
	t.steps = append(t.steps, namedStepHook{name, h})
}

// OnEpochEnd registers a hook to run after every epoch.
func (t *Trainer) OnEpochEnd(name string, h EpochHook) {
	t.epochs = append(t.epochs, namedEpochHook{name, h})
}

// Fit trains for the given number of epochs over loader, on the trainer's
// Device: per minibatch one upload of the batch, the program's forward and
// backward pass, the step hooks, and the optimizer's update on the device.
func (t *Trainer) Fit(ctx context.Context, loader *datasets.Loader, epochs int) error {
	in := t.Model.Input
	progs := &vm.Programs{Device: t.Device, Model: t.Model.Net, Input: [3]int{in.C, in.H, in.W},
		Options: graph.NetOptions{Training: true, Loss: t.Model.Loss, Gradients: true}}
	defer progs.Release()
	for epoch := 1; epoch <= epochs; epoch++ {
		start := time.Now()
		seen := 0
		for b := range loader.Epoch(epoch - 1) {
			if err := ctx.Err(); err != nil {
				return err
			}
			prog, err := progs.Get(b.Size)
			if err != nil {
				return err
			}
			if err := prog.Run(b.Images, b.Labels); err != nil {
				return err
			}
			step := Step{Epoch: epoch, Batch: b.Index, NumBatches: loader.NumBatches(), BatchSize: b.Size,
				Seen: seen, Total: loader.NumSamples(), Loss: prog.Loss()}
			for _, h := range t.steps {
				if err := h.hook.OnStep(step); err != nil {
					return fmt.Errorf("%s: %w", h.name, err)
				}
			}
			if err := prog.Update(t.Optimizer); err != nil {
				return err
			}
			seen += b.Size
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		end := EpochEnd{Epoch: epoch, Images: seen, Duration: time.Since(start)}
		for _, h := range t.epochs {
			if err := h.hook.OnEpochEnd(ctx, end); err != nil {
				return fmt.Errorf("%s: %w", h.name, err)
			}
		}
	}
	return nil
}

// ErrNaNLoss is returned by NaNGuard.
var ErrNaNLoss = errors.New("loss is not a finite number")

// NaNGuard stops training when the loss becomes NaN or infinite, before the
// bad gradients reach the weights.
type NaNGuard struct{}

var _ StepHook = NaNGuard{}

func (NaNGuard) OnStep(s Step) error {
	if math.IsNaN(float64(s.Loss)) || math.IsInf(float64(s.Loss), 0) {
		return fmt.Errorf("%w: loss %v at epoch %d, minibatch %d (try a smaller --lr)", ErrNaNLoss, s.Loss, s.Epoch, s.Batch)
	}
	return nil
}
