package datasets_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/cnntrain/cnntrain/internal/datasets"
)

// A training loop's view of the loader. Real code gets the split from Load;
// here a toy split of six 1x2x2 images stands in.
func ExampleLoader() {
	split := &datasets.Split{
		Name: "toy", N: 6, C: 1, H: 2, W: 2,
		Images: []uint8{
			0, 0, 0, 0,
			51, 51, 51, 51,
			102, 102, 102, 102,
			153, 153, 153, 153,
			204, 204, 204, 204,
			255, 255, 255, 255,
		},
		Labels: []uint8{0, 1, 2, 3, 4, 5},
	}
	loader, err := datasets.NewLoader(split, datasets.LoaderConfig{
		BatchSize: 4,
		Shuffle:   true,
		Seed:      1,
		// (x/255 - 0.5) / 0.5 maps bytes to [-1, 1].
		Normalize: datasets.Normalize{Mean: []float32{0.5}, Std: []float32{0.5}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loader.NumBatches(), "batches per epoch")
	for epoch := range 2 {
		for b := range loader.Epoch(epoch) {
			// b is reused for the next batch: use (or copy) it within the loop.
			first := b.Images[:split.ImageSize()]
			fmt.Printf("epoch %d batch %d: %d images, labels %v, first image %.1f\n", epoch, b.Index, b.Size, b.Labels, first)
		}
	}
	// Output:
	// 2 batches per epoch
	// epoch 0 batch 0: 4 images, labels [5 1 4 2], first image [1.0 1.0 1.0 1.0]
	// epoch 0 batch 1: 2 images, labels [0 3], first image [-1.0 -1.0 -1.0 -1.0]
	// epoch 1 batch 0: 4 images, labels [1 4 2 3], first image [-0.6 -0.6 -0.6 -0.6]
	// epoch 1 batch 1: 2 images, labels [0 5], first image [-1.0 -1.0 -1.0 -1.0]
}

// Loading MNIST the way the command line does: from --data-dir or
// $CNNTRAIN_DATA, downloading what is missing.
func ExampleLoad() {
	info, err := datasets.Lookup("mnist")
	if err != nil {
		log.Fatal(err)
	}
	train, test, err := datasets.Load(context.Background(), info.Name, datasets.ResolveDataDir(""), datasets.LoadOptions{
		Download: true,
		Progress: os.Stderr,
	})
	if err != nil {
		log.Fatal(err) // names the missing or damaged file and what to do
	}
	loader, err := datasets.NewLoader(train, datasets.LoaderConfig{
		BatchSize: 64,
		Shuffle:   true,
		Seed:      1,
		Normalize: datasets.Normalize{Mean: info.Mean, Std: info.Std},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(train.N, test.N, loader.NumBatches())
}
