package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cnntrain/cnntrain/internal/models"
)

// BenchmarkTrainStep times one minibatch of the notebook's setup (64 MNIST-sized
// images): forward, backward and the SGD update. images/s is what an epoch runs at.
func BenchmarkTrainStep(b *testing.B) {
	for _, name := range []string{"mlp", "cnn"} {
		b.Run(name, func(b *testing.B) {
			m, err := models.New(name, models.Input{C: 1, H: 28, W: 28, Classes: 10}, models.Config{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			cache := netCache{model: m, opts: netOptionsFor(m, true)}
			defer cache.close()
			net, err := cache.get(64)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			x := make([]float32, 64*784)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]uint8, 64)
			for i := range y {
				y[i] = uint8(rng.IntN(10))
			}
			opt := &SGD{LR: 0.01, Momentum: 0.5}
			b.ResetTimer()
			for b.Loop() {
				if err := net.Run(x, y); err != nil {
					b.Fatal(err)
				}
				if err := opt.Step(net.Params(), net.Grads()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

func ExampleSGD() {
	opt := &SGD{LR: 0.01, Momentum: 0.5}
	fmt.Println(opt.Name())
	// Output: SGD(lr=0.01, momentum=0.5, weight_decay=0)
}
