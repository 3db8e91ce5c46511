package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/pflag"
)

// realData returns the prepared data folder named by $CNNTRAIN_TEST_DATA, or
// skips loudly: these are the acceptance checks on the real MNIST.
func realData(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CNNTRAIN_TEST_DATA")
	if dir == "" {
		t.Skip("SKIPPED: CNNTRAIN_TEST_DATA is not set, so the real-MNIST acceptance checks did not run; .ci/run sets it (or: make data && CNNTRAIN_TEST_DATA=$PWD/.data make test)")
	}
	return dir
}

func TestRealShuffleExperimentReproducesTheNotebook(t *testing.T) {
	dir := realData(t)
	opts := &ShuffleOptions{Seeds: 3, JSON: true, Data: dataOptions{DataDir: dir, NoDownload: true}}
	opts.Config.addFlags(pflag.NewFlagSet("test", pflag.ContinueOnError))
	var out, logs bytes.Buffer
	if err := RunShuffle(context.Background(), opts, Streams{Out: &out, Err: &logs}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + logs.String())
	var rep ShuffleReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	fc, cnn := rep.Rows[0].Stats, rep.Rows[1].Stats
	if rep.Rows[0].Model != "fc" || rep.Rows[1].Model != "cnn" {
		t.Fatalf("rows %q, %q", rep.Rows[0].Model, rep.Rows[1].Model)
	}
	// PyTorch on the same files, seeds 0–2: FC 85.7/87.7/88.6, CNN 95.3/95.6/94.8,
	// permuted FC 85.7/87.9/88.5, permuted CNN 79.2/82.5/80.1.
	if fc.PlainMedian < 84 {
		t.Errorf("median FC accuracy %.2f %%, want ≥ 84 %%", fc.PlainMedian)
	}
	if cnn.PlainMedian < 93.5 {
		t.Errorf("median CNN accuracy %.2f %%, want ≥ 93.5 %%", cnn.PlainMedian)
	}
	if d := fc.PermutedMedian - fc.PlainMedian; d < -2 || d > 2 {
		t.Errorf("permuting pixels moved FC by %+.2f points, want within 2", d)
	}
	if d := cnn.PermutedMedian - cnn.PlainMedian; d > -8 {
		t.Errorf("permuting pixels moved CNN by %+.2f points, want at least 8 points down", d)
	}
}

func TestRealTrainIsReproducibleAndEvalAgrees(t *testing.T) {
	dir := realData(t)
	runs := t.TempDir()
	train1 := func(name string) train.RunInfo {
		opts := &TrainOptions{RunDir: filepath.Join(runs, name), JSON: true, Data: dataOptions{DataDir: dir, NoDownload: true}}
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		opts.Config.addFlags(fs)
		if err := fs.Parse([]string{"--model", "cnn"}); err != nil {
			t.Fatal(err)
		}
		var out, logs bytes.Buffer
		if err := RunTrain(context.Background(), opts, Streams{Out: &out, Err: &logs}); err != nil {
			t.Fatal(err)
		}
		var info train.RunInfo
		if err := json.Unmarshal(out.Bytes(), &info); err != nil {
			t.Fatal(err)
		}
		return info
	}
	a, b := train1("a"), train1("b")
	wa, err := os.ReadFile(filepath.Join(runs, "a", train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(filepath.Join(runs, "b", train.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wa, wb) {
		t.Error("two runs with the same seed saved different weights")
	}
	if a.Metrics.Correct != b.Metrics.Correct || a.Metrics.Loss != b.Metrics.Loss {
		t.Errorf("same seed, different results: %d (%.6f) vs %d (%.6f)", a.Metrics.Correct, a.Metrics.Loss, b.Metrics.Correct, b.Metrics.Loss)
	}
	t.Logf("cnn seed 0: %d/%d correct, %.0f training images/s", a.Metrics.Correct, a.Metrics.Total, a.ImagesPerSec)

	var out bytes.Buffer
	eopts := &EvalOptions{Checkpoint: filepath.Join(runs, "a"), BatchSize: 1000, JSON: true, Data: dataOptions{DataDir: dir, NoDownload: true}}
	if err := RunEval(context.Background(), eopts, Streams{Out: &out, Err: &bytes.Buffer{}}); err != nil {
		t.Fatal(err)
	}
	var rep EvalReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Correct != a.Metrics.Correct || rep.Total != a.Metrics.Total {
		t.Errorf("eval says %d/%d, train said %d/%d", rep.Correct, rep.Total, a.Metrics.Correct, a.Metrics.Total)
	}
	if d := rep.Loss - a.Metrics.Loss; d > 1e-9 || d < -1e-9 {
		t.Errorf("eval loss %.6f, train said %.6f", rep.Loss, a.Metrics.Loss)
	}
}
