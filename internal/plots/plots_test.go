package plots

import (
	"path/filepath"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/testsupport/pngtest"
)

func ptr(v float64) *float64 { return &v }

// The curves are metrics.jsonl's numbers: every minibatch record's loss at
// its images / images per epoch, every evaluated epoch's test loss and
// accuracy; epochs without evaluation add no test point.
func TestCurvesFollowTheRecords(t *testing.T) {
	recs := []checkpoint.Record{
		{Kind: checkpoint.RecordMinibatch, Images: 64, Loss: 2.3},
		{Kind: checkpoint.RecordMinibatch, Images: 6464, Loss: 1.1},
		{Kind: checkpoint.RecordEpoch, Epoch: 1, Images: 12800, Loss: 1.4},
		{Kind: checkpoint.RecordMinibatch, Images: 12864, Loss: 0.9},
		{Kind: checkpoint.RecordEpoch, Epoch: 2, Images: 25600, Loss: 0.8, TestLoss: ptr(0.7), TestAccuracy: ptr(81.5)},
	}
	c := CurvesOf("run", recs, 12800)
	wantTrain := [][2]float64{{0.005, 2.3}, {0.505, 1.1}, {1.005, 0.9}}
	if len(c.TrainLoss) != len(wantTrain) {
		t.Fatalf("%d training points, want %d", len(c.TrainLoss), len(wantTrain))
	}
	for i, w := range wantTrain {
		if c.TrainLoss[i].X != w[0] || c.TrainLoss[i].Y != w[1] {
			t.Errorf("training point %d: %v, want %v", i, c.TrainLoss[i], w)
		}
	}
	if len(c.TestLoss) != 1 || c.TestLoss[0].X != 2 || c.TestLoss[0].Y != 0.7 || len(c.TestAccuracy) != 1 || c.TestAccuracy[0].Y != 81.5 {
		t.Errorf("test series %v, %v", c.TestLoss, c.TestAccuracy)
	}
}

// checkPNG fails unless path is a PNG of w x h pixels.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	gotW, gotH := pngtest.Size(t, path)
	if gotW != w || gotH != h {
		t.Errorf("%s is %dx%d, want %dx%d", path, gotW, gotH, w, h)
	}
}

func TestPicturesArePNGsOfTheirSize(t *testing.T) {
	dir := t.TempDir()
	recs := []checkpoint.Record{
		{Kind: checkpoint.RecordMinibatch, Images: 64, Loss: 2.3},
		{Kind: checkpoint.RecordEpoch, Epoch: 1, Images: 640, Loss: 1.4, TestLoss: ptr(1.2), TestAccuracy: ptr(50)},
		{Kind: checkpoint.RecordEpoch, Epoch: 2, Images: 1280, Loss: 1.0, TestLoss: ptr(0.9), TestAccuracy: ptr(70)},
	}
	loss := filepath.Join(dir, "loss.png")
	if err := WriteLoss(loss, CurvesOf("a", recs, 640), CurvesOf("b", recs[:2], 640)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, loss, LossWidth, LossHeight)

	confusion := filepath.Join(dir, "confusion.png")
	if err := WriteConfusion(confusion, "test", []string{"cat", "dog", "eel"}, [][]int{{5, 1, 0}, {2, 7, 1}, {0, 0, 9}}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, confusion, ConfusionWidth, ConfusionHeight)
	if err := WriteConfusion(confusion, "test", []string{"cat"}, [][]int{{5, 1}, {2, 7}}); err == nil {
		t.Error("one class name for a 2x2 matrix was accepted")
	}

	bars := filepath.Join(dir, "bars.png")
	if err := WriteBars(bars, "t", "accuracy (%)", []Bar{{"fc plain", 85, 1.7}, {"fc permuted", 85, 1.2}, {"cnn plain", 95, 0.8}, {"cnn permuted", 81, 2}}); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, bars, ShuffleWidth, ShuffleHeight)
}
