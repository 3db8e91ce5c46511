package models

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

var mnist = Input{C: 1, H: 28, W: 28, Classes: 10}

var cifar = Input{C: 3, H: 32, W: 32, Classes: 10}

func TestParameterCountsMatchTheNotebooks(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Input
		cfg  Config
		want int
	}{
		{"mlp", mnist, Config{}, 6442},                // FC2Layer(784, 8, 10)
		{"cnn", mnist, Config{}, 6422},                // CNN(784, 6, 10)
		{"mlp", mnist, Config{Hidden: 100}, 89610},    // 784·100+100 + 100·100+100 + 100·10+10
		{"cnn", mnist, Config{Features: 10}, 11330},   // 260 + 2510 + 8050 + 510
		{"cnn", cifar, Config{}, 62006},               // the CIFAR notebook's LeNet
		{"vgg11", cifar, Config{}, 9231114},           // the notebook's "VGG16"
		{"vgg16", cifar, Config{}, 14728266},          // the real VGG16 with BatchNorm
		{"vgg11", cifar, Config{Width: 0.25}, 579786}, // convs 577,120 + BatchNorm 1,376 + classifier 1,290
	} {
		m, err := New(tc.name, tc.in, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.NumParams(); got != tc.want {
			t.Errorf("%s on %v %+v: %d parameters, want %d", tc.name, tc.in, tc.cfg, got, tc.want)
		}
	}
}

func TestStateDictNamesArePyTorchs(t *testing.T) {
	for name, want := range map[string][]string{
		"mlp": {"network.0.weight", "network.0.bias", "network.2.weight", "network.2.bias", "network.4.weight", "network.4.bias"},
		"cnn": {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"},
	} {
		m, err := New(name, mnist, Config{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range m.Params() {
			got = append(got, p.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: state_dict %v, want %v", name, got, want)
		}
	}
}

func TestInitIsPyTorchsDefaultAndSeeded(t *testing.T) {
	a, _ := New("cnn", mnist, Config{Seed: 3})
	b, _ := New("cnn", mnist, Config{Seed: 3})
	c, _ := New("cnn", mnist, Config{Seed: 4})
	fanIn := map[string]float64{"conv1": 25, "conv2": 150, "fc1": 96, "fc2": 50}
	for i, p := range a.Params() {
		if !slices.Equal(p.Data(), b.Params()[i].Data()) {
			t.Errorf("%s differs between two builds with seed 3", p.Name)
		}
		if slices.Equal(p.Data(), c.Params()[i].Data()) {
			t.Errorf("%s is the same for seeds 3 and 4", p.Name)
		}
		layer, _, _ := strings.Cut(p.Name, ".")
		bound := 1 / math.Sqrt(fanIn[layer])
		lo, hi := float32(0), float32(0)
		for _, v := range p.Data() {
			lo, hi = min(lo, v), max(hi, v)
		}
		if float64(-lo) > bound || float64(hi) > bound {
			t.Errorf("%s: values in [%g, %g], outside ±%g", p.Name, lo, hi, bound)
		}
		// With hundreds of draws the extremes come close to the bound.
		if p.Value.Shape().TotalSize() >= 150 && (float64(hi) < 0.9*bound || float64(-lo) < 0.9*bound) {
			t.Errorf("%s: values in [%g, %g] do not span ±%g", p.Name, lo, hi, bound)
		}
	}
}

func TestRefusals(t *testing.T) {
	if _, err := New("resnet", mnist, Config{}); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown model: got %v", err)
	}
	if _, err := New("cnn", Input{C: 1, H: 14, W: 14, Classes: 10}, Config{}); !errors.Is(err, ErrIncompatible) {
		t.Errorf("cnn on 14x14: got %v", err)
	}
	if _, err := New("mlp", mnist, Config{Hidden: -1}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("negative hidden: got %v", err)
	}
	// Just past the bounds, so that without them the test allocates a
	// gigabyte and fails rather than crashing the process.
	if _, err := New("mlp", mnist, Config{Hidden: 16385}); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "--hidden must be from 1 to 16384") {
		t.Errorf("hidden above 16384: got %v", err)
	}
	if _, err := New("cnn", mnist, Config{Features: 1025}); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "--features must be from 1 to 1024") {
		t.Errorf("features above 1024: got %v", err)
	}
}

func TestVGGStateDictNames(t *testing.T) {
	m, err := New("vgg11", cifar, Config{Width: 0.125})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range m.Params()[:7] {
		got = append(got, p.Name)
	}
	want := []string{"features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
		"features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"}
	if !slices.Equal(got, want) {
		t.Errorf("first entries %v, want %v", got, want)
	}
	params := m.Params()
	// conv at 0, pool at 3, conv at 4 …; the last conv of vgg11 is features.25.
	if n := params[len(params)-3].Name; n != "features.26.num_batches_tracked" {
		t.Errorf("last BatchNorm entry %q, want features.26.num_batches_tracked", n)
	}
	if n := params[len(params)-1].Name; n != "classifier.bias" {
		t.Errorf("last entry %q", n)
	}
}

func TestVGGRefusesMNIST(t *testing.T) {
	_, err := New("vgg16", mnist, Config{})
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "32x32") {
		t.Errorf("vgg16 on 28x28: got %v", err)
	}
}
