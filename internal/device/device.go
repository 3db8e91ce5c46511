// Package device chooses the backend a run trains on: `--device auto`
// (the default) takes a working GPU and otherwise the CPU, `cpu` and
// `cuda[:N]` ask for one, and the choice is explained in one line.
package device

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/cuda"
)

// ErrBadSpec is wrapped by Check for a --device value that is not one.
var ErrBadSpec = errors.New("bad device")

var specPattern = regexp.MustCompile(`^(auto|cpu|cuda(:[0-9]+)?)$`)

// Names are the values --device completes to.
var Names = []string{"auto", "cpu", "cuda", "cuda:0"}

// Check says whether spec names a device: auto, cpu, cuda or cuda:N.
func Check(spec string) error {
	spec = strings.ToLower(spec)
	if !specPattern.MatchString(spec) {
		return fmt.Errorf("%w %q: want auto, cpu, cuda or cuda:N", ErrBadSpec, spec)
	}
	return nil
}

// ErrUnavailable is wrapped by Available when the device asked for is not
// there.
var ErrUnavailable = errors.New("no usable GPU")

// Available says, before any data is loaded, whether spec can be opened: a
// GPU asked for by name must be usable. auto and cpu always are.
func Available(spec string) error {
	spec = strings.ToLower(spec) // as model and dataset names: --device CPU is cpu
	if err := Check(spec); err != nil {
		return err
	}
	if !strings.HasPrefix(spec, "cuda") {
		return nil
	}
	r := cuda.ProbeWithoutCuDNN() // cuDNN is for the backend to open, if it uses it
	if !r.Usable() {
		return fmt.Errorf("--device %s: %w: %s", spec, ErrUnavailable, r.Reason)
	}
	if _, n, ok := strings.Cut(spec, ":"); ok {
		if i, _ := strconv.Atoi(n); i >= len(r.GPUs) {
			return fmt.Errorf("--device %s: %w: this machine has %d GPU(s)", spec, ErrUnavailable, len(r.GPUs))
		}
	}
	return nil
}

// Options tune the GPU backend.
type Options = cuda.Options

// Choice is an opened backend and the line that says why it was chosen,
// e.g. "device: cuda:0 (NVIDIA H200, 140 GB, compute capability 9.0)".
type Choice struct {
	Backend backend.Backend
	Line    string
}

// Open opens the device spec names. "auto" falls back to the CPU, saying
// why; "cuda" or "cuda:N" without a working GPU is an error with the reason.
func Open(spec string, opts Options) (Choice, error) {
	spec = strings.ToLower(spec)
	if spec == "" {
		spec = "auto"
	}
	if err := Check(spec); err != nil {
		return Choice{}, err
	}
	if spec == "cpu" {
		b := cpu.New()
		return Choice{b, fmt.Sprintf("device: cpu (%d threads, as asked)", b.Workers())}, nil
	}
	ordinal := 0
	if _, n, ok := strings.Cut(spec, ":"); ok {
		ordinal, _ = strconv.Atoi(n)
	}
	report := cuda.ProbeWithoutCuDNN()
	if !report.Usable() {
		if spec == "auto" {
			b := cpu.New()
			return Choice{b, fmt.Sprintf("device: cpu (%d threads; no usable GPU: %s)", b.Workers(), report.Reason)}, nil
		}
		return Choice{}, fmt.Errorf("--device %s: no usable GPU: %s", spec, report.Reason)
	}
	g, err := cuda.Open(ordinal, opts)
	if err != nil {
		if spec == "auto" {
			b := cpu.New()
			return Choice{b, fmt.Sprintf("device: cpu (%d threads; the GPU did not start: %v)", b.Workers(), err)}, nil
		}
		return Choice{}, fmt.Errorf("--device %s: %w", spec, err)
	}
	info := g.GPU()
	math := "FP32"
	if opts.TF32 {
		math = "TF32 tensor cores allowed"
	}
	steps := "steps as CUDA graphs"
	if opts.NoGraphs {
		steps = "kernels launched one by one"
	}
	return Choice{g, fmt.Sprintf("device: %s (%s, %.0f GB, compute capability %s, %s, %s, convolutions on %s)",
		g.Name(), info.Name, float64(info.MemoryBytes)/1e9, info.ComputeCapability, math, steps, g.Convolutions())}, nil
}
