package backendtest

import (
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Memory checks the executor's memory plan on the backend: a LeNet training
// step reuses memory (its arena is smaller than its tensors), repeated steps
// give the same results from reused memory, and the program computes the
// same loss as a fresh program would.
func Memory(t *testing.T, b backend.Backend) {
	in := models.Input{C: 3, H: 32, W: 32, Classes: 10}
	newModel := func() *models.Model {
		m, err := models.New("cnn", in, models.Config{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	x, y := randomBatch(rand.New(rand.NewPCG(1, 1)), 16, 3*32*32, 10)
	opts := graph.NetOptions{Training: true, Loss: graph.CrossEntropy, Gradients: true}
	// Two steps on one program, and the second step on a program compiled
	// afresh from the weights after the first: the losses must agree bit for
	// bit, so nothing depends on what reused memory held before.
	m := newModel()
	dev := must[*vm.Device](t)(vm.NewDevice(b, m.Params()))
	p := program(t, dev, m.Net, []int{16, 3, 32, 32}, opts)
	plan := p.Plan()
	if plan.Arena >= plan.Tensors {
		t.Errorf("plan reuses nothing: %v", plan)
	}
	t.Logf("LeNet at batch 16: %v", plan)
	opt := &optim.SGD{LR: 0.01, Momentum: 0.5}
	var losses []float32
	for range 3 {
		if err := p.Run(x, y); err != nil {
			t.Fatal(err)
		}
		losses = append(losses, p.Loss())
		if err := p.Update(opt); err != nil {
			t.Fatal(err)
		}
	}
	m2 := newModel()
	dev2 := must[*vm.Device](t)(vm.NewDevice(b, m2.Params()))
	for i := range 3 {
		fresh := program(t, dev2, m2.Net, []int{16, 3, 32, 32}, opts)
		if err := fresh.Run(x, y); err != nil {
			t.Fatal(err)
		}
		if fresh.Loss() != losses[i] {
			t.Errorf("step %d: loss %v from a reused program, %v from a fresh one", i+1, losses[i], fresh.Loss())
		}
		if err := fresh.Update(opt); err != nil {
			t.Fatal(err)
		}
	}
}
