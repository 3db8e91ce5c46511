package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/cuda"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestModelsListsParametersPerDataset(t *testing.T) {
	code, out, errs := run(t, "models", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []ModelInfo
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	params := map[string]map[string]int{}
	for _, r := range rows {
		params[r.Name] = r.Parameters
	}
	// The notebooks' counts, and VGG absent on MNIST (it cannot take 28x28).
	for model, want := range map[string]map[string]int{
		"mlp": {"mnist": 6442}, "cnn": {"mnist": 6422, "cifar10": 62006},
		"vgg11": {"cifar10": 9231114}, "vgg16": {"cifar10": 14728266},
	} {
		for ds, n := range want {
			if params[model][ds] != n {
				t.Errorf("%s on %s: %d parameters, want %d", model, ds, params[model][ds], n)
			}
		}
	}
	if _, ok := params["vgg16"]["mnist"]; ok {
		t.Error("vgg16 listed for mnist")
	}
	code, out, _ = run(t, "models")
	if code != 0 || !strings.Contains(out, "14,728,266") || !strings.Contains(out, "adam lr 0.001, 10 epoch(s), batch 128/128, crop+flip") {
		t.Errorf("exit %d, table:\n%s", code, out)
	}
}

func TestModelsSummaryIsTheLayerTable(t *testing.T) {
	code, out, errs := run(t, "models", "--summary", "CNN", "--dataset", "mnist")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"conv1", "(1, 6, 24, 24)", "fc2", "(1, 10)", "trainable parameters: 6,422"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	code, _, errs = run(t, "models", "--summary", "vgg16", "--dataset", "mnist")
	if code != 2 || !strings.Contains(errs, "32x32") {
		t.Errorf("vgg16 on mnist: exit %d, %s", code, errs)
	}
}

func TestDatasetsSaysWhatIsPresent(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := run(t, "datasets", "--data-dir", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []DatasetInfo
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d datasets", len(rows))
	}
	for _, r := range rows {
		if r.Present || len(r.Files) == 0 || !strings.HasPrefix(r.Files[0].Path, dir) {
			t.Errorf("%s in an empty folder: %+v", r.Name, r)
		}
	}
}

func TestDevicesWithoutAGPUSaysWhy(t *testing.T) {
	if cuda.Probe().Usable() {
		t.Skip("this machine has a usable GPU")
	}
	code, out, errs := run(t, "devices")
	if code != 0 || !strings.Contains(out, "no usable GPU") || !strings.Contains(out, "libcuda.so.1") || !strings.Contains(out, "--device auto") {
		t.Errorf("exit %d, %s%s", code, out, errs)
	}
	code, out, _ = run(t, "devices", "--json")
	var r DevicesReport
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil || r.Reason == "" || r.CPUThreads < 1 {
		t.Errorf("exit %d, %v: %s", code, err, out)
	}
}

// Without a GPU, --device cuda is refused with the reason before any data
// is read (exit 1: the machine, not the command line, is at fault).
func TestDeviceCudaWithoutAGPU(t *testing.T) {
	if cuda.Probe().Usable() {
		t.Skip("this machine has a usable GPU")
	}
	code, _, errs := run(t, "train", "--device", "cuda", "--data-dir", t.TempDir(), "--no-download")
	if code != 1 || !strings.Contains(errs, "--device cuda: no usable GPU") || strings.Contains(errs, "missing") {
		t.Errorf("exit %d: %s", code, errs)
	}
	code, _, errs = run(t, "train", "--device", "tpu")
	if code != 2 || !strings.Contains(errs, `bad device "tpu"`) {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestCompletionOffersNames(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "train", "--model", ""}, []string{"cnn", "mlp", "vgg11", "vgg16"}},
		{[]string{"__complete", "eval", "--device", ""}, []string{"auto", "cpu", "cuda"}},
		{[]string{"__complete", "shuffle-experiment", "--optimizer", ""}, []string{"sgd", "adam"}},
		{[]string{"__complete", "models", "--dataset", ""}, []string{"mnist", "cifar10"}},
	} {
		code, out, _ := run(t, tc.args...)
		for _, w := range tc.want {
			if code != 0 || !strings.Contains(out, w+"\n") {
				t.Errorf("%v: exit %d, offered:\n%s\nwant %q", tc.args, code, out, w)
			}
		}
	}
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--batch-szie", "3"}, "did you mean --batch-size?"},
		{[]string{"train", "--model", "vgg-16"}, "did you mean vgg16?"},
		{[]string{"train", "--dataset", "cifar"}, "did you mean cifar10?"},
		{[]string{"train", "--model", "vgg16"}, "try --dataset cifar10"},
	} {
		code, _, errs := run(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errs, tc.want)
		}
	}
}

// Model, dataset and device names are case-insensitive and recorded as
// registered.
func TestNamesIgnoreCase(t *testing.T) {
	f := &configFlags{}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.addFlags(fs)
	if err := fs.Parse([]string{"--model", "VGG16", "--dataset", "CIFAR10", "--device", "CPU"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "vgg16" || cfg.Dataset != "cifar10" || cfg.BatchSize != 128 || !cfg.Augment {
		t.Errorf("got %s on %s, batch %d, augment %v: want VGG's notebook preset", cfg.Model, cfg.Dataset, cfg.BatchSize, cfg.Augment)
	}
	if cfg.Device != "cpu" {
		t.Errorf("device recorded as %q, want cpu", cfg.Device)
	}
}

// A bad value inside checkpoint.json is a bad file: exit 1, naming it.
func TestEvalOfABadCheckpointJSONIsABadFile(t *testing.T) {
	dir := t.TempDir()
	js := `{"format": "cnntrain-run/1", "weights": "model.safetensors", "config": {"model": "cnn", "dataset": "mnist", "epochs": 1, "batch_size": 64, "test_batch_size": 1000, "optimizer": "sgd", "lr": -1}}`
	if err := os.WriteFile(filepath.Join(dir, "checkpoint.json"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "eval", "--checkpoint", dir)
	if code != 1 || !strings.Contains(errs, filepath.Join(dir, "checkpoint.json")) || !strings.Contains(errs, "learning rate") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

// Weights named .bin are still weights: eval takes --model and --dataset
// for them and goes on to read the data.
func TestEvalReadsWeightsByContentNotName(t *testing.T) {
	dir := t.TempDir()
	m, err := models.New("cnn", models.Input{C: 1, H: 28, W: 28, Classes: 10}, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.bin")
	if err := checkpoint.SaveWeights(path, m); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "eval", "--checkpoint", path, "--model", "cnn", "--dataset", "mnist", "--data-dir", dir, "--no-download")
	if code != 1 || strings.Contains(errs, "describes its own model") || !strings.Contains(errs, "missing") {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestOneClassIsNoticed(t *testing.T) {
	m := evaluate.Metrics{Total: 4, PerClass: []evaluate.ClassMetrics{{Class: "cat"}, {Class: "dog"}}, Confusion: [][]int{{0, 3}, {0, 1}}}
	if c, ok := oneClass(m); !ok || c != "dog" {
		t.Errorf("got %q, %v", c, ok)
	}
	m.Confusion = [][]int{{2, 1}, {0, 1}}
	if _, ok := oneClass(m); ok {
		t.Error("two classes predicted, reported as one")
	}
}

// --bn-batch-stats-at-test=false overrides a run trained with the notebook
// config (which sets it), and the flag's absence keeps the run's setting.
func TestEvalBatchNormModeFollowsAnExplicitFlag(t *testing.T) {
	for _, tc := range []struct{ run, flag, set, want bool }{
		{true, false, true, false}, {true, false, false, true}, {false, true, true, true}, {false, false, false, false},
	} {
		if got := batchStatsAtTest(tc.run, tc.flag, tc.set); got != tc.want {
			t.Errorf("run %v, flag %v (given %v): %v", tc.run, tc.flag, tc.set, got)
		}
	}
}

// Help shows flags in groups, booleans as plain --flags, and no model
// remarks where the command does not train that model.
func TestHelpReadsWell(t *testing.T) {
	code, out, _ := run(t, "train", "--help")
	for _, want := range []string{"Model flags:", "Data flags:", "Optimization flags:", "Device flags:", "Output flags:", "      --json   "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("train --help lacks %q", want)
		}
	}
	if strings.Contains(out, "[=true|false]") {
		t.Error("booleans render as --flag[=true|false]")
	}
	_, out, _ = run(t, "shuffle-experiment", "--help")
	for _, not := range []string{"VGG", "LeNet", "vgg"} {
		if strings.Contains(out, not) {
			t.Errorf("shuffle-experiment --help mentions %s", not)
		}
	}
	_, out, _ = run(t, "--help")
	for _, want := range []string{"MNIST MLP and CNN", "VGG11 and VGG16", "$CNNTRAIN_DATA", "cnntrain models"} {
		if !strings.Contains(out, want) {
			t.Errorf("cnntrain --help lacks %q", want)
		}
	}
	_, _, errs := run(t, "bogus")
	if strings.Contains(errs, "cnntrain  --help") {
		t.Errorf("doubled space: %q", errs)
	}
	// A group names flags as they are typed; a name no command has (a
	// config key such as no_cudnn) leaves its flag under "Other flags".
	flags := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) { flags[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRootCommand(Streams{Out: &strings.Builder{}, Err: &strings.Builder{}}))
	for _, g := range flagGroups {
		for _, name := range g.flags {
			if !flags[name] {
				t.Errorf("%s flags: no command has --%s", g.title, name)
			}
		}
	}
}
