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

// A training subset larger than the split is refused by the split's size,
// not trained as the whole split under a setting that then vanishes; one
// exactly as large is the whole split.
func TestCheckTrainSubsetFitsTheSplit(t *testing.T) {
	c := Preset("mlp", "mnist")
	c.TrainSubset = 60001
	if err := c.Check(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "train_subset: mnist's training split has 60000 images") {
		t.Errorf("60001 of MNIST: %v", err)
	}
	for _, n := range []int{60000, 1} {
		c.TrainSubset = n
		if err := c.Check(); err != nil {
			t.Errorf("%d of MNIST: %v", n, err)
		}
	}
	c = Preset("cnn", "cifar10")
	c.TrainSubset = 50001
	if p := c.FitProblems(); len(p) != 1 || p[0].Key != "train_subset" || !strings.Contains(p[0].Err.Error(), "50000 images") {
		t.Errorf("50001 of CIFAR-10: %+v", p)
	}
}

// Unused names each setting the run would never read, with what it
// applies to, and none that it reads.
func TestUnusedSettings(t *testing.T) {
	all := []string{"hidden", "features", "width", "bn_batch_stats_at_test", "permutation_seed", "momentum", "epochs"}
	for _, tc := range []struct {
		model, dataset, optimizer string
		shuffle                   bool
		want                      map[string]string // key: part of why
	}{
		{"mlp", "mnist", "sgd", false, map[string]string{
			"features": "applies to the MNIST CNN only", "width": "applies to vgg11 and vgg16 only, not to mlp",
			"bn_batch_stats_at_test": "(vgg11, vgg16); mlp has none", "permutation_seed": "only with --shuffle-pixels"}},
		{"cnn", "mnist", "adam", true, map[string]string{
			"hidden": "applies to mlp only, not to cnn", "width": "not to cnn", "bn_batch_stats_at_test": "cnn has none",
			"momentum": "applies to sgd only; adam uses its betas"}},
		{"CNN", "cifar10", "sgd", true, map[string]string{
			"hidden": "not to cnn", "features": "not to cnn on cifar10", "width": "not to cnn", "bn_batch_stats_at_test": "cnn has none"}},
		{"vgg11", "cifar10", "sgd", true, map[string]string{"hidden": "not to vgg11", "features": "not to vgg11"}},
		// The model's options are Check's to refuse with an unknown model;
		// the rest need none.
		{"resnet", "mnist", "adam", false, map[string]string{"permutation_seed": "only with --shuffle-pixels", "momentum": "adam uses its betas"}},
	} {
		c := Preset(tc.model, tc.dataset)
		c.Optimizer, c.ShufflePixels = tc.optimizer, tc.shuffle
		got := map[string]string{}
		for _, p := range c.Unused(all) {
			got[p.Key] = p.Err.Error()
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s on %s with %s: unused %v, want the keys of %v", tc.model, tc.dataset, tc.optimizer, got, tc.want)
		}
		for key, why := range tc.want {
			if !strings.Contains(got[key], why) {
				t.Errorf("%s on %s: %s is unused because %q, want it to say %q", tc.model, tc.dataset, key, got[key], why)
			}
		}
	}
}

// A misspelt optimizer gets the one it is close to.
func TestValidateOptimizerDidYouMean(t *testing.T) {
	c := Preset("mlp", "mnist")
	c.Optimizer = "adma"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `got "adma" (did you mean adam?)`) {
		t.Errorf("adma: %v", err)
	}
}
