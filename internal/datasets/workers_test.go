package datasets

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomSplit is n random CIFAR-shaped images with random labels.
func randomSplit(n int) *Split {
	rng := rand.New(rand.NewPCG(7, 8))
	s := &Split{Name: "random", N: n, C: 3, H: 32, W: 32, Images: make([]uint8, n*3*32*32), Labels: make([]uint8, n)}
	for i := range s.Images {
		s.Images[i] = uint8(rng.IntN(256))
	}
	for i := range s.Labels {
		s.Labels[i] = uint8(rng.IntN(10))
	}
	return s
}

// Batches are the same whatever the number of workers preparing them: with
// augmentation and a permutation, in every epoch, including a last partial
// batch.
func TestWorkersGiveTheSameBatches(t *testing.T) {
	s := randomSplit(1000)
	perm := rand.New(rand.NewPCG(1, 2)).Perm(32 * 32)
	base := LoaderConfig{BatchSize: 384, Shuffle: true, Seed: 3, RandomCrop: 4, RandomFlip: true,
		Normalize: Normalize{Mean: []float32{0.5, 0.4, 0.3}, Std: []float32{0.2, 0.25, 0.3}}}
	for _, permute := range [][]int{nil, perm} {
		epochs := func(workers int) [][]float32 {
			cfg := base
			cfg.Workers, cfg.Permute = workers, permute
			l, err := NewLoader(s, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var out [][]float32
			for epoch := range 2 {
				for b := range l.Epoch(epoch) {
					labels := make([]float32, len(b.Labels))
					for i, v := range b.Labels {
						labels[i] = float32(v)
					}
					out = append(out, slices.Clone(b.Images), labels)
				}
			}
			return out
		}
		want := epochs(1)
		for _, workers := range []int{2, 3, 7} {
			got := epochs(workers)
			if len(got) != len(want) {
				t.Fatalf("%d workers: %d tensors, one worker %d", workers, len(got), len(want))
			}
			for i := range want {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("permute=%v, %d workers: batch tensor %d differs from one worker's", permute != nil, workers, i)
				}
			}
		}
	}
}

func TestNegativeWorkersAreRefused(t *testing.T) {
	if _, err := NewLoader(randomSplit(10), LoaderConfig{BatchSize: 4, Workers: -1}); err == nil {
		t.Fatal("no error for -1 workers")
	}
}

// BenchmarkLoaderEpoch prepares CIFAR-10-sized batches of 128 with the VGG
// notebook's augmentation, with one worker and with all cores; images/s is
// what a GPU step may consume at most before it waits for data.
func BenchmarkLoaderEpoch(b *testing.B) {
	s := randomSplit(10000)
	for _, workers := range []int{1, 0} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l, err := NewLoader(s, LoaderConfig{BatchSize: 128, Shuffle: true, RandomCrop: 4, RandomFlip: true, Workers: workers,
				Normalize: Normalize{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}})
			if err != nil {
				b.Fatal(err)
			}
			images := 0
			for b.Loop() {
				for batch := range l.Epoch(0) {
					images += batch.Size
				}
			}
			b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
