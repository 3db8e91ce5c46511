package cli

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/evaluate"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/plots"
	"github.com/cnntrain/cnntrain/internal/testsupport/pngtest"
	"github.com/cnntrain/cnntrain/internal/testsupport/realdata"
	"github.com/cnntrain/cnntrain/internal/train"
)

// checkImage fails unless image i of panel p in img shows, pixel p
// enlarged to a Scale×Scale square, the colour of bytes px(ch, p) of its c
// channels (one: grey).
func checkImage(t *testing.T, img image.Image, l plots.GridLayout, panel, i, c, h, w int, px func(ch, p int) uint8) {
	t.Helper()
	at := l.ImageAt(panel, i)
	for p := range h * w {
		want := color.RGBA{px(0, p), px(0, p), px(0, p), 255}
		if c == 3 {
			want.G, want.B = px(1, p), px(2, p)
		}
		x, y := at.X+p%w*l.Scale, at.Y+p/w*l.Scale
		// The square's first and last pixels: an enlargement off by one
		// pixel, or rows and columns swapped, misses them.
		for _, d := range []int{0, l.Scale - 1} {
			if got := color.RGBAModel.Convert(img.At(x+d, y+d)); got != want {
				t.Fatalf("panel %d image %d pixel %d (+%d): %v, want %v", panel, i, p, d, got, want)
			}
		}
	}
}

// checkGreyImage is checkImage for one channel whose pixel p is want(p).
func checkGreyImage(t *testing.T, img image.Image, l plots.GridLayout, panel, i, h, w int, want func(p int) uint8) {
	t.Helper()
	checkImage(t, img, l, panel, i, 1, h, w, func(_, p int) uint8 { return want(p) })
}

// fakeMNISTStart is the first n images of each fake MNIST split, made here
// rather than loaded: what the pictures are checked against.
func fakeMNISTStart(t *testing.T, n int) train.Data {
	t.Helper()
	info, err := datasets.Lookup("mnist")
	if err != nil {
		t.Fatal(err)
	}
	split := &datasets.Split{N: n, C: 1, H: 28, W: 28, Images: make([]uint8, n*28*28), Labels: make([]uint8, n)}
	for i := range n {
		split.Labels[i] = uint8(fakeMNISTLabel(i))
		for p := range 28 * 28 {
			split.Images[i*28*28+p] = fakeMNISTPixel(i, p)
		}
	}
	return train.Data{Info: info, Train: split, Test: split}
}

// show draws the first training images, each in its cell pixel for pixel,
// and prints their classes a grid row to a line; with --shuffle-pixels the
// second panel holds the same images permuted by the run's permutation:
// --seed's unless --permutation-seed says otherwise.
func TestShowDrawsTheFirstTrainingImages(t *testing.T) {
	dir, data := fakeMNIST(t), fakeMNISTStart(t, 7)
	out := filepath.Join(t.TempDir(), "samples.png")
	classes := data.Info.NotebookClasses()
	for _, tc := range []struct {
		args     []string
		permSeed int // -1: no permutation
	}{
		{nil, -1},
		{[]string{"--shuffle-pixels", "--seed", "3"}, 3},
		{[]string{"--shuffle-pixels", "--seed", "3", "--permutation-seed", "5"}, 5},
	} {
		args := append([]string{"show", "--count", "7", "--out", out, "--data-dir", dir, "--no-download"}, tc.args...)
		code, stdout, stderr := run(t, args...)
		if code != ExitOK || !strings.Contains(stderr, "Wrote "+out) {
			t.Fatalf("%v: exit %d\n%s", tc.args, code, stderr)
		}
		// 7 images: rows of 4, and the stdout lines follow them.
		want := ""
		for _, row := range [][]int{{0, 1, 2, 3}, {4, 5, 6}} {
			var names []string
			for _, i := range row {
				names = append(names, classes[fakeMNISTLabel(i)])
			}
			want += strings.Join(names, " ") + "\n" // the names are longer than %5s pads
		}
		if stdout != want {
			t.Errorf("%v: stdout %q, want %q", tc.args, stdout, want)
		}

		var perm []int
		if tc.permSeed >= 0 {
			perm = datasets.Permutation(uint64(tc.permSeed), 28*28)
		}
		g, _, err := sampleGrid(data, 7, perm, uint64(tc.permSeed))
		if err != nil {
			t.Fatal(err)
		}
		l, err := g.Layout()
		if err != nil {
			t.Fatal(err)
		}
		img := pngtest.Decode(t, out)
		if b := img.Bounds(); b.Dx() != l.Width || b.Dy() != l.Height || l.Scale != 4 {
			t.Fatalf("%v: %dx%d at scale %d, want %dx%d at scale 4", tc.args, b.Dx(), b.Dy(), l.Scale, l.Width, l.Height)
		}
		if len(g.Panels) != 1+min(tc.permSeed+1, 1) {
			t.Fatalf("%v: %d panels", tc.args, len(g.Panels))
		}
		for i := range 7 {
			checkGreyImage(t, img, l, 0, i, 28, 28, func(p int) uint8 { return fakeMNISTPixel(i, p) })
			if perm != nil {
				checkGreyImage(t, img, l, 1, i, 28, 28, func(p int) uint8 { return fakeMNISTPixel(i, perm[p]) })
			}
		}
	}
}

func TestShowRefusals(t *testing.T) {
	dir := t.TempDir() // empty: each must fail before reading data
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--count", "0"}, "--count must be from 1 to 256"},
		{[]string{"--count", "257"}, "--count must be from 1 to 256"},
		{[]string{"--dataset", "mnits"}, `unknown dataset "mnits"`},
		{[]string{"--model", "cnn"}, "unknown flag: --model"},
	} {
		code, stdout, stderr := run(t, append(append([]string{"show"}, tc.args...), "--data-dir", dir, "--no-download")...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 saying %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// untrainedWeights saves an untrained model as a bare state_dict in a
// folder of its own: its predictions are a mix of right and wrong.
func untrainedWeights(t *testing.T, model string, in models.Input) string {
	t.Helper()
	m, err := models.New(model, in, models.Config{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := checkpoint.SaveWeights(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// eval --show N prints the true and predicted classes of the first N test
// images in the notebook's two rows, which are the evaluation's own
// predictions, and draws them into predictions.png beside confusion.png:
// each image pixel for pixel, framed in red exactly where the rows differ.
func TestEvalShowsPredictions(t *testing.T) {
	dir, data := fakeMNIST(t), fakeMNISTStart(t, 12)
	weights := untrainedWeights(t, "mlp", models.Input{C: 1, H: 28, W: 28, Classes: 10})
	evalArgs := func(extra ...string) []string {
		return append([]string{"eval", "--checkpoint", weights, "--model", "mlp", "--dataset", "mnist", "--data-dir", dir, "--no-download", "--show", "12"}, extra...)
	}
	code, stdout, stderr := run(t, evalArgs("--json", "--plot", "none")...) // none: no pictures
	if code != ExitOK {
		t.Fatalf("eval --json: exit %d\n%s", code, stderr)
	}
	var rep EvalReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval --show --json printed more than JSON: %v\n%s", err, stdout)
	}
	if len(rep.Predictions) != 12 {
		t.Fatalf("%d predictions in the JSON, want 12", len(rep.Predictions))
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(weights), PredictionsPicture)); err == nil {
		t.Error("--plot none drew predictions.png")
	}

	code, stdout, stderr = run(t, evalArgs()...)
	if code != ExitOK {
		t.Fatalf("eval: exit %d\n%s", code, stderr)
	}
	classes := data.Info.NotebookClasses()
	var truth, predicted []string
	wrong := 0
	for i, p := range rep.Predictions {
		if p.Label != fakeMNISTLabel(i) {
			t.Fatalf("prediction %d has label %d, test image %d's is %d", i, p.Label, i, fakeMNISTLabel(i))
		}
		truth, predicted = append(truth, classes[p.Label]), append(predicted, classes[p.Predicted])
		if p.Label != p.Predicted {
			wrong++
		}
	}
	if wrong == 0 || wrong == len(rep.Predictions) {
		t.Fatalf("%d of 12 wrong: the test needs both kinds", wrong)
	}
	lines := strings.Split(stdout, "\n")
	if want := "GroundTruth:  " + strings.Join(truth, " "); lines[0] != want {
		t.Errorf("first line %q, want %q", lines[0], want)
	}
	if want := "Predicted:  " + strings.Join(predicted, " "); lines[1] != want {
		t.Errorf("second line %q, want %q", lines[1], want)
	}
	if !strings.HasPrefix(lines[2], "Test set:") {
		t.Errorf("third line %q, want the test results", lines[2])
	}

	path := filepath.Join(filepath.Dir(weights), PredictionsPicture)
	if !strings.Contains(stderr, "Wrote "+path) || !strings.Contains(stderr, "Wrote "+filepath.Join(filepath.Dir(weights), ConfusionPicture)) {
		t.Fatalf("predictions.png and confusion.png not both beside the weights:\n%s", stderr)
	}
	g := predictionGrid(weights, data.Test, classes, rep.Predictions)
	l, err := g.Layout()
	if err != nil {
		t.Fatal(err)
	}
	img := pngtest.Decode(t, path)
	if b := img.Bounds(); b.Dx() != l.Width || b.Dy() != l.Height {
		t.Fatalf("predictions.png is %dx%d, want %dx%d", b.Dx(), b.Dy(), l.Width, l.Height)
	}
	red := color.RGBAModel.Convert(plots.WrongColor)
	for i, p := range rep.Predictions {
		checkGreyImage(t, img, l, 0, i, 28, 28, func(q int) uint8 { return fakeMNISTPixel(i, q) })
		at := l.ImageAt(0, i)
		if framed := color.RGBAModel.Convert(img.At(at.X-1, at.Y-1)) == red; framed != (p.Label != p.Predicted) {
			t.Errorf("image %d: framed in red %v, but true %d, predicted %d", i, framed, p.Label, p.Predicted)
		}
	}
	if code, _, stderr := run(t, evalArgs("--show", "300")...); code != ExitUsage || !strings.Contains(stderr, "--show must be from 0 to 256") {
		t.Errorf("--show 300: exit %d, %q", code, stderr)
	}
}

// eval's pictures go beside the checkpoint, or with --plot PATH the
// confusion matrix to PATH and predictions.png beside it, or nowhere.
func TestEvalPicturePaths(t *testing.T) {
	folder := t.TempDir()
	weights := filepath.Join(folder, "w.safetensors")
	if err := os.WriteFile(weights, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		checkpoint, plot      string
		confusion, prediction string
	}{
		{folder, "", filepath.Join(folder, ConfusionPicture), filepath.Join(folder, PredictionsPicture)},
		{weights, "", filepath.Join(folder, ConfusionPicture), filepath.Join(folder, PredictionsPicture)},
		{folder, "out/c.png", "out/c.png", filepath.Join("out", PredictionsPicture)},
		{folder, "none", "", ""},
	} {
		o := &EvalOptions{Checkpoint: tc.checkpoint, Plot: tc.plot}
		if c, p := o.picturePath(ConfusionPicture), o.picturePath(PredictionsPicture); c != tc.confusion || p != tc.prediction {
			t.Errorf("--checkpoint %s --plot %q: %q and %q, want %q and %q", tc.checkpoint, tc.plot, c, p, tc.confusion, tc.prediction)
		}
	}
}

// The notebooks' rows pad each class to five characters, after a label and
// a space as Python's print adds.
func TestPredictionRowsAreTheNotebooks(t *testing.T) {
	classes := []string{"plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	var b strings.Builder
	writePredictionRows(&b, classes, []evaluate.Prediction{{Label: 3, Predicted: 3}, {Label: 8, Predicted: 1}, {Label: 8, Predicted: 8}, {Label: 0, Predicted: 0}})
	want := "GroundTruth:    cat  ship  ship plane\nPredicted:    cat   car  ship plane\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// On the real files: show prints MNIST's well-known first labels and draws
// its images as stored and permuted by the run's permutation; CIFAR-10's
// colour images come out byte for byte in show's grid and in eval --show's,
// whose rows are the test set's labels and the predictions the picture
// shows.
func TestRealShowAndPredictions(t *testing.T) {
	dir := realdata.Dir(t)
	folder := t.TempDir()
	source := dataOptions{DataDir: dir, NoDownload: true}

	samples := filepath.Join(folder, "samples.png")
	code, stdout, stderr := run(t, "show", "--shuffle-pixels", "--seed", "1", "--data-dir", dir, "--no-download", "--out", samples)
	if code != ExitOK {
		t.Fatalf("show: exit %d\n%s", code, stderr)
	}
	if first, _, _ := strings.Cut(stdout, "\n"); first != "5 - five 0 - zero 4 - four 1 - one 9 - nine" {
		t.Errorf("show's first row of labels: %q", first)
	}
	mnist, err := source.load(context.Background(), "mnist", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	perm := datasets.Permutation(1, 28*28)
	g, _, err := sampleGrid(mnist, 20, perm, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := g.Layout()
	if err != nil {
		t.Fatal(err)
	}
	img := pngtest.Decode(t, samples)
	if b := img.Bounds(); b.Dx() != l.Width || b.Dy() != l.Height || l.Rows != 4 || l.Cols != 5 {
		t.Fatalf("samples.png is %dx%d with %dx%d cells, want %dx%d with 4x5", b.Dx(), b.Dy(), l.Rows, l.Cols, l.Width, l.Height)
	}
	for i := range 20 {
		digit := mnist.Train.Images[i*784 : (i+1)*784]
		checkGreyImage(t, img, l, 0, i, 28, 28, func(p int) uint8 { return digit[p] })
		checkGreyImage(t, img, l, 1, i, 28, 28, func(p int) uint8 { return digit[perm[p]] })
	}

	cifar, err := source.load(context.Background(), "cifar10", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	classes := cifar.Info.NotebookClasses()
	pixels := func(s *datasets.Split, i int) func(ch, p int) uint8 {
		return func(ch, p int) uint8 { return s.Images[i*3072+ch*1024+p] }
	}
	code, stdout, stderr = run(t, "show", "--dataset", "cifar10", "--count", "8", "--data-dir", dir, "--no-download", "--out", samples)
	if code != ExitOK {
		t.Fatalf("show cifar10: exit %d\n%s", code, stderr)
	}
	g, labels, err := sampleGrid(cifar, 8, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := labelRow(classes, labels[:4]) + "\n" + labelRow(classes, labels[4:]) + "\n"; stdout != want {
		t.Errorf("show cifar10 printed %q, want %q", stdout, want)
	}
	l, _ = g.Layout()
	img = pngtest.Decode(t, samples)
	for i := range 8 {
		checkImage(t, img, l, 0, i, 3, 32, 32, pixels(cifar.Train, i))
	}

	weights := untrainedWeights(t, "cnn", models.Input{C: 3, H: 32, W: 32, Classes: 10})
	code, stdout, stderr = run(t, "eval", "--checkpoint", weights, "--model", "cnn", "--dataset", "cifar10", "--show", "8", "--data-dir", dir, "--no-download")
	if code != ExitOK {
		t.Fatalf("eval --show: exit %d\n%s", code, stderr)
	}
	lines := strings.Split(stdout, "\n")
	truth := make([]int, 8)
	for i := range truth {
		truth[i] = int(cifar.Test.Labels[i])
	}
	if want := "GroundTruth:  " + labelRow(classes, truth); lines[0] != want {
		t.Errorf("first row %q, want %q", lines[0], want)
	}
	named, ok := strings.CutPrefix(lines[1], "Predicted:  ")
	if !ok || len(strings.Fields(named)) != 8 {
		t.Fatalf("second row %q", lines[1])
	}
	var ps []evaluate.Prediction
	for i, name := range strings.Fields(named) {
		ps = append(ps, evaluate.Prediction{Label: truth[i], Predicted: slices.Index(classes, name)})
	}
	g = predictionGrid(weights, cifar.Test, classes, ps)
	l, _ = g.Layout()
	img = pngtest.Decode(t, filepath.Join(filepath.Dir(weights), PredictionsPicture))
	if b := img.Bounds(); b.Dx() != l.Width || b.Dy() != l.Height {
		t.Fatalf("predictions.png is %dx%d, want %dx%d", b.Dx(), b.Dy(), l.Width, l.Height)
	}
	for i := range 8 {
		checkImage(t, img, l, 0, i, 3, 32, 32, pixels(cifar.Test, i))
	}
}
