package backendtest

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// EarlyLoad checks what the training loop relies on to overlap a batch's
// upload with the step before: loading batch B after launching batch A, and
// before A's loss is read and its gradients applied, changes nothing of A's
// results, and B's step then computes what it computes alone. Bit for bit,
// for the MLP (whose input goes straight into a product) and the CNN.
func EarlyLoad(t *testing.T, b backend.Backend) {
	in := models.Input{C: 1, H: 28, W: 28, Classes: 10}
	const batch = 8
	rng := rand.New(rand.NewPCG(11, 12))
	var x [2][]float32
	var y [2][]uint8
	for i := range x {
		x[i], y[i] = randomBatch(rng, batch, 28*28, 10)
	}
	opts := graph.NetOptions{Training: true, Loss: graph.NLL, Gradients: true}
	for _, name := range []string{"mlp", "cnn"} {
		t.Run(name, func(t *testing.T) {
			m, err := models.New(name, in, models.Config{Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			opts.Loss = m.Loss
			dev := must[*vm.Device](t)(vm.NewDevice(b, m.Params()))
			alone := program(t, dev, m.Net, []int{batch, 1, 28, 28}, opts)
			early := program(t, dev, m.Net, []int{batch, 1, 28, 28}, opts)
			type result struct {
				loss  float32
				grads [][]float32
			}
			runAlone := func(i int) result {
				if err := alone.Run(x[i], y[i]); err != nil {
					t.Fatal(err)
				}
				return result{alone.Loss(), must[[][]float32](t)(alone.Grads())}
			}
			want := [2]result{runAlone(0), runAlone(1)}
			// The loop's order: load A, launch A, load B, read A.
			for _, step := range []func() error{
				func() error { return early.Load(x[0], y[0]) },
				early.Launch,
				func() error { return early.Load(x[1], y[1]) },
			} {
				if err := step(); err != nil {
					t.Fatal(err)
				}
			}
			var got [2]result
			loss, err := early.ReadLoss()
			if err != nil {
				t.Fatal(err)
			}
			got[0] = result{loss, must[[][]float32](t)(early.Grads())}
			if err := early.Launch(); err != nil {
				t.Fatal(err)
			}
			if loss, err = early.ReadLoss(); err != nil {
				t.Fatal(err)
			}
			got[1] = result{loss, must[[][]float32](t)(early.Grads())}
			for i := range got {
				if got[i].loss != want[i].loss {
					t.Errorf("batch %d: loss %v with the next batch loaded early, %v alone", i, got[i].loss, want[i].loss)
				}
				for j := range got[i].grads {
					if !slices.Equal(got[i].grads[j], want[i].grads[j]) {
						t.Errorf("batch %d: gradient %d differs with the next batch loaded early", i, j)
					}
				}
			}
		})
	}
}
