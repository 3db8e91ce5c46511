package cuda_test

import (
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/backendtest"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/cuda"
)

// gpu opens cuda:0, or skips loudly: these checks need an NVIDIA GPU and
// run on one through scripts/gpu-check.sh (built here with go test -c).
func gpu(t *testing.T, opts cuda.Options) backend.Backend {
	t.Helper()
	r := cuda.Probe()
	if !r.Usable() {
		t.Skipf("NO GPU: the CUDA backend is NOT checked here (%s)", r.Reason)
	}
	b, err := cuda.Open(0, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The CUDA backend passes the conformance suite every backend runs.
func TestConformance(t *testing.T) {
	gpu(t, cuda.Options{}).Close()
	backendtest.Run(t, func() backend.Backend {
		b, err := cuda.Open(0, cuda.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// The same with convolutions as im2col and cuBLAS products, the path
// without cuDNN.
func TestConformanceWithoutCuDNN(t *testing.T) {
	gpu(t, cuda.Options{}).Close()
	backendtest.Run(t, func() backend.Backend {
		b, err := cuda.Open(0, cuda.Options{NoCuDNN: true})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// Every op of the real models at their real shapes, on random inputs,
// against the CPU backend: in strict FP32 within 1e-4 of each tensor's
// scale; with TF32 tensor cores the errors are logged, not judged.
func TestOpsAgainstCPU(t *testing.T) {
	b := gpu(t, cuda.Options{})
	defer b.Close()
	t.Logf("convolutions on %s", b.(*cuda.Backend).Convolutions())
	backendtest.ReportAgainstReference(t, cpu.New(), b, 1e-4)
}

func TestOpsAgainstCPUWithoutCuDNN(t *testing.T) {
	b := gpu(t, cuda.Options{NoCuDNN: true})
	defer b.Close()
	backendtest.ReportAgainstReference(t, cpu.New(), b, 1e-4)
}

func TestOpsAgainstCPUWithTF32(t *testing.T) {
	b := gpu(t, cuda.Options{TF32: true})
	defer b.Close()
	backendtest.ReportAgainstReference(t, cpu.New(), b, 5e-2)
}
