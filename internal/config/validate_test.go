package config

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
)

// Validate refuses each value out of range with a message naming it, and
// accepts the values at the edge of each range.
func TestValidateRanges(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	for _, tc := range []struct {
		change func(*Config)
		want   string // "" for valid
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.Epochs = 0 }, "epochs"},
		{func(c *Config) { c.BatchSize = 0 }, "batch size must"},
		{func(c *Config) { c.BatchSize = 1 }, ""},
		{func(c *Config) { c.TestBatchSize = 0 }, "test batch size"},
		{func(c *Config) { c.Optimizer = "rmsprop" }, "optimizer must be sgd or adam"},
		{func(c *Config) { c.LR = 0 }, "learning rate"},
		{func(c *Config) { c.LR = inf }, "learning rate"},
		{func(c *Config) { c.LR = nan }, "learning rate"},
		{func(c *Config) { c.Momentum = 1 }, "momentum must be in [0, 1)"},
		{func(c *Config) { c.Momentum = -0.1 }, "momentum must be in [0, 1)"},
		{func(c *Config) { c.Momentum = 0.99 }, ""},
		{func(c *Config) { c.Momentum = 0 }, ""},
		{func(c *Config) { c.Optimizer = "adam" }, "momentum applies to sgd only"},
		{func(c *Config) { c.Optimizer, c.Momentum = "adam", 0 }, ""},
		{func(c *Config) { c.WeightDecay = -1e-4 }, "weight decay"},
		{func(c *Config) { c.WeightDecay = inf }, "weight decay"},
		{func(c *Config) { c.WeightDecay = nan }, "weight decay"},
		{func(c *Config) { c.WeightDecay = 5e-4 }, ""},
		{func(c *Config) { c.Hidden = -1 }, "hidden"},
		{func(c *Config) { c.Features = -1 }, "features"},
		{func(c *Config) { c.Width = -0.5 }, "width"},
		{func(c *Config) { c.Width = inf }, "width"},
		{func(c *Config) { c.Width = 0.25 }, ""},
		{func(c *Config) { c.TrainSubset = -1 }, "train subset"},
		{func(c *Config) { c.TrainSubset = 100 }, ""},
		{func(c *Config) { c.Device = "tpu" }, "tpu"},
		{func(c *Config) { c.Normalize = &Normalization{Mean: []float32{0.1}, Std: []float32{0.3, 0.3}} }, "as many means as stds"},
		{func(c *Config) { c.Normalize = &Normalization{} }, "as many means as stds"},
		{func(c *Config) { c.Normalize = &Normalization{Mean: []float32{0.1}, Std: []float32{0}} }, "std must be a positive number"},
		{func(c *Config) { c.Normalize = &Normalization{Mean: []float32{0.1}, Std: []float32{float32(inf)}} }, "std must be a positive number"},
		{func(c *Config) { c.Normalize = &Normalization{Mean: []float32{float32(nan)}, Std: []float32{1}} }, "mean must be a number"},
		{func(c *Config) { c.Normalize = &Normalization{Mean: []float32{-1}, Std: []float32{2}} }, ""},
	} {
		c := Preset("cnn", "mnist")
		tc.change(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", c, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want ErrInvalidConfig saying %q", c, err, tc.want)
		}
	}
}

// Check goes beyond Validate to the dataset: a normalization must have one
// entry per channel of its images.
func TestCheckNormalizationChannels(t *testing.T) {
	c := Preset("cnn", "mnist")
	c.Normalize = &Normalization{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}
	if err := c.Check(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "3 channels, mnist images have 1") {
		t.Errorf("3-channel normalization for MNIST: %v", err)
	}
	c.Normalize = &Normalization{Mean: []float32{0.5}, Std: []float32{0.5}}
	if err := c.Check(); err != nil {
		t.Errorf("1-channel normalization for MNIST: %v", err)
	}
}

// The run's normalization is the configured one where there is one, else
// the dataset's.
func TestNormalizationOverridesTheDatasets(t *testing.T) {
	info, err := datasets.Lookup("mnist")
	if err != nil {
		t.Fatal(err)
	}
	c := Preset("cnn", "mnist")
	if n := c.Normalization(info); n.Mean[0] != info.Mean[0] || n.Std[0] != info.Std[0] {
		t.Errorf("without a configured normalization: %+v, want the dataset's %v, %v", n, info.Mean, info.Std)
	}
	c.Normalize = &Normalization{Mean: []float32{0.25}, Std: []float32{2}}
	if n := c.Normalization(info); n.Mean[0] != 0.25 || n.Std[0] != 2 {
		t.Errorf("with mean 0.25 and std 2 configured: %+v", n)
	}
}

// The optimizer carries every configured hyperparameter.
func TestNewOptimizer(t *testing.T) {
	c := Config{Optimizer: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4}
	if got, want := c.NewOptimizer().Name(), "SGD(lr=0.05, momentum=0.9, weight_decay=0.0005)"; got != want {
		t.Errorf("sgd: %s, want %s", got, want)
	}
	c = Config{Optimizer: "adam", LR: 0.002, WeightDecay: 1e-3}
	if got, want := c.NewOptimizer().Name(), "Adam(lr=0.002, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.001)"; got != want {
		t.Errorf("adam: %s, want %s", got, want)
	}
}

// The model is built from the configured sizes and seed, for the dataset's
// image shape and number of classes.
func TestModelConfigAndInput(t *testing.T) {
	c := Config{Hidden: 3, Features: 5, Width: 0.5, Seed: 42}
	if got, want := c.ModelConfig(), (models.Config{Hidden: 3, Features: 5, Width: 0.5, Seed: 42}); got != want {
		t.Errorf("ModelConfig = %+v, want %+v", got, want)
	}
	info := datasets.Info{C: 2, H: 5, W: 7, Classes: []string{"a", "b", "c"}}
	if got, want := InputOf(info), (models.Input{C: 2, H: 5, W: 7, Classes: 3}); got != want {
		t.Errorf("InputOf = %+v, want %+v", got, want)
	}
}
