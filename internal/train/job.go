package train

import (
	"context"
	"fmt"
	"io"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Data is a dataset loaded in memory.
type Data struct {
	Info        datasets.Info
	Train, Test *datasets.Split
}

// Input is the model input this dataset provides.
func (d Data) Input() models.Input { return config.InputOf(d.Info) }

// Prepared is everything a run needs, built from a Config: the model and its
// Device, the pixel permutation and the pipelines.
type Prepared struct {
	Config      config.Config
	Info        datasets.Info
	Model       *models.Model
	Device      *vm.Device
	Normalize   datasets.Normalize
	Permutation []int // nil unless ShufflePixels
	Train, Test *datasets.Loader
}

// NewBackend is the backend runs train on.
var NewBackend = func() backend.Backend { return cpu.New() }

// Prepare validates cfg and builds its model, its device and its loaders
// over data.
func Prepare(cfg config.Config, data Data) (*Prepared, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := models.New(cfg.Model, data.Input(), cfg.ModelConfig())
	if err != nil {
		return nil, fmt.Errorf("%w (dataset %s)", err, data.Info.Name)
	}
	dev, err := vm.NewDevice(NewBackend(), m.Params())
	if err != nil {
		return nil, err
	}
	p := &Prepared{Config: cfg, Info: data.Info, Model: m, Device: dev, Normalize: cfg.Normalization(data.Info), Permutation: cfg.Permutation(data.Info)}
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
	Metrics    evaluate.Metrics
	Throughput Throughput
}

// Run trains p's model and evaluates it, logging as the notebook of its
// dataset and model does (config.Report): tests after every epoch with the
// MNIST notebook's lines, or once at the end with the CIFAR-10 notebooks'.
// The model's host values hold the trained weights when it returns.
func Run(ctx context.Context, p *Prepared, logs Logs) (*Result, error) {
	classes := p.Info.Classes
	if p.Info.ShortClasses != nil {
		classes = p.Info.ShortClasses
	}
	evaluator := &evaluate.Evaluator{Model: p.Model, Device: p.Device, Classes: classes, BatchStatsAtTest: p.Config.BNBatchStatsAtTest}
	defer evaluator.Close()
	res := &Result{Prepared: p}
	report := config.Report(p.Config.Model, p.Config.Dataset)
	eval := &EvalAfterEpochs{Evaluator: evaluator, Loader: p.Test, Every: 1}
	t := &Trainer{Model: p.Model, Device: p.Device, Optimizer: p.Config.NewOptimizer()}
	t.OnStep("nan guard", NaNGuard{})
	switch report.Log {
	case datasets.LogCIFAR:
		eval.Every = p.Config.Epochs
		t.OnStep("progress log", EveryN(100, CIFARLog{W: logs.Progress}))
	default:
		eval.W = logs.Results
		t.OnStep("progress log", EveryN(100, MNISTLog{W: logs.Progress}))
	}
	t.OnEpochEnd("throughput", &res.Throughput)
	t.OnEpochEnd("evaluation", eval)
	if err := t.Fit(ctx, p.Train, p.Config.Epochs); err != nil {
		return nil, err
	}
	if err := p.Device.Pull(); err != nil {
		return nil, err
	}
	res.Metrics = eval.Last
	if report.Log == datasets.LogCIFAR {
		fmt.Fprintln(logs.Progress, "Finished Training")
		// 05_02 prints '%d %%' of the LeNet's accuracy, 05_03 '%.2f %%' of VGG's.
		acc := fmt.Sprintf("%d", int(res.Metrics.Accuracy()))
		if report.AccuracyDecimals > 0 {
			acc = fmt.Sprintf("%.*f", report.AccuracyDecimals, res.Metrics.Accuracy())
		}
		fmt.Fprintf(logs.Results, "Accuracy of the network on the %d test images: %s %%\n", res.Metrics.Total, acc)
	}
	return res, nil
}

// Info is the checkpoint.json of a finished run.
func (r *Result) Info() checkpoint.RunInfo {
	info := checkpoint.RunInfo{
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

// OptimizerState is the optimizer's state after the run, for the checkpoint.
func (r *Result) OptimizerState() (*checkpoint.OptimizerState, error) {
	return checkpoint.FromDevice(r.Device, r.Config.NewOptimizer().Name())
}
