package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/testsupport/deadline"
	"github.com/cnntrain/cnntrain/internal/testsupport/secondpass"
)

// killRunArgs is a small run that checkpoints every two minibatches: 40
// minibatches an epoch, two epochs, so that most of its time is saving.
func killRunArgs(data string) []string {
	return []string{"train", "--model", "mlp", "--dataset", "mnist", "--data-dir", data, "--no-download",
		"--train-subset", "640", "--batch-size", "16", "--epochs", "2", "--checkpoint-every", "2"}
}

// cliProcess is cnntrain running as a child process (the test binary
// itself, see asCLI).
type cliProcess struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	started chan struct{} // closed when training has begun
	done    chan error    // Wait's result
}

// startCLI starts cnntrain with args; started closes once it prints the
// line that comes just before training (its settings read, its folder
// claimed, its data loaded, its model compiled, its checkpoint restored).
func startCLI(t *testing.T, args ...string) *cliProcess {
	t.Helper()
	p := &cliProcess{cmd: exec.Command(os.Args[0], args...), started: make(chan struct{}), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), asCLI+"=1")
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		seen := false
		for sc.Scan() {
			p.stderr.WriteString(sc.Text() + "\n")
			if !seen && strings.HasPrefix(sc.Text(), "Number of parameters:") {
				seen = true
				close(p.started)
			}
		}
		io.Copy(io.Discard, pipe)
		p.done <- p.cmd.Wait()
	}()
	return p
}

// exitCode is the process's exit code, or -1 when a signal ended it.
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -2
	}
	return 0
}

// A run killed with -9 at random moments, most of them inside a save (it
// checkpoints every two minibatches), and stopped by two signals at random
// gaps (the second one during the save the first one started), always
// resumes, and ends with the weights, optimizer state and metrics of a run
// never stopped, byte for byte (the metrics' clocks aside).
func TestLongKillAtRandomMomentsThenResume(t *testing.T) {
	secondpass.Only(t)
	data := fakeMNIST(t)
	root := t.TempDir()
	const kills, doubleSignals = 100, 20

	// The uninterrupted run, as a process too; its training time sets the
	// range of the moments to kill at (a distribution, not a deadline).
	straight := filepath.Join(root, "straight")
	p := startCLI(t, append(killRunArgs(data), "--run-dir", straight)...)
	<-p.started
	began := time.Now()
	if err := <-p.done; err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, p.stderr.String())
	}
	span := time.Since(began)
	t.Logf("the uninterrupted run trained for %v", span.Round(time.Millisecond))

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("random moments from seed %d", seed)
	var (
		runs                           []string
		killed, signalled, duringSaves int
		dir                            string
		fresh                          = true
	)
	for killed < kills || signalled < doubleSignals || !fresh {
		if fresh {
			dir = filepath.Join(root, fmt.Sprintf("run-%d", len(runs)))
			runs = append(runs, dir)
		}
		args := append(killRunArgs(data), "--run-dir", dir)
		if !fresh {
			args = []string{"train", "--resume", dir}
		}
		p := startCLI(t, args...)
		select {
		case <-p.started:
		case err := <-p.done:
			if !fresh && exitCode(err) == ExitUsage && strings.Contains(p.stderr.String(), "holds a finished run; there is nothing to resume") {
				// Killed after committing its last checkpoint, before
				// checkpoint.json at the top said finished: done.
				fresh = true
				continue
			}
			t.Fatalf("%s: exit %d before training began\n%s", strings.Join(args, " "), exitCode(err), p.stderr.String())
		}
		double := signalled < doubleSignals && (killed >= kills || rng.IntN(6) == 0)
		// Within the first third of what is left to train: a run is
		// interrupted a few times on its way, and the moments cover it all.
		wait := time.Duration(rng.Int64N(int64(span / 3)))
		var err error
		select {
		case err = <-p.done: // finished before the moment came
		case <-time.After(wait):
			if double {
				first, second := syscall.SIGTERM, syscall.SIGINT
				if rng.IntN(2) == 0 {
					first, second = second, first
				}
				p.cmd.Process.Signal(first)
				time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Millisecond))))
				p.cmd.Process.Signal(second)
			} else {
				p.cmd.Process.Kill()
			}
			err = <-p.done
		}
		code := exitCode(err)
		switch {
		case code == 0:
			fresh = true
			continue
		case double && (code == 130 || code == 143):
			signalled++
		case !double && code == -1:
			killed++
		default:
			t.Fatalf("%s: exit %d (%v)\n%s", strings.Join(args, " "), code, err, p.stderr.String())
		}
		if tempLeft(t, dir) {
			duringSaves++
		}
		// Killed after its last checkpoint (drawing loss.png, say): done.
		info, _, err := checkpoint.LoadRunInfo(dir)
		fresh = err == nil && info.Status == checkpoint.StatusFinished
	}
	t.Logf("%d kills and %d double signals over %d runs; %d of them left a save unfinished", killed, signalled, len(runs), duringSaves)
	if duringSaves < kills/4 {
		t.Errorf("only %d of %d interruptions fell inside a save: the test does not test what it says", duringSaves, killed+signalled)
	}

	for _, dir := range runs {
		for _, file := range []string{checkpoint.WeightsFile, checkpoint.OptimizerFile} {
			if !bytes.Equal(readTestFile(t, filepath.Join(dir, file)), readTestFile(t, filepath.Join(straight, file))) {
				t.Errorf("%s: %s differs from the uninterrupted run's", dir, file)
			}
		}
		if got, want := metricsWithoutClocks(t, dir), metricsWithoutClocks(t, straight); got != want {
			t.Errorf("%s: metrics.jsonl differs from the uninterrupted run's:\n%s\nwant\n%s", dir, got, want)
		}
		info, _, err := checkpoint.LoadRunInfo(dir)
		if err != nil || info.Status != checkpoint.StatusFinished {
			t.Errorf("%s: status %q, %v", dir, info.Status, err)
		}
	}
}

// tempLeft reports whether a dead process left temporary files in the run
// folder dir or its checkpoints, that is, died inside a save.
func tempLeft(t *testing.T, dir string) bool {
	for _, d := range []string{dir, filepath.Join(dir, checkpoint.CheckpointsDir)} {
		entries, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
				return true
			}
		}
	}
	return false
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metricsWithoutClocks is a run's metrics.jsonl with the fields that
// measure time (which no two runs share) taken out of each line.
func metricsWithoutClocks(t *testing.T, dir string) string {
	t.Helper()
	var out strings.Builder
	for line := range strings.Lines(string(readTestFile(t, filepath.Join(dir, checkpoint.MetricsFile)))) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s: %v in %q", dir, err, line)
		}
		delete(rec, "time")
		delete(rec, "wall_seconds")
		delete(rec, "images_per_second")
		b, _ := json.Marshal(rec)
		out.Write(append(b, '\n'))
	}
	return out.String()
}

// Before training starts nothing waits for a next minibatch: a signal while
// train reads its config from a FIFO nobody writes ends it at once, with the
// signal's exit code, and leaves no run folder.
func TestSignalWhileReadingTheConfigQuitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	runDir := filepath.Join(dir, "run")
	p := startCLI(t, "train", "--config", fifo, "--run-dir", runDir)
	// Opening the FIFO for writing returns once cnntrain opened it to read:
	// it is past installing its signal handlers, and waits for the config.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err = <-p.done:
	case <-deadline.Context(t).Done():
		p.cmd.Process.Kill()
		t.Fatalf("SIGTERM did not end a train waiting for its config; stderr:\n%s", p.stderr.String())
	}
	if code := exitCode(err); code != 143 || !strings.Contains(p.stderr.String(), "terminated: quitting (nothing was trained yet)") {
		t.Errorf("exit %d, want 143 and a word on it; stderr:\n%s", code, p.stderr.String())
	}
	if _, err := os.Stat(runDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a run folder is left: %v", err)
	}
}

// Inside a quitAtOnce phase the first signal runs the phase's cleanup and
// exits; once the phase ends the first signal only cancels, as before.
func TestQuitAtOncePhases(t *testing.T) {
	signals := make(chan os.Signal, 2)
	exited := make(chan int, 1)
	var msgs bytes.Buffer
	ctx, stop := watchSignals(context.Background(), signals, func(code int) { exited <- code }, &msgs)
	defer stop()
	outer := quitAtOnce(ctx, "outer")
	inner := quitAtOnce(ctx, "nothing was trained yet")
	cleaned := false
	inner.OnQuit(func() { cleaned = true })
	inner.End()
	inner.End() // twice is once
	outer.End()
	phase := quitAtOnce(ctx, "nothing was trained yet")
	phase.OnQuit(func() { cleaned = true })
	signals <- syscall.SIGTERM
	if code := <-exited; code != 143 || !cleaned || ctx.Err() != nil || !strings.Contains(msgs.String(), "terminated: quitting (nothing was trained yet)") {
		t.Errorf("in a phase: exit %d, cleaned %v, ctx %v, %q", code, cleaned, ctx.Err(), msgs.String())
	}

	ctx, stop = watchSignals(context.Background(), signals, func(code int) { exited <- code }, &msgs)
	defer stop()
	phase = quitAtOnce(ctx, "x")
	phase.End()
	signals <- os.Interrupt
	<-ctx.Done()
	select {
	case code := <-exited:
		t.Errorf("after the phase a first signal exited %d", code)
	default:
	}
}
