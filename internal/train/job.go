package train

import (
	"fmt"

	"github.com/cnntrain/cnntrain/internal/backend"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/device"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// Data is a dataset loaded in memory.
type Data struct {
	Info        datasets.Info
	Train, Test *datasets.Split
}

// Input is the model input this dataset provides.
func (d Data) Input() models.Input { return config.InputOf(d.Info) }

// Prepared is everything a run needs, built from a Config: the model and its
// Device, the pixel permutation and the pipelines.
type Prepared struct {
	Config config.Config
	Info   datasets.Info
	Model  *models.Model
	Device *vm.Device
	// DeviceLine says which device trains and why ("device: cpu (2 threads; …)").
	DeviceLine  string
	Normalize   datasets.Normalize
	Permutation []int // nil unless ShufflePixels
	Train, Test *datasets.Loader
	// resumed is the checkpoint Resume loaded; Run continues from it.
	resumed *checkpoint.RunInfo
}

// Prepare validates cfg and builds its model, its device and its loaders
// over data.
func Prepare(cfg config.Config, data Data) (*Prepared, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := models.New(cfg.Model, data.Input(), cfg.ModelConfig())
	if err != nil {
		return nil, fmt.Errorf("%w (dataset %s)", err, data.Info.Name)
	}
	choice, err := device.Open(cfg.Device, device.Options{TF32: cfg.TF32, NoGraphs: cfg.NoCUDAGraphs, NoCuDNN: cfg.NoCuDNN})
	if err != nil {
		return nil, err
	}
	if err := checkMemory(choice.Backend, cfg, m, data); err != nil {
		return nil, err
	}
	dev, err := vm.NewDevice(choice.Backend, m.Params())
	if err != nil {
		return nil, err
	}
	p := &Prepared{Config: cfg, Info: data.Info, Model: m, Device: dev, DeviceLine: choice.Line, Normalize: cfg.Normalization(data.Info), Permutation: cfg.Permutation(data.Info)}
	trainCfg := datasets.LoaderConfig{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, Normalize: p.Normalize, Permute: p.Permutation}
	if cfg.Augment {
		trainCfg.RandomCrop, trainCfg.RandomFlip = 4, true
	}
	trainSplit := data.Train
	if n := cfg.TrainSubset; n > 0 && n < trainSplit.N {
		sub := *trainSplit
		sub.N, sub.Images, sub.Labels = n, sub.Images[:n*sub.ImageSize()], sub.Labels[:n]
		trainSplit = &sub
	} else if n > 0 {
		// A subset as large as the set is the whole set: record what ran.
		p.Config.TrainSubset = 0
	}
	if p.Train, err = datasets.NewLoader(trainSplit, trainCfg); err != nil {
		return nil, err
	}
	if p.Test, err = TestLoader(data.Test, cfg.TestBatchSize, p.Normalize, p.Permutation); err != nil {
		return nil, err
	}
	return p, nil
}

// TestLoader is the evaluation pipeline: in order, normalized and permuted
// exactly like training, never augmented.
func TestLoader(s *datasets.Split, batch int, norm datasets.Normalize, perm []int) (*datasets.Loader, error) {
	return datasets.NewLoader(s, datasets.LoaderConfig{BatchSize: batch, Normalize: norm, Permute: perm})
}

// Resume loads a resumable checkpoint of the run folder dir (its
// checkpoint.json is info) into p: weights, optimizer state and where
// training stands. Run then continues that training.
func (p *Prepared) Resume(dir string, info checkpoint.RunInfo) error {
	if err := checkpoint.Restore(dir, info, p.Model, p.Device); err != nil {
		return err
	}
	if _, err := p.Train.From(info.Progress.Next); err != nil {
		return fmt.Errorf("%w: %s: %v", checkpoint.ErrCheckpoint, dir, err)
	}
	p.resumed = &info
	return nil
}

// checkMemory refuses, before anything of it is allocated, a run on the CPU
// that needs more memory than the process may take (see fitMemory). A GPU
// keeps the programs in its own memory, which this does not judge.
func checkMemory(b backend.Backend, cfg config.Config, m *models.Model, data Data) error {
	if b.Name() != "cpu" {
		return nil
	}
	avail, ok := HostMemory.Available()
	if !ok {
		return nil
	}
	trainN := data.Train.N
	if n := cfg.TrainSubset; n > 0 && n < trainN {
		trainN = n
	}
	return fitMemory(cfg.BatchSize, func(batch int) (MemoryNeed, error) {
		return memoryNeed(b, cfg, m, trainN, data.Test.N, batch)
	}, avail)
}
