package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/optim"
)

// toySplit is a learnable 10-class problem: each class lights its own
// horizontal band of a 16x16 image, plus noise.
func toySplit(n int, seed uint64) *datasets.Split {
	rng := rand.New(rand.NewPCG(seed, 1))
	s := &datasets.Split{Name: "toy", N: n, C: 1, H: 16, W: 16, Images: make([]uint8, n*256), Labels: make([]uint8, n)}
	for i := range n {
		c := rng.IntN(10)
		s.Labels[i] = uint8(c)
		img := s.Images[i*256 : (i+1)*256]
		for p := range img {
			v := rng.IntN(60)
			if row := p / 16; row >= c && row < c+6 {
				v += 150
			}
			img[p] = uint8(v)
		}
	}
	return s
}

var toyData = Data{
	Info: datasets.Info{Name: "toy", C: 1, H: 16, W: 16, Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		Mean: []float32{0.3}, Std: []float32{0.3}},
	Train: toySplit(640, 1),
	Test:  toySplit(200, 2),
}

// lossRecorder keeps every minibatch loss.
type lossRecorder struct{ losses []float32 }

func (r *lossRecorder) OnStep(s Step) error { r.losses = append(r.losses, s.Loss); return nil }

func TestTrainingLowersTheLoss(t *testing.T) {
	for _, model := range []string{"mlp", "cnn"} {
		t.Run(model, func(t *testing.T) {
			cfg := config.Config{Model: model, Dataset: "toy", Optimizer: "sgd", Epochs: 3, BatchSize: 16, TestBatchSize: 64, LR: 0.05, Momentum: 0.5, Seed: 1}
			p, err := Prepare(cfg, toyData)
			if err != nil {
				t.Fatal(err)
			}
			evaluator := &evaluate.Evaluator{Model: p.Model, Device: p.Device}
			before, err := evaluator.Evaluate(context.Background(), p.Test)
			if err != nil {
				t.Fatal(err)
			}
			rec := &lossRecorder{}
			tr := &Trainer{Model: p.Model, Device: p.Device, Optimizer: &optim.SGD{LR: 0.05, Momentum: 0.5}}
			tr.OnStep("recorder", rec)
			if err := tr.Fit(context.Background(), p.Train, cfg.Epochs); err != nil {
				t.Fatal(err)
			}
			after, err := evaluator.Evaluate(context.Background(), p.Test)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.losses) != 3*40 {
				t.Fatalf("%d steps, want 120", len(rec.losses))
			}
			first, last := mean(rec.losses[:10]), mean(rec.losses[len(rec.losses)-10:])
			if !(last < first/2) {
				t.Errorf("training loss went from %.3f to %.3f, want it at least halved", first, last)
			}
			if !(after.Loss < before.Loss/2) || after.Accuracy() < 80 {
				t.Errorf("test loss %.3f → %.3f, accuracy %.1f%% → %.1f%%", before.Loss, after.Loss, before.Accuracy(), after.Accuracy())
			}
		})
	}
}

func mean(xs []float32) float64 {
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return s / float64(len(xs))
}

// Two runs with one seed end with the same trained weights, another seed
// with others. The weights are compared with the untrained ones too: weights
// never brought back from the device would be equal for one seed as well.
func TestSameSeedSameWeights(t *testing.T) {
	prepare := func(seed uint64) *Prepared {
		cfg := config.Config{Model: "cnn", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 32, TestBatchSize: 100, LR: 0.01, Momentum: 0.5, Seed: seed}
		p, err := Prepare(cfg, toyData)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(seed uint64) []float32 {
		res, err := Run(context.Background(), prepare(seed), Logs{Progress: discard{}, Results: discard{}})
		if err != nil {
			t.Fatal(err)
		}
		return weights(res.Model)
	}
	a, b, c := run(5), run(5), run(6)
	if !slices.Equal(a, b) {
		t.Error("two runs with seed 5 ended with different weights")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 5 and 6 ended with the same weights")
	}
	if slices.Equal(a, weights(prepare(5).Model)) {
		t.Error("the run with seed 5 ended with its untrained weights")
	}
}

// weights are all of a model's host values, in state_dict order.
func weights(m *models.Model) []float32 {
	var all []float32
	for _, p := range m.Params() {
		all = append(all, p.Data()...)
	}
	return all
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// A NaN loss stops Fit before the optimizer touches the weights: every value
// on the device is what it was before the step.
func TestNaNGuardStopsBeforeTheUpdate(t *testing.T) {
	p, err := Prepare(config.Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 16, TestBatchSize: 64, LR: 0.01, Momentum: 0.5, Seed: 1}, toyData)
	if err != nil {
		t.Fatal(err)
	}
	bias := p.Model.Params()[1] // network.0.bias: a NaN here makes every output NaN
	bias.Data()[0] = float32(math.NaN())
	if err := p.Device.Push(); err != nil {
		t.Fatal(err)
	}
	var before []float32
	for _, prm := range p.Model.Params() {
		before = append(before, prm.Data()...)
	}
	tr := &Trainer{Model: p.Model, Device: p.Device, Optimizer: &optim.SGD{LR: 0.01, Momentum: 0.5}}
	tr.OnStep("nan guard", NaNGuard{})
	err = tr.Fit(context.Background(), p.Train, 1)
	if !errors.Is(err, ErrNaNLoss) || !strings.HasPrefix(err.Error(), "nan guard: ") {
		t.Fatalf("got %v, want ErrNaNLoss from the hook named nan guard", err)
	}
	if err := p.Device.Pull(); err != nil {
		t.Fatal(err)
	}
	var after []float32
	for _, prm := range p.Model.Params() {
		after = append(after, prm.Data()...)
	}
	for i := range before {
		if math.Float32bits(before[i]) != math.Float32bits(after[i]) {
			t.Fatalf("value %d changed from %v to %v: the update ran after a NaN loss", i, before[i], after[i])
		}
	}
	if p.Device.Steps != 0 {
		t.Errorf("%d optimizer steps counted, want 0", p.Device.Steps)
	}
}

func TestInterruptStopsTraining(t *testing.T) {
	p, err := Prepare(config.Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 16, TestBatchSize: 64, LR: 0.01, Seed: 1}, toyData)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec := &lossRecorder{}
	tr := &Trainer{Model: p.Model, Device: p.Device, Optimizer: &optim.SGD{LR: 0.01}}
	tr.OnStep("stopper", StepFunc(func(s Step) error {
		if s.Batch == 2 {
			cancel()
		}
		return nil
	}))
	tr.OnStep("recorder", rec)
	err = tr.Fit(ctx, p.Train, 1)
	if !errors.Is(err, context.Canceled) || len(rec.losses) != 3 {
		t.Fatalf("got %v after %d steps, want context.Canceled after 3", err, len(rec.losses))
	}
}

func TestEveryN(t *testing.T) {
	var got []int
	h := EveryN(100, StepFunc(func(s Step) error { got = append(got, s.Batch); return nil }))
	for _, b := range []int{0, 1, 99, 100, 250, 300} {
		if err := h.OnStep(Step{Batch: b}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, []int{0, 100, 300}) {
		t.Errorf("ran on minibatches %v, want [0 100 300]", got)
	}
}

func TestCIFARLogLines(t *testing.T) {
	var b strings.Builder
	log := EveryN(100, CIFARLog{W: &b})
	for _, batch := range []int{0, 1, 100, 250} {
		if err := log.OnStep(Step{Epoch: 2, Batch: batch, Loss: 1.7364}); err != nil {
			t.Fatal(err)
		}
	}
	want := "Epoch: 2 Minibatch:     1 loss: 1.736\nEpoch: 2 Minibatch:   101 loss: 1.736\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestMNISTLogLines(t *testing.T) {
	var b strings.Builder
	log := EveryN(100, MNISTLog{W: &b})
	for _, batch := range []int{0, 50, 100, 937} {
		if err := log.OnStep(Step{Epoch: 1, Batch: batch, NumBatches: 938, BatchSize: 64, Total: 60000, Loss: 2.2978671}); err != nil {
			t.Fatal(err)
		}
	}
	want := "Train: [0/60000 (0%)]\tLoss: 2.297867\nTrain: [6400/60000 (11%)]\tLoss: 2.297867\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// lr 1e6 blows the MLP's loss up without a NaN; the guard stops it, naming
// what happened, before that step's update.
func TestDivergenceIsReported(t *testing.T) {
	p, err := Prepare(config.Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 2, BatchSize: 16, TestBatchSize: 64, LR: 1e6, Momentum: 0.5, Seed: 1}, toyData)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), p, Logs{Progress: discard{}, Results: discard{}})
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "try a smaller --lr") {
		t.Fatalf("got %v, want ErrDiverged", err)
	}
	sane, err := Prepare(config.Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 2, BatchSize: 16, TestBatchSize: 64, LR: 0.05, Momentum: 0.5, Seed: 1}, toyData)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), sane, Logs{Progress: discard{}, Results: discard{}}); err != nil {
		t.Errorf("a sane learning rate: %v", err)
	}
}

// A --train-subset beyond the training set trains on all of it, and the run
// records that rather than the number typed.
func TestTrainSubsetBeyondTheSetIsRecordedAsAll(t *testing.T) {
	p, err := Prepare(config.Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 16, TestBatchSize: 64, LR: 0.01, Seed: 1, TrainSubset: 1_000_000}, toyData)
	if err != nil {
		t.Fatal(err)
	}
	if p.Config.TrainSubset != 0 || p.Train.NumSamples() != toyData.Train.N {
		t.Errorf("recorded subset %d, training on %d of %d", p.Config.TrainSubset, p.Train.NumSamples(), toyData.Train.N)
	}
}
