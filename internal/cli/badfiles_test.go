package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
)

// quickRun trains a quick MLP into a new run folder and returns it.
func quickRun(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	if code, _, stderr := run(t, quickTrain(fakeMNIST(t), "--run-dir", dir)...); code != ExitOK {
		t.Fatalf("train: exit %d\n%s", code, stderr)
	}
	return dir
}

// A run's other file given where a run folder, its checkpoint.json or its
// weights belong is called what it is, with the folder to give instead,
// not "not valid JSON at byte 1" or "unexpected tensor step".
func TestARunsOtherFilesAreCalledWhatTheyAre(t *testing.T) {
	dir := quickRun(t)
	in := func(name string) string { return filepath.Join(dir, name) }
	// A folder whose checkpoint.json is in fact weights.
	swapped := filepath.Join(t.TempDir(), "swapped")
	if err := os.CopyFS(swapped, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(swapped, checkpoint.WeightsFile), filepath.Join(swapped, checkpoint.InfoFile)); err != nil {
		t.Fatal(err)
	}
	weightsOrInfo := ", not a model's weights or a run's checkpoint.json; give the run folder " + dir
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plot", in(checkpoint.WeightsFile)}, in(checkpoint.WeightsFile) + " is a model's weights (safetensors), not a run folder; give the run folder " + dir},
		{[]string{"plot", in(checkpoint.InfoFile)}, in(checkpoint.InfoFile) + " is a run's checkpoint.json, not a run folder; give the run folder " + dir},
		{[]string{"plot", swapped}, filepath.Join(swapped, checkpoint.InfoFile) + " is a model's weights (safetensors), not a run's checkpoint.json"},
		{[]string{"eval", "--checkpoint", in(checkpoint.OptimizerFile)}, in(checkpoint.OptimizerFile) + " is a run's optimizer state (safetensors)" + weightsOrInfo},
		{[]string{"eval", "--checkpoint", in(checkpoint.MetricsFile)}, in(checkpoint.MetricsFile) + " is a run's training log (metrics.jsonl)" + weightsOrInfo},
		{[]string{"eval", "--checkpoint", in(checkpoint.ConfigFile)}, in(checkpoint.ConfigFile) + " is a run's settings (config.yaml, which train takes as --config)" + weightsOrInfo},
		{[]string{"eval", "--checkpoint", in(LossPicture)}, in(LossPicture) + " is a PNG picture" + weightsOrInfo},
		{[]string{"train", "--resume", in(checkpoint.WeightsFile)}, in(checkpoint.WeightsFile) + " is a model's weights (safetensors), not a run's checkpoint.json; give the run folder " + dir},
	} {
		code, stdout, stderr := run(t, tc.args...)
		if code != ExitFailure || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, want 1 saying %q; stderr:\n%s", tc.args, code, tc.want, stderr)
		}
	}
	// The weights themselves are still weights.
	if code, _, stderr := run(t, "eval", "--checkpoint", in(checkpoint.WeightsFile), "--data-dir", fakeMNIST(t), "--plot", "none"); code != ExitOK {
		t.Errorf("eval of the run's weights: exit %d\n%s", code, stderr)
	}
}

// What stands at a data file's name and is not a file is called what it
// is by train (exit 1) and by the datasets listing alike, not "missing".
func TestDataFileNameTakenByWhatIsNoFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"folder", func(p string) error { return os.Mkdir(p, 0o755) }, "is a folder, not a file"},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "is a FIFO, not a file"},
		{"symlink loop", func(p string) error { return os.Symlink(filepath.Base(p), p) }, "is a symlink loop, not a file"},
	} {
		data := t.TempDir()
		path := filepath.Join(data, "mnist", "t10k-labels-idx1-ubyte.gz")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tc.make(path); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(t, "train", "--data-dir", data, "--no-download", "--run-dir", filepath.Join(t.TempDir(), "run"))
		if code != ExitFailure || !strings.Contains(stderr, path+" "+tc.want) || strings.Contains(stderr, "missing") {
			t.Errorf("%s: train: exit %d, want 1 saying %q:\n%s", tc.name, code, path+" "+tc.want, stderr)
		}
		code, stdout, stderr := run(t, "datasets", "--data-dir", data)
		if code != ExitOK || !strings.Contains(stdout, "  bad     "+path+" "+tc.want+"\n") ||
			!strings.Contains(stdout, "mnist: 1x28x28, 10 classes, 60000 train / 10000 test images: a file's name is taken") {
			t.Errorf("%s: datasets: exit %d, %s\n%s", tc.name, code, stderr, stdout)
		}
	}
}

// A picture that cannot be written fails every command that draws (exit
// 1, naming it), after the results are printed; eval used to warn and
// exit 0 where show failed.
func TestAPictureThatCannotBeWrittenFails(t *testing.T) {
	data := fakeMNIST(t)
	dir := quickRun(t)
	other := quickRun(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(file, "x.png") // under a file: no folder can be made there
	cases := []struct {
		args   []string
		stdout string // the results, printed anyway
	}{
		{[]string{"eval", "--checkpoint", dir, "--data-dir", data, "--plot", bad}, "Test set: Average loss"},
		{[]string{"eval", "--checkpoint", dir, "--data-dir", data, "--plot", bad, "--json"}, `"accuracy"`},
		{[]string{"show", "--data-dir", data, "--out", bad}, "5 - five"},
		{[]string{"plot", dir, other, "--out", bad}, ""},
	}
	for _, tc := range cases {
		code, stdout, stderr := run(t, tc.args...)
		if code != ExitFailure || !strings.Contains(stderr, "picture "+bad+" not drawn: ") || !strings.Contains(stdout, tc.stdout) {
			t.Errorf("%v: exit %d, want 1 naming %s after printing %q\nstdout:\n%s\nstderr:\n%s", tc.args, code, bad, tc.stdout, stdout, stderr)
		}
	}
	// shuffle-experiment's end, without training its four models.
	var out, msgs bytes.Buffer
	report := ShuffleReport{Rows: []ShuffleRow{{Model: "fc", Plain: []float64{90}, Permuted: []float64{89}}, {Model: "cnn", Plain: []float64{95}, Permuted: []float64{80}}}}
	err := (&ShuffleOptions{Plot: bad}).finish(report, Streams{Out: &out, Err: &msgs})
	if ExitCode(err) != ExitFailure || !strings.Contains(fmt.Sprint(err), "picture "+bad+" not drawn: ") || !strings.Contains(out.String(), "permuted") {
		t.Errorf("shuffle-experiment: %v (exit %d) after printing\n%s", err, ExitCode(err), out.String())
	}
}

// A run killed while drawing leaves a temporary picture in its folder,
// which --resume (the only other cleaner) refuses once the run finished:
// plot and eval, which draw there, remove it while they hold the folder,
// and leave it to a process that holds the folder itself.
func TestDrawingIntoARunRemovesADeadProcesssTemporaries(t *testing.T) {
	data := fakeMNIST(t)
	dir := quickRun(t)
	dead := filepath.Join(dir, ".loss.png.tmp-dead")
	for _, args := range [][]string{
		{"plot", dir},
		{"eval", "--checkpoint", dir, "--data-dir", data},
	} {
		if err := os.WriteFile(dead, []byte("half a picture"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := run(t, args...)
		if _, err := os.Stat(dead); code != ExitOK || err == nil || !strings.Contains(stderr, "Removed 1 temporary file(s) a dead process left in "+dir) {
			t.Errorf("%v: exit %d, %s still there: %v\n%s", args, code, dead, err == nil, stderr)
		}
	}
	// Held by another process (a run resuming): its temporary files are its own.
	held, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := os.WriteFile(dead, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, "plot", dir); code != ExitOK || strings.Contains(stderr, "Removed") {
		t.Errorf("plot of a held folder: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(dead); err != nil {
		t.Errorf("the temporary file of the process holding the folder was removed: %v", err)
	}
}

// A run that needs more memory than `ulimit -v` leaves is refused before it
// allocates, with the figures and a batch that fits (exit 1), in a real
// process: Go's own "fatal error: out of memory" exits 2, the usage code,
// with every goroutine's stack.
func TestOutOfMemoryIsARefusalNotACrash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil || raceDetector {
		t.Skip("needs bash, and a binary without the race detector")
	}
	data := fakeMNIST(t)
	// 60,000 images of 4,096 hidden units: about 7 GB of activations.
	cmd := exec.Command(bash, "-c", `ulimit -v 4000000 && exec "$0" "$@"`, os.Args[0],
		"train", "--model", "mlp", "--hidden", "4096", "--batch-size", "60000", "--data-dir", data, "--no-download", "--run-dir", filepath.Join(t.TempDir(), "run"))
	cmd.Env = append(os.Environ(), asCLI+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != ExitFailure || strings.Contains(stderr.String(), "fatal error") {
		t.Fatalf("%v, want exit 1 without a crash:\n%s", err, stderr.String())
	}
	for _, want := range []string{"not enough memory: this run needs ", "batches of 60000 images", "is available (the address-space limit (ulimit -v) less what the process maps)", "try --batch-size "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
}
