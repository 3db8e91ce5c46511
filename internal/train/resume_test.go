package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/config"
)

// resumeConfig trains the toy problem with augmentation for 3 epochs of 40
// minibatches.
func resumeConfig(optimizer string) config.Config {
	cfg := config.Config{Model: "cnn", Dataset: "toy", Optimizer: optimizer, Epochs: 3, BatchSize: 16, TestBatchSize: 100,
		LR: 0.02, Seed: 4, Augment: true}
	if optimizer == "sgd" {
		cfg.Momentum = 0.9
	} else {
		cfg.LR = 0.002
	}
	return cfg
}

// stopAt is a Watcher that cancels the run's context at a chosen moment, as
// Ctrl-C would: after a given optimizer update, or after the evaluation of
// an epoch.
type stopAt struct {
	update, afterEval int
	cancel            context.CancelFunc
	evals             int
	onUpdate          func(Step)
}

func (w *stopAt) Epoch(int, int, int, int) {}
func (w *stopAt) Evaluated(int, int)       {}
func (w *stopAt) Minibatch(s Step, _ float64) {
	if w.onUpdate != nil {
		w.onUpdate(s)
	}
	if s.Update == w.update {
		w.cancel()
	}
}
func (w *stopAt) EvaluationDone() {
	if w.evals++; w.evals == w.afterEval {
		w.cancel()
	}
}

// runInto trains cfg into a new folder dir, or resumes dir, with watch.
func runInto(t *testing.T, ctx context.Context, cfg config.Config, dir string, resume bool, logs Logs) (*Result, error) {
	t.Helper()
	p, err := Prepare(cfg, toyData)
	if err != nil {
		t.Fatal(err)
	}
	var folder *checkpoint.Folder
	if resume {
		info, _, err := checkpoint.LoadRunInfo(dir)
		if err != nil {
			t.Fatal(err)
		}
		if folder, err = checkpoint.Open(dir); err != nil {
			t.Fatal(err)
		}
		if err := p.Resume(dir, info); err != nil {
			t.Fatal(err)
		}
	} else if folder, err = checkpoint.Create(dir); err != nil {
		t.Fatal(err)
	}
	defer folder.Close()
	logs.Progress, logs.Results, logs.Folder = discard{}, discard{}, folder
	return Run(ctx, p, logs)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordsWithoutClocks is metrics.jsonl less what depends on the clock.
func recordsWithoutClocks(t *testing.T, dir string) []checkpoint.Record {
	t.Helper()
	recs, err := checkpoint.ReadMetrics(filepath.Join(dir, checkpoint.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].ImagesPerSecond, recs[i].WallSeconds, recs[i].Time = 0, 0, ""
	}
	return recs
}

func sameRecords(a, b []checkpoint.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Epoch != y.Epoch || x.Batch != y.Batch || x.Step != y.Step || x.Images != y.Images ||
			x.Loss != y.Loss || (x.TestLoss == nil) != (y.TestLoss == nil) || (x.TestLoss != nil && *x.TestLoss != *y.TestLoss) {
			return false
		}
	}
	return true
}

// Stopping a run (as Ctrl-C does) and resuming it from its folder ends with
// the same bytes in model.safetensors and optimizer.safetensors as a run
// never stopped, and the same metrics.jsonl and history: at an epoch's end
// before its evaluation, at an epoch boundary and in mid-epoch, for SGD with
// momentum and Adam, with augmentation on. A run that dies (no checkpoint
// at the stop, a temporary file and metrics lines after its last
// checkpoint) resumes from its last periodic checkpoint to the same end.
func TestResumeGivesTheSameWeights(t *testing.T) {
	for _, optimizer := range []string{"sgd", "adam"} {
		t.Run(optimizer, func(t *testing.T) {
			cfg := resumeConfig(optimizer)
			root := t.TempDir()
			straight := filepath.Join(root, "straight")
			res, err := runInto(t, context.Background(), cfg, straight, false, Logs{})
			if err != nil {
				t.Fatal(err)
			}
			if info := res.Info(); info.Status != checkpoint.StatusFinished || len(info.History) != 3 || info.Progress.Steps != 120 {
				t.Fatalf("uninterrupted run: status %q, %d epochs of history, %d steps", info.Status, len(info.History), info.Progress.Steps)
			}
			wantWeights := readFile(t, filepath.Join(straight, checkpoint.WeightsFile))
			wantOptimizer := readFile(t, filepath.Join(straight, checkpoint.OptimizerFile))
			wantRecords := recordsWithoutClocks(t, straight)

			for _, stop := range []struct {
				name              string
				update, afterEval int
				wantEpoch         int // Interrupted.Next, from 0
				wantBatch         int
			}{
				{"end of epoch 1 before its evaluation", 40, 0, 0, 40},
				{"epoch boundary", 0, 1, 1, 0},
				{"mid-epoch 2", 57, 0, 1, 17},
			} {
				dir := filepath.Join(root, strings.ReplaceAll(stop.name, " ", "-"))
				ctx, cancel := context.WithCancel(context.Background())
				_, err := runInto(t, ctx, cfg, dir, false, Logs{Watch: &stopAt{update: stop.update, afterEval: stop.afterEval, cancel: cancel}})
				cancel()
				var stopped *Interrupted
				if !errors.As(err, &stopped) || !stopped.Saved || !errors.Is(err, context.Canceled) {
					t.Fatalf("%s: got %v, want a saved interruption", stop.name, err)
				}
				if stopped.Next.Epoch != stop.wantEpoch || stopped.Next.Batch != stop.wantBatch {
					t.Errorf("%s: stopped before epoch %d batch %d, want %d, %d", stop.name, stopped.Next.Epoch, stopped.Next.Batch, stop.wantEpoch, stop.wantBatch)
				}
				info, _, err := checkpoint.LoadRunInfo(dir)
				if err != nil || info.Status != checkpoint.StatusInterrupted {
					t.Fatalf("%s: checkpoint.json: status %q, %v", stop.name, info.Status, err)
				}
				if _, err := runInto(t, context.Background(), cfg, dir, true, Logs{}); err != nil {
					t.Fatalf("%s: resume: %v", stop.name, err)
				}
				if !bytes.Equal(readFile(t, filepath.Join(dir, checkpoint.WeightsFile)), wantWeights) {
					t.Errorf("%s: resumed weights differ from the uninterrupted run's", stop.name)
				}
				if !bytes.Equal(readFile(t, filepath.Join(dir, checkpoint.OptimizerFile)), wantOptimizer) {
					t.Errorf("%s: resumed optimizer state differs from the uninterrupted run's", stop.name)
				}
				if got := recordsWithoutClocks(t, dir); !sameRecords(got, wantRecords) {
					t.Errorf("%s: metrics.jsonl differs from the uninterrupted run's:\n%+v\nwant\n%+v", stop.name, got, wantRecords)
				}
			}

			// A death: the folder as it was after update 50, with checkpoints
			// every 20 minibatches (the last at 40, an epoch end too, and 60 not yet).
			dead := filepath.Join(root, "dead")
			ctx, cancel := context.WithCancel(context.Background())
			snapshot := func(s Step) {
				if s.Update == 50 {
					copyDir(t, filepath.Join(root, "running"), dead)
					cancel()
				}
			}
			runInto(t, ctx, cfg, filepath.Join(root, "running"), false, Logs{CheckpointEvery: 20, Watch: &stopAt{onUpdate: snapshot, cancel: cancel}})
			cancel()
			if err := os.WriteFile(filepath.Join(dead, ".model.safetensors.tmp-123"), []byte("half"), 0o644); err != nil {
				t.Fatal(err)
			}
			info, _, err := checkpoint.LoadRunInfo(dead)
			if err != nil || info.Status != checkpoint.StatusRunning || info.Progress.Steps != 40 {
				t.Fatalf("dead run's checkpoint: status %q, %v steps, %v", info.Status, info.Progress, err)
			}
			folder, err := checkpoint.Open(dead)
			if err != nil {
				t.Fatal(err)
			}
			if len(folder.Cleaned) != 1 {
				t.Errorf("Open cleaned %v, want the one temporary file", folder.Cleaned)
			}
			folder.Close()
			if _, err := runInto(t, context.Background(), cfg, dead, true, Logs{CheckpointEvery: 20}); err != nil {
				t.Fatalf("resume after death: %v", err)
			}
			if !bytes.Equal(readFile(t, filepath.Join(dead, checkpoint.WeightsFile)), wantWeights) {
				t.Error("weights after resuming a dead run differ from the uninterrupted run's")
			}
			if got := recordsWithoutClocks(t, dead); !sameRecords(got, wantRecords) {
				t.Errorf("metrics.jsonl after resuming a dead run:\n%+v\nwant\n%+v", got, wantRecords)
			}
		})
	}
}

// A checkpoint whose files are of different steps (a process killed between
// two renames) is refused by name, not resumed from wrong weights.
func TestResumeRefusesMixedCheckpoints(t *testing.T) {
	cfg := resumeConfig("sgd")
	root := t.TempDir()
	early, late := filepath.Join(root, "early"), filepath.Join(root, "late")
	for _, run := range []struct {
		dir    string
		update int
	}{{early, 10}, {late, 20}} {
		ctx, cancel := context.WithCancel(context.Background())
		runInto(t, ctx, cfg, run.dir, false, Logs{Watch: &stopAt{update: run.update, cancel: cancel}})
		cancel()
	}
	// The late run's weights with the early run's optimizer state and checkpoint.json.
	copyFile(t, filepath.Join(late, checkpoint.WeightsFile), filepath.Join(early, checkpoint.WeightsFile))
	info, _, err := checkpoint.LoadRunInfo(early)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(cfg, toyData)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Resume(early, info)
	if !errors.Is(err, checkpoint.ErrCheckpoint) || !strings.Contains(err.Error(), `weights are from step "20"`) {
		t.Errorf("got %v, want a refusal naming the weights' step", err)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o644); err != nil {
		t.Fatal(err)
	}
}
