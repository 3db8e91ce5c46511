package train

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Step describes one finished minibatch: to step hooks before the
// optimizer applies it, to update hooks after.
type Step struct {
	Epoch      int     // from 1
	Batch      int     // index within the epoch, from 0
	NumBatches int     // minibatches per epoch
	BatchSize  int     // images in this minibatch
	Seen       int     // images of this epoch before this minibatch
	Total      int     // images per epoch
	Loss       float32 // mean loss of this minibatch
	// Update numbers this minibatch's optimizer update over the whole run
	// (resumed parts included), from 1.
	Update int
	// Elapsed is the training time of this epoch so far in this process.
	Elapsed time.Duration
	// Next is where training continues after this minibatch. Its
	// AugmentRNG is valid during the hook only: Clone it to keep it.
	Next datasets.Position
}

// EpochEnd describes a finished epoch.
type EpochEnd struct {
	Epoch    int
	Images   int           // images trained on in this epoch, by this process
	Duration time.Duration // their training time, without evaluation
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
// guard, checkpoints and anything else attach as hooks, registered by type
// with a name that prefixes their errors.
type Trainer struct {
	Model     *models.Model
	Device    *vm.Device
	Optimizer vm.Optimizer
	// Position is where Fit starts (the zero value: the first epoch's
	// start) and, once it returns, the next minibatch it would have trained
	// on: where an interrupted run resumes.
	Position datasets.Position
	steps    []namedStepHook
	updates  []namedStepHook
	epochs   []namedEpochHook
	rng      []byte // Position.AugmentRNG's memory
	nextRNG  []byte // the step in flight's Next.AugmentRNG
}

// OnStep registers a hook to run after every minibatch's backward pass,
// before the optimizer's update.
func (t *Trainer) OnStep(name string, h StepHook) {
	t.steps = append(t.steps, namedStepHook{name, h})
}

// OnUpdate registers a hook to run after every minibatch's optimizer
// update, when the device holds the weights Step.Next continues from.
func (t *Trainer) OnUpdate(name string, h StepHook) {
	t.updates = append(t.updates, namedStepHook{name, h})
}

// OnEpochEnd registers a hook to run after every epoch.
func (t *Trainer) OnEpochEnd(name string, h EpochHook) {
	t.epochs = append(t.epochs, namedEpochHook{name, h})
}

// Fit trains over loader from t.Position until the given number of epochs
// is done, on the trainer's Device: per minibatch one upload of the batch,
// the program's forward and backward pass, the step hooks, the optimizer's
// update on the device and the update hooks; after each epoch the epoch
// hooks. A cancelled ctx stops it before the next minibatch.
func (t *Trainer) Fit(ctx context.Context, loader *datasets.Loader, epochs int) error {
	in := t.Model.Input
	progs := &vm.Programs{Device: t.Device, Model: t.Model.Net, Input: [3]int{in.C, in.H, in.W},
		Options: graph.NetOptions{Training: true, Loss: t.Model.Loss, Gradients: true}}
	defer progs.Release()
	for t.Position.Epoch < epochs {
		epoch := t.Position.Epoch + 1
		batches, err := loader.From(t.Position)
		if err != nil {
			return err
		}
		start := time.Now()
		trained, err := t.trainEpoch(ctx, progs, loader, batches, epoch, start)
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		end := EpochEnd{Epoch: epoch, Images: trained, Duration: time.Since(start)}
		for _, h := range t.epochs {
			if err := h.hook.OnEpochEnd(ctx, end); err != nil {
				return fmt.Errorf("%s: %w", h.name, err)
			}
		}
		t.Position = datasets.Position{Epoch: epoch}
	}
	return nil
}

// trainEpoch trains on one epoch's batches and returns how many images it
// trained on. It loads batch k+1 before it waits for batch k's loss, so that
// on a GPU the upload overlaps the step's computation; the hooks still see
// each step before its update, and the update of step k is queued before
// step k+1 runs.
func (t *Trainer) trainEpoch(ctx context.Context, progs *vm.Programs, loader *datasets.Loader, batches iter.Seq[*datasets.Batch], epoch int, start time.Time) (int, error) {
	next, stop := iter.Pull(batches)
	defer stop()
	load := func(b *datasets.Batch) (*vm.Program, error) {
		prog, err := progs.Get(b.Size)
		if err != nil {
			return nil, err
		}
		return prog, prog.Load(b.Images, b.Labels)
	}
	b, ok := next()
	var prog *vm.Program
	if ok {
		var err error
		if prog, err = load(b); err != nil {
			return 0, err
		}
	}
	trained := 0
	for ok {
		if err := ctx.Err(); err != nil {
			return trained, err
		}
		if err := prog.Launch(); err != nil {
			return trained, err
		}
		step := Step{Epoch: epoch, Batch: b.Index, NumBatches: loader.NumBatches(), BatchSize: b.Size,
			Seen: b.Index * loader.BatchSize(), Total: loader.NumSamples(), Next: b.Next}
		if b.Next.AugmentRNG != nil { // b is recycled by the loader once the next batch is asked for
			t.nextRNG = append(t.nextRNG[:0], b.Next.AugmentRNG...)
			step.Next.AugmentRNG = t.nextRNG
		}
		var nextProg *vm.Program
		if b, ok = next(); ok {
			var err error
			if nextProg, err = load(b); err != nil {
				return trained, err
			}
		}
		loss, err := prog.ReadLoss()
		if err != nil {
			return trained, err
		}
		step.Loss, step.Update, step.Elapsed = loss, t.Device.Steps+1, time.Since(start)
		if err := runHooks(t.steps, step); err != nil {
			return trained, err
		}
		if err := prog.Update(t.Optimizer); err != nil {
			return trained, err
		}
		t.Position = step.Next
		if step.Next.AugmentRNG != nil {
			t.rng = append(t.rng[:0], step.Next.AugmentRNG...)
			t.Position.AugmentRNG = t.rng
		}
		trained += step.BatchSize
		step.Elapsed = time.Since(start)
		if err := runHooks(t.updates, step); err != nil {
			return trained, err
		}
		prog = nextProg
	}
	return trained, nil
}

func runHooks(hooks []namedStepHook, s Step) error {
	for _, h := range hooks {
		if err := h.hook.OnStep(s); err != nil {
			return fmt.Errorf("%s: %w", h.name, err)
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

// ErrDiverged is returned by DivergenceGuard.
var ErrDiverged = errors.New("the training diverged")

// DivergenceGuard stops training whose loss blows up while staying finite
// (a learning rate far too large sends weights towards 1e17 and the loss
// into the hundreds of thousands), before that step reaches the weights.
// Limit is a loss no learning run reaches: DivergenceLimit's.
type DivergenceGuard struct{ Limit float64 }

var _ StepHook = DivergenceGuard{}

// DivergenceLimit is 100 times the cross-entropy of a uniform guess over
// classes (ln classes): a model at initialisation scores about 1 times it.
func DivergenceLimit(classes int) float64 { return 100 * math.Log(float64(max(classes, 2))) }

func (g DivergenceGuard) OnStep(s Step) error {
	if float64(s.Loss) > g.Limit {
		return fmt.Errorf("%w: loss %.6g at epoch %d, minibatch %d, over %.0f (100 times a uniform guess's); try a smaller --lr",
			ErrDiverged, s.Loss, s.Epoch, s.Batch+1, g.Limit)
	}
	return nil
}
