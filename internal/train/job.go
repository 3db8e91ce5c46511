package train

import (
	"context"
	"fmt"
	"io"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
)

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
	if _, err := models.New(c.Model, inputOf(info), c.ModelConfig()); err != nil {
		return fmt.Errorf("%w (dataset %s)", err, c.Dataset)
	}
	if n := c.Normalize; n != nil && len(n.Mean) != info.C {
		return fmt.Errorf("%w: normalize has %d channels, %s images have %d", ErrInvalidConfig, len(n.Mean), c.Dataset, info.C)
	}
	return nil
}

// ModelConfig is the part of c that builds the model.
func (c Config) ModelConfig() models.Config {
	return models.Config{Hidden: c.Hidden, Features: c.Features, Width: c.Width, Seed: c.Seed}
}

// Normalization is the per-channel normalization the run uses: the
// configured one, else the dataset's.
func (c Config) Normalization(info datasets.Info) datasets.Normalize {
	if c.Normalize != nil {
		return datasets.Normalize{Mean: c.Normalize.Mean, Std: c.Normalize.Std}
	}
	return datasets.Normalize{Mean: info.Mean, Std: info.Std}
}

// Permutation is the pixel permutation the run applies, nil for none.
func (c Config) Permutation(info datasets.Info) []int {
	if !c.ShufflePixels {
		return nil
	}
	return datasets.Permutation(c.PermutationSeed, info.H*info.W)
}

// NewOptimizer builds the configured optimizer.
func (c Config) NewOptimizer() Optimizer {
	if c.Optimizer == "adam" {
		return NewAdam(c.LR, c.WeightDecay)
	}
	return &SGD{LR: c.LR, Momentum: c.Momentum, WeightDecay: c.WeightDecay}
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
func (d Data) Input() models.Input { return inputOf(d.Info) }

// Prepared is everything a run needs, built from a Config: the model, the
// pixel permutation and the pipelines.
type Prepared struct {
	Config      Config
	Info        datasets.Info
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
	m, err := models.New(cfg.Model, data.Input(), cfg.ModelConfig())
	if err != nil {
		return nil, fmt.Errorf("%w (dataset %s)", err, data.Info.Name)
	}
	p := &Prepared{Config: cfg, Info: data.Info, Model: m, Normalize: cfg.Normalization(data.Info), Permutation: cfg.Permutation(data.Info)}
	trainCfg := datasets.LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Normalize: p.Normalize, Permute: p.Permutation}
	if cfg.Augment {
		trainCfg.RandomCrop, trainCfg.RandomFlip = 4, true
	}
	trainSplit := data.Train
	if n := cfg.TrainSubset; n > 0 && n < trainSplit.N {
		sub := *trainSplit
		sub.N, sub.Images, sub.Labels = n, sub.Images[:n*sub.ImageSize()], sub.Labels[:n]
		trainSplit = &sub
	}
	if p.Train, err = datasets.NewLoader(trainSplit, trainCfg); err != nil {
		return nil, err
	}
	if p.Test, err = TestLoader(data.Test, cfg.TestBatchSize, p.Normalize, p.Permutation); err != nil {
		return nil, err
	}
	return p, nil
}

// TestLoader is the evaluation pipeline: in order, normalized and permuted
// exactly like training, never augmented.
func TestLoader(s *datasets.Split, batch int, norm datasets.Normalize, perm []int) (*datasets.Loader, error) {
	return datasets.NewLoader(s, datasets.LoaderConfig{BatchSize: batch, Normalize: norm, Permute: perm})
}

// Logs say where a run writes: Progress gets the per-minibatch lines,
// Results the test results. Either may be io.Discard.
type Logs struct {
	Progress, Results io.Writer
}

// Result is a finished run.
type Result struct {
	*Prepared
	Metrics    Metrics
	Throughput Throughput
}

// Run trains p's model and evaluates it, logging as the notebook of its
// dataset does: the MNIST notebook tests after every epoch, the CIFAR-10
// notebooks once at the end.
func Run(ctx context.Context, p *Prepared, logs Logs) (*Result, error) {
	classes := p.Info.Classes
	if p.Info.ShortClasses != nil {
		classes = p.Info.ShortClasses
	}
	evaluator := &Evaluator{Model: p.Model, Classes: classes, BatchStatsAtTest: p.Config.BNBatchStatsAtTest}
	defer evaluator.Close()
	res := &Result{Prepared: p}
	cifar := p.Info.Name == "cifar10"
	eval := &EvalAfterEpochs{Evaluator: evaluator, Loader: p.Test, Every: 1}
	var progress StepHook = MNISTLog{W: logs.Progress, Every: 100}
	if cifar {
		eval.Every = p.Config.Epochs
		progress = CIFARLog{W: logs.Progress, Every: 100}
	} else {
		eval.W = logs.Results
	}
	t := &Trainer{
		Model:     p.Model,
		Optimizer: p.Config.NewOptimizer(),
		Hooks:     []any{NaNGuard{}, progress, &res.Throughput, eval},
	}
	if err := t.Fit(ctx, p.Train, p.Config.Epochs); err != nil {
		return nil, err
	}
	res.Metrics = eval.Last
	if cifar {
		fmt.Fprintln(logs.Progress, "Finished Training")
		// 05_02 prints '%d %%' of the LeNet's accuracy, 05_03 '%.2f %%' of VGG's.
		acc := fmt.Sprintf("%d", int(res.Metrics.Accuracy()))
		if IsVGG(p.Config.Model) {
			acc = fmt.Sprintf("%.2f", res.Metrics.Accuracy())
		}
		fmt.Fprintf(logs.Results, "Accuracy of the network on the %d test images: %s %%\n", res.Metrics.Total, acc)
	}
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
