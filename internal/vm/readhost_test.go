package vm_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// uploadOnly hides the CPU backend's HostReader, so that programs on it
// copy every batch in.
type uploadOnly struct{ backend.Backend }

// countingReads is the CPU backend counting the batches it read in place, so
// the test knows in-place reading happened rather than a quiet fallback to
// copying.
type countingReads struct {
	*cpu.Backend
	reads int
}

func (c *countingReads) ReadHost(dst backend.Buffer, src []float32) bool {
	ok := c.Backend.ReadHost(dst, src)
	if ok {
		c.reads++
	}
	return ok
}

// TestReadHostMatchesUpload runs three different batches through the CNN's
// training program with batches read in place (the CPU backend's
// HostReader) and with batches copied in: the first run really read every
// batch in place, every batch's gradients are bit-identical, so each run
// read its own batch, and the batches read in place are left as they were.
func TestReadHostMatchesUpload(t *testing.T) {
	in := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	rng := rand.New(rand.NewPCG(7, 8))
	const batch = 8
	var batches [3][]float32
	for i := range batches {
		batches[i] = make([]float32, batch*28*28)
		for j := range batches[i] {
			batches[i][j] = float32(rng.NormFloat64())
		}
	}
	labels := []uint8{0, 1, 2, 3, 4, 5, 6, 7}
	train := func(b backend.Backend) [][][]float32 {
		m, err := models.New("cnn", in, models.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		dev, err := vm.NewDevice(b, m.Params())
		if err != nil {
			t.Fatal(err)
		}
		net, err := graph.Compile(m.Net, []int{batch, 1, 28, 28}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
		if err != nil {
			t.Fatal(err)
		}
		prog, err := vm.Compile(dev, net)
		if err != nil {
			t.Fatal(err)
		}
		var all [][][]float32
		for _, x := range batches {
			before := slices.Clone(x)
			if err := prog.Run(x, labels); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x, before) {
				t.Fatal("a training step wrote into the batch it read")
			}
			grads, err := prog.Grads()
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, grads)
		}
		return all
	}
	reader := &countingReads{Backend: cpu.New()}
	inPlace, copied := train(reader), train(uploadOnly{cpu.New()})
	if reader.reads != len(batches) {
		t.Fatalf("%d of %d batches were read in place", reader.reads, len(batches))
	}
	if _, ok := backend.Backend(uploadOnly{}).(backend.HostReader); ok {
		t.Fatal("uploadOnly still reads host memory")
	}
	for b := range inPlace {
		for i := range inPlace[b] {
			if !slices.Equal(inPlace[b][i], copied[b][i]) {
				t.Fatalf("batch %d: gradient %d differs between the batch read in place and copied", b, i)
			}
		}
	}
}
