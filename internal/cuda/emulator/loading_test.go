package emulator_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/cli"
	"github.com/cnntrain/cnntrain/internal/cuda"
	"github.com/cnntrain/cnntrain/internal/cuda/emulator"
	"github.com/cnntrain/cnntrain/internal/device"
)

// The library loading is tested in child processes (TestLoadingHelper): a
// process loads each library once, and the loader reads $LD_LIBRARY_PATH
// only as it starts. The emulator's cuDNN is a shim and sub-libraries in
// separate files that note each load in $CNNTRAIN_EMULATOR_LOAD_LOG, and the
// emulator notes the first cuDNN call there.

// helperEnv tells a child what to do.
const helperEnv = "CNNTRAIN_EMULATOR_LOADING_HELPER"

// TestLoadingHelper is not a test: run as a child by the tests below, it
// opens the GPU as `train --device cuda` does, with cuDNN or without
// (no-cudnn, which also runs `devices --no-cudnn --json`), and says which
// convolutions the backend runs.
func TestLoadingHelper(t *testing.T) {
	what := os.Getenv(helperEnv)
	if what == "" {
		return
	}
	opts := device.Options{NoCuDNN: what == "no-cudnn"}
	if opts.NoCuDNN {
		streams := cli.Streams{Out: io.Discard, Err: io.Discard}
		if err := cli.RunDevices(context.Background(), &cli.DevicesOptions{JSON: true, NoCuDNN: true}, streams); err != nil {
			t.Fatal(err)
		}
	}
	choice, err := device.Open("cuda", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer choice.Backend.Close()
	fmt.Printf("convolutions: %s\n", choice.Backend.(*cuda.Backend).Convolutions())
}

// loadEvent is one line of the load log: "load NAME PATH" or "call FN".
type loadEvent struct{ kind, name, path string }

// runLoadingHelper runs TestLoadingHelper doing what, with libs as
// $CNNTRAIN_CUDA_LIBS and loaderPath as $LD_LIBRARY_PATH, and returns its
// output and the load log.
func runLoadingHelper(t *testing.T, what, libs, loaderPath string) (string, []loadEvent) {
	t.Helper()
	log := filepath.Join(t.TempDir(), "loads.log")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadingHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+what, "CNNTRAIN_CUDA_LIBS="+libs,
		"LD_LIBRARY_PATH="+loaderPath, emulator.LoadLog+"="+log)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the helper process: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var events []loadEvent
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, " ", 3)
		switch {
		case len(f) == 3 && f[0] == "load":
			events = append(events, loadEvent{f[0], f[1], f[2]})
		case len(f) == 2 && f[0] == "call":
			events = append(events, loadEvent{kind: f[0], name: f[1]})
		case line != "":
			t.Fatalf("load log line %q", line)
		}
	}
	t.Logf("loads and first cuDNN call:\n%s", b)
	return string(out), events
}

// emulatorCopy lays out the emulator's libraries in a folder of their own
// (the emulator's code linked, the cuDNN stand-ins copied, as their
// runpath, $ORIGIN, wants), with extra sub-library stand-ins beside them.
func emulatorCopy(t *testing.T, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(emulatorDir, emulator.Library), filepath.Join(dir, emulator.Library)); err != nil {
		t.Fatal(err)
	}
	for _, name := range emulator.Names {
		fi, err := os.Lstat(filepath.Join(emulatorDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if err := os.Symlink(emulator.Library, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(emulatorDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range extra {
		if err := emulator.BuildStandIn(dir, name, "", "-L"+dir, "-l:libcudnn_graph.so.9"); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// --no-cudnn never loads cuDNN, neither to choose the device nor to open
// it, nor does `devices --no-cudnn`: a cuDNN that cannot load its parts
// aborts the process that loads it, so --no-cudnn must be the way around it.
func TestNoCuDNNNeverLoadsCuDNN(t *testing.T) {
	needEmulator(t)
	out, events := runLoadingHelper(t, "no-cudnn", emulatorDir, "")
	if !strings.Contains(out, "convolutions: im2col and cuBLAS (cuDNN turned off)") {
		t.Fatalf("the helper did not open the GPU without cuDNN:\n%s", out)
	}
	for _, e := range events {
		if strings.HasPrefix(e.name, "libcudnn") || e.kind == "call" {
			t.Errorf("with --no-cudnn: %s %s %s", e.kind, e.name, e.path)
		}
	}
	// And the GPU with cuDNN loads it, so the log would show it.
	if _, events := runLoadingHelper(t, "cudnn", emulatorDir, ""); !slices.ContainsFunc(events, func(e loadEvent) bool { return e.name == emulator.CuDNNShim }) {
		t.Errorf("with cuDNN, the shim's load is not in the log: %v", events)
	}
}

// Every libcudnn*.so.9 beside the shim is loaded by absolute path,
// libcudnn_graph first, before the shim and its first call, even one whose
// name cnntrain does not know. Here a system cuDNN's libcudnn_graph is on
// $LD_LIBRARY_PATH, which the loader searches before a library's runpath:
// a sub-library loaded before libcudnn_graph, or the shim's own dlopen by
// bare name on first use, would mix it in.
func TestCuDNNSubLibrariesArePreloadedGraphFirst(t *testing.T) {
	needEmulator(t)
	const unknown = "libcudnn_engines_next_release.so.9" // a part of a later cuDNN 9
	dir := emulatorCopy(t, unknown)
	system := t.TempDir()
	if err := emulator.BuildStandIn(system, "libcudnn_graph.so.9", ""); err != nil {
		t.Fatal(err)
	}
	out, events := runLoadingHelper(t, "cudnn", dir, system)
	if !strings.Contains(out, "convolutions: cuDNN 9") {
		t.Fatalf("the backend does not run its convolutions on cuDNN:\n%s", out)
	}
	var subs []string
	call := -1
	for i, e := range events {
		switch {
		case e.kind == "call":
			call = i
		case strings.HasPrefix(e.name, "libcudnn"):
			if filepath.Dir(e.path) != dir {
				t.Errorf("%s loaded from %s, not from cuDNN's folder %s", e.name, e.path, dir)
			}
			if call >= 0 {
				t.Errorf("%s loaded after the first cuDNN call", e.name)
			}
			if e.name != emulator.CuDNNShim {
				subs = append(subs, e.name)
			}
		}
	}
	if call < 0 {
		t.Error("no cuDNN call noted")
	}
	want := append(slices.Clone(emulator.CuDNNSubLibraries), unknown)
	if len(subs) == 0 || subs[0] != "libcudnn_graph.so.9" {
		t.Errorf("sub-libraries loaded in the order %v: libcudnn_graph.so.9 must come first", subs)
	}
	slices.Sort(want)
	slices.Sort(subs)
	if !slices.Equal(subs, want) {
		t.Errorf("sub-libraries loaded: %v, want %v", subs, want)
	}
}
