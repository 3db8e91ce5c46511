package cli

import (
	"os"
	"path/filepath"
	"strings"
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
