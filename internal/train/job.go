package train

import (
	"errors"
	"fmt"
	"math"

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
		return nil, errors.Join(err, choice.Backend.Close())
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

// checkMemory refuses, before anything of it is allocated, a run that needs
// more memory than it may take (see fitMemory): on a GPU (a
// backend.MemoryReporter) what lives on the device against the device's free
// memory, and on any device what stays on the host against the host's.
func checkMemory(b backend.Backend, cfg config.Config, m *models.Model, data Data) error {
	trainN := data.Train.N
	if n := cfg.TrainSubset; n > 0 && n < trainN {
		trainN = n
	}
	// Each batch size is planned once for both checks.
	planned := map[int]MemoryNeed{}
	needAt := func(batch int) (MemoryNeed, error) {
		if n, ok := planned[batch]; ok {
			return n, nil
		}
		n, err := memoryNeed(b, cfg, m, trainN, data.Test.N, batch)
		if err == nil {
			planned[batch] = n
		}
		return n, err
	}
	gpu, ownMemory := b.(backend.MemoryReporter)
	if ownMemory {
		free, total, err := gpu.FreeMemory()
		if err != nil {
			return fmt.Errorf("%s: reading its free memory: %w", b.Name(), err)
		}
		avail := Available{Bytes: int64(min(free, math.MaxInt64)), Limit: fmt.Sprintf("free on %s, of its %s, as its driver reports", b.Name(), gb(int64(min(total, math.MaxInt64))))}
		onDevice := func(batch int) (MemoryNeed, error) {
			n, err := needAt(batch)
			return n.onDevice(), err
		}
		if err := fitMemory(cfg.BatchSize, onDevice, avail); err != nil {
			return err
		}
	}
	avail, ok := HostMemory.Available()
	if !ok {
		return nil
	}
	onHost := func(batch int) (MemoryNeed, error) {
		n, err := needAt(batch)
		if ownMemory {
			n = n.onHost()
		}
		return n, err
	}
	return fitMemory(cfg.BatchSize, onHost, avail)
}
