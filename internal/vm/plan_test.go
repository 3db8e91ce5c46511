package vm

import (
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
)

// Random lifetimes and sizes: no two tensors alive at the same time share an
// element, every offset is aligned, and the arena is at least the largest
// total alive at any one time.
func TestAssignOffsetsNeverOverlapsLiveTensors(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	for trial := range 200 {
		ivs := make([]*interval, 1+rng.IntN(40))
		for i := range ivs {
			first := rng.IntN(50)
			ivs[i] = &interval{size: 1 + rng.IntN(3000), first: first, last: first + rng.IntN(20), colour: i}
		}
		arena := assignOffsets(ivs)
		for i, a := range ivs {
			if a.offset%page != (i%colours)*align || a.offset+a.size > arena {
				t.Fatalf("trial %d: tensor %d at %d+%d in an arena of %d", trial, i, a.offset, a.size, arena)
			}
			for _, b := range ivs[i+1:] {
				live := a.first <= b.last && b.first <= a.last
				apart := a.offset+a.size <= b.offset || b.offset+b.size <= a.offset
				if live && !apart {
					t.Fatalf("trial %d: live tensors [%d,%d) and [%d,%d) overlap", trial, a.offset, a.offset+a.size, b.offset, b.offset+b.size)
				}
			}
		}
		for step := range 70 {
			alive := 0
			for _, iv := range ivs {
				if iv.first <= step && step <= iv.last {
					alive += iv.size
				}
			}
			if alive > arena {
				t.Fatalf("trial %d: %d elements alive at step %d, arena %d", trial, alive, step, arena)
			}
		}
	}
}

// The plan of a VGG16 training step at batch 128 (the notebook's batch):
// activations, gradients and saved tensors reuse memory by liveness.
// Measured on 2 threads: 378 MB at peak (arena 355 MB, workspace 23 MB; the
// CPU's workspace grows with GOMAXPROCS) for 914 MB of tensors, 41 %.
func TestVGG16TrainingPlan(t *testing.T) {
	m, err := models.New("vgg16", models.Input{C: 3, H: 32, W: 32, Classes: 10}, models.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := NewDevice(cpu.New(), m.Params())
	if err != nil {
		t.Fatal(err)
	}
	net, err := graph.Compile(m.Net, []int{128, 3, 32, 32}, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(dev, net)
	if err != nil {
		t.Fatal(err)
	}
	plan := p.Plan()
	t.Logf("VGG16, batch 128: %v; peak %.1f MB = %.0f %% of the tensors", plan, mb(plan.Peak), 100*float64(plan.Peak)/float64(plan.Tensors))
	if plan.Peak > plan.Tensors/2 {
		t.Errorf("peak %.1f MB is more than half of the %.1f MB of tensors: the plan reuses too little", mb(plan.Peak), mb(plan.Tensors))
	}
	// A lower bound no plan can beat: the largest single activation, its
	// gradient and the input batch are alive together.
	floor := int64(2*128*64*32*32*4 + 128*3*32*32*4)
	if plan.Arena < floor {
		t.Errorf("arena %.1f MB is below the %.1f MB alive at once in the first layer", mb(plan.Arena), mb(floor))
	}
}
