package train

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// A run that needs more than is available is refused with what it needs,
// what there is and the largest power-of-two batch that fits; one that
// fits, or whose model alone does not, is told so.
func TestFitMemory(t *testing.T) {
	linear := func(batch int) (MemoryNeed, error) { // 1 GB fixed, 1 MB an image
		return MemoryNeed{Batch: batch, Params: 1e9, Train: int64(batch) * 1e6}, nil
	}
	avail := Available{Bytes: 1.5e9, Limit: "the test's limit"}
	if err := fitMemory(400, linear, avail); err != nil {
		t.Errorf("1.4 GB of 1.5: %v", err)
	}
	err := fitMemory(100000, linear, avail)
	for _, want := range []string{"this run needs 101.00 GB: batches of 100000 images 100.00 GB", "1.50 GB is available (the test's limit)", "try --batch-size 256"} {
		if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
	// 500 images fit exactly; 256 is the power of two below.
	if err := fitMemory(501, linear, avail); !strings.Contains(fmt.Sprint(err), "try --batch-size 256") {
		t.Errorf("501 of at most 500: %v", err)
	}
	err = fitMemory(64, linear, Available{Bytes: 0.5e9, Limit: "small"})
	if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(fmt.Sprint(err), "even a batch of 1 needs 1.00 GB: try a smaller model") {
		t.Errorf("model alone too large: %v", err)
	}
}

// The smallest limit wins, each read where Linux keeps it.
func TestAvailableMemory(t *testing.T) {
	files := map[string]string{
		"/proc/self/cgroup":                             "0::/job\n",
		"/sys/fs/cgroup/job/memory.max":                 "8000000000\n",
		"/sys/fs/cgroup/job/memory.current":             "6000000000\n",
		"/proc/meminfo":                                 "MemTotal: 9000000 kB\nMemAvailable:    3000000 kB\n",
		"/proc/self/status":                             "Name: cnntrain\nVmSize:\t 1000000 kB\n",
		"/sys/fs/cgroup/memory/a/memory.limit_in_bytes": "5000000000",
		"/sys/fs/cgroup/memory/a/memory.usage_in_bytes": "1000000000",
	}
	sources := func(addressSpace uint64) MemorySources {
		return MemorySources{
			ReadFile: func(path string) ([]byte, error) {
				if s, ok := files[path]; ok {
					return []byte(s), nil
				}
				return nil, fs.ErrNotExist
			},
			AddressSpace: func() (uint64, bool) { return addressSpace, addressSpace > 0 },
		}
	}
	check := func(name string, s MemorySources, want int64, limit string) {
		t.Helper()
		got, ok := s.Available()
		if !ok || got.Bytes != want || !strings.Contains(got.Limit, limit) {
			t.Errorf("%s: %+v (%v), want %d by %q", name, got, ok, want, limit)
		}
	}
	check("cgroup v2", sources(0), 2e9, "cgroup")
	check("ulimit -v", sources(2.5e9), 2.5e9-1024e6, "ulimit -v")
	files["/sys/fs/cgroup/job/memory.max"] = "max\n"
	check("no cgroup limit", sources(0), 3072e6, "MemAvailable")
	files["/proc/self/cgroup"] = "12:cpu,memory:/a\n"
	check("cgroup v1", sources(0), 3072e6, "MemAvailable")
	files["/proc/meminfo"] = "MemAvailable: 9000000 kB\n"
	check("cgroup v1 smallest", sources(0), 4e9, "cgroup")
	if _, ok := (MemorySources{ReadFile: func(string) ([]byte, error) { return nil, fs.ErrNotExist }, AddressSpace: func() (uint64, bool) { return 0, false }}).Available(); ok {
		t.Error("nothing readable, yet a limit")
	}
}

// The estimate is what a run allocates, not a multiple of it: VGG16 on
// CIFAR-10 at the notebook's batch of 128 needs about 1.3 GB, which a
// 24 GiB machine must not refuse.
func TestVGG16AtBatch128NeedsWhatItUses(t *testing.T) {
	cfg := config.Preset("vgg16", "cifar10")
	m, err := models.New("vgg16", models.Input{C: 3, H: 32, W: 32, Classes: 10}, cfg.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	need, err := memoryNeed(cpu.New(), cfg, m, 50000, 10000, cfg.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(need)
	if total := need.Total(); total < 0.8e9 || total > 2e9 {
		t.Errorf("vgg16 at batch %d: %v, want about 1.3 GB", cfg.BatchSize, need)
	}
	if err := fitMemory(cfg.BatchSize, func(int) (MemoryNeed, error) { return need, nil }, Available{Bytes: 24 << 30}); err != nil {
		t.Error(err)
	}
}

// PlanFor is the plan Compile makes, without allocating it.
func TestPlanForIsCompilesPlan(t *testing.T) {
	m, err := models.New("cnn", models.Input{C: 1, H: 28, W: 28, Classes: 10}, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	net, err := graph.Compile(m.Net, []int{64, 1, 28, 28}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
	if err != nil {
		t.Fatal(err)
	}
	b := cpu.New()
	planned, err := vm.PlanFor(b, net)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := vm.NewDevice(b, m.Params())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := vm.Compile(dev, net)
	if err != nil {
		t.Fatal(err)
	}
	if planned != prog.Plan() || planned.Peak == 0 {
		t.Errorf("PlanFor %v, Compile %v", planned, prog.Plan())
	}
}

// fakeGPU is the CPU backend posing as a device with memory of its own.
type fakeGPU struct {
	*cpu.Backend
	free uint64
	err  error
}

func (g fakeGPU) Name() string { return "fake:0" }

func (g fakeGPU) FreeMemory() (free, total uint64, err error) { return g.free, 2 * g.free, g.err }

// On a device with memory of its own (a backend.MemoryReporter) what lives
// there is judged against its free memory, and the refusal says so; a
// device that cannot say what is free is an error, not a guess.
func TestGPURunIsJudgedByItsFreeMemory(t *testing.T) {
	cfg := config.Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 640, TestBatchSize: 200, LR: 0.05, Seed: 1}
	m, err := models.New("mlp", toyData.Input(), cfg.ModelConfig())
	if err != nil {
		t.Fatal(err)
	}
	need, err := memoryNeed(cpu.New(), cfg, m, toyData.Train.N, toyData.Test.N, cfg.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	onDevice := uint64(need.onDevice().Total())
	if err := checkMemory(fakeGPU{Backend: cpu.New(), free: onDevice}, cfg, m, toyData); err != nil {
		t.Errorf("%d bytes needed on the device, as many free: %v", onDevice, err)
	}
	err = checkMemory(fakeGPU{Backend: cpu.New(), free: onDevice - 1}, cfg, m, toyData)
	for _, want := range []string{"free on fake:0, of its ", "try --batch-size "} {
		if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(fmt.Sprint(err), want) {
			t.Errorf("one byte short on the device: %v, want it to say %q", err, want)
		}
	}
	broken := errors.New("the driver is gone")
	if err := checkMemory(fakeGPU{Backend: cpu.New(), free: 1 << 40, err: broken}, cfg, m, toyData); !errors.Is(err, broken) || !strings.Contains(err.Error(), "fake:0: reading its free memory") {
		t.Errorf("FreeMemory failing: %v", err)
	}
	if n := need.onHost(); n.Total() != n.Loaders || n.Loaders == 0 {
		t.Errorf("the host part of a GPU run without staging is %v, want its loaders alone", n)
	}
}
