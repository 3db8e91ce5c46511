package checkpoint_test

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/safetensors"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// trainer is a model on the CPU with a training program for batches of 8.
type trainer struct {
	m    *models.Model
	dev  *vm.Device
	prog *vm.Program
}

func newTrainer(t *testing.T, seed uint64) *trainer {
	t.Helper()
	m, err := models.New("cnn", models.Input{C: 1, H: 16, W: 16, Classes: 10}, models.Config{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := vm.NewDevice(cpu.New(), m.Params())
	if err != nil {
		t.Fatal(err)
	}
	net, err := graph.Compile(m.Net, []int{8, 1, 16, 16}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := vm.Compile(dev, net)
	if err != nil {
		t.Fatal(err)
	}
	return &trainer{m, dev, prog}
}

// steps trains on batches first…last of a fixed random sequence.
func (tr *trainer) steps(t *testing.T, opt vm.Optimizer, first, last int) {
	t.Helper()
	for i := first; i <= last; i++ {
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		x := make([]float32, 8*16*16)
		for j := range x {
			x[j] = float32(rng.NormFloat64())
		}
		y := make([]uint8, 8)
		for j := range y {
			y[j] = uint8(rng.IntN(10))
		}
		if err := tr.prog.Run(x, y); err != nil {
			t.Fatal(err)
		}
		if err := tr.prog.Update(opt); err != nil {
			t.Fatal(err)
		}
	}
}

func (tr *trainer) weights(t *testing.T) []float32 {
	t.Helper()
	if err := tr.dev.Pull(); err != nil {
		t.Fatal(err)
	}
	var all []float32
	for _, p := range tr.m.Params() {
		all = append(all, p.Data()...)
	}
	return all
}

// Saving the weights and the optimizer state after 3 steps and loading them
// into a fresh model continues training exactly: 2 more steps give the same
// bits as 5 uninterrupted ones. Without the optimizer state they do not.
func TestOptimizerStateResumesExactly(t *testing.T) {
	for _, opt := range []vm.Optimizer{&optim.SGD{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-3}, optim.NewAdam(0.01, 1e-3)} {
		t.Run(strings.Split(opt.Name(), "(")[0], func(t *testing.T) {
			dir := t.TempDir()
			straight := newTrainer(t, 1)
			straight.steps(t, opt, 1, 3)
			straight.weights(t)
			if err := checkpoint.SaveWeights(filepath.Join(dir, checkpoint.WeightsFile), straight.m); err != nil {
				t.Fatal(err)
			}
			state, err := checkpoint.FromDevice(straight.dev, opt.Name())
			if err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.SaveOptimizer(filepath.Join(dir, checkpoint.OptimizerFile), *state); err != nil {
				t.Fatal(err)
			}
			straight.steps(t, opt, 4, 5)
			want := straight.weights(t)

			resume := func(withState bool) []float32 {
				tr := newTrainer(t, 2) // other initial weights: everything must come from the files
				if err := checkpoint.LoadWeights(filepath.Join(dir, checkpoint.WeightsFile), tr.m); err != nil {
					t.Fatal(err)
				}
				if err := tr.dev.Push(); err != nil {
					t.Fatal(err)
				}
				if withState {
					s, err := checkpoint.LoadOptimizer(filepath.Join(dir, checkpoint.OptimizerFile))
					if err != nil {
						t.Fatal(err)
					}
					if s.Steps != 3 || s.Optimizer != opt.Name() {
						t.Fatalf("loaded %d steps of %q, want 3 of %q", s.Steps, s.Optimizer, opt.Name())
					}
					if err := tr.dev.LoadOptimizerState(s.Tensors, s.Steps); err != nil {
						t.Fatal(err)
					}
				}
				tr.steps(t, opt, 4, 5)
				return tr.weights(t)
			}
			if got := resume(true); !slices.Equal(got, want) {
				t.Error("resumed training differs from uninterrupted training")
			}
			if got := resume(false); slices.Equal(got, want) {
				t.Error("resuming without the optimizer state gave the same weights: the test cannot tell state from no state")
			}
		})
	}
}

func TestLoadOptimizerRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "w.safetensors")
	tr := newTrainer(t, 1)
	if err := checkpoint.SaveWeights(weights, tr.m); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.LoadOptimizer(weights); !errors.Is(err, checkpoint.ErrCheckpoint) || !strings.Contains(err.Error(), "not an optimizer state") {
		t.Errorf("a weights file as optimizer state: got %v", err)
	}
	stranger := filepath.Join(dir, "o.safetensors")
	f := &safetensors.File{Tensors: []safetensors.Tensor{
		{Name: "step", DType: safetensors.DTypeI64, Shape: []int{}, I64: []int64{4}},
		{Name: "fc9.weight.exp_avg", DType: safetensors.DTypeF32, Shape: []int{1}, F32: []float32{0}},
	}}
	if err := safetensors.WriteFile(stranger, f); err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.LoadOptimizer(stranger)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.dev.LoadOptimizerState(s.Tensors, s.Steps); err == nil || !strings.Contains(err.Error(), "fc9.weight.exp_avg") {
		t.Errorf("state of a parameter the model lacks: got %v", err)
	}
}
