// Package config is a training run's configuration: the notebook preset of
// its model and dataset (data in the model and dataset registries), then a
// config file, then flags. A Config is saved beside every checkpoint as
// config.yaml and inside checkpoint.json, so a run can be rebuilt and
// repeated.
package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/device"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/suggest"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Config is the effective configuration of a training run: the notebook
// preset for its model and dataset, then a config file, then flags. It is
// saved beside every checkpoint as config.yaml and inside checkpoint.json, so
// a run can be rebuilt and repeated; `cnntrain train --config` reads the same
// keys.
type Config struct {
	Model         string  `yaml:"model" json:"model,omitempty"`
	Dataset       string  `yaml:"dataset" json:"dataset"`
	Epochs        int     `yaml:"epochs" json:"epochs"`
	BatchSize     int     `yaml:"batch_size" json:"batch_size"`
	TestBatchSize int     `yaml:"test_batch_size" json:"test_batch_size"`
	Optimizer     string  `yaml:"optimizer" json:"optimizer"` // "sgd" or "adam"
	LR            float64 `yaml:"lr" json:"lr"`
	Momentum      float64 `yaml:"momentum" json:"momentum"` // SGD only
	WeightDecay   float64 `yaml:"weight_decay" json:"weight_decay"`
	Seed          uint64  `yaml:"seed" json:"seed"`
	// ShufflePixels applies a fixed pixel permutation, drawn from
	// PermutationSeed, to every training and test image.
	ShufflePixels   bool   `yaml:"shuffle_pixels" json:"shuffle_pixels"`
	PermutationSeed uint64 `yaml:"permutation_seed" json:"permutation_seed"`
	// Normalize overrides the dataset's per-channel mean and std.
	Normalize *Normalization `yaml:"normalize,omitempty" json:"normalize,omitempty"`
	// Augment is RandomCrop(padding 4) and RandomHorizontalFlip on training images.
	Augment bool `yaml:"augment" json:"augment"`
	// BNBatchStatsAtTest evaluates BatchNorm with batch statistics, as a
	// notebook that never calls model.eval() does.
	BNBatchStatsAtTest bool `yaml:"bn_batch_stats_at_test" json:"bn_batch_stats_at_test"`
	// TrainSubset trains on the first N training images only (0: all), for
	// quick runs.
	TrainSubset int     `yaml:"train_subset,omitempty" json:"train_subset,omitempty"`
	Hidden      int     `yaml:"hidden,omitempty" json:"hidden,omitempty"`
	Features    int     `yaml:"features,omitempty" json:"features,omitempty"`
	Width       float64 `yaml:"width,omitempty" json:"width,omitempty"`
	// Device is where to train: auto (a working GPU, else the CPU), cpu,
	// cuda or cuda:N.
	Device string `yaml:"device,omitempty" json:"device,omitempty"`
	// TF32 lets a GPU use tensor cores (TF32 inputs) for matrix products.
	TF32 bool `yaml:"tf32,omitempty" json:"tf32,omitempty"`
	// NoCUDAGraphs launches a GPU step's kernels one by one instead of
	// replaying the step recorded once as a CUDA graph.
	NoCUDAGraphs bool `yaml:"no_cuda_graphs,omitempty" json:"no_cuda_graphs,omitempty"`
	// NoCuDNN runs a GPU's convolutions as im2col and cuBLAS products even
	// where cuDNN is found.
	NoCuDNN bool `yaml:"no_cudnn,omitempty" json:"no_cudnn,omitempty"`
}

// Normalization is a per-channel mean and standard deviation.
type Normalization struct {
	Mean []float32 `yaml:"mean" json:"mean"`
	Std  []float32 `yaml:"std" json:"std"`
}

// Preset is the notebook's configuration for a model on a dataset: the
// dataset's preset (datasets.Info.Preset: the notebook that trains on it),
// tuned by the model (models.Tune: VGG's notebook trains in batches of 128
// with augmentation). A dataset or model that is not registered yields the
// bare defaults, which Check then refuses by name.
func Preset(model, dataset string) Config {
	c := Config{Model: model, Dataset: dataset, Epochs: 1, BatchSize: 64, TestBatchSize: 1000,
		Optimizer: "sgd", LR: 0.01, Momentum: 0.5}
	p, ok := notebook(model, dataset)
	if !ok {
		return c
	}
	c.Epochs, c.BatchSize, c.TestBatchSize = p.Epochs, p.BatchSize, p.TestBatchSize
	c.Optimizer, c.LR, c.Momentum, c.Augment = p.Optimizer, p.LR, p.Momentum, p.Augment
	if p.Normalize != nil {
		c.Normalize = &Normalization{Mean: slices.Clone(p.Normalize.Mean), Std: slices.Clone(p.Normalize.Std)}
	}
	return c
}

// Report is how a run of model on dataset reports, as its notebook does.
func Report(model, dataset string) datasets.Preset {
	p, _ := notebook(model, dataset)
	return p
}

// notebook is the dataset's notebook preset tuned by the model; ok is false
// for an unknown dataset.
func notebook(model, dataset string) (p datasets.Preset, ok bool) {
	info, err := datasets.Lookup(dataset)
	if err != nil {
		return datasets.Preset{}, false
	}
	p = info.Preset
	models.Tune(model, InputOf(info), &p)
	return p, true
}

// Optimizers are the optimizers a run may use, as Config.Optimizer spells them.
var Optimizers = []string{"sgd", "adam"}

// ErrInvalidConfig is wrapped by Config.Validate for values out of range.
var ErrInvalidConfig = errors.New("invalid configuration")

// Problem is a value out of range: Key is its setting's YAML key, so that a
// caller can say where the value came from (a config file's line, a flag).
type Problem struct {
	Key string
	Err error
}

// Validate checks the values a user can get wrong.
func (c Config) Validate() error {
	problems := c.Problems()
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p.Err
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
}

// Problems lists what Validate refuses, each with its setting's key.
func (c Config) Problems() []Problem {
	var problems []Problem
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			problems = append(problems, Problem{key, fmt.Errorf(format, args...)})
		}
	}
	check(c.Epochs >= 1, "epochs", "epochs must be at least 1, got %d", c.Epochs)
	check(c.BatchSize >= 1, "batch_size", "batch size must be at least 1, got %d", c.BatchSize)
	check(c.TestBatchSize >= 1, "test_batch_size", "test batch size must be at least 1, got %d", c.TestBatchSize)
	check(slices.Contains(Optimizers, c.Optimizer), "optimizer", "optimizer must be sgd or adam, got %q%s", c.Optimizer, suggest.Hint(c.Optimizer, Optimizers))
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	check(c.LR > 0 && finite(c.LR), "lr", "learning rate must be a positive number, got %g", c.LR)
	check(c.Momentum >= 0 && c.Momentum < 1, "momentum", "momentum must be in [0, 1), got %g", c.Momentum)
	check(c.Optimizer != "adam" || c.Momentum == 0, "momentum", "momentum applies to sgd only; adam uses its betas")
	check(c.WeightDecay >= 0 && finite(c.WeightDecay), "weight_decay", "weight decay must be a number of at least 0, got %g", c.WeightDecay)
	// 0 is the model's default; models.New checks these bounds too.
	check(c.Hidden >= 0 && c.Hidden <= models.MaxHidden, "hidden", "hidden must be from 1 to %d, got %d", models.MaxHidden, c.Hidden)
	check(c.Features >= 0 && c.Features <= models.MaxFeatures, "features", "features must be from 1 to %d, got %d", models.MaxFeatures, c.Features)
	check(c.Width >= 0 && c.Width <= models.MaxWidth, "width", "width must be in (0, %g], got %g", models.MaxWidth, c.Width)
	check(c.TrainSubset >= 0, "train_subset", "train subset must be at least 0, got %d", c.TrainSubset)
	if c.Device != "" {
		if err := device.Check(c.Device); err != nil {
			problems = append(problems, Problem{"device", err})
		}
	}
	if n := c.Normalize; n != nil {
		check(len(n.Mean) == len(n.Std) && len(n.Mean) > 0, "normalize", "normalize needs as many means as stds, got %d and %d", len(n.Mean), len(n.Std))
		for _, s := range n.Std {
			check(s > 0 && finite(float64(s)), "normalize", "normalize std must be a positive number, got %g", s)
		}
		for _, m := range n.Mean {
			check(finite(float64(m)), "normalize", "normalize mean must be a number, got %g", m)
		}
	}
	return problems
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
	if _, err := models.New(c.Model, InputOf(info), c.ModelConfig()); err != nil {
		if errors.Is(err, models.ErrIncompatible) {
			if fits := datasetsFor(c); len(fits) > 0 {
				return fmt.Errorf("%w (dataset %s; try --dataset %s)", err, c.Dataset, strings.Join(fits, " or --dataset "))
			}
		}
		return fmt.Errorf("%w (dataset %s)", err, c.Dataset)
	}
	if c.Device != "" {
		if err := device.Available(c.Device); err != nil {
			return err
		}
	}
	if problems := c.FitProblems(); len(problems) > 0 {
		p := problems[0]
		return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, p.Key, p.Err)
	}
	return nil
}

// FitProblems lists the values that are in range but do not fit c's
// dataset (a normalization of 3 channels for MNIST, a training subset
// larger than the training split). Each Err says why without naming its
// setting, which the caller names (a flag, a file's line); nil for an
// unknown dataset, which Check refuses.
func (c Config) FitProblems() []Problem {
	info, err := datasets.Lookup(c.Dataset)
	if err != nil {
		return nil
	}
	var problems []Problem
	if n := c.Normalize; n != nil && len(n.Mean) != info.C {
		problems = append(problems, Problem{"normalize", fmt.Errorf("%d channels, %s images have %d", len(n.Mean), info.Name, info.C)})
	}
	// A subset as large as the split is the whole split; a larger one would
	// train on fewer images than asked, so it is refused.
	if c.TrainSubset > info.TrainSize {
		problems = append(problems, Problem{"train_subset", fmt.Errorf("%s's training split has %d images", info.Name, info.TrainSize)})
	}
	return problems
}

// Unused lists the settings among keys that a run of c never reads (the
// width of an mlp, the momentum of Adam), each Err saying to what the
// setting applies, so that a setting that would do nothing is refused
// instead of ignored. Keys c reads are left out; so are the model's options
// where c's model or dataset is unknown, which Check refuses.
func (c Config) Unused(keys []string) []Problem {
	info, dataErr := datasets.Lookup(c.Dataset)
	in := InputOf(info)
	modelKnown := models.Known(c.Model) == nil
	model := models.Canonical(c.Model)
	var problems []Problem
	for _, key := range keys {
		var why string
		switch key {
		case models.OptionHidden, models.OptionFeatures, models.OptionWidth:
			if !modelKnown || dataErr != nil || models.Reads(model, in, key) {
				continue
			}
			readers := models.Readers(key, in)
			switch {
			case key == models.OptionFeatures:
				why = "applies to the MNIST CNN only (cnn on 1-channel images), not to " + model + " on " + info.Name
			case len(readers) == 0:
				why = "applies to no model on " + info.Name
			default:
				why = "applies to " + strings.Join(readers, " and ") + " only, not to " + model
			}
		case "bn_batch_stats_at_test":
			if !modelKnown || models.HasBatchNorm(model) {
				continue
			}
			why = "applies to the models with BatchNorm only (" + strings.Join(models.WithBatchNorm(), ", ") + "); " + model + " has none"
		case "permutation_seed":
			if c.ShufflePixels {
				continue
			}
			why = "applies only with --shuffle-pixels; without it no pixels are permuted"
		case "momentum":
			if c.Optimizer != "adam" {
				continue
			}
			why = "applies to sgd only; adam uses its betas"
		default:
			continue
		}
		problems = append(problems, Problem{key, errors.New(why)})
	}
	return problems
}

// datasetsFor lists the datasets c's model can be built for.
func datasetsFor(c Config) []string {
	var fits []string
	for _, name := range datasets.Names() {
		info, _ := datasets.Lookup(name)
		if _, err := models.New(c.Model, InputOf(info), c.ModelConfig()); err == nil {
			fits = append(fits, name)
		}
	}
	return fits
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
func (c Config) NewOptimizer() vm.Optimizer {
	if c.Optimizer == "adam" {
		return optim.NewAdam(c.LR, c.WeightDecay)
	}
	return &optim.SGD{LR: c.LR, Momentum: c.Momentum, WeightDecay: c.WeightDecay}
}

// InputOf is the model input a dataset provides.
func InputOf(info datasets.Info) models.Input {
	return models.Input{C: info.C, H: info.H, W: info.W, Classes: len(info.Classes)}
}
