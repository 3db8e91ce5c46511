package emulator_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/cuda"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/train"
)

// deviceUsage is the emulator's device memory in use and the most in use
// since its size was last set.
func deviceUsage(t *testing.T) (inUse, peak int64) {
	t.Helper()
	var read func(*int64, *int64)
	emulatorFunc(t, &read, "cnntrain_emulator_device_usage")
	read(&inUse, &peak)
	return inUse, peak
}

// setDeviceMemory makes the emulated GPU bytes large (0: its default), what
// is allocated already included, until the test ends.
func setDeviceMemory(t *testing.T, bytes int64) {
	t.Helper()
	var set func(int64)
	emulatorFunc(t, &set, "cnntrain_emulator_device_memory")
	set(bytes)
	t.Cleanup(func() { set(0) })
}

// digits is a 28x28 split of n images, the pixels a pattern of the index.
func digits(n int) *datasets.Split {
	s := &datasets.Split{Name: "digits", N: n, C: 1, H: 28, W: 28, Images: make([]uint8, n*784), Labels: make([]uint8, n)}
	for i := range n {
		s.Labels[i] = uint8(i % 10)
		for p := range 784 {
			s.Images[i*784+p] = uint8((i*31 + p*7) % 251)
		}
	}
	return s
}

func digitsData(trainN, testN int) train.Data {
	return train.Data{
		Info: datasets.Info{Name: "digits", C: 1, H: 28, W: 28, Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
			Mean: []float32{0.5}, Std: []float32{0.3}},
		Train: digits(trainN), Test: digits(testN),
	}
}

// A run whose memory plan does not fit the GPU's free memory (cuMemGetInfo)
// is refused with what it needs on the device, what is free and a batch
// that fits, before anything beyond what opening the GPU takes is
// allocated; the GPU is given back. The batch it suggests passes, and a run
// that fits trains.
func TestRunThatDoesNotFitTheGPUIsRefused(t *testing.T) {
	needEmulator(t)
	// What opening the backend allocates (cuBLAS's workspace, a status
	// word) is the device's, not the run's.
	before, _ := deviceUsage(t)
	b := open(t, cuda.Options{})
	opened, _ := deviceUsage(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	openCost := opened - before
	// 32 MiB for the run: a batch of 8192 images, with its staging buffers,
	// needs about three times that.
	const room = 32 << 20
	setDeviceMemory(t, before+openCost+room)
	cfg := config.Config{Model: "mlp", Dataset: "digits", Optimizer: "sgd", Epochs: 1, BatchSize: 8192, TestBatchSize: 64,
		LR: 0.05, Momentum: 0.9, Seed: 1, Device: "cuda"}
	data := digitsData(8192, 64)

	_, err := train.Prepare(cfg, data)
	t.Logf("refusal: %v", err)
	if !errors.Is(err, train.ErrOutOfMemory) {
		t.Fatalf("got %v, want a refusal wrapping train.ErrOutOfMemory", err)
	}
	msg := err.Error()
	for _, want := range []string{"this run needs ", "batches of 8192 images", "staging buffers", "0.03 GB is available (free on cuda:0, of its ", "as its driver reports", "try --batch-size "} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not say %q", want)
		}
	}
	inUse, peak := deviceUsage(t)
	if peak-before > openCost {
		t.Errorf("%d bytes of device memory were allocated at most before the refusal; opening the GPU takes %d", peak-before, openCost)
	}
	if inUse != before {
		t.Errorf("%d bytes of device memory are in use after the refusal, %d before: the GPU was not given back", inUse, before)
	}

	m := regexp.MustCompile(`try --batch-size (\d+)`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no batch size suggested in %q", msg)
	}
	suggested, _ := strconv.Atoi(m[1])
	if suggested >= cfg.BatchSize {
		t.Errorf("suggested a batch of %d, not smaller than %d", suggested, cfg.BatchSize)
	}
	fitting := cfg
	fitting.BatchSize = suggested
	p, err := train.Prepare(fitting, data)
	if err != nil {
		t.Fatalf("the suggested batch of %d: %v", suggested, err)
	}
	if err := p.Device.Backend().Close(); err != nil {
		t.Fatal(err)
	}

	// A small run fits in the same room and trains.
	small := cfg
	small.BatchSize = 16
	p, err = train.Prepare(small, digitsData(64, 64))
	if err != nil {
		t.Fatalf("a run that fits: %v", err)
	}
	defer p.Device.Backend().Close()
	tr := &train.Trainer{Model: p.Model, Device: p.Device, Optimizer: &optim.SGD{LR: small.LR, Momentum: small.Momentum}}
	if err := tr.Fit(context.Background(), p.Train, small.Epochs); err != nil {
		t.Fatalf("a run that fits: %v", err)
	}
}
