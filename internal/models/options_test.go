package models

import (
	"errors"
	"testing"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
)

// Each option outside its range, and an input no model can take, is refused
// with the error that says which.
func TestConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		model string
		in    Input
		cfg   Config
		want  error
	}{
		{"mlp", Input{C: 1, H: 28, W: 28, Classes: 1}, Config{}, ErrIncompatible},
		{"mlp", Input{C: 0, H: 28, W: 28, Classes: 10}, Config{}, ErrIncompatible},
		{"mlp", Input{C: 1, H: 0, W: 28, Classes: 10}, Config{}, ErrIncompatible},
		{"mlp", Input{C: 1, H: 28, W: 0, Classes: 10}, Config{}, ErrIncompatible},
		{"cnn", mnist, Config{Features: -2}, ErrBadConfig},
		{"cnn", cifar, Config{Features: 6}, ErrBadConfig}, // LeNet's widths are fixed
		{"vgg11", cifar, Config{Width: 4.5}, ErrBadConfig},
		{"vgg11", cifar, Config{Width: -1}, ErrBadConfig},
		{"vgg16", cifar, Config{Width: nan()}, ErrBadConfig},
	} {
		if _, err := New(tc.model, tc.in, tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s on %v with %+v: %v, want %v", tc.model, tc.in, tc.cfg, err, tc.want)
		}
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

// --width rounds each layer's channels to the nearest whole number, at
// least one.
func TestScaledChannels(t *testing.T) {
	for _, tc := range []struct {
		c     int
		width float64
		want  int
	}{{512, 0.3, 154}, {64, 0.3, 19}, {64, 1, 64}, {64, 0.001, 1}, {128, 0.25, 32}} {
		if got := scaledChannels(tc.c, tc.width); got != tc.want {
			t.Errorf("%d channels at width %g: %d, want %d", tc.c, tc.width, got, tc.want)
		}
	}
}

// A model is known by its registered name in any case and describes the
// notebook class it reproduces, with its settings.
func TestNamesAndClasses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        Input
		cfg       Config
		canonical string
		class     string
	}{
		{"MLP", mnist, Config{Hidden: 16}, "mlp", "FC2Layer(784, 16, 10)"},
		{"cnn", mnist, Config{}, "cnn", "CNN(784, 6, 10)"},
		{"Cnn", cifar, Config{}, "cnn", "Net()"},
		{"VGG11", cifar, Config{}, "vgg11", "VGG(8 conv layers)"},
		{"vgg16", cifar, Config{Width: 0.25}, "vgg16", "VGG(13 conv layers, width 0.25)"},
	} {
		m, err := New(tc.name, tc.in, tc.cfg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if m.Name != tc.canonical || m.Class != tc.class || m.Input != tc.in {
			t.Errorf("%s: name %q, class %q, input %v; want %q, %q, %v", tc.name, m.Name, m.Class, m.Input, tc.canonical, tc.class, tc.in)
		}
	}
}

// The VGG notebook trains in batches of 128 with augmentation and the
// dataset's own normalization, printing two decimals; the other models keep
// the dataset's notebook preset.
func TestTune(t *testing.T) {
	preset := func() datasets.Preset {
		return datasets.Preset{Epochs: 10, BatchSize: 64, TestBatchSize: 8, Normalize: &datasets.Normalize{Mean: []float32{0.5}, Std: []float32{0.5}}}
	}
	p := preset()
	Tune("VGG16", cifar, &p)
	if p.BatchSize != 128 || p.TestBatchSize != 128 || !p.Augment || p.Normalize != nil || p.AccuracyDecimals != 2 || p.Epochs != 10 {
		t.Errorf("vgg16's preset %+v", p)
	}
	for _, name := range []string{"mlp", "cnn", "resnet"} {
		p := preset()
		Tune(name, cifar, &p)
		if p.BatchSize != 64 || p.TestBatchSize != 8 || p.Augment || p.Normalize == nil {
			t.Errorf("%s changed the preset: %+v", name, p)
		}
	}
}

// Pinned initial weights: a run repeated with the same --seed must start
// from the same weights in every build, so a change here breaks the
// reproducibility of recorded runs.
func TestInitialWeightsPinned(t *testing.T) {
	m, err := New("mlp", mnist, Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, b := m.Params()[0].Data(), m.Params()[5].Data()
	if got, want := []float32{w[0], w[1], b[9]}, []float32{0.0274313, -0.0077623106, 0.11415932}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("mlp seed 1: network.0.weight[0:2], network.4.bias[9] = %v, want %v", got, want)
	}
}

// Reads and HasBatchNorm say what each model really does with an option:
// a model reads an option exactly when setting it changes what is built,
// and has BatchNorm exactly when it keeps running statistics. The command
// line refuses the flags that do not apply on their word.
func TestReadsAndHasBatchNormMatchTheModels(t *testing.T) {
	set := map[string]Config{OptionHidden: {Hidden: 9}, OptionFeatures: {Features: 7}, OptionWidth: {Width: 0.5}}
	for _, name := range Names() {
		for _, in := range []Input{mnist, cifar} {
			plain, err := New(name, in, Config{})
			if err != nil {
				continue // vgg on MNIST
			}
			for option, cfg := range set {
				m, err := New(name, in, cfg)
				changed := err != nil || m.NumParams() != plain.NumParams()
				read := err == nil && changed
				if got := Reads(name, in, option); got != read {
					t.Errorf("Reads(%s, %v, %s) = %v; building with it set: %d parameters against %d, error %v", name, in, option, got, numParams(m), plain.NumParams(), err)
				}
			}
			buffers := false
			for _, p := range plain.Params() {
				buffers = buffers || p.Kind == graph.Buffer
			}
			if HasBatchNorm(name) != buffers {
				t.Errorf("HasBatchNorm(%s) = %v, but its parameters hold buffers: %v", name, HasBatchNorm(name), buffers)
			}
		}
	}
	if got := Readers(OptionWidth, cifar); len(got) != 2 || got[0] != "vgg11" || got[1] != "vgg16" {
		t.Errorf("Readers(width) = %v", got)
	}
	if got := Readers(OptionFeatures, cifar); len(got) != 0 {
		t.Errorf("Readers(features) on CIFAR-10 = %v, want none (the LeNet's widths are fixed)", got)
	}
}

func numParams(m *Model) int {
	if m == nil {
		return 0
	}
	return m.NumParams()
}
