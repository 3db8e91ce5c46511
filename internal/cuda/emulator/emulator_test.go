package emulator_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebitengine/purego"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/backendtest"
	"github.com/cnntrain/cnntrain/internal/cuda"
	"github.com/cnntrain/cnntrain/internal/cuda/emulator"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/testsupport/secondpass"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// built is why the emulator could not be built, nil when it was.
var built error

// emulatorDir is the folder of the emulator's libraries.
var emulatorDir string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" { // a child of the loading tests: its folders are set
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "cnntrain-gpu-emulator-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	emulatorDir = dir
	built = emulator.Build(dir)
	if errors.Is(built, emulator.ErrNoCompiler) {
		fmt.Fprintf(os.Stderr, "\n*** %v: the CUDA backend's Go code is NOT checked ***\n\n", built)
	}
	// Stand-ins for the libraries cuDNN opens by name, in a folder of their
	// own, as in a PyTorch wheel install (TestCuDNNDependenciesArePreloaded).
	deps := filepath.Join(dir, "deps")
	if built == nil {
		built = buildStandIns(deps, cudnnDependencies)
	}
	// Before the cuda package loads anything: the emulator comes first.
	os.Setenv("CNNTRAIN_CUDA_LIBS", dir+string(os.PathListSeparator)+deps)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cudnnDependencies are the libraries cuDNN 9 for CUDA 13 opens by name.
var cudnnDependencies = []string{"libcublasLt.so.13", "libnvrtc.so.13", "libnvrtc-builtins.so.13.0"}

// buildStandIns compiles an empty shared library for each soname into dir.
func buildStandIns(dir string, sonames []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(dir, "standin.c")
	if err := os.WriteFile(src, []byte("int cnntrain_standin;\n"), 0o644); err != nil {
		return err
	}
	for _, name := range sonames {
		out, err := exec.Command("gcc", "-shared", "-fPIC", "-Wl,-soname,"+name, "-o", filepath.Join(dir, name), src).CombinedOutput()
		if err != nil {
			return fmt.Errorf("gcc %s: %v\n%s", name, err, out)
		}
	}
	return nil
}

func needEmulator(t *testing.T) {
	t.Helper()
	if errors.Is(built, emulator.ErrNoCompiler) {
		t.Skipf("NO EMULATOR: %v", built)
	}
	if built != nil {
		t.Fatal(built)
	}
}

func open(t *testing.T, opts cuda.Options) backend.Backend {
	t.Helper()
	b, err := cuda.Open(0, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The probe finds the emulated GPU and the three libraries in the emulator's
// folder, cuBLAS and cuDNN with their versions.
func TestProbeFindsTheEmulatedGPU(t *testing.T) {
	needEmulator(t)
	r := cuda.Probe()
	if !r.Usable() {
		t.Fatalf("not usable: %s", r.Reason)
	}
	if len(r.GPUs) != 1 || !strings.Contains(r.GPUs[0].Name, "emulator") {
		t.Fatalf("GPUs: %+v", r.GPUs)
	}
	dir := emulatorDir
	if len(r.Libraries) != 3 || r.Libraries[2].Path != filepath.Join(dir, emulator.CuDNNShim) {
		t.Fatalf("libraries: %+v", r.Libraries)
	}
	for _, lib := range r.Libraries {
		if !strings.HasPrefix(lib.Path, dir) || lib.Missing != "" {
			t.Errorf("%s loaded from %q (%s), not from the emulator's folder %s", lib.Name, lib.Path, lib.Missing, dir)
		}
	}
	if v := r.Libraries[1].Version; v != "13.0.0" {
		t.Errorf("cuBLAS version %q, want the emulator's 13.0.0", v)
	}
	if v := r.Libraries[2].Version; v != "9.1.0" {
		t.Errorf("cuDNN version %q, want the emulator's 9.1.0", v)
	}
}

// The CUDA backend passes the conformance suite every backend runs, its
// convolutions on cuDNN.
func TestConformance(t *testing.T) {
	needEmulator(t)
	before := cudnnCalls(t)
	backendtest.Run(t, func() backend.Backend {
		b := open(t, cuda.Options{})
		if conv := b.(*cuda.Backend).Convolutions(); !strings.HasPrefix(conv, "cuDNN 9") {
			t.Fatalf("convolutions on %s, want cuDNN", conv)
		}
		return b
	})
	if cudnnCalls(t) == before {
		t.Error("no convolution ran on cuDNN")
	}
}

// With TF32 allowed, the convolutions take the heuristics' first algorithm
// and its tensor-op math type (the emulator computes in full precision all
// the same, so the results must still match the CPU's).
func TestLayersWithTF32(t *testing.T) {
	needEmulator(t)
	b := open(t, cuda.Options{TF32: true})
	defer b.Close()
	if conv := b.(*cuda.Backend).Convolutions(); !strings.HasPrefix(conv, "cuDNN 9") {
		t.Fatalf("convolutions on %s, want cuDNN", conv)
	}
	backendtest.LayerParity(t, b)
}

// The libraries cuDNN opens by bare name, which a wheel install keeps in
// another package's folder than cuDNN's, are loaded from the search folders
// before cuDNN needs them: libcublasLt and NVRTC of the CUDA version cuDNN
// was built for (cudnnGetCudartVersion), and NVRTC's builtins beside it.
func TestCuDNNDependenciesArePreloaded(t *testing.T) {
	needEmulator(t)
	if r := cuda.Probe(); !r.Usable() {
		t.Fatal(r.Reason)
	}
	const rtldNoload = 0x4
	for _, name := range cudnnDependencies {
		h, err := purego.Dlopen(name, purego.RTLD_LAZY|rtldNoload)
		if err != nil {
			t.Errorf("%s is not loaded: %v", name, err)
			continue
		}
		purego.Dlclose(h)
	}
}

// A geometry cuDNN refuses (here all of them: the emulator's heuristics
// answer CUDNN_STATUS_NOT_SUPPORTED) runs as im2col and cuBLAS products, as
// correctly, and the backend's notes say which and why.
func TestConvolutionsCuDNNRefusesRunAsIm2col(t *testing.T) {
	needEmulator(t)
	var refuse func(int32)
	emulatorFunc(t, &refuse, "cnntrain_emulator_cudnn_refuse")
	refuse(1)
	defer refuse(0)
	b := open(t, cuda.Options{})
	defer b.Close()
	before := cudnnCalls(t)
	backendtest.LayerParity(t, b)
	if n := cudnnCalls(t) - before; n != 0 {
		t.Errorf("%d convolutions ran on cuDNN, which refused them", n)
	}
	notes := strings.Join(b.(*cuda.Backend).Notes(), "\n")
	t.Logf("notes:\n%s", notes)
	for _, want := range []string{"im2col and cuBLAS", "filters of 3x3", "CUDNN_STATUS_NOT_SUPPORTED"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes %q do not say %q", notes, want)
		}
	}
}

// And with convolutions as im2col and cuBLAS products, as without cuDNN.
func TestLongConformanceWithoutCuDNN(t *testing.T) {
	secondpass.Only(t)
	needEmulator(t)
	before := cudnnCalls(t)
	backendtest.Run(t, func() backend.Backend { return open(t, cuda.Options{NoCuDNN: true}) })
	if n := cudnnCalls(t) - before; n != 0 {
		t.Errorf("%d cuDNN calls with cuDNN turned off", n)
	}
}

// The same with every kernel launched one by one, as --cuda-graphs=false
// does, which is also what a recording captures.
func TestLongConformanceWithoutGraphs(t *testing.T) {
	secondpass.Only(t)
	needEmulator(t)
	backendtest.Run(t, func() backend.Backend { return open(t, cuda.Options{NoGraphs: true}) })
}

// emulatorFunc binds one of the emulator's functions for the tests.
func emulatorFunc(t *testing.T, fn any, name string) {
	t.Helper()
	h, err := purego.Dlopen(filepath.Join(emulatorDir, "libcuda.so.1"), purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatal(err)
	}
	purego.RegisterLibFunc(fn, h, name)
}

// cudnnCalls is the emulator's count of cuDNN convolutions queued.
func cudnnCalls(t *testing.T) int64 {
	var read func(*int64)
	emulatorFunc(t, &read, "cnntrain_emulator_cudnn_calls")
	var n int64
	read(&n)
	return n
}

// counters reads the emulator's counts of kernel launches, ended captures
// and graph launches.
func counters(t *testing.T) (launches, captures, graphLaunches int64) {
	t.Helper()
	h, err := purego.Dlopen(filepath.Join(emulatorDir, "libcuda.so.1"), purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		t.Fatal(err)
	}
	var read func(*int64, *int64, *int64)
	purego.RegisterLibFunc(&read, h, "cnntrain_emulator_counters")
	read(&launches, &captures, &graphLaunches)
	return
}

// A training program runs once as a warm-up, is recorded as a CUDA graph on
// its second step and replayed by every later one: from the third step on, a
// step is one graph launch and one launch of the optimizer's update, for all
// the parameters at once.
func TestTrainingStepsReplayOneGraph(t *testing.T) {
	needEmulator(t)
	for _, graphs := range []bool{true, false} {
		t.Run(fmt.Sprintf("graphs=%v", graphs), func(t *testing.T) {
			b := open(t, cuda.Options{NoGraphs: !graphs})
			defer b.Close()
			m, err := models.New("cnn", models.Input{C: 3, H: 32, W: 32, Classes: 10}, models.Config{})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := vm.NewDevice(b, m.Params())
			if err != nil {
				t.Fatal(err)
			}
			net, err := graph.Compile(m.Net, []int{4, 3, 32, 32}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
			if err != nil {
				t.Fatal(err)
			}
			prog, err := vm.Compile(dev, net)
			if err != nil {
				t.Fatal(err)
			}
			defer prog.Release()
			opt := &optim.SGD{LR: 0.01, Momentum: 0.9}
			images, labels := make([]float32, 4*3*32*32), []uint8{0, 1, 2, 3}
			params := int64(len(m.Params()))
			const steps = 5
			for step := range steps {
				for i := range images {
					images[i] = float32((i*7+step*13)%23) / 23
				}
				l0, c0, g0 := counters(t)
				d0 := cudnnCalls(t)
				if err := prog.Run(images, labels); err != nil {
					t.Fatal(err)
				}
				if err := prog.Update(opt); err != nil {
					t.Fatal(err)
				}
				l1, c1, g1 := counters(t)
				launches, captures, graphLaunches := l1-l0, c1-c0, g1-g0
				if convs := cudnnCalls(t) - d0; (convs == 0) != (graphs && step >= 2) {
					t.Errorf("step %d: %d cuDNN convolutions called", step, convs)
				}
				t.Logf("step %d: %d kernel launches, %d captures, %d graph launches (%d parameters)", step, launches, captures, graphLaunches, params)
				switch {
				case !graphs || step == 0: // every call launched
					if captures != 0 || graphLaunches != 0 || launches <= 1 {
						t.Errorf("step %d: want every call launched and no graph", step)
					}
				case step == 1: // recorded, then replayed
					if captures != 1 || graphLaunches != 1 || launches <= 1 {
						t.Errorf("step %d: want the step recorded once and launched as a graph", step)
					}
				default:
					if captures != 0 || graphLaunches != 1 || launches != 1 {
						t.Errorf("step %d: want one graph launch and the optimizer's one kernel", step)
					}
				}
			}
		})
	}
}

// Staged batches arrive in order: each of five batches staged into one
// buffer, the host's copy changed at once, is what the kernel launched after
// it reads, although two staging slots alternate and the emulator runs the
// copy stream only when something waits for it. Where pinned memory is
// refused, the batches go from pageable memory instead, as correctly, and
// the backend says why.
func TestStagedUploadsArriveInOrder(t *testing.T) {
	needEmulator(t)
	var refusePinned func(int32)
	emulatorFunc(t, &refusePinned, "cnntrain_emulator_refuse_pinned")
	for _, refused := range []bool{false, true} {
		t.Run(fmt.Sprintf("pinned refused=%v", refused), func(t *testing.T) {
			if refused {
				refusePinned(1)
				defer refusePinned(0)
			}
			b := open(t, cuda.Options{})
			defer b.Close()
			stageBatchesInOrder(t, b)
			how := b.(*cuda.Backend).BatchUploads()
			if want := "pinned memory"; refused {
				want = "pageable memory (cuMemHostAlloc"
				if !strings.Contains(how, want) || !strings.Contains(how, "CUDA_ERROR_OUT_OF_MEMORY") {
					t.Errorf("BatchUploads() = %q, want it to say %q and why", how, want)
				}
			} else if !strings.HasPrefix(how, "from "+want) {
				t.Errorf("BatchUploads() = %q, want it to start %q", how, "from "+want)
			}
		})
	}
}

func stageBatchesInOrder(t *testing.T, b backend.Backend) {
	t.Helper()
	const n = 1000
	x, err := b.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	relu, err := b.Compile(ops.Op{Kind: ops.ReLU}, []ops.Shape{{n}})
	if err != nil {
		t.Fatal(err)
	}
	const batches = 5
	var outs [batches]backend.Buffer
	src := make([]float32, n)
	for i := range batches {
		for j := range src {
			src[j] = float32(i*n + j)
		}
		if err := b.(backend.Stager).Stage(x, src); err != nil {
			t.Fatal(err)
		}
		for j := range src { // the host's memory may change once Stage returns
			src[j] = -1
		}
		if outs[i], err = b.Alloc(n); err != nil {
			t.Fatal(err)
		}
		if err := relu.Forward(backend.Args{In: []backend.Buffer{x}, Out: outs[i]}); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]float32, n)
	for i, out := range outs {
		if err := b.Download(got, out); err != nil {
			t.Fatal(err)
		}
		for j, v := range got {
			if v != float32(i*n+j) {
				t.Fatalf("batch %d, element %d: %v, want %v", i, j, v, float32(i*n+j))
			}
		}
	}
	if err := b.Free(x); err != nil { // and its lanes
		t.Fatal(err)
	}
}
