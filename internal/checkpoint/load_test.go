package checkpoint_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/safetensors"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// tinyMLP is the mlp on 4x4 images: tensors network.{0,2,4}.{weight,bias}.
func tinyMLP(t *testing.T) *models.Model {
	t.Helper()
	m, err := models.New("mlp", models.Input{C: 1, H: 4, W: 4, Classes: 3}, models.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rewriteWeights saves m's state_dict to a new file after edit has changed
// its tensors, and returns the file's path.
func rewriteWeights(t *testing.T, m *models.Model, edit func(f *safetensors.File)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), checkpoint.WeightsFile)
	if err := checkpoint.SaveWeights(path, m); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	if err := safetensors.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

// tensorIndex is the position of the tensor called name in f.
func tensorIndex(t *testing.T, f *safetensors.File, name string) int {
	t.Helper()
	i := slices.IndexFunc(f.Tensors, func(x safetensors.Tensor) bool { return x.Name == name })
	if i < 0 {
		t.Fatalf("the saved state_dict has no %q", name)
	}
	return i
}

// LoadWeights is load_state_dict(strict=True): a tensor too many, one
// missing, a wrong shape or a wrong dtype is refused with an error naming the
// file, the tensor and what is wrong with it.
func TestLoadWeightsIsStrict(t *testing.T) {
	bn := &models.Model{Name: "bn", Class: "BatchNorm2d(2)", Net: graph.Sequential{graph.NewBatchNorm2d("bn", 2)}}
	for _, tc := range []struct {
		name string
		m    *models.Model
		edit func(t *testing.T, f *safetensors.File)
		want []string
	}{
		{"unexpected tensor", tinyMLP(t), func(t *testing.T, f *safetensors.File) {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: "network.6.bias", DType: safetensors.DTypeF32, Shape: []int{3}, F32: make([]float32, 3)})
		}, []string{`unexpected tensor "network.6.bias"`, "has no such parameter"}},
		{"missing tensor", tinyMLP(t), func(t *testing.T, f *safetensors.File) {
			i := tensorIndex(t, f, "network.2.bias")
			f.Tensors = slices.Delete(f.Tensors, i, i+1)
		}, []string{`missing tensor "network.2.bias"`}},
		{"transposed shape", tinyMLP(t), func(t *testing.T, f *safetensors.File) {
			f.Tensors[tensorIndex(t, f, "network.0.weight")].Shape = []int{16, 8} // as many values as [8 16]
		}, []string{`tensor "network.0.weight" has shape [16 8]`, "expects [8 16]"}},
		{"integer weights", tinyMLP(t), func(t *testing.T, f *safetensors.File) {
			x := &f.Tensors[tensorIndex(t, f, "network.4.bias")]
			x.DType, x.I64, x.F32 = safetensors.DTypeI64, make([]int64, len(x.F32)), nil
		}, []string{`tensor "network.4.bias" is I64`, "want a float type"}},
		{"float batch counter", bn, func(t *testing.T, f *safetensors.File) {
			x := &f.Tensors[tensorIndex(t, f, "bn.num_batches_tracked")]
			x.DType, x.F32, x.I64 = safetensors.DTypeF32, []float32{5}, nil
		}, []string{`tensor "bn.num_batches_tracked" is F32`, "want one integer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := rewriteWeights(t, tc.m, func(f *safetensors.File) { tc.edit(t, f) })
			err := checkpoint.LoadWeights(path, tc.m)
			if !errors.Is(err, checkpoint.ErrCheckpoint) {
				t.Fatalf("got %v, want ErrCheckpoint", err)
			}
			for _, want := range append(tc.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// Restore takes the weights and the optimizer state only when both are from
// the step checkpoint.json names: a run killed between writing them leaves
// files of two steps, which must not be resumed as one.
func TestRestoreRefusesFilesOfAnotherStep(t *testing.T) {
	const steps = 3
	// save writes a consistent checkpoint after 3 steps and returns its
	// folder and checkpoint.json.
	save := func(t *testing.T) (string, checkpoint.RunInfo) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "run")
		f, err := checkpoint.Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m := tinyMLP(t)
		opt := &checkpoint.OptimizerState{Optimizer: "SGD(momentum=0.9)", Steps: steps,
			Tensors: []vm.StateTensor{{Name: "network.4.bias.momentum_buffer", Shape: []int{3}, Data: []float32{1, 2, 3}}}}
		info := checkpoint.RunInfo{Status: checkpoint.StatusRunning, Progress: &checkpoint.Progress{Steps: steps}}
		if err := f.Save(m, opt, info); err != nil {
			t.Fatal(err)
		}
		info, _, err = checkpoint.LoadRunInfo(dir)
		if err != nil {
			t.Fatal(err)
		}
		return dir, info
	}
	// restore loads the folder into a model initialised differently.
	restore := func(t *testing.T, dir string, info checkpoint.RunInfo) (*vm.Device, error) {
		t.Helper()
		m, err := models.New("mlp", models.Input{C: 1, H: 4, W: 4, Classes: 3}, models.Config{Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		dev, err := vm.NewDevice(cpu.New(), m.Params())
		if err != nil {
			t.Fatal(err)
		}
		return dev, checkpoint.Restore(dir, info, m, dev)
	}

	t.Run("consistent", func(t *testing.T) {
		dir, info := save(t)
		dev, err := restore(t, dir, info)
		if err != nil {
			t.Fatal(err)
		}
		if dev.Steps != steps {
			t.Errorf("restored %d steps, want %d", dev.Steps, steps)
		}
		if err := dev.Pull(); err != nil {
			t.Fatal(err)
		}
		for i, p := range dev.Params() {
			if !slices.Equal(p.Data(), tinyMLP(t).Params()[i].Data()) {
				t.Errorf("%s was not restored from the file", p.Name)
			}
		}
	})
	t.Run("weights of a later step", func(t *testing.T) {
		dir, info := save(t)
		path := filepath.Join(dir, checkpoint.WeightsFile)
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f.Metadata["cnntrain_step"] = "4"
		if err := safetensors.WriteFile(path, f); err != nil {
			t.Fatal(err)
		}
		_, err = restore(t, dir, info)
		wantRefusal(t, err, dir, `the weights are from step "4"`, "checkpoint.json from step 3")
	})
	t.Run("optimizer state of a later step", func(t *testing.T) {
		dir, info := save(t)
		later := checkpoint.OptimizerState{Optimizer: "SGD(momentum=0.9)", Steps: steps + 1}
		if err := checkpoint.SaveOptimizer(filepath.Join(dir, checkpoint.OptimizerFile), later); err != nil {
			t.Fatal(err)
		}
		_, err := restore(t, dir, info)
		wantRefusal(t, err, dir, "the optimizer state is from step 4", "checkpoint.json from step 3")
	})
}

// wantRefusal checks err is a bad-checkpoint error saying each of wants.
func wantRefusal(t *testing.T, err error, wants ...string) {
	t.Helper()
	if !errors.Is(err, checkpoint.ErrCheckpoint) {
		t.Fatalf("got %v, want ErrCheckpoint", err)
	}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A checkpoint.json or metrics.jsonl that is not what it should be is
// refused with the file, the field or byte, and what was wanted, in words
// rather than Go's type names ("cannot unmarshal string into Go struct
// field Config.config.epochs of type int").
func TestJSONProblemsSayWhatAndWhere(t *testing.T) {
	dir := t.TempDir()
	info := filepath.Join(dir, checkpoint.InfoFile)
	for _, tc := range []struct{ content, want string }{
		{``, info + ": empty file"},
		{"  \n", info + ": empty file"},
		{`{"format": "cnntrain-run/1", "config": {"epochs": "ten"}}`, info + `: config.epochs: a JSON string where a whole number belongs`},
		{`{"format": "cnntrain-run/1", "normalize": {"mean": "x"}}`, info + `: normalize.mean: a JSON string where a list belongs`},
		{`[1, 2]`, info + `: a JSON array, not a run's checkpoint.json (an object)`},
		{`{"format": "cnntrain-run/1", "config": {`, info + `: the JSON ends early, after 40 bytes (a truncated file?)`},
		{`{not json}`, info + `: not valid JSON at byte 2: invalid character 'n'`},
	} {
		if err := os.WriteFile(info, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := checkpoint.LoadRunInfo(dir)
		wantRefusal(t, err, tc.want)
	}

	metrics := filepath.Join(dir, checkpoint.MetricsFile)
	good := `{"kind":"epoch","epoch":1,"step":4,"loss":2.3}` + "\n"
	// Blank lines, as an editor may leave, are no records and no error.
	if err := os.WriteFile(metrics, []byte(good+"\n"+good+"  \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if recs, err := checkpoint.ReadMetrics(metrics); err != nil || len(recs) != 2 {
		t.Errorf("two records and blank lines: %d records, %v", len(recs), err)
	}
	if err := os.WriteFile(metrics, []byte(good+`{"kind":"epoch","loss":NaN}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := checkpoint.ReadMetrics(metrics)
	wantRefusal(t, err, metrics+":2: not valid JSON at byte 24: invalid character 'N'")
}

// A folder without checkpoint.json is said not to be a run folder, with a
// word on the weights it may hold, not "open …/checkpoint.json: no such
// file or directory".
func TestNotARunFolder(t *testing.T) {
	dir := t.TempDir()
	_, _, err := checkpoint.LoadRunInfo(dir)
	if err == nil || err.Error() != dir+" is not a run folder: it has no checkpoint.json" {
		t.Errorf("empty folder: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpoint.WeightsFile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = checkpoint.LoadRunInfo(dir)
	if err == nil || err.Error() != dir+" is not a run folder: it has no checkpoint.json (its model.safetensors alone, eval takes with --model and --dataset)" {
		t.Errorf("folder with weights only: %v", err)
	}
}
