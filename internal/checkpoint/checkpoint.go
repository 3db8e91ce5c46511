// Package checkpoint reads and writes run folders: the weights as a
// safetensors state_dict with PyTorch's names, the optimizer's state,
// checkpoint.json (RunInfo) and config.yaml. Writes are atomic: a folder or
// file appears complete or not at all.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/safetensors"
	"github.com/cnntrain/cnntrain/internal/vm"
	"gopkg.in/yaml.v3"
)

// A run folder holds everything needed to rebuild and evaluate a model:
const (
	WeightsFile   = "model.safetensors"     // the state_dict, PyTorch's names
	OptimizerFile = "optimizer.safetensors" // the optimizer's state and step count
	InfoFile      = "checkpoint.json"       // RunInfo
	ConfigFile    = "config.yaml"           // the effective Config
	infoFormat    = "cnntrain-run/1"
)

// ErrCheckpoint is wrapped by every error about a checkpoint's content.
var ErrCheckpoint = errors.New("bad checkpoint")

// RunInfo is checkpoint.json.
type RunInfo struct {
	Format    string        `json:"format"`
	Config    config.Config `json:"config"`
	Class     string        `json:"class"`
	Input     models.Input  `json:"input"`
	NumParams int           `json:"num_params"`
	Normalize struct {
		Mean []float32 `json:"mean"`
		Std  []float32 `json:"std"`
	} `json:"normalize"`
	// Metrics are the test results after the last epoch.
	Metrics      *evaluate.Metrics `json:"metrics,omitempty"`
	TrainSeconds float64           `json:"train_seconds"`
	ImagesPerSec float64           `json:"train_images_per_second"`
	Weights      string            `json:"weights"`
	// OptimizerState names the optimizer's state file, when saved.
	OptimizerState string `json:"optimizer_state,omitempty"`
	Created        string `json:"created"`
	CnntrainBuild  string `json:"cnntrain_version,omitempty"`
}

// SaveRun writes the weights, the optimizer state (when opt is not nil),
// checkpoint.json and config.yaml into dir. It fills a temporary folder
// beside dir and renames it into place, so an interrupted save leaves no
// half-written run. dir must not exist yet. The model's host values must be
// current (vm.Device.Pull).
func SaveRun(dir string, m *models.Model, opt *OptimizerState, info RunInfo) error {
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("save run: %s already exists", dir)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed

	info.Format, info.Weights = infoFormat, WeightsFile
	info.Created = time.Now().UTC().Format(time.RFC3339)
	if err := SaveWeights(filepath.Join(tmp, WeightsFile), m); err != nil {
		return err
	}
	if opt != nil {
		info.OptimizerState = OptimizerFile
		if err := SaveOptimizer(filepath.Join(tmp, OptimizerFile), *opt); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(tmp, InfoFile), append(js, '\n')); err != nil {
		return err
	}
	ys, err := yaml.Marshal(info.Config)
	if err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(tmp, ConfigFile), ys); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	return nil
}

// SaveWeights writes the model's state_dict as safetensors, readable by
// safetensors.torch.load_file and load_state_dict(strict=True).
func SaveWeights(path string, m *models.Model) error {
	f := &safetensors.File{Metadata: map[string]string{"format": "pt", "cnntrain_model": m.Name}}
	for _, p := range m.Params() {
		if p.Kind == graph.Counter {
			f.Tensors = append(f.Tensors, safetensors.Tensor{Name: p.Name, DType: safetensors.DTypeI64, Shape: []int{}, I64: []int64{int64(p.Data()[0])}})
			continue
		}
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: p.Name, DType: safetensors.DTypeF32, Shape: []int(p.Shape()), F32: p.Data()})
	}
	return safetensors.WriteFile(path, f)
}

// LoadWeights copies a state_dict into the model, strictly: every parameter
// must be present with its exact shape, and nothing else may be.
func LoadWeights(path string, m *models.Model) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return err
	}
	want := map[string]*graph.Param{}
	for _, p := range m.Params() {
		want[p.Name] = p
	}
	for _, t := range f.Tensors {
		p, ok := want[t.Name]
		if !ok {
			return fmt.Errorf("%w: %s: unexpected tensor %q: model %s (%s) has no such parameter", ErrCheckpoint, path, t.Name, m.Name, m.Class)
		}
		if p.Kind == graph.Counter {
			// num_batches_tracked: a 0-dimensional integer in PyTorch.
			if t.NumElements() != 1 || t.I64 == nil {
				return fmt.Errorf("%w: %s: tensor %q is %s %v, want one integer", ErrCheckpoint, path, t.Name, t.DType, t.Shape)
			}
			p.Data()[0] = float32(t.I64[0])
			delete(want, t.Name)
			continue
		}
		if !equalShape(t.Shape, p.Shape()) {
			return fmt.Errorf("%w: %s: tensor %q has shape %v, model %s expects %v", ErrCheckpoint, path, t.Name, t.Shape, m.Name, []int(p.Shape()))
		}
		if t.F32 == nil {
			return fmt.Errorf("%w: %s: tensor %q is %s, want a float type", ErrCheckpoint, path, t.Name, t.DType)
		}
		copy(p.Data(), t.F32)
		delete(want, t.Name)
	}
	for _, p := range m.Params() {
		if _, missing := want[p.Name]; missing {
			return fmt.Errorf("%w: %s: missing tensor %q of model %s (%s)", ErrCheckpoint, path, p.Name, m.Name, m.Class)
		}
	}
	return nil
}

func equalShape(a []int, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// LoadRunInfo reads checkpoint.json from a run folder (or the file itself)
// and returns it with the path of its weights.
func LoadRunInfo(path string) (RunInfo, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return RunInfo{}, "", fmt.Errorf("checkpoint: %w", err)
	}
	infoPath := path
	if st.IsDir() {
		infoPath = filepath.Join(path, InfoFile)
	}
	data, err := os.ReadFile(infoPath)
	if err != nil {
		return RunInfo{}, "", fmt.Errorf("checkpoint: %w", err)
	}
	var info RunInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return RunInfo{}, "", fmt.Errorf("%w: %s: %v", ErrCheckpoint, infoPath, err)
	}
	if info.Format != infoFormat {
		return RunInfo{}, "", fmt.Errorf("%w: %s: format %q, want %q", ErrCheckpoint, infoPath, info.Format, infoFormat)
	}
	if info.Weights == "" || filepath.Base(info.Weights) != info.Weights {
		return RunInfo{}, "", fmt.Errorf("%w: %s: weights %q must be a file name in the run folder", ErrCheckpoint, infoPath, info.Weights)
	}
	return info, filepath.Join(filepath.Dir(infoPath), info.Weights), nil
}

// OptimizerState is an optimizer's state_dict-like tensors ("<param>.exp_avg",
// "<param>.momentum_buffer", …) and the number of updates applied, enough to
// continue training exactly where it stopped.
type OptimizerState struct {
	Optimizer string // the rule and its settings, e.g. "Adam(lr=0.001, …)"
	Steps     int
	Tensors   []vm.StateTensor
}

// FromDevice downloads the optimizer state of dev.
func FromDevice(dev *vm.Device, optimizer string) (*OptimizerState, error) {
	ts, err := dev.OptimizerState()
	if err != nil {
		return nil, err
	}
	return &OptimizerState{Optimizer: optimizer, Steps: dev.Steps, Tensors: ts}, nil
}

// stepTensor holds the step count, a 0-dimensional int64 as PyTorch keeps it.
const stepTensor = "step"

// SaveOptimizer writes s as safetensors.
func SaveOptimizer(path string, s OptimizerState) error {
	f := &safetensors.File{Metadata: map[string]string{"format": "cnntrain-optimizer/1", "optimizer": s.Optimizer}}
	f.Tensors = append(f.Tensors, safetensors.Tensor{Name: stepTensor, DType: safetensors.DTypeI64, Shape: []int{}, I64: []int64{int64(s.Steps)}})
	for _, t := range s.Tensors {
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: t.Name, DType: safetensors.DTypeF32, Shape: t.Shape, F32: t.Data})
	}
	return safetensors.WriteFile(path, f)
}

// LoadOptimizer reads a file SaveOptimizer wrote.
func LoadOptimizer(path string) (OptimizerState, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return OptimizerState{}, err
	}
	s := OptimizerState{Optimizer: f.Metadata["optimizer"]}
	found := false
	for _, t := range f.Tensors {
		if t.Name == stepTensor {
			if t.NumElements() != 1 || t.I64 == nil || t.I64[0] < 0 {
				return OptimizerState{}, fmt.Errorf("%w: %s: %q must be one non-negative integer", ErrCheckpoint, path, stepTensor)
			}
			s.Steps, found = int(t.I64[0]), true
			continue
		}
		if t.F32 == nil {
			return OptimizerState{}, fmt.Errorf("%w: %s: tensor %q is %s, want float32", ErrCheckpoint, path, t.Name, t.DType)
		}
		s.Tensors = append(s.Tensors, vm.StateTensor{Name: t.Name, Shape: t.Shape, Data: t.F32})
	}
	if !found {
		return OptimizerState{}, fmt.Errorf("%w: %s: no %q tensor: not an optimizer state", ErrCheckpoint, path, stepTensor)
	}
	return s, nil
}
