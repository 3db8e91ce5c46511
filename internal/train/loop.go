package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
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

// Trainer is the training loop. It stays small: logging, evaluation, the NaN
// guard and anything else attach as hooks (values implementing StepHook
// and/or EpochHook).
type Trainer struct {
	Model     *models.Model
	Optimizer Optimizer
	Hooks     []any
	nets      netCache
}

// Fit trains for the given number of epochs over loader.
func (t *Trainer) Fit(ctx context.Context, loader *datasets.Loader, epochs int) error {
	t.nets = netCache{model: t.Model, opts: netOptionsFor(t.Model, true)}
	defer t.nets.close()
	for epoch := 1; epoch <= epochs; epoch++ {
		start := time.Now()
		seen := 0
		for b := range loader.Epoch(epoch - 1) {
			if err := ctx.Err(); err != nil {
				return err
			}
			net, err := t.nets.get(b.Size)
			if err != nil {
				return err
			}
			if err := net.Run(b.Images, b.Labels); err != nil {
				return err
			}
			step := Step{Epoch: epoch, Batch: b.Index, NumBatches: loader.NumBatches(), BatchSize: b.Size,
				Seen: seen, Total: loader.NumSamples(), Loss: net.Loss()}
			for _, h := range t.Hooks {
				if h, ok := h.(StepHook); ok {
					if err := h.OnStep(step); err != nil {
						return err
					}
				}
			}
			if err := t.Optimizer.Step(net.Params(), net.Grads()); err != nil {
				return err
			}
			seen += b.Size
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		end := EpochEnd{Epoch: epoch, Images: seen, Duration: time.Since(start)}
		for _, h := range t.Hooks {
			if h, ok := h.(EpochHook); ok {
				if err := h.OnEpochEnd(ctx, end); err != nil {
					return err
				}
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

func (NaNGuard) OnStep(s Step) error {
	if math.IsNaN(float64(s.Loss)) || math.IsInf(float64(s.Loss), 0) {
		return fmt.Errorf("%w: loss %v at epoch %d, minibatch %d (try a smaller --lr)", ErrNaNLoss, s.Loss, s.Epoch, s.Batch)
	}
	return nil
}
