package cli

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/spf13/pflag"
)

// resolveWith parses args as train's flags, with file as --config content.
func resolveWith(t *testing.T, file string, args ...string) (config.Config, error) {
	t.Helper()
	var c configFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.addFlags(fs)
	if file != "" {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c.resolve(nil)
}

func TestPresetThenFileThenFlags(t *testing.T) {
	// The preset alone: the VGG notebook.
	cfg, err := resolveWith(t, "", "--model", "vgg16", "--dataset", "cifar10")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Optimizer != "adam" || cfg.LR != 0.001 || cfg.Epochs != 10 || cfg.BatchSize != 128 || !cfg.Augment {
		t.Errorf("vgg16/cifar10 preset: %+v", cfg)
	}
	// The file overrides the preset; flags override the file.
	file := "model: cnn\ndataset: cifar10\nepochs: 3\nlr: 0.002\nseed: 7\n"
	cfg, err = resolveWith(t, file, "--epochs", "5")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "cnn" || cfg.Epochs != 5 || cfg.LR != 0.002 || cfg.Seed != 7 || cfg.TestBatchSize != 8 {
		t.Errorf("file + flag: %+v", cfg)
	}
	if cfg.PermutationSeed != 7 {
		t.Errorf("permutation seed %d, want the seed 7 when unset", cfg.PermutationSeed)
	}
	// A flag for the model picks that model's preset even with a file.
	cfg, err = resolveWith(t, "dataset: cifar10\n", "--model", "vgg11")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "vgg11" || cfg.BatchSize != 128 {
		t.Errorf("flag model over file: %+v", cfg)
	}
	// The MNIST notebook by default.
	cfg, err = resolveWith(t, "")
	if err != nil {
		t.Fatal(err)
	}
	want := config.Preset("mlp", "mnist")
	if cfg.Optimizer != want.Optimizer || cfg.LR != 0.01 || cfg.Momentum != 0.5 || cfg.BatchSize != 64 || cfg.TestBatchSize != 1000 {
		t.Errorf("default: %+v", cfg)
	}
}

func TestConfigFileErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"epochs: 2\nlearning_rate: 0.1\n", `:2: unknown setting "learning_rate"`},
		{"epochs: two\n", ":1: epochs:"},
		{"- a\n- b\n", "want a mapping"},
		{"epochs: [1\n", "not valid YAML"},
		{"epochs: 2.9\n", `:1: epochs: want a whole number, got "2.9"`},
		{"batch_size: 0.5\n", `:1: batch_size: want a whole number, got "0.5"`},
		{"batchsize: 32\n", `(did you mean batch_size?)`},
		{"epochs: 2\n---\nepochs: 3\n", ":2: a second YAML document"},
		{"hidden: 0\n", ":1: hidden must be at least 1"},
		{"width: 0\n", ":1: width must be above 0"},
		// Values in range of their type but not of the setting: the line
		// that set them, not just the setting's name.
		{"model: mlp\nepochs: -1\n", ":2: invalid configuration: epochs must be at least 1, got -1"},
		{"batch_size: 0\n", ":1: invalid configuration: batch size must be at least 1, got 0"},
		{"epochs: 2\nlr: .nan\n", ":2: invalid configuration: learning rate must be a positive number, got NaN"},
		{"normalize: {mean: [0.1], std: [0]}\n", ":1: invalid configuration: normalize std must be a positive number"},
		{"device: tpu\n", `:1: invalid configuration: bad device "tpu"`},
		{"hidden: 2000000000\n", ":1: invalid configuration: hidden must be from 1 to 16384, got 2000000000"},
		{"model: vgg11\ndataset: cifar10\nwidth: 8\n", ":3: invalid configuration: width must be in (0, 4], got 8"},
	} {
		_, err := resolveWith(t, tc.file)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "c.yaml") {
			t.Errorf("%q: got %v, want a usage error naming c.yaml and %q", tc.file, err, tc.want)
		}
	}
}

func TestShippedConfigsAreValid(t *testing.T) {
	paths, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(paths) < 6 {
		t.Fatalf("configs: %v, %v", paths, err)
	}
	for _, p := range paths {
		var c configFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		c.addFlags(fs)
		c.File = p
		seeds := 0
		cfg, err := c.resolve(map[string]any{"seeds": &seeds})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if err := cfg.Check(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// A preset's SGD momentum is not held against an explicit --optimizer adam
// (the MNIST preset has momentum 0.5); one the user set is.
func TestAdamDropsThePresetsMomentum(t *testing.T) {
	var c configFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.addFlags(fs)
	if err := fs.Parse([]string{"--optimizer", "adam", "--dataset", "mnist"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Momentum != 0 || cfg.Check() != nil {
		t.Errorf("adam on mnist: momentum %g, check %v", cfg.Momentum, cfg.Check())
	}
}

// A bad value in the file that a flag overrides never counts: the flag's
// value is the one used.
func TestConfigFileBadValueOverriddenByFlag(t *testing.T) {
	cfg, err := resolveWith(t, "epochs: -1\n", "--epochs", "2")
	if err != nil || cfg.Epochs != 2 {
		t.Errorf("epochs -1 in the file, --epochs 2: got %d, %v", cfg.Epochs, err)
	}
}

// A file far larger than any config file is refused without being read
// whole: --config /dev/zero used to fill the memory until the process was
// killed.
func TestConfigFileTooLarge(t *testing.T) {
	big := "# " + strings.Repeat("x", 1<<20) + "\nepochs: 2\n"
	_, err := resolveWith(t, big)
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "c.yaml: larger than 1048576 bytes") {
		t.Errorf("got %v, want a usage error saying c.yaml is too large", err)
	}
}

// Every bad value in a config file is one line, file:line: key: plain
// words, never yaml.v3's "unmarshal errors" with a line per element; an
// unknown key inside normalize is refused like one at the top.
func TestConfigFileValueErrorsArePlain(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"seed: -1\n", "c.yaml:1: seed: -1 is negative; want a whole number ≥ 0"},
		{"model: [mlp]\n", "c.yaml:1: model: a list where a name belongs"},
		{"dataset: {name: mnist}\n", "c.yaml:1: dataset: a mapping where a name belongs"},
		{"epochs: 99999999999999999999\n", "c.yaml:1: epochs: 99999999999999999999 is too large (at most 9223372036854775807)"},
		{"epochs: -99999999999999999999\n", "c.yaml:1: epochs: -99999999999999999999 is too small (at least -9223372036854775808)"},
		{"seed: 18446744073709551616\n", "c.yaml:1: seed: 18446744073709551616 is too large (at most 18446744073709551615)"},
		{"lr: 1e309\n", "c.yaml:1: lr: 1e309 is out of range (at most ±1.7976931348623157e+308)"},
		{"lr: fast\n", `c.yaml:1: lr: want a number, got "fast"`},
		{"augment: maybe\n", `c.yaml:1: augment: want true or false, got "maybe"`},
		{"epochs:\n", "c.yaml:1: epochs: no value (give one, or leave the key out for the default)"},
		{"normalize: [1]\n", "c.yaml:1: normalize: a list where a mapping of mean and std belongs"},
		{"normalize:\n  mean: [0.5]\n  std: [0.5]\n  stdev: [1]\n", `c.yaml:4: normalize: unknown key "stdev" (did you mean std?) (known: mean, std)`},
		{"normalize:\n  mean: [0.5]\n  mean: [0.5]\n", `c.yaml:3: normalize: "mean" is set twice`},
		{"normalize: {mean: [1e39], std: [1]}\n", "c.yaml:1: normalize.mean[0]: 1e39 is out of range (at most ±3.4028234663852886e+38)"},
		{"normalize:\n  mean: [[1, 2], [3], 0.5, [4]]\n  std: [1]\n", "c.yaml:2: normalize.mean[0]: a list where a number belongs (and 2 more in normalize.mean)"},
		{"epochs: [1\n", "c.yaml:1: not valid YAML: did not find expected ',' or ']'"},
		// Two bad values: two lines, in the file's order.
		{"lr: x\nmodel: mlp\nseed: -1\n", "c.yaml:1: lr: want a number, got \"x\"\nc.yaml:3: seed: -1 is negative; want a whole number ≥ 0"},
		// Values that do not fit the dataset, at their line.
		{"normalize: {mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}\n", "c.yaml:1: normalize: 3 channels, mnist images have 1"},
		{"epochs: 1\ntrain_subset: 70000\n", "c.yaml:2: train_subset: mnist's training split has 60000 images"},
	} {
		_, err := resolveWith(t, tc.file)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", tc.file, err)
			continue
		}
		if got := regexp.MustCompile(`\S*/c\.yaml`).ReplaceAllString(err.Error(), "c.yaml"); got != tc.want {
			t.Errorf("%q:\n got %q\nwant %q", tc.file, got, tc.want)
		}
	}
	// What the YAML library accepts and means stays accepted.
	cfg, err := resolveWith(t, "seed: 0x10\nepochs: 1_000\naugment: yes\nlr: .5\nnormalize: {mean: [1], std: [2]}\n")
	if err != nil || cfg.Seed != 16 || cfg.Epochs != 1000 || !cfg.Augment || cfg.LR != 0.5 || cfg.Normalize.Std[0] != 2 {
		t.Errorf("good values: %+v, %v", cfg, err)
	}
}

// A config file's bad value exits 2 from the command line too, naming the
// file and line; so do --optimizer's misspellings, with a did-you-mean,
// while its name, like a model's, ignores case.
func TestConfigFileErrorsFromTheCommandLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	dataDir := t.TempDir() // empty: all must fail before reading data
	for _, tc := range []struct{ file, want string }{
		{"model: mlp\nnormalize: {mean: [0.5], std: [0.5], scale: 2}\n", path + `:2: normalize: unknown key "scale" (known: mean, std)`},
		{"dataset: mnist\nnormalize:\n  mean: [0.5, 0.5, 0.5]\n  std: [0.5, 0.5, 0.5]\n", path + ":2: normalize: 3 channels, mnist images have 1"},
		{"train_subset: 70000\n", path + ":1: train_subset: mnist's training split has 60000 images"},
		{"optimizer: adm\n", path + `:1: invalid configuration: optimizer must be sgd or adam, got "adm" (did you mean adam?)`},
	} {
		if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(t, "train", "--config", path, "--data-dir", dataDir, "--no-download")
		if code != ExitUsage || !strings.HasPrefix(stderr, "cnntrain: "+tc.want+"\n") {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", tc.file, code, stderr, tc.want)
		}
	}
	cfg, err := resolveWith(t, "optimizer: Adam\n", "--dataset", "MNIST")
	if err != nil || cfg.Optimizer != "adam" || cfg.Momentum != 0 {
		t.Errorf("optimizer: Adam: %+v, %v", cfg, err)
	}
}
