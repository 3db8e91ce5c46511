// Package checkpoint reads and writes run folders: the weights as a
// safetensors state_dict with PyTorch's names, the optimizer's state,
// checkpoint.json (RunInfo), config.yaml and metrics.jsonl. A folder is
// claimed when its run starts (Folder); every file in it is written
// atomically, appearing complete or not at all, and a checkpoint saved while
// training carries where training stands (Progress), so it can be resumed.
package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
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
	MetricsFile   = "metrics.jsonl"         // a Record per logged minibatch and per epoch
	infoFormat    = "cnntrain-run/1"
)

// Status values of a run folder.
const (
	// StatusStarted is a claimed folder that holds the run's settings and
	// no checkpoint yet; --resume starts it over.
	StatusStarted     = "started"
	StatusRunning     = "running"     // saved during training; also what a killed run leaves
	StatusInterrupted = "interrupted" // stopped by Ctrl-C or SIGTERM
	StatusFinished    = "finished"
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
	// DataDir is the data folder the run read (absolute).
	DataDir string `json:"data_dir,omitempty"`
	// Status is one of the Status constants; folders of older versions have
	// none and are finished.
	Status string `json:"status,omitempty"`
	// Progress is where training stands, for `train --resume`.
	Progress *Progress `json:"progress,omitempty"`
	// History has one record per finished epoch, as in metrics.jsonl.
	History []Record `json:"history,omitempty"`
}

// Resumable reports whether training can continue from this checkpoint,
// or start over with its settings (StatusStarted).
func (i RunInfo) Resumable() bool {
	return i.Status == StatusStarted || i.Progress != nil && (i.Status == StatusRunning || i.Status == StatusInterrupted)
}

// ErrNotTrained is wrapped by CheckTrained's error.
var ErrNotTrained = errors.New("no checkpoint yet")

// CheckTrained refuses a folder that holds only the settings a run was
// started with (StatusStarted), saying how to start it over: there are no
// weights to evaluate or curves to draw.
func (i RunInfo) CheckTrained(dir string) error {
	if i.Status != StatusStarted {
		return nil
	}
	return fmt.Errorf("%s: %w: the run was stopped before its first checkpoint; 'cnntrain train --resume %s' starts it over", dir, ErrNotTrained, dir)
}

// Progress is where a training stands at a checkpoint.
type Progress struct {
	// Next is the loader's position: the next minibatch and the
	// augmentation stream's state. Epoch counts from 0.
	Next datasets.Position `json:"next"`
	// Steps is the number of optimizer updates applied; model.safetensors
	// and optimizer.safetensors record the same number.
	Steps        int     `json:"steps"`
	Images       int     `json:"images"`        // training images seen
	TrainSeconds float64 `json:"train_seconds"` // in minibatches, over every session of the run
	WallSeconds  float64 `json:"wall_seconds"`  // training, evaluating and saving
	// EpochLossSum and EpochBatches are the current epoch's minibatch
	// losses so far, for its mean.
	EpochLossSum float64 `json:"epoch_loss_sum"`
	EpochBatches int     `json:"epoch_batches"`
	// MetricsBytes is metrics.jsonl's length at the checkpoint; a resumed
	// run cuts what a dead one logged after it, since it logs it again.
	MetricsBytes int64 `json:"metrics_bytes"`
}

// Record is one line of metrics.jsonl: a logged minibatch or a finished
// epoch.
type Record struct {
	Kind  string `json:"kind"` // RecordMinibatch or RecordEpoch
	Epoch int    `json:"epoch"`
	// Batch is the minibatch within its epoch, from 1 as the CIFAR log
	// counts; 0 for an epoch.
	Batch  int     `json:"batch,omitempty"`
	Step   int     `json:"step"`   // optimizer updates, this minibatch's included
	Images int     `json:"images"` // training images seen, this minibatch's included
	Loss   float64 `json:"loss"`   // the minibatch's loss, or the epoch's mean
	LR     float64 `json:"lr"`
	// TestLoss and TestAccuracy (percent) are set on epochs that ended with
	// an evaluation.
	TestLoss     *float64 `json:"test_loss,omitempty"`
	TestAccuracy *float64 `json:"test_accuracy,omitempty"`
	// ImagesPerSecond is the training speed since the previous record of
	// the same kind (minibatch) or over the epoch.
	ImagesPerSecond float64 `json:"images_per_second"`
	WallSeconds     float64 `json:"wall_seconds"` // since the run started, over every session
	Time            string  `json:"time"`         // RFC 3339, UTC
}

// Record kinds.
const (
	RecordMinibatch = "minibatch"
	RecordEpoch     = "epoch"
)

// stepKey is the metadata key of model.safetensors that says after how many
// optimizer updates the weights were saved.
const stepKey = "cnntrain_step"

// Save writes a checkpoint into the folder as one unit with one commit
// point: the weights, the optimizer state (when opt is not nil), config.yaml
// and checkpoint.json go into a temporary folder under checkpoints/, each
// synced, and one rename to checkpoints/step-<N> commits them all. Only then
// do the folder's top-level files become that checkpoint's (hard links,
// checkpoint.json last) and the previous checkpoint is removed. A process
// killed at any instant leaves a committed checkpoint that Open recovers.
// The model's host values must be current (vm.Device.Pull).
func (f *Folder) Save(m *models.Model, opt *OptimizerState, info RunInfo) error {
	info.Format, info.Weights = infoFormat, WeightsFile
	info.Created = time.Now().UTC().Format(time.RFC3339)
	meta := map[string]string{}
	steps := 0
	if info.Progress != nil {
		steps = info.Progress.Steps
	}
	if opt != nil {
		meta[stepKey] = strconv.Itoa(opt.Steps)
		info.OptimizerState = OptimizerFile
		steps = opt.Steps
	}
	err := f.commit(steps, func(dir string) error {
		if err := saveWeights(filepath.Join(dir, WeightsFile), m, meta); err != nil {
			return err
		}
		if opt != nil {
			if err := SaveOptimizer(filepath.Join(dir, OptimizerFile), *opt); err != nil {
				return err
			}
		}
		return writeInfo(dir, info)
	})
	if err != nil {
		return err
	}
	f.saved = true
	return nil
}

// writeInfo writes config.yaml and checkpoint.json of info into dir.
func writeInfo(dir string, info RunInfo) error {
	ys, err := yaml.Marshal(info.Config)
	if err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, ConfigFile), ys); err != nil {
		return err
	}
	js, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("save run: %w", err)
	}
	return atomicfile.WriteBytes(filepath.Join(dir, InfoFile), append(js, '\n'))
}

// Restore loads a resumable checkpoint of dir into m and dev: the weights,
// the optimizer state and its step count. It refuses files whose step
// counts disagree with checkpoint.json's.
func Restore(dir string, info RunInfo, m *models.Model, dev *vm.Device) error {
	if !info.Resumable() {
		return fmt.Errorf("%w: %s: status %q, nothing to resume", ErrCheckpoint, dir, info.Status)
	}
	want := info.Progress.Steps
	meta, err := loadWeights(filepath.Join(dir, info.Weights), m)
	if err != nil {
		return err
	}
	if got := meta[stepKey]; got != strconv.Itoa(want) {
		return fmt.Errorf("%w: %s: the weights are from step %q, %s from step %d: the run died while saving; no consistent checkpoint is left",
			ErrCheckpoint, dir, got, InfoFile, want)
	}
	if info.OptimizerState == "" {
		return fmt.Errorf("%w: %s: %s names no optimizer state", ErrCheckpoint, dir, InfoFile)
	}
	opt, err := LoadOptimizer(filepath.Join(dir, info.OptimizerState))
	if err != nil {
		return err
	}
	if opt.Steps != want {
		return fmt.Errorf("%w: %s: the optimizer state is from step %d, %s from step %d: the run died while saving; no consistent checkpoint is left",
			ErrCheckpoint, dir, opt.Steps, InfoFile, want)
	}
	if err := dev.Push(); err != nil {
		return err
	}
	return dev.LoadOptimizerState(opt.Tensors, opt.Steps)
}

// SaveWeights writes the model's state_dict as safetensors, readable by
// safetensors.torch.load_file and load_state_dict(strict=True).
func SaveWeights(path string, m *models.Model) error { return saveWeights(path, m, nil) }

// saveWeights is SaveWeights with extra metadata.
func saveWeights(path string, m *models.Model, meta map[string]string) error {
	f := &safetensors.File{Metadata: map[string]string{"format": "pt", "cnntrain_model": m.Name}}
	for k, v := range meta {
		f.Metadata[k] = v
	}
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
	_, err := loadWeights(path, m)
	return err
}

// loadWeights is LoadWeights returning the file's metadata.
func loadWeights(path string, m *models.Model) (map[string]string, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	want := map[string]*graph.Param{}
	for _, p := range m.Params() {
		want[p.Name] = p
	}
	for _, t := range f.Tensors {
		p, ok := want[t.Name]
		if !ok {
			return nil, fmt.Errorf("%w: %s: unexpected tensor %q: model %s (%s) has no such parameter", ErrCheckpoint, path, t.Name, m.Name, m.Class)
		}
		if p.Kind == graph.Counter {
			// num_batches_tracked: a 0-dimensional integer in PyTorch.
			if t.NumElements() != 1 || t.I64 == nil {
				return nil, fmt.Errorf("%w: %s: tensor %q is %s %v, want one integer", ErrCheckpoint, path, t.Name, t.DType, t.Shape)
			}
			p.Data()[0] = float32(t.I64[0])
			delete(want, t.Name)
			continue
		}
		if !equalShape(t.Shape, p.Shape()) {
			return nil, fmt.Errorf("%w: %s: tensor %q has shape %v, model %s expects %v", ErrCheckpoint, path, t.Name, t.Shape, m.Name, []int(p.Shape()))
		}
		if t.F32 == nil {
			return nil, fmt.Errorf("%w: %s: tensor %q is %s, want a float type", ErrCheckpoint, path, t.Name, t.DType)
		}
		copy(p.Data(), t.F32)
		delete(want, t.Name)
	}
	for _, p := range m.Params() {
		if _, missing := want[p.Name]; missing {
			return nil, fmt.Errorf("%w: %s: missing tensor %q of model %s (%s)", ErrCheckpoint, path, p.Name, m.Name, m.Class)
		}
	}
	return f.Metadata, nil
}

// CheckFinite refuses weights holding NaN or an infinity, naming the first
// such tensor: evaluating them would print meaningless accuracies.
func CheckFinite(path string, m *models.Model) error {
	for _, p := range m.Params() {
		bad := 0
		for _, v := range p.Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				bad++
			}
		}
		if bad > 0 {
			return fmt.Errorf("%w: %s: tensor %q holds %d NaN or infinite values of %d: the training diverged", ErrCheckpoint, path, p.Name, bad, len(p.Data()))
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

// InfoPath is the checkpoint.json of path: path itself, or the file in it
// when it is a folder.
func InfoPath(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, InfoFile)
	}
	return path
}

// LoadRunInfo reads checkpoint.json from a run folder (or the file itself)
// and returns it with the path of its weights. It checks the file's form,
// not its values: see Check.
func LoadRunInfo(path string) (RunInfo, string, error) {
	if _, err := os.Stat(path); err != nil {
		return RunInfo{}, "", fmt.Errorf("checkpoint: %w", err)
	}
	infoPath := InfoPath(path)
	// A run's other file (its weights, say) is called what it is, with the
	// folder to give instead, not "not valid JSON at byte 1".
	if err := WrongFile(infoPath, "a run's "+InfoFile, KindRunInfo); err != nil {
		return RunInfo{}, "", err
	}
	data, err := os.ReadFile(infoPath)
	if errors.Is(err, fs.ErrNotExist) && infoPath != path {
		// A folder without checkpoint.json: say what it lacks, and what
		// to do with the weights it may hold.
		hint := ""
		if _, serr := os.Stat(filepath.Join(path, WeightsFile)); serr == nil {
			hint = fmt.Sprintf(" (its %s alone, eval takes with --model and --dataset)", WeightsFile)
		}
		return RunInfo{}, "", fmt.Errorf("%s is not a run folder: it has no %s%s", path, InfoFile, hint)
	}
	if err != nil {
		return RunInfo{}, "", fmt.Errorf("checkpoint: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return RunInfo{}, "", fmt.Errorf("%w: %s: empty file", ErrCheckpoint, infoPath)
	}
	var info RunInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return RunInfo{}, "", fmt.Errorf("%w: %s: %s", ErrCheckpoint, infoPath, jsonProblem(err, "a run's "+InfoFile))
	}
	if info.Format != infoFormat {
		return RunInfo{}, "", fmt.Errorf("%w: %s: format %q, want %q", ErrCheckpoint, infoPath, info.Format, infoFormat)
	}
	if !plainName(info.Weights) {
		return RunInfo{}, "", fmt.Errorf("%w: %s: weights %q must be a file name in the run folder", ErrCheckpoint, infoPath, info.Weights)
	}
	if info.OptimizerState != "" && !plainName(info.OptimizerState) {
		return RunInfo{}, "", fmt.Errorf("%w: %s: optimizer_state %q must be a file name in the run folder", ErrCheckpoint, infoPath, info.OptimizerState)
	}
	return info, filepath.Join(filepath.Dir(infoPath), info.Weights), nil
}

// jsonProblem words an error of json.Unmarshal for people: the field and
// the kind of value it needs rather than Go's type names, or where the
// text stops being JSON. what names the file's kind ("a run's
// checkpoint.json").
func jsonProblem(err error, what string) string {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("%s: a JSON %s where %s belongs", typeErr.Field, typeErr.Value, jsonKind(typeErr.Type))
	case errors.As(err, &typeErr):
		return fmt.Sprintf("a JSON %s, not %s (an object)", typeErr.Value, what)
	case errors.As(err, &syntaxErr) && syntaxErr.Offset == 0:
		return "empty"
	case errors.As(err, &syntaxErr) && err.Error() == "unexpected end of JSON input":
		return fmt.Sprintf("the JSON ends early, after %d bytes (a truncated file?)", syntaxErr.Offset)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	}
	return err.Error()
}

// jsonKind names the JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64, reflect.Uint32:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

// plainName says whether name is a file's name alone: no folder, and not
// "." or "..", which name folders.
func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && filepath.Base(name) == name
}

// Check refuses values of checkpoint.json that no run writes and that
// rebuilding the run would trip on later, less clearly: a configuration
// out of range, an unknown model or dataset, a normalization that does not
// fit the dataset's channels, a position past the run's epochs. Every error
// names file (the checkpoint.json) and wraps ErrCheckpoint alone: a bad
// value in a file is not a usage error. Whether the model fits the dataset
// is left to building it (models.New), which callers report the same way.
func (i RunInfo) Check(file string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCheckpoint, file, fmt.Sprintf(format, args...))
	}
	c := i.Config
	if err := c.Validate(); err != nil {
		return bad("%v", err)
	}
	info, err := datasets.Lookup(c.Dataset)
	if err != nil {
		return bad("%v", err)
	}
	if err := models.Known(c.Model); err != nil {
		return bad("%v", err)
	}
	switch i.Status {
	case "", StatusStarted, StatusRunning, StatusInterrupted, StatusFinished: // "": older versions, finished
	default:
		return bad("status %q is none a run writes (%s, %s, %s or %s)", i.Status, StatusStarted, StatusRunning, StatusInterrupted, StatusFinished)
	}
	// The input is what the dataset gives; a hand-written checkpoint.json
	// may leave it out (all zero), but one that records another shape
	// describes some other model.
	if in, want := i.Input, config.InputOf(info); in != (models.Input{}) && in != want {
		return bad("input is %s; %s gives %s", in, info.Name, want)
	}
	if n := i.Normalize; len(n.Mean) > 0 || len(n.Std) > 0 {
		if len(n.Mean) != info.C || len(n.Std) != info.C {
			return bad("normalize has %d means and %d stds; %s images have %d channels", len(n.Mean), len(n.Std), info.Name, info.C)
		}
		for ch := range n.Mean {
			m, sd := n.Mean[ch], n.Std[ch]
			if math.IsNaN(float64(m)) || math.IsInf(float64(m), 0) || !(sd > 0) || math.IsInf(float64(sd), 0) {
				return bad("normalize channel %d has mean %g and std %g; the mean must be a number and the std a positive one", ch, m, sd)
			}
		}
	}
	if p := i.Progress; p != nil {
		next := p.Next
		switch {
		case next.Epoch < 0 || next.Batch < 0:
			return bad("progress: next is epoch %d, batch %d (counted from 0): negative", next.Epoch, next.Batch)
		case next.Epoch > c.Epochs || next.Epoch == c.Epochs && next.Batch > 0:
			return bad("progress: next is epoch %d, batch %d (counted from 0): past the run's %d epochs", next.Epoch, next.Batch, c.Epochs)
		case p.Steps < 0 || p.Images < 0 || p.MetricsBytes < 0 || p.EpochBatches < 0:
			return bad("progress: negative counts (steps %d, images %d, metrics_bytes %d, epoch_batches %d)", p.Steps, p.Images, p.MetricsBytes, p.EpochBatches)
		}
	}
	return nil
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

// optimizerFormat is the format metadata of optimizer.safetensors.
const optimizerFormat = "cnntrain-optimizer/1"

// stepTensor holds the step count, a 0-dimensional int64 as PyTorch keeps it.
const stepTensor = "step"

// SaveOptimizer writes s as safetensors.
func SaveOptimizer(path string, s OptimizerState) error {
	f := &safetensors.File{Metadata: map[string]string{"format": optimizerFormat, "optimizer": s.Optimizer}}
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
