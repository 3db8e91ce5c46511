package train

import (
	"errors"
	"fmt"
	"strings"
)

// Config is the effective configuration of a training run: the notebook
// preset for its model and dataset, then a config file, then flags. It is
// saved beside every checkpoint as config.yaml and inside checkpoint.json, so
// a run can be rebuilt and repeated; `cnntrain train --config` reads the same
// keys.
type Config struct {
	Model         string  `yaml:"model" json:"model"`
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
}

// Normalization is a per-channel mean and standard deviation.
type Normalization struct {
	Mean []float32 `yaml:"mean" json:"mean"`
	Std  []float32 `yaml:"std" json:"std"`
}

// Preset is the notebook's configuration for a model on a dataset:
//
//   - MNIST and Fashion-MNIST (the MNIST notebook): SGD lr 0.01 momentum 0.5,
//     1 epoch, batches of 64, tests in batches of 1000;
//   - CIFAR-10 with cnn (notebook 05_02, LeNet): Adam lr 1e-3, 10 epochs,
//     batches of 64, tests in batches of 8, normalization 0.5/0.5;
//   - CIFAR-10 with a VGG (notebook 05_03): Adam lr 1e-3, 10 epochs, batches
//     of 128 for training and test, random crop and flip, the dataset's
//     normalization (0.4914, 0.4822, 0.4465)/(0.2023, 0.1994, 0.2010).
func Preset(model, dataset string) Config {
	c := Config{Model: model, Dataset: dataset, Epochs: 1, BatchSize: 64, TestBatchSize: 1000,
		Optimizer: "sgd", LR: 0.01, Momentum: 0.5}
	if dataset == "cifar10" {
		c.Epochs, c.Optimizer, c.LR, c.Momentum = 10, "adam", 0.001, 0
		if IsVGG(model) {
			c.BatchSize, c.TestBatchSize, c.Augment = 128, 128, true
		} else {
			c.TestBatchSize = 8
			c.Normalize = &Normalization{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
		}
	}
	return c
}

// IsVGG says whether model is one of the VGG family.
func IsVGG(model string) bool { return strings.HasPrefix(model, "vgg") }

// ErrInvalidConfig is wrapped by Config.Validate for values out of range.
var ErrInvalidConfig = errors.New("invalid configuration")

// Validate checks the values a user can get wrong.
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
	check(c.Optimizer == "sgd" || c.Optimizer == "adam", "optimizer must be sgd or adam, got %q", c.Optimizer)
	check(c.LR > 0, "learning rate must be positive, got %g", c.LR)
	check(c.Momentum >= 0 && c.Momentum < 1, "momentum must be in [0, 1), got %g", c.Momentum)
	check(c.Optimizer != "adam" || c.Momentum == 0, "momentum applies to sgd only; adam uses its betas")
	check(c.WeightDecay >= 0, "weight decay must be at least 0, got %g", c.WeightDecay)
	check(c.Hidden >= 0, "hidden must be positive, got %d", c.Hidden)
	check(c.Features >= 0, "features must be positive, got %d", c.Features)
	check(c.Width >= 0, "width must be positive, got %g", c.Width)
	check(c.TrainSubset >= 0, "train subset must be at least 0, got %d", c.TrainSubset)
	if n := c.Normalize; n != nil {
		check(len(n.Mean) == len(n.Std) && len(n.Mean) > 0, "normalize needs as many means as stds, got %d and %d", len(n.Mean), len(n.Std))
		for _, s := range n.Std {
			check(s > 0, "normalize std must be positive, got %g", s)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(problems...))
	}
	return nil
}
