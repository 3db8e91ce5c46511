package cli

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/plots"
	"github.com/cnntrain/cnntrain/internal/testsupport/pngtest"
)

// A run folder gets loss.png; eval draws confusion.png beside the
// checkpoint; plot redraws both and overlays two runs.
func TestRunPictures(t *testing.T) {
	data := fakeMNIST(t)
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, dir := range []string{a, b} {
		if code, _, stderr := run(t, quickTrain(data, "--epochs", "2", "--run-dir", dir)...); code != ExitOK {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	}
	if w, h := pngtest.Size(t, filepath.Join(a, LossPicture)); w != plots.LossWidth || h != plots.LossHeight {
		t.Errorf("loss.png is %dx%d", w, h)
	}
	code, _, stderr := run(t, "eval", "--checkpoint", a, "--data-dir", data, "--no-download")
	if code != ExitOK || !strings.Contains(stderr, "Wrote "+filepath.Join(a, ConfusionPicture)) {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	if w, h := pngtest.Size(t, filepath.Join(a, ConfusionPicture)); w != plots.ConfusionWidth || h != plots.ConfusionHeight {
		t.Errorf("confusion.png is %dx%d", w, h)
	}
	os.Remove(filepath.Join(a, LossPicture))
	overlay := filepath.Join(root, "both.png")
	if code, _, stderr := run(t, "plot", a, b, "--out", overlay); code != ExitOK {
		t.Fatalf("plot: exit %d\n%s", code, stderr)
	}
	for _, path := range []string{filepath.Join(a, LossPicture), overlay} {
		if w, h := pngtest.Size(t, path); w != plots.LossWidth || h != plots.LossHeight {
			t.Errorf("%s is %dx%d", path, w, h)
		}
	}
	info, _, err := checkpoint.LoadRunInfo(a)
	if err != nil {
		t.Fatal(err)
	}
	curves, err := runCurves(a, info)
	if err != nil {
		t.Fatal(err)
	}
	// 640 images, batches of 64: minibatch 1 of each epoch is logged; both epochs evaluated.
	if len(curves.TrainLoss) != 2 || curves.TrainLoss[0].X != 0.1 || curves.TrainLoss[1].X != 1.1 || len(curves.TestAccuracy) != 2 || curves.TestAccuracy[1].X != 2 {
		t.Errorf("curves of a 2-epoch run: %+v", curves)
	}
	if *info.History[1].TestAccuracy != curves.TestAccuracy[1].Y {
		t.Errorf("plotted accuracy %v, history says %v", curves.TestAccuracy[1].Y, *info.History[1].TestAccuracy)
	}
}

// Weights holding NaN are refused by eval with the tensor's name.
func TestEvalRefusesNonFiniteWeights(t *testing.T) {
	data := fakeMNIST(t)
	m, err := models.New("mlp", models.Input{C: 1, H: 28, W: 28, Classes: 10}, models.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.Params()[2].Data()[3] = float32(math.Inf(1))
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := checkpoint.SaveWeights(path, m); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "eval", "--checkpoint", path, "--model", "mlp", "--dataset", "mnist", "--data-dir", data, "--no-download")
	name := m.Params()[2].Name
	if code != ExitFailure || !strings.Contains(stderr, `tensor "`+name+`" holds 1 NaN or infinite values`) || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestShuffleBarsAreTheTablesNumbers(t *testing.T) {
	r := ShuffleReport{Rows: []ShuffleRow{
		{Model: "fc", Stats: ShuffleStats{PlainMean: 85, PlainStd: 1.5, PermutedMean: 84, PermutedStd: 1}},
		{Model: "cnn", Stats: ShuffleStats{PlainMean: 95, PlainStd: 0.5, PermutedMean: 81, PermutedStd: 2}},
	}}
	got := shuffleBars(r)
	want := []plots.Bar{{Label: "fc plain", Mean: 85, Std: 1.5}, {Label: "fc permuted", Mean: 84, Std: 1}, {Label: "cnn plain", Mean: 95, Std: 0.5}, {Label: "cnn permuted", Mean: 81, Std: 2}}
	if len(got) != len(want) {
		t.Fatalf("%d bars", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bar %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// --plot none and --plot "" draw nothing, in shuffle-experiment as in eval:
// no file named "none" in the working folder, none beside the checkpoint.
func TestPlotNoneDrawsNothing(t *testing.T) {
	data := fakeMNIST(t)
	weights := untrainedWeights(t, "mlp", models.Input{C: 1, H: 28, W: 28, Classes: 10})
	work := t.TempDir()
	t.Chdir(work)
	small := filepath.Join(t.TempDir(), "small.yaml") // train_subset is no shuffle-experiment flag
	if err := os.WriteFile(small, []byte("train_subset: 64\nepochs: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, plot := range []string{"none", ""} {
		for _, args := range [][]string{
			{"shuffle-experiment", "--config", small},
			{"eval", "--checkpoint", weights, "--model", "mlp", "--dataset", "mnist"},
		} {
			args = append(args, "--data-dir", data, "--no-download", "--plot", plot)
			code, _, stderr := run(t, args...)
			if code != ExitOK || strings.Contains(stderr, "Wrote") {
				t.Errorf("%s --plot %q: exit %d, want 0 and no picture\n%s", args[0], plot, code, stderr)
			}
		}
		for _, dir := range []string{work, filepath.Dir(weights)} {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != filepath.Base(weights) {
					t.Errorf("--plot %q drew %s", plot, filepath.Join(dir, e.Name()))
				}
			}
		}
	}
}
