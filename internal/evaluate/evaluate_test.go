package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
)

// evaluateKeeping evaluates an untrained MLP on a small made-up test set in
// batches of 7, keeping the first keep predictions.
func evaluateKeeping(t *testing.T, split *datasets.Split, keep int) Metrics {
	t.Helper()
	m, err := models.New("mlp", models.Input{C: 1, H: split.H, W: split.W, Classes: 10}, models.Config{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := vm.NewDevice(cpu.New(), m.Params())
	if err != nil {
		t.Fatal(err)
	}
	loader, err := datasets.NewLoader(split, datasets.LoaderConfig{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	ev := &Evaluator{Model: m, Device: dev, Keep: keep}
	defer ev.Close()
	metrics, err := ev.Evaluate(context.Background(), loader)
	if err != nil {
		t.Fatal(err)
	}
	return metrics
}

// The kept predictions are the first images' in test-set order, across
// batches: their labels are the split's, and kept for every image they add
// up to the confusion matrix. Keeping fewer keeps a prefix; none keeps none.
func TestKeptPredictions(t *testing.T) {
	const n = 30
	split := &datasets.Split{Name: "made up", N: n, C: 1, H: 6, W: 6, Images: make([]uint8, n*36), Labels: make([]uint8, n)}
	for i := range split.Images {
		split.Images[i] = uint8(i * 97 % 251)
	}
	for i := range split.Labels {
		split.Labels[i] = uint8(i * 3 % 10)
	}
	all := evaluateKeeping(t, split, 100)
	if len(all.Predictions) != n {
		t.Fatalf("kept %d predictions of %d images", len(all.Predictions), n)
	}
	confusion := make([][]int, 10)
	for i := range confusion {
		confusion[i] = make([]int, 10)
	}
	for i, p := range all.Predictions {
		if p.Label != int(split.Labels[i]) {
			t.Fatalf("prediction %d has label %d, the image's is %d", i, p.Label, split.Labels[i])
		}
		confusion[p.Label][p.Predicted]++
	}
	for i := range confusion {
		if !slices.Equal(confusion[i], all.Confusion[i]) {
			t.Errorf("confusion row %d from the predictions %v, Evaluate says %v", i, confusion[i], all.Confusion[i])
		}
	}
	if few := evaluateKeeping(t, split, 9); !slices.Equal(few.Predictions, all.Predictions[:9]) {
		t.Errorf("keeping 9: %v, want %v", few.Predictions, all.Predictions[:9])
	}
	if none := evaluateKeeping(t, split, 0); none.Predictions != nil {
		t.Errorf("keeping none kept %v", none.Predictions)
	}
}

// The reported loss is the mean of -log p[label] over every image, so a
// partial last batch weighs by its size, not as a whole batch. The reference
// works the one-layer model out by hand from the raw pixels, for both losses
// (log-probabilities with nll, raw scores with cross entropy).
func TestLossIsMeanOverImages(t *testing.T) {
	const n, h, w, classes, batch = 30, 4, 4, 3, 7 // batches of 7, 7, 7, 7 and 2
	split := &datasets.Split{Name: "made up", N: n, C: 1, H: h, W: w, Images: make([]uint8, n*h*w), Labels: make([]uint8, n)}
	for i := range split.Images {
		split.Images[i] = uint8(i * 89 % 256)
	}
	for i := range split.Labels {
		split.Labels[i] = uint8(i * 7 % classes)
	}
	for _, tc := range []struct {
		name string
		loss graph.LossKind
		tail graph.Layer
	}{
		{"nll", graph.NLL, graph.LogSoftmax{}},
		{"cross entropy", graph.CrossEntropy, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := graph.NewLinear("fc", h*w, classes, rand.New(rand.NewPCG(1, 2)))
			// Weights large enough that the images' losses differ widely,
			// so a batch weighed wrongly moves the mean.
			weight, bias := fc.Weight.Data(), fc.Bias.Data()
			for i := range weight {
				weight[i] = float32(math.Sin(float64(i)*1.3)) * 1.5
			}
			for i := range bias {
				bias[i] = float32(i) * 0.25
			}
			net := graph.Sequential{fc}
			if tc.tail != nil {
				net = append(net, tc.tail)
			}
			m := &models.Model{Name: "one layer", Net: net, Loss: tc.loss, Input: models.Input{C: 1, H: h, W: w, Classes: classes}}

			var want float64
			for i := range n {
				scores := make([]float64, classes)
				for c := range classes {
					scores[c] = float64(bias[c])
					for j := range h * w {
						scores[c] += float64(weight[c*h*w+j]) * float64(split.Images[i*h*w+j]) / 255
					}
				}
				want += logSumExp(scores) - scores[split.Labels[i]]
			}
			want /= n

			dev, err := vm.NewDevice(cpu.New(), m.Params())
			if err != nil {
				t.Fatal(err)
			}
			loader, err := datasets.NewLoader(split, datasets.LoaderConfig{BatchSize: batch})
			if err != nil {
				t.Fatal(err)
			}
			ev := &Evaluator{Model: m, Device: dev}
			defer ev.Close()
			got, err := ev.Evaluate(context.Background(), loader)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got.Loss-want) > 1e-5*math.Max(1, want) {
				t.Errorf("loss %.7f, the mean of -log p[label] over the %d images is %.7f", got.Loss, n, want)
			}
		})
	}
}

// logSumExp is log Σ exp(x), shifted by the largest x so it cannot overflow.
func logSumExp(xs []float64) float64 {
	top := slices.Max(xs)
	var sum float64
	for _, x := range xs {
		sum += math.Exp(x - top)
	}
	return top + math.Log(sum)
}
