package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/datasets"
)

// The presets come from the registries (each dataset's notebook, tuned by
// the model), and they are the notebooks' settings: the README's table.
func TestPresetsAreTheNotebooks(t *testing.T) {
	half := []float32{0.5, 0.5, 0.5}
	for _, tc := range []struct {
		model, dataset           string
		epochs, batch, testBatch int
		optimizer                string
		lr, momentum             float64
		normalize                []float32 // nil: the dataset's own
		augment                  bool
		log                      datasets.LogStyle
		decimals                 int
	}{
		{"mlp", "mnist", 1, 64, 1000, "sgd", 0.01, 0.5, nil, false, datasets.LogMNIST, 0},
		{"cnn", "mnist", 1, 64, 1000, "sgd", 0.01, 0.5, nil, false, datasets.LogMNIST, 0},
		{"cnn", "fashion-mnist", 1, 64, 1000, "sgd", 0.01, 0.5, nil, false, datasets.LogMNIST, 0},
		{"cnn", "cifar10", 10, 64, 8, "adam", 0.001, 0, half, false, datasets.LogCIFAR, 0},
		{"mlp", "cifar10", 10, 64, 8, "adam", 0.001, 0, half, false, datasets.LogCIFAR, 0},
		{"vgg11", "cifar10", 10, 128, 128, "adam", 0.001, 0, nil, true, datasets.LogCIFAR, 2},
		{"vgg16", "cifar10", 10, 128, 128, "adam", 0.001, 0, nil, true, datasets.LogCIFAR, 2},
	} {
		c := Preset(tc.model, tc.dataset)
		got := []any{c.Epochs, c.BatchSize, c.TestBatchSize, c.Optimizer, c.LR, c.Momentum, c.Augment}
		want := []any{tc.epochs, tc.batch, tc.testBatch, tc.optimizer, tc.lr, tc.momentum, tc.augment}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s on %s: preset %+v, want %v", tc.model, tc.dataset, c, want)
				break
			}
		}
		if (c.Normalize == nil) != (tc.normalize == nil) || (c.Normalize != nil && c.Normalize.Mean[0] != tc.normalize[0]) {
			t.Errorf("%s on %s: normalize %+v, want %v", tc.model, tc.dataset, c.Normalize, tc.normalize)
		}
		if err := c.Check(); err != nil {
			t.Errorf("%s on %s: the preset fails its own check: %v", tc.model, tc.dataset, err)
		}
		if r := Report(tc.model, tc.dataset); r.Log != tc.log || r.AccuracyDecimals != tc.decimals {
			t.Errorf("%s on %s: reports with log %v and %d decimals, want %v and %d", tc.model, tc.dataset, r.Log, r.AccuracyDecimals, tc.log, tc.decimals)
		}
	}
}

// A preset is a copy: changing one run's normalization leaves the
// registry's alone.
func TestPresetsDoNotShareTheRegistrysSlices(t *testing.T) {
	a := Preset("cnn", "cifar10")
	a.Normalize.Mean[0] = 9
	if b := Preset("cnn", "cifar10"); b.Normalize.Mean[0] != 0.5 {
		t.Errorf("changing one preset's normalization changed the next one's to %v", b.Normalize.Mean[0])
	}
}

// An unknown dataset gets no preset of anyone else's; Check names it.
func TestUnknownDatasetIsRefusedByName(t *testing.T) {
	c := Preset("cnn", "svhn")
	if err := c.Check(); !errors.Is(err, datasets.ErrUnknownDataset) || !strings.Contains(err.Error(), `"svhn"`) {
		t.Errorf("Check of dataset svhn: %v, want an unknown-dataset error naming it", err)
	}
	if c.Epochs != 1 || c.BatchSize != 64 || c.Optimizer != "sgd" || c.Normalize != nil {
		t.Errorf("preset for an unknown dataset is %+v, want the bare defaults", c)
	}
}
