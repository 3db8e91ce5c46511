package train

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
)

// ErrInvalidConfig is wrapped by Config.Validate for values out of range.
var ErrInvalidConfig = errors.New("invalid configuration")

// Validate checks the values a user can get wrong on the command line.
func (c Config) Validate() error {
	var problems []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Errorf(format, args...))
		}
	}
	check(c.Epochs >= 1, "epochs must be at least 1, got %d", c.Epochs)
	check(c.BatchSize >= 1, "batch size must be at least 1, got %d", c.BatchSize)
	check(c.TestBatchSize >= 1, "test batch size must be at least 1, got %d", c.TestBatchSize)
	check(c.LR > 0, "learning rate must be positive, got %g", c.LR)
	check(c.Momentum >= 0 && c.Momentum < 1, "momentum must be in [0, 1), got %g", c.Momentum)
	check(c.Hidden >= 0, "hidden must be positive, got %d", c.Hidden)
	check(c.Features >= 0, "features must be positive, got %d", c.Features)
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(problems...))
	}
	return nil
}

// Check validates c and makes sure its model exists and fits its dataset,
// without loading any data, so mistakes surface before a long load.
func (c Config) Check() error {
	if err := c.Validate(); err != nil {
		return err
	}
	info, err := datasets.Lookup(c.Dataset)
	if err != nil {
		return err
	}
	if _, err := models.New(c.Model, inputOf(info), c.modelConfig()); err != nil {
		return fmt.Errorf("%w (dataset %s)", err, c.Dataset)
	}
	return nil
}

func (c Config) modelConfig() models.Config {
	return models.Config{Hidden: c.Hidden, Features: c.Features, Seed: c.Seed}
}

func inputOf(info datasets.Info) models.Input {
	return models.Input{C: info.C, H: info.H, W: info.W, Classes: len(info.Classes)}
}

// Data is a dataset loaded in memory.
type Data struct {
	Info        datasets.Info
	Train, Test *datasets.Split
}

// Input is the model input this dataset provides.
func (d Data) Input() models.Input {
	return inputOf(d.Info)
}

// Prepared is everything a run needs, built from a Config: the model, the
// pixel permutation and the pipelines.
type Prepared struct {
	Config      Config
	Model       *models.Model
	Normalize   datasets.Normalize
	Permutation []int // nil unless ShufflePixels
	Train, Test *datasets.Loader
}

// Prepare validates cfg and builds its model and loaders over data.
func Prepare(cfg Config, data Data) (*Prepared, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := models.New(cfg.Model, data.Input(), cfg.modelConfig())
	if err != nil {
		return nil, fmt.Errorf("%w (dataset %s)", err, data.Info.Name)
	}
	p := &Prepared{Config: cfg, Model: m, Normalize: datasets.Normalize{Mean: data.Info.Mean, Std: data.Info.Std}}
	if cfg.ShufflePixels {
		p.Permutation = datasets.Permutation(cfg.PermutationSeed, data.Info.H*data.Info.W)
	}
	if p.Train, err = datasets.NewLoader(data.Train, datasets.LoaderConfig{
		BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Normalize: p.Normalize, Permute: p.Permutation,
	}); err != nil {
		return nil, err
	}
	if p.Test, err = TestLoader(data.Test, cfg.TestBatchSize, p.Normalize, p.Permutation); err != nil {
		return nil, err
	}
	return p, nil
}

// TestLoader is the evaluation pipeline: in order, normalized and permuted
// exactly like training.
func TestLoader(s *datasets.Split, batch int, norm datasets.Normalize, perm []int) (*datasets.Loader, error) {
	return datasets.NewLoader(s, datasets.LoaderConfig{BatchSize: batch, Normalize: norm, Permute: perm})
}

// Logs say where a run writes: Progress gets the per-minibatch lines,
// Results the per-epoch test lines. Either may be io.Discard.
type Logs struct {
	Progress, Results io.Writer
}

// Result is a finished run.
type Result struct {
	*Prepared
	Metrics    Metrics
	Throughput Throughput
	Classes    []string
}

// Run trains p's model with the notebook's SGD and logs, evaluating after
// every epoch.
func Run(ctx context.Context, p *Prepared, classes []string, logs Logs) (*Result, error) {
	eval := &EvalEachEpoch{Evaluator: &Evaluator{Model: p.Model, Classes: classes}, Loader: p.Test, W: logs.Results}
	defer eval.Evaluator.Close()
	res := &Result{Prepared: p, Classes: classes}
	t := &Trainer{
		Model:     p.Model,
		Optimizer: &SGD{LR: float32(p.Config.LR), Momentum: float32(p.Config.Momentum)},
		Hooks:     []any{NaNGuard{}, MNISTLog{W: logs.Progress, Every: 100}, &res.Throughput, eval},
	}
	if err := t.Fit(ctx, p.Train, p.Config.Epochs); err != nil {
		return nil, err
	}
	res.Metrics = eval.Last
	return res, nil
}

// Info is the checkpoint.json of a finished run.
func (r *Result) Info() RunInfo {
	info := RunInfo{
		Config:       r.Config,
		Class:        r.Model.Class,
		Input:        r.Model.Input,
		NumParams:    r.Model.NumParams(),
		Metrics:      &r.Metrics,
		TrainSeconds: r.Throughput.Duration.Seconds(),
		ImagesPerSec: r.Throughput.ImagesPerSecond(),
	}
	info.Normalize.Mean, info.Normalize.Std = r.Normalize.Mean, r.Normalize.Std
	return info
}
