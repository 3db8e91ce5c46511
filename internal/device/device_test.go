package device

import (
	"errors"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/cuda"
)

func TestCheck(t *testing.T) {
	// Case does not matter, as in model and dataset names.
	for _, ok := range []string{"auto", "cpu", "cuda", "cuda:0", "cuda:12", "CPU", "Auto", "CUDA:1"} {
		if err := Check(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "gpu", "cuda:", "cuda:x", "CPU ", "tpu:0"} {
		if err := Check(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%q: got %v, want ErrBadSpec", bad, err)
		}
	}
}

// Without a GPU (CI): auto trains on the CPU and says why, cuda is an error
// with the reason, cpu is the CPU.
func TestWithoutAGPU(t *testing.T) {
	if cuda.Probe().Usable() {
		t.Skip("this machine has a usable GPU")
	}
	c, err := Open("auto", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend.Name() != "cpu" || !strings.Contains(c.Line, "device: cpu") || !strings.Contains(c.Line, "no usable GPU") {
		t.Errorf("auto chose %s: %q", c.Backend.Name(), c.Line)
	}
	if _, err := Open("cuda", Options{}); err == nil || !strings.Contains(err.Error(), "no usable GPU") {
		t.Errorf("cuda without a GPU: got %v", err)
	}
	for _, spec := range []string{"cpu", "CPU"} {
		c, err = Open(spec, Options{})
		if err != nil || c.Backend.Name() != "cpu" || !strings.Contains(c.Line, "as asked") {
			t.Errorf("%s: %v, %q", spec, err, c.Line)
		}
	}
}

func TestAvailable(t *testing.T) {
	for _, spec := range []string{"auto", "cpu", "CPU"} {
		if err := Available(spec); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
	}
	if cuda.Probe().Usable() {
		t.Skip("this machine has a usable GPU")
	}
	if err := Available("cuda:1"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no usable GPU") {
		t.Errorf("cuda:1: %v", err)
	}
}

// A spec that names no device is refused by Open and Available alike,
// before anything is probed; an empty one is auto.
func TestBadSpecsAndTheDefault(t *testing.T) {
	for _, bad := range []string{"gpu", "cuda:x", "CPU "} {
		if _, err := Open(bad, Options{}); !errors.Is(err, ErrBadSpec) {
			t.Errorf("Open(%q): %v, want ErrBadSpec", bad, err)
		}
		if err := Available(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("Available(%q): %v, want ErrBadSpec", bad, err)
		}
	}
	if cuda.Probe().Usable() {
		t.Skip("this machine has a usable GPU")
	}
	c, err := Open("", Options{})
	if err != nil || c.Backend.Name() != "cpu" || !strings.Contains(c.Line, "no usable GPU") {
		t.Errorf("Open(\"\"): %v, %q; want auto's fallback to the CPU", err, c.Line)
	}
	if _, err := Open("cuda:0", Options{}); err == nil || !strings.Contains(err.Error(), "no usable GPU") {
		t.Errorf("Open(cuda:0) without a GPU: %v, want an error, not the CPU", err)
	}
	if err := Available("cuda"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Available(cuda) without a GPU: %v", err)
	}
}
