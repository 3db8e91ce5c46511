package evaluate

import (
	"context"
	"slices"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/datasets"
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
