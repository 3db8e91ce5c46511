package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/train"
)

// quickTrain is a short MLP training on the fake MNIST: 10 minibatches per
// epoch.
func quickTrain(dataDir string, extra ...string) []string {
	return append([]string{"train", "--model", "mlp", "--train-subset", "640", "--data-dir", dataDir, "--no-download"}, extra...)
}

// A --run-dir with a trailing slash or "/." is the folder itself: training
// saves into it, and a second run there is refused before it trains.
func TestRunDirSpellings(t *testing.T) {
	data := fakeMNIST(t)
	root := t.TempDir()
	for _, spelling := range []string{"slash/", "dot/.", "plain"} {
		code, _, stderr := run(t, quickTrain(data, "--run-dir", filepath.Join(root, spelling))...)
		if code != ExitOK {
			t.Fatalf("--run-dir %s: exit %d\n%s", spelling, code, stderr)
		}
		dir := filepath.Join(root, strings.TrimSuffix(strings.TrimSuffix(spelling, "."), "/"))
		info, _, err := checkpoint.LoadRunInfo(dir)
		if err != nil || info.Status != checkpoint.StatusFinished {
			t.Errorf("--run-dir %s: %s holds status %q, %v", spelling, dir, info.Status, err)
		}
		code, _, stderr = run(t, quickTrain(data, "--run-dir", dir+"/.")...)
		if code != ExitUsage || !strings.Contains(stderr, "already exists; choose a new folder") {
			t.Errorf("second run into %s/.: exit %d, %q", dir, code, stderr)
		}
	}
}

// A run folder that cannot be made fails before any data is read: here the
// data folder is empty, and the error is about the run folder, not the data.
func TestUnwritableRunDirFailsBeforeLoadingData(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "train", "--data-dir", t.TempDir(), "--no-download", "--run-dir", filepath.Join(file, "run"))
	if code != ExitFailure || !strings.Contains(stderr, "run folder") || !strings.Contains(stderr, "not a directory") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(stderr, "idx") {
		t.Errorf("the data was looked at before the run folder: %q", stderr)
	}
}

// Two runs started together under one runs folder get a folder each.
func TestRunsStartedTogetherGetTheirOwnFolders(t *testing.T) {
	data := fakeMNIST(t)
	root := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			opts := trainOptions(t, quickTrain(data)[1:]...)
			opts.RunsRoot = root
			errs[i] = RunTrain(context.Background(), opts, Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 2 {
		t.Fatalf("%d run folders, want 2", len(entries))
	}
	for _, e := range entries {
		if _, _, err := checkpoint.LoadRunInfo(filepath.Join(root, e.Name())); err != nil {
			t.Error(err)
		}
	}
}

// Stopped by SIGTERM after its first epoch, a run saves a checkpoint, says
// how to continue and exits 143; --resume then ends with the same weights
// as a run never stopped, and refuses to run a finished folder again.
func TestStopAndResumeFromTheCommandLine(t *testing.T) {
	data := fakeMNIST(t)
	root := t.TempDir()
	args := func(extra ...string) []string {
		return quickTrain(data, append([]string{"--train-subset", "3200", "--epochs", "3", "--augment"}, extra...)...)
	}
	straight := filepath.Join(root, "straight")
	if code, _, stderr := run(t, args("--run-dir", straight)...); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}

	stopped := filepath.Join(root, "stopped")
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { // SIGTERM once the first epoch is in metrics.jsonl
		for ctx.Err() == nil {
			if b, _ := os.ReadFile(filepath.Join(stopped, checkpoint.MetricsFile)); bytes.Contains(b, []byte(`"kind":"epoch"`)) {
				cancel(signalCause{syscall.SIGTERM})
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var out, errb bytes.Buffer
	code := Main(ctx, args("--run-dir", stopped), Streams{Out: &out, Err: &errb})
	cancel(nil)
	if code != 143 || !strings.Contains(errb.String(), "To continue: cnntrain train --resume "+stopped) {
		t.Fatalf("exit %d, want 143 and how to continue; stderr:\n%s", code, errb.String())
	}

	// The whole message: the flags that may change, as they are typed.
	wantMsg := "cnntrain: --resume continues a run with its own settings; --epochs cannot change them (only --device, --tf32, --no-cuda-graphs, --no-cudnn can)\nRun 'cnntrain train --help' for usage.\n"
	if code, _, stderr := run(t, "train", "--resume", stopped, "--epochs", "3"); code != ExitUsage || stderr != wantMsg {
		t.Errorf("--resume with --epochs: exit %d\n got %q\nwant %q", code, stderr, wantMsg)
	}
	if code, _, stderr := run(t, args("--run-dir", stopped)...); code != ExitUsage || !strings.Contains(stderr, "continue it with --resume "+stopped) {
		t.Errorf("a new run into a stopped run's folder: exit %d, %q", code, stderr)
	}
	code, _, stderr := run(t, "train", "--resume", stopped, "--data-dir", data, "--no-download")
	if code != ExitOK || !strings.Contains(stderr, "Resuming "+stopped+" at epoch 2") {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(straight, checkpoint.WeightsFile))
	got, _ := os.ReadFile(filepath.Join(stopped, checkpoint.WeightsFile))
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Error("the stopped and resumed run ended with other weights than the straight one")
	}
	if code, _, stderr := run(t, "train", "--resume", stopped, "--data-dir", data); code != ExitUsage || !strings.Contains(stderr, "finished run; there is nothing to resume") {
		t.Errorf("resuming a finished run: exit %d, %q", code, stderr)
	}
}

func TestSignals(t *testing.T) {
	for _, first := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		signals := make(chan os.Signal, 2)
		exited := make(chan int, 1)
		var msgs bytes.Buffer
		ctx, stop := watchSignals(context.Background(), signals, func(code int) { exited <- code }, &msgs)
		signals <- first
		<-ctx.Done()
		if c, ok := context.Cause(ctx).(signalCause); !ok || c.sig != first {
			t.Errorf("cause %v, want %v", context.Cause(ctx), first)
		}
		if code := interruptedExitCode(ctx); code != 128+int(first.(syscall.Signal)) {
			t.Errorf("%v: exit code %d", first, code)
		}
		signals <- os.Interrupt
		if code := <-exited; code != 130 {
			t.Errorf("a second Ctrl-C exits %d, want 130", code)
		}
		stop()
	}
}

// train --json prints the run's checkpoint.json as saved, with the folder.
func TestTrainJSONIsTheSavedCheckpoint(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := run(t, quickTrain(data, "--run-dir", dir, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r TrainReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Run != dir || r.Format == "" || r.Created == "" || r.Weights != "model.safetensors" || r.Metrics == nil {
		t.Errorf("report %+v", r)
	}
}

// eval finds the test set in the folder the run read, without --data-dir.
func TestEvalRemembersTheRunsDataFolder(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, errs := run(t, quickTrain(data, "--run-dir", dir)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	t.Setenv("CNNTRAIN_DATA", "")
	t.Chdir(t.TempDir()) // no ./data here
	code, out, errs := run(t, "eval", "--checkpoint", dir, "--no-download", "--plot", "none")
	if code != 0 || !strings.Contains(out, "Test set: Average loss") {
		t.Errorf("eval without --data-dir: exit %d: %s", code, errs)
	}
}

// eval reads only the test set: a data folder without the training files
// will do.
func TestEvalNeedsOnlyTheTestFiles(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, errs := run(t, quickTrain(data, "--run-dir", dir)...); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	testOnly := t.TempDir()
	if err := os.MkdirAll(filepath.Join(testOnly, "mnist"), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(data, "mnist"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "t10k-") {
			if err := os.Link(filepath.Join(data, "mnist", e.Name()), filepath.Join(testOnly, "mnist", e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, out, errs := run(t, "eval", "--checkpoint", dir, "--data-dir", testOnly, "--no-download", "--plot", "none")
	if code != 0 || !strings.Contains(out, "Test set: Average loss") {
		t.Errorf("eval with the test files alone: exit %d: %s", code, errs)
	}
}

// checkpointSnapshots is a progress stream that, at every "Train:" log line,
// reads the run folder's checkpoint.json as it stands then: the training
// goroutine writes the line, so no checkpoint can be written meanwhile.
type checkpointSnapshots struct {
	dir   string
	seen  []*checkpoint.RunInfo // nil where there was no checkpoint yet
	lines bytes.Buffer
}

func (c *checkpointSnapshots) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("Train: ")) {
		var seen *checkpoint.RunInfo
		if info, _, err := checkpoint.LoadRunInfo(c.dir); err == nil {
			seen = &info
		}
		c.seen = append(c.seen, seen)
	}
	return c.lines.Write(p)
}

// --checkpoint-every 40 saves a resumable checkpoint inside the epoch: when
// minibatch 100 of 101 is logged (the log's interval is 100, so the epoch
// must be longer), checkpoint.json stands after minibatch 80.
func TestCheckpointEveryNMinibatches(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	progress := &checkpointSnapshots{dir: dir}
	args := quickTrain(data, "--train-subset", "101", "--batch-size", "1", "--epochs", "1", "--checkpoint-every", "40", "--run-dir", dir)
	if code := Main(context.Background(), args, Streams{Out: &bytes.Buffer{}, Err: progress}); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, progress.lines.String())
	}
	if len(progress.seen) != 2 {
		t.Fatalf("%d log lines, want 2 (minibatches 0 and 100):\n%s", len(progress.seen), progress.lines.String())
	}
	// Before the first minibatch the folder holds the run's settings alone.
	if first := progress.seen[0]; first == nil || first.Status != checkpoint.StatusStarted || first.Progress != nil {
		t.Errorf("before the first minibatch: %+v, want the settings the run started with, no checkpoint", first)
	}
	mid := progress.seen[1]
	if mid == nil {
		t.Fatal("no checkpoint by minibatch 100 of the first epoch")
	}
	if p := mid.Progress; mid.Status != checkpoint.StatusRunning || !mid.Resumable() || p.Next.Epoch != 0 || p.Next.Batch != 80 || p.Steps != 80 {
		t.Errorf("at minibatch 100 the checkpoint has status %q, progress %+v; want running before epoch 0's minibatch 80 after 80 steps", mid.Status, p)
	}
}

// A bad value inside a run's checkpoint.json is a bad file, for eval and
// for train --resume alike: exit 1 with the file's path and what is wrong,
// not a usage error with "Run --help", and nothing read or written on the
// strength of it (an optimizer_state outside the folder, a position past
// the last epoch that used to "finish" the run untouched).
func TestBadValuesInCheckpointJSONAreABadFile(t *testing.T) {
	data := fakeMNIST(t)
	good := filepath.Join(t.TempDir(), "good")
	if code, _, stderr := run(t, quickTrain(data, "--run-dir", good)...); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, tc := range []struct {
		name string
		edit func(j map[string]any)
		want string
	}{
		{"unknown model", func(j map[string]any) { cfgOf(j)["model"] = "resnet" }, `unknown model "resnet"`},
		{"unknown dataset", func(j map[string]any) { cfgOf(j)["dataset"] = "imagenet" }, `unknown dataset "imagenet"`},
		{"model that does not fit", func(j map[string]any) { cfgOf(j)["model"] = "vgg11" }, "VGG needs images of at least 32x32"},
		{"zero epochs", func(j map[string]any) { cfgOf(j)["epochs"] = 0 }, "epochs must be at least 1"},
		{"huge hidden", func(j map[string]any) { cfgOf(j)["hidden"] = 2000000000 }, "hidden must be from 1 to 16384"},
		{"zero std", func(j map[string]any) { j["normalize"].(map[string]any)["std"] = []float64{0} }, "normalize channel 0 has mean 0.1307 and std 0"},
		{"three channels of mnist", func(j map[string]any) { j["normalize"].(map[string]any)["std"] = []float64{1, 2, 3} }, "normalize has 1 means and 3 stds"},
		{"past the last epoch", func(j map[string]any) { progressOf(j)["next"] = map[string]any{"epoch": 50, "batch": 3} }, "past the run's 1 epochs"},
		{"negative metrics length", func(j map[string]any) { progressOf(j)["metrics_bytes"] = -1 }, "negative counts"},
		{"optimizer state outside", func(j map[string]any) { j["optimizer_state"] = "../optimizer.safetensors" }, `optimizer_state "../optimizer.safetensors" must be a file name`},
		{"weights a folder", func(j map[string]any) { j["weights"] = ".." }, `weights ".." must be a file name`},
		{"unknown status", func(j map[string]any) { j["status"] = "exploded" }, `status "exploded" is none a run writes`},
		{"negative input height", func(j map[string]any) { j["input"].(map[string]any)["H"] = -28 }, "input is 1x-28x28 images, 10 classes; mnist gives 1x28x28 images, 10 classes"},
		{"three-channel input", func(j map[string]any) { j["input"].(map[string]any)["C"] = 3 }, "input is 3x28x28 images"},
	} {
		dir := filepath.Join(t.TempDir(), "run")
		if err := os.CopyFS(dir, os.DirFS(good)); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, checkpoint.InfoFile)
		editJSON(t, file, func(j map[string]any) {
			j["status"] = checkpoint.StatusInterrupted // resumable
			tc.edit(j)
		})
		for _, args := range [][]string{
			{"eval", "--checkpoint", dir, "--plot", "none"},
			{"train", "--resume", dir},
		} {
			code, _, stderr := run(t, append(args, "--data-dir", data, "--no-download")...)
			if code != ExitFailure || !strings.Contains(stderr, "bad checkpoint: "+file+": ") || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "--help") {
				t.Errorf("%s: %s: exit %d, want 1 naming %s and %q:\n%s", tc.name, args[0], code, file, tc.want, stderr)
			}
		}
	}
}

// A checkpoint.json without a normalization (one written by hand for a
// PyTorch state_dict) gets the configuration's, as torch_eval.py does, not
// none at all; and eval refuses the flags that describe a bare state_dict
// for a checkpoint that describes itself instead of ignoring them.
func TestEvalOfACheckpointJSONWithoutNormalization(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := run(t, quickTrain(data, "--run-dir", dir)...); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	eval := func() string {
		code, out, stderr := run(t, "eval", "--checkpoint", dir, "--data-dir", data, "--plot", "none")
		if code != ExitOK {
			t.Fatalf("eval: exit %d\n%s", code, stderr)
		}
		return strings.SplitN(out, "\n", 2)[0]
	}
	want := eval()
	editJSON(t, filepath.Join(dir, checkpoint.InfoFile), func(j map[string]any) { delete(j, "normalize") })
	if got := eval(); got != want {
		t.Errorf("without normalize in checkpoint.json: %q, want %q", got, want)
	}
	code, _, stderr := run(t, "eval", "--checkpoint", dir, "--data-dir", data, "--hidden", "16", "--shuffle-pixels")
	if code != ExitUsage || !strings.Contains(stderr, "--hidden, --shuffle-pixels only describe a bare .safetensors file") {
		t.Errorf("eval of a run folder with --hidden: exit %d, %q", code, stderr)
	}
	// A run's model without BatchNorm has no test-time statistics to choose.
	code, _, stderr = run(t, "eval", "--checkpoint", dir, "--data-dir", data, "--bn-batch-stats-at-test=false")
	if code != ExitUsage || !strings.Contains(stderr, "--bn-batch-stats-at-test applies to the models with BatchNorm only (vgg11, vgg16); mlp has none") {
		t.Errorf("eval of an mlp with --bn-batch-stats-at-test: exit %d, %q", code, stderr)
	}
}

func cfgOf(j map[string]any) map[string]any      { return j["config"].(map[string]any) }
func progressOf(j map[string]any) map[string]any { return j["progress"].(map[string]any) }

// editJSON rewrites the JSON object in file through edit.
func editJSON(t *testing.T, file string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	edit(j)
	if b, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stopAtLogLine is a progress stream that stops the run (as SIGTERM does)
// when the training goroutine writes its first "Train:" log line, so that
// a test gets a resumable run without waiting on a clock.
type stopAtLogLine struct {
	cancel context.CancelCauseFunc
	lines  bytes.Buffer
}

func (s *stopAtLogLine) Write(p []byte) (int, error) {
	if bytes.HasPrefix(p, []byte("Train: ")) {
		s.cancel(signalCause{syscall.SIGTERM})
	}
	return s.lines.Write(p)
}

// runUntilLogLine runs cnntrain with args until its first "Train:" line
// and wants it stopped with a checkpoint (exit 143).
func runUntilLogLine(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := &stopAtLogLine{cancel: cancel}
	if code := Main(ctx, args, Streams{Out: &bytes.Buffer{}, Err: stop}); code != 143 {
		t.Fatalf("%v: exit %d, want 143 (stopped with a checkpoint)\n%s", args, code, stop.lines.String())
	}
}

// --resume reads the data folder the run was started with, recorded in
// checkpoint.json, not the default one: a run trained with --data-dir
// resumes as written. --data-dir moves it, and the run records where.
func TestResumeReadsTheRunsDataFolder(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data") // the run's own copy, to move
	if err := os.MkdirAll(filepath.Join(data, "mnist"), 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(fakeMNIST(t), "mnist")
	entries, err := os.ReadDir(shared)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Link(filepath.Join(shared, e.Name()), filepath.Join(data, "mnist", e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "run")
	// 200 minibatches of 1: "Train:" lines at minibatches 0 and 100.
	runUntilLogLine(t, quickTrain(data, "--train-subset", "200", "--batch-size", "1", "--run-dir", dir)...)

	t.Setenv("CNNTRAIN_DATA", "")
	t.Chdir(t.TempDir()) // no ./data here
	runUntilLogLine(t, "train", "--resume", dir, "--no-download")
	if info, _, err := checkpoint.LoadRunInfo(dir); err != nil || info.DataDir != data {
		t.Fatalf("after a plain --resume checkpoint.json records data_dir %q, %v; want %s", info.DataDir, err, data)
	}

	moved := data + "-moved"
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "train", "--resume", dir, "--no-download")
	if want := dir + " was trained on the data in " + data + ", which is no longer a folder; give --data-dir where the data is now"; code != ExitFailure || !strings.Contains(stderr, want) {
		t.Errorf("resume after the data moved: exit %d, %q, want 1 and %q", code, stderr, want)
	}
	code, _, stderr = run(t, "train", "--resume", dir, "--data-dir", moved, "--no-download")
	if code != ExitOK {
		t.Fatalf("resume with --data-dir %s: exit %d\n%s", moved, code, stderr)
	}
	if info, _, err := checkpoint.LoadRunInfo(dir); err != nil || info.DataDir != moved || info.Status != checkpoint.StatusFinished {
		t.Errorf("after --resume --data-dir: data_dir %q, status %q, %v; want %s, finished", info.DataDir, info.Status, err, moved)
	}
}

// Where a run stands is said as people count: the end of an epoch whose
// evaluation had not finished is no minibatch 501 of 500; a failure after a
// checkpoint says which one the folder keeps and what --resume would do.
func TestStoppedRunsSayWhatTheyKeep(t *testing.T) {
	const batches = 500
	end := datasets.Position{Epoch: 0, Batch: batches}
	err := keptWork(&train.Interrupted{Err: context.Canceled, Next: end, Saved: true}, "runs/r", batches)
	if want := "interrupted; saved a checkpoint at the end of epoch 1, before its evaluation in runs/r\nTo continue: cnntrain train --resume runs/r"; err.Error() != want {
		t.Errorf("interrupted at an epoch's end:\n got %q\nwant %q", err, want)
	}
	mid := datasets.Position{Epoch: 1, Batch: 99}
	full := &train.FailedAfterCheckpoint{Err: errors.New("save checkpoint: no space left on device"), Kept: mid}
	if want := "save checkpoint: no space left on device\nruns/r keeps the checkpoint at epoch 2, minibatch 100: once the cause is mended, cnntrain train --resume runs/r continues from it"; keptWork(full, "runs/r", batches).Error() != want {
		t.Errorf("full disk:\n got %q\nwant %q", keptWork(full, "runs/r", batches), want)
	}
	diverged := &train.FailedAfterCheckpoint{Err: fmt.Errorf("%w: loss 1e9", train.ErrDiverged), Kept: mid}
	if got := keptWork(diverged, "runs/r", batches).Error(); !strings.Contains(got, "runs/r keeps the checkpoint at epoch 2, minibatch 100, before it diverged; resuming would repeat the same steps") {
		t.Errorf("diverged: %q", got)
	}
	if plain := errors.New("boom"); keptWork(plain, "runs/r", batches) != plain {
		t.Error("an error with nothing kept was reworded")
	}
}

// A run that fails after its first checkpoint (here the loss blows up in
// epoch 2) says so and which checkpoint its folder keeps.
func TestFailureAfterACheckpointSaysWhatIsKept(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	code, _, stderr := run(t, quickTrain(data, "--run-dir", dir, "--lr", "1e4", "--checkpoint-every", "1")...)
	if code != ExitFailure || !strings.Contains(stderr, dir+" keeps the checkpoint at") {
		t.Errorf("exit %d, want 1 and the checkpoint kept:\n%s", code, stderr)
	}
}

// --resume says "Resuming" only of a checkpoint it accepted: a position the
// data cannot take is refused, naming the file, with no word of resuming.
func TestResumingIsSaidOnlyOfAnAcceptedCheckpoint(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := run(t, quickTrain(data, "--run-dir", dir, "--epochs", "2")...); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// Edited in place, the file is also the committed checkpoint's (a hard link).
	editJSON(t, filepath.Join(dir, checkpoint.InfoFile), func(j map[string]any) {
		j["status"] = checkpoint.StatusInterrupted
		progressOf(j)["next"] = map[string]any{"epoch": 0, "batch": 100000}
	})
	code, _, stderr := run(t, "train", "--resume", dir)
	if code != ExitFailure || strings.Contains(stderr, "Resuming "+dir) || !strings.Contains(stderr, "batch 100000 is outside") {
		t.Errorf("exit %d, want 1, the position refused and no Resuming:\n%q", code, stderr)
	}
}

// A run killed after claiming its folder and before its first checkpoint
// leaves the settings it started with; --resume starts it over with them
// and ends where a run never stopped does.
func TestResumeStartsOverARunKilledBeforeItsFirstCheckpoint(t *testing.T) {
	data := fakeMNIST(t)
	root := t.TempDir()
	straight := filepath.Join(root, "straight")
	if code, _, stderr := run(t, quickTrain(data, "--run-dir", straight)...); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// What a kill -9 right after the claim leaves: the folder, held no more.
	dead := filepath.Join(root, "dead")
	opts := trainOptions(t, quickTrain(data, "--run-dir", dead)[1:]...)
	folder, _, err := opts.claimNew()
	if err != nil {
		t.Fatal(err)
	}
	folder.Close()
	code, _, stderr := run(t, "train", "--resume", dead)
	if code != ExitOK || !strings.Contains(stderr, "Starting "+dead+" over") {
		t.Fatalf("resume of a run killed before its first checkpoint: exit %d\n%s", code, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(straight, checkpoint.WeightsFile))
	got, _ := os.ReadFile(filepath.Join(dead, checkpoint.WeightsFile))
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Error("started over, the run ended with other weights than one never stopped")
	}
}

// A run killed after committing its last checkpoint and before
// checkpoint.json at the top said finished is finished: --resume says so,
// not that the checkpoint is bad.
func TestResumeOfARunThatFinishedAsItDied(t *testing.T) {
	data := fakeMNIST(t)
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := run(t, quickTrain(data, "--run-dir", dir)...); code != ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// The top-level checkpoint.json of the step before: its own file, not
	// yet the committed checkpoint's.
	top := filepath.Join(dir, checkpoint.InfoFile)
	b, err := os.ReadFile(top)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(top); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(top, b, 0o644); err != nil {
		t.Fatal(err)
	}
	editJSON(t, top, func(j map[string]any) { j["status"] = checkpoint.StatusRunning })
	code, _, stderr := run(t, "train", "--resume", dir)
	if code != ExitUsage || !strings.Contains(stderr, dir+" holds a finished run; there is nothing to resume") {
		t.Errorf("exit %d, want 2 and a finished run:\n%s", code, stderr)
	}
}
