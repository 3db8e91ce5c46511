package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/pflag"
)

// run calls Main as the binary would and returns the exit code and streams.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, Streams{Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	dataDir := t.TempDir() // empty: every case must fail before reading data
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"train", "--model", "resnet"}, `unknown model "resnet" (known: cnn, mlp, vgg11, vgg16)`},
		{[]string{"train", "--model", "vgg16", "--dataset", "mnist"}, "VGG needs images of at least 32x32 pixels"},
		{[]string{"train", "--optimizer", "rmsprop"}, "optimizer must be sgd or adam"},
		{[]string{"train", "--model", "cnn", "--dataset", "cifar10", "--features", "8"}, "--features applies to the MNIST CNN"},
		{[]string{"train", "--dataset", "imagenet"}, `unknown dataset "imagenet"`},
		{[]string{"train", "--epochs", "0"}, "epochs must be at least 1"},
		{[]string{"train", "--lr", "-1"}, "learning rate must be a positive number"},
		{[]string{"train", "--lr", "inf"}, "learning rate must be a positive number, got +Inf"},
		{[]string{"train", "--optimizer", "adam", "--momentum", "0.9"}, "momentum applies to sgd only"},
		{[]string{"train", "--hidden", "0"}, "--hidden must be at least 1"},
		{[]string{"train", "--model", "vgg11", "--dataset", "cifar10", "--width", "0"}, "--width must be above 0"},
		{[]string{"train", "--momentum", "1.5"}, "momentum must be in [0, 1)"},
		{[]string{"train", "--batch-size", "x"}, `--batch-size x: want a whole number`},
		{[]string{"train", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{[]string{"train", "extra-argument"}, `unknown command "extra-argument"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"eval"}, "--checkpoint is required"},
		{[]string{"eval", "--batch-size", "-1", "--checkpoint", "x"}, "--batch-size must be at least 1"},
		{[]string{"shuffle-experiment", "--seeds", "0"}, "--seeds must be at least 1"},
		// An empty value (an unset shell variable) is no value: not a new
		// run, not the preset.
		{[]string{"train", "--resume", ""}, "--resume needs a run folder"},
		{[]string{"train", "--config", ""}, "--config needs a file name"},
		{[]string{"shuffle-experiment", "--config", ""}, "--config needs a file name"},
		{[]string{"shuffle-experiment", "--hidden", "-3"}, "hidden must be from 1 to 16384, got -3"},
	} {
		code, stdout, stderr := run(t, append(tc.args, "--data-dir", dataDir, "--no-download")...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, stderr)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q does not say %q", tc.args, stderr, tc.want)
		}
		if stdout != "" {
			t.Errorf("%v: wrote %q to stdout", tc.args, stdout)
		}
	}
}

// Commands without data flags, with their whole message: what is wrong
// and what to do, then where help is.
func TestUsageMessagesSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"models", "--summary", "foo"}, `unknown model "foo" (known: cnn, mlp, vgg11, vgg16)`},
		{[]string{"models", "--summary", "foo", "--dataset", "mnist"}, `unknown model "foo" (known: cnn, mlp, vgg11, vgg16)`},
		{[]string{"models", "--summary", "VGG1"}, `unknown model "vgg1" (did you mean vgg11?) (known: cnn, mlp, vgg11, vgg16)`},
		{[]string{"models", "--summary", "vgg11", "--width", "-1"}, "bad model option: --width must be in (0, 4], got -1"},
		{[]string{"completion", "foo"}, `unknown shell "foo" for completion (known: bash, fish, powershell, zsh)`},
		{[]string{"completion", "bsh"}, `unknown shell "bsh" for completion (did you mean bash?) (known: bash, fish, powershell, zsh)`},
		{[]string{"help", "trian"}, `no help on "trian": it is no command (did you mean train?) (commands: completion, datasets, devices, eval, models, plot, show, shuffle-experiment, train)`},
		{[]string{"plot"}, "plot needs the run folders to redraw (folders train wrote, holding checkpoint.json and metrics.jsonl): cnntrain plot RUN..."},
	} {
		code, stdout, stderr := run(t, tc.args...)
		want := "cnntrain: " + tc.want + "\nRun 'cnntrain " + tc.args[0] + " --help' for usage.\n"
		if code != ExitUsage || stderr != want || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q\n got %q\nwant %q", tc.args, code, stdout, stderr, want)
		}
	}
}

// A --data-dir that is a file is a usage error saying so, for every
// command that reads data, before any download is tried.
func TestDataDirThatIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"train"}, {"show"}, {"shuffle-experiment"}, {"datasets"}} {
		code, _, stderr := run(t, append(args, "--data-dir", file)...)
		if code != ExitUsage || !strings.Contains(stderr, "--data-dir "+file+" is a file; it must name a folder") {
			t.Errorf("%v: exit %d, %q", args, code, stderr)
		}
	}
}

func TestMissingDataSaysWhatToPutWhere(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, "train", "--data-dir", dir, "--no-download")
	if code != ExitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{dir, "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not name %q", stderr, want)
		}
	}
}

func TestEvalOfMissingCheckpointFails(t *testing.T) {
	code, _, stderr := run(t, "eval", "--checkpoint", "/no/such/run")
	if code != ExitFailure || !strings.Contains(stderr, "/no/such/run") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{context.Canceled, ExitInterrupted},
		{fmt.Errorf("train: %w", context.Canceled), ExitInterrupted},
		{usagef("bad"), ExitUsage},
		{fmt.Errorf("x: %w", config.ErrInvalidConfig), ExitUsage},
		{fmt.Errorf("x: %w", models.ErrIncompatible), ExitUsage},
		{fmt.Errorf("x: %w", datasets.ErrUnknownDataset), ExitUsage},
		{fmt.Errorf("x: %w", datasets.ErrCorrupt), ExitFailure},
		{fmt.Errorf("x: %w", train.ErrNaNLoss), ExitFailure},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// completion without a shell shows its help; with one, that shell's script.
func TestCompletionTakesAShell(t *testing.T) {
	if code, out, stderr := run(t, "completion"); code != ExitOK || !strings.Contains(out, "cnntrain completion SHELL") || stderr != "" {
		t.Errorf("completion: exit %d, stderr %q, help %q", code, stderr, out)
	}
	if code, out, stderr := run(t, "completion", "bash"); code != ExitOK || !strings.HasPrefix(out, "# bash completion") {
		t.Errorf("completion bash: exit %d, stderr %q", code, stderr)
	}
}

// A flag's value that does not parse is refused in plain words, naming the
// flag and the value, not in strconv's ("strconv.ParseInt: parsing …").
func TestFlagValueErrorsArePlain(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--epochs", "abc"}, "--epochs abc: want a whole number"},
		{[]string{"train", "--epochs=2.5"}, "--epochs 2.5: want a whole number"},
		{[]string{"train", "--epochs", "99999999999999999999"}, "--epochs 99999999999999999999: too large (at most 9223372036854775807)"},
		{[]string{"train", "--epochs", "-99999999999999999999"}, "--epochs -99999999999999999999: too small (at least -9223372036854775808)"},
		{[]string{"train", "--lr", "1e309"}, "--lr 1e309: out of range (at most ±1.7976931348623157e+308)"},
		{[]string{"train", "--lr", "fast"}, "--lr fast: want a number"},
		{[]string{"train", "--seed", "18446744073709551616"}, "--seed 18446744073709551616: too large (at most 18446744073709551615)"},
		{[]string{"train", "--seed", "-1"}, "--seed -1: negative; want a whole number ≥ 0"},
		{[]string{"shuffle-experiment", "--seeds", "x"}, "--seeds x: want a whole number"},
		{[]string{"train", "--augment=maybe"}, "--augment maybe: want true or false"},
		{[]string{"eval", "--permutation-seed", "1.5"}, "--permutation-seed 1.5: want a whole number ≥ 0"},
	} {
		code, stdout, stderr := run(t, tc.args...)
		want := "cnntrain: " + tc.want + "\nRun 'cnntrain " + tc.args[0] + " --help' for usage.\n"
		if code != ExitUsage || stderr != want || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q\n got %q\nwant %q", tc.args, code, stdout, stderr, want)
		}
	}
}

// A path or name flag given an empty value (an unset shell variable) is a
// usage error naming it, as an empty --resume or --config is, rather than
// the default the flag was meant to replace; --plot "" keeps its meaning
// (draw nothing).
func TestEmptyFlagValuesAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--run-dir="},
		{"train", "--data-dir", ""},
		{"train", "--model", ""},
		{"train", "--device", ""},
		{"eval", "--checkpoint", ""},
		{"eval", "--checkpoint", "run", "--data-dir", ""},
		{"shuffle-experiment", "--dataset="},
		{"show", "--out", ""},
		{"datasets", "--data-dir", ""},
		{"models", "--summary", ""},
		{"plot", "run", "--out", ""},
	} {
		flag := ""
		for _, a := range args {
			if strings.HasPrefix(a, "--") {
				flag = strings.TrimSuffix(a, "=")
			}
		}
		code, stdout, stderr := run(t, args...)
		want := "cnntrain: " + flag + " is empty (an unset shell variable?); give it a value, or leave the flag out for the default\n"
		if code != ExitUsage || !strings.HasPrefix(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q, want 2 and %q", args, code, stdout, stderr, want)
		}
	}
	// --plot "" still means no picture: eval goes on to the checkpoint.
	code, _, stderr := run(t, "eval", "--checkpoint", filepath.Join(t.TempDir(), "missing"), "--plot", "")
	if code != ExitFailure || !strings.Contains(stderr, "missing") {
		t.Errorf("eval --plot \"\": exit %d, %q", code, stderr)
	}
}

// A flag that does not apply to what the command runs is refused the same
// way everywhere, naming the flag and what it applies to, before any data
// is read: not silently ignored.
func TestFlagsThatDoNotApplyAreRefused(t *testing.T) {
	dataDir := t.TempDir() // empty: every case must fail before reading data
	bare := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(bare, []byte("not read"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--width", "0.5"}, "--width applies to vgg11 and vgg16 only, not to mlp"},
		{[]string{"train", "--model", "cnn", "--hidden", "16"}, "--hidden applies to mlp only, not to cnn"},
		{[]string{"train", "--model", "cnn", "--dataset", "cifar10", "--features", "8"}, "--features applies to the MNIST CNN only (cnn on 1-channel images), not to cnn on cifar10"},
		{[]string{"train", "--bn-batch-stats-at-test"}, "--bn-batch-stats-at-test applies to the models with BatchNorm only (vgg11, vgg16); mlp has none"},
		{[]string{"train", "--permutation-seed", "3"}, "--permutation-seed applies only with --shuffle-pixels; without it no pixels are permuted"},
		{[]string{"train", "--optimizer", "adam", "--momentum", "0.9"}, "--momentum applies to sgd only; adam uses its betas"},
		{[]string{"eval", "--checkpoint", bare, "--model", "mlp", "--dataset", "mnist", "--width", "0.5"}, "--width applies to vgg11 and vgg16 only, not to mlp"},
		{[]string{"eval", "--checkpoint", bare, "--model", "cnn", "--dataset", "mnist", "--bn-batch-stats-at-test"}, "--bn-batch-stats-at-test applies to the models with BatchNorm only"},
		{[]string{"eval", "--checkpoint", bare, "--model", "mlp", "--dataset", "mnist", "--permutation-seed", "2"}, "--permutation-seed applies only with --shuffle-pixels"},
		{[]string{"shuffle-experiment", "--dataset", "cifar10", "--features", "8"}, "--features applies to the MNIST CNN only (cnn on 1-channel images), not to cnn on cifar10"},
		{[]string{"shuffle-experiment", "--optimizer", "adam", "--momentum", "0.9"}, "--momentum applies to sgd only; adam uses its betas"},
		{[]string{"show", "--permutation-seed", "5"}, "--permutation-seed applies only with --shuffle-pixels"},
	} {
		code, stdout, stderr := run(t, append(tc.args, "--data-dir", dataDir, "--no-download")...)
		want := "cnntrain: " + tc.want
		if code != ExitUsage || !strings.HasPrefix(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q, want 2 and %q", tc.args, code, stdout, stderr, want)
		}
	}
	code, _, stderr := run(t, "models", "--summary", "mlp", "--width", "0.5")
	if code != ExitUsage || !strings.HasPrefix(stderr, "cnntrain: --width applies to vgg11 and vgg16 only, not to mlp") {
		t.Errorf("models --summary mlp --width 0.5: exit %d, %q", code, stderr)
	}
}

// shuffle-experiment trains the FC network and the CNN with one set of
// flags: a flag either of them reads is kept, one neither reads refused.
func TestShuffleExperimentKeepsAFlagOneModelReads(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // "" for kept
	}{
		{[]string{"--hidden", "16"}, ""},
		{[]string{"--features", "8"}, ""},
		{[]string{"--hidden", "16", "--features", "8", "--momentum", "0.9"}, ""},
		{[]string{"--optimizer", "adam", "--momentum", "0.9"}, "--momentum applies to sgd only"},
	} {
		var c configFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		c.addFlags(fs, "model", "shuffle_pixels", "permutation_seed", "augment", "bn_batch_stats_at_test", "width", "train_subset")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		base, err := c.resolve(nil)
		if err != nil {
			t.Fatal(err)
		}
		fc, cnn := base, base
		fc.Model, cnn.Model = "mlp", "cnn"
		err = c.refuseUnused(fc, cnn)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// --train-subset past the training split is refused by the split's size
// (it used to train on the whole split and drop the setting), and
// --optimizer, like --model, ignores case and suggests a near name.
func TestTrainSubsetAndOptimizerFlags(t *testing.T) {
	dataDir := t.TempDir() // empty: every case must fail before reading data
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--train-subset", "70000"}, "--train-subset 70000: mnist's training split has 60000 images"},
		{[]string{"train", "--dataset", "cifar10", "--model", "cnn", "--train-subset", "50001"}, "--train-subset 50001: cifar10's training split has 50000 images"},
		{[]string{"train", "--optimizer", "adm"}, `optimizer must be sgd or adam, got "adm" (did you mean adam?)`},
	} {
		code, _, stderr := run(t, append(tc.args, "--data-dir", dataDir, "--no-download")...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	for _, name := range []string{"ADAM", "Adam", "SGD"} {
		cfg, err := resolveWith(t, "", "--optimizer", name)
		if err != nil || cfg.Optimizer != strings.ToLower(name) || cfg.Check() != nil {
			t.Errorf("--optimizer %s: %q, %v, %v", name, cfg.Optimizer, err, cfg.Check())
		}
	}
	// A subset as large as the split is the whole split, still accepted.
	if _, err := resolveWith(t, "", "--train-subset", "60000"); err != nil {
		t.Errorf("--train-subset 60000: %v", err)
	}
}
