package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"gorgonia.org/tensor"
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
			cfg := Config{Model: model, Dataset: "toy", Optimizer: "sgd", Epochs: 3, BatchSize: 16, TestBatchSize: 64, LR: 0.05, Momentum: 0.5, Seed: 1}
			p, err := Prepare(cfg, toyData)
			if err != nil {
				t.Fatal(err)
			}
			before, err := (&Evaluator{Model: p.Model}).Evaluate(context.Background(), p.Test)
			if err != nil {
				t.Fatal(err)
			}
			rec := &lossRecorder{}
			tr := &Trainer{Model: p.Model, Optimizer: &SGD{LR: 0.05, Momentum: 0.5}, Hooks: []any{rec}}
			if err := tr.Fit(context.Background(), p.Train, cfg.Epochs); err != nil {
				t.Fatal(err)
			}
			after, err := (&Evaluator{Model: p.Model}).Evaluate(context.Background(), p.Test)
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

func TestSameSeedSameWeights(t *testing.T) {
	run := func(seed uint64) []float32 {
		cfg := Config{Model: "cnn", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 32, TestBatchSize: 100, LR: 0.01, Momentum: 0.5, Seed: seed}
		p, err := Prepare(cfg, toyData)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), p, Logs{Progress: discard{}, Results: discard{}})
		if err != nil {
			t.Fatal(err)
		}
		var all []float32
		for _, p := range res.Model.Params() {
			all = append(all, p.Data()...)
		}
		return all
	}
	a, b, c := run(5), run(5), run(6)
	if !slices.Equal(a, b) {
		t.Error("two runs with seed 5 ended with different weights")
	}
	if slices.Equal(a, c) {
		t.Error("seeds 5 and 6 ended with the same weights")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestSGDMatchesPyTorchsRule(t *testing.T) {
	// Hand-computed: lr 0.1, momentum 0.9, weight decay 0.01, w0 = 1.
	// step 1: d = g + 0.01·w = 0.5 + 0.01 = 0.51; v = 0.51;              w = 1 − 0.051 = 0.949
	// step 2: d = 0.5 + 0.00949 = 0.50949;     v = 0.9·0.51 + d = 0.96849; w = 0.949 − 0.096849 = 0.852151
	p := &graph.Param{Name: "w", Value: tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))}
	opt := &SGD{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01}
	for range 2 {
		if err := opt.Step([]*graph.Param{p}, [][]float32{{0.5}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Data()[0]; math.Abs(float64(got)-0.852151) > 1e-6 {
		t.Errorf("after two steps w = %.7f, want 0.852151", got)
	}
}

func TestNaNGuardStopsBeforeTheUpdate(t *testing.T) {
	err := NaNGuard{}.OnStep(Step{Epoch: 1, Batch: 3, Loss: float32(math.NaN())})
	if !errors.Is(err, ErrNaNLoss) {
		t.Fatalf("got %v", err)
	}
}

func TestInterruptStopsTraining(t *testing.T) {
	p, err := Prepare(Config{Model: "mlp", Dataset: "toy", Optimizer: "sgd", Epochs: 1, BatchSize: 16, TestBatchSize: 64, LR: 0.01, Seed: 1}, toyData)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopper := stepFunc(func(s Step) error {
		if s.Batch == 2 {
			cancel()
		}
		return nil
	})
	rec := &lossRecorder{}
	err = (&Trainer{Model: p.Model, Optimizer: &SGD{LR: 0.01}, Hooks: []any{stopper, rec}}).Fit(ctx, p.Train, 1)
	if !errors.Is(err, context.Canceled) || len(rec.losses) != 3 {
		t.Fatalf("got %v after %d steps, want context.Canceled after 3", err, len(rec.losses))
	}
}

type stepFunc func(Step) error

func (f stepFunc) OnStep(s Step) error { return f(s) }

func TestAdamMatchesPyTorchsRule(t *testing.T) {
	// lr 0.1, betas (0.9, 0.999), eps 1e-8, weight decay 0.01, w0 = 1 and
	// gradients 0.5, −0.2, 0.3. Worked through the update in float64:
	// step 1: g = 0.51, m = 0.051, v = 0.00026010, m̂ = 0.51, v̂ = 0.2601 → w = 1 − 0.1·0.51/0.51 = 0.9
	// step 2: g = −0.191, m = 0.0268, v = 0.00029632…, m̂ = 0.14105…, √v̂ = 0.38502… → w = 0.8633641
	// step 3: w = 0.8072126
	p := &graph.Param{Name: "w", Value: tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{1}))}
	opt := NewAdam(0.1, 0.01)
	for i, g := range []float32{0.5, -0.2, 0.3} {
		if err := opt.Step([]*graph.Param{p}, [][]float32{{g}}); err != nil {
			t.Fatal(err)
		}
		want := []float64{0.9000000019607843, 0.8633641380701821, 0.8072125541848459}[i]
		if got := p.Data()[0]; math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("after step %d w = %.7f, want %.7f", i+1, got, want)
		}
	}
}

func TestCIFARLogLines(t *testing.T) {
	var b strings.Builder
	log := CIFARLog{W: &b, Every: 100}
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
	log := MNISTLog{W: &b, Every: 100}
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
