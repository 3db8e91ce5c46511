//go:build unix

package checkpoint_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cnntrain/cnntrain/internal/checkpoint"
	"github.com/cnntrain/cnntrain/internal/models"
)

// "out/", "out/." and "out" name one folder: the first claims it, the
// others are told it exists (the trailing slash once made a finished run
// fail at its final rename).
func TestCreateAcceptsAnySpelling(t *testing.T) {
	root := t.TempDir()
	for _, spelling := range []string{"out/", "out/.", "out", "./out//"} {
		f, err := checkpoint.Create(filepath.Join(root, spelling))
		if spelling == "out/" {
			if err != nil {
				t.Fatalf("%q: %v", spelling, err)
			}
			if f.Dir != filepath.Join(root, "out") {
				t.Errorf("%q: folder %s", spelling, f.Dir)
			}
			saveTiny(t, f)
			f.Close()
			continue
		}
		if !errors.Is(err, checkpoint.ErrRunExists) {
			t.Errorf("%q after out/: got %v, want ErrRunExists", spelling, err)
		}
	}
	if _, _, err := checkpoint.LoadRunInfo(filepath.Join(root, "out")); err != nil {
		t.Errorf("the run saved through out/ cannot be read: %v", err)
	}
}

// Runs started in the same second, in goroutines as in processes, each get
// their own folder: Mkdir decides, not a Stat before it.
func TestCreateUniqueNeverSharesAName(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 27, 0, 15, 0, 0, time.UTC)
	const runs = 16
	dirs := make([]string, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() {
			f, err := checkpoint.CreateUnique(root, "cnn-mnist", now)
			if err != nil {
				t.Error(err)
				return
			}
			dirs[i] = f.Dir
			f.Close()
		})
	}
	wg.Wait()
	slices.Sort(dirs)
	if len(slices.Compact(slices.Clone(dirs))) != runs {
		t.Errorf("%d runs got folders %v", runs, dirs)
	}
	if !slices.Contains(dirs, filepath.Join(root, "cnn-mnist-20261127-001500")) || !slices.Contains(dirs, filepath.Join(root, "cnn-mnist-20261127-001500-16")) {
		t.Errorf("names %v, want cnn-mnist-20261127-001500 and -2 … -16", dirs)
	}
}

// A folder that cannot be made under a file fails at Create, which a run
// calls before loading data.
func TestCreateFailsUnderAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Create(filepath.Join(file, "run")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a run folder under a file: got %v", err)
	}
}

// A folder that cannot be made in a read-only folder fails at Create too,
// and leaves nothing behind.
func TestCreateFailsInAReadOnlyFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders, so the permission error cannot happen; run the tests as another user to check it")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(ro, "run")
	if _, err := checkpoint.Create(run); !errors.Is(err, os.ErrPermission) {
		t.Errorf("a run folder in a read-only folder: got %v", err)
	}
	if _, err := os.Lstat(run); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Create left %s behind (%v)", run, err)
	}
}

// Run folders and their files are readable by others unless the umask says
// otherwise.
func TestRunFolderModesFollowTheUmask(t *testing.T) {
	for _, tc := range []struct {
		umask           int
		dirMode, fileMd os.FileMode
	}{{0o022, 0o755, 0o644}, {0o077, 0o700, 0o600}, {0o002, 0o755, 0o644}} {
		old := syscall.Umask(tc.umask)
		dir := filepath.Join(t.TempDir(), "runs", "run")
		f, err := checkpoint.Create(dir)
		if err == nil {
			saveTiny(t, f)
			f.Close()
		}
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{dir, filepath.Dir(dir)} {
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != tc.dirMode {
				t.Errorf("umask %03o: %s has mode %v (%v), want %v", tc.umask, path, st.Mode().Perm(), err, tc.dirMode)
			}
		}
		// The four files at the top, and the committed checkpoint they link to.
		var files []string
		filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			st, _ := e.Info()
			want := tc.fileMd
			if e.IsDir() {
				want = tc.dirMode
			} else {
				rel, _ := filepath.Rel(dir, path)
				files = append(files, rel)
			}
			if st.Mode().Perm() != want {
				t.Errorf("umask %03o: %s has mode %v, want %v", tc.umask, path, st.Mode().Perm(), want)
			}
			return nil
		})
		want := []string{"checkpoint.json", "checkpoints/step-0/checkpoint.json", "checkpoints/step-0/config.yaml",
			"checkpoints/step-0/model.safetensors", "checkpoints/step-0/optimizer.safetensors", "config.yaml", "model.safetensors", "optimizer.safetensors"}
		if !slices.Equal(files, want) {
			t.Errorf("run folder holds %q, want %q", files, want)
		}
	}
}

// One process at a time holds a folder; the lock goes with Close (and with
// the process). Discard removes only a folder created and never saved into.
func TestFolderLockAndDiscard(t *testing.T) {
	root := t.TempDir()
	saved := filepath.Join(root, "saved")
	f, err := checkpoint.Create(saved)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint.Open(saved); !errors.Is(err, checkpoint.ErrInUse) {
		t.Errorf("opening a held folder: got %v, want ErrInUse", err)
	}
	saveTiny(t, f)
	if err := f.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(saved, checkpoint.WeightsFile)); err != nil {
		t.Errorf("Discard removed a folder holding a checkpoint: %v", err)
	}
	reopened, err := checkpoint.Open(saved)
	if err != nil {
		t.Fatalf("opening a released folder: %v", err)
	}
	reopened.Discard() // opened, not created: kept
	if _, err := os.Stat(saved); err != nil {
		t.Errorf("Discard removed a folder it did not create: %v", err)
	}

	empty := filepath.Join(root, "empty")
	f, err = checkpoint.Create(empty)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("Discard kept a folder with nothing saved: %v", err)
	}
}

// saveTiny saves a small model's weights, optimizer state (none yet),
// config.yaml and checkpoint.json into f.
func saveTiny(t *testing.T, f *checkpoint.Folder) {
	t.Helper()
	m, err := models.New("mlp", models.Input{C: 1, H: 4, W: 4, Classes: 3}, models.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	opt := &checkpoint.OptimizerState{Optimizer: "SGD"}
	if err := f.Save(m, opt, checkpoint.RunInfo{Status: checkpoint.StatusFinished}); err != nil {
		t.Fatal(fmt.Errorf("save: %w", err))
	}
}

// A process killed anywhere in a save leaves a folder that Open makes whole:
// the newest committed checkpoint at the top, temporaries gone, nothing of
// an uncommitted save kept.
func TestOpenRecoversEveryStageOfASave(t *testing.T) {
	// saved is a folder after checkpoints of steps 1 and 2 (step 2 committed
	// and published) and the files of a step-3 save in the making.
	saved := func(t *testing.T) (dir string, step2 []byte) {
		dir = filepath.Join(t.TempDir(), "run")
		f, err := checkpoint.Create(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, steps := range []int{1, 2} {
			saveSteps(t, f, steps)
		}
		return dir, readFile(t, filepath.Join(dir, checkpoint.WeightsFile))
	}
	ckpts := func(dir string) string { return filepath.Join(dir, checkpoint.CheckpointsDir) }
	for _, tc := range []struct {
		name      string
		damage    func(t *testing.T, dir string) // what the dead process left
		wantSteps string                         // the checkpoint Open publishes
	}{
		{"killed while writing the next one", func(t *testing.T, dir string) {
			half := filepath.Join(ckpts(dir), ".step-3.tmp-abc")
			os.Mkdir(half, 0o755)
			os.WriteFile(filepath.Join(half, checkpoint.WeightsFile), []byte("half"), 0o644)
		}, "2"},
		{"killed between the commit and publishing it", func(t *testing.T, dir string) {
			copyTree(t, filepath.Join(ckpts(dir), "step-2"), filepath.Join(ckpts(dir), "step-3"))
			setStep(t, filepath.Join(ckpts(dir), "step-3"), 3)
			// The weights are at the top already, checkpoint.json is not.
			os.Remove(filepath.Join(dir, checkpoint.WeightsFile))
			os.Link(filepath.Join(ckpts(dir), "step-3", checkpoint.WeightsFile), filepath.Join(dir, checkpoint.WeightsFile))
			os.WriteFile(filepath.Join(dir, ".checkpoint.json.tmp-xyz"), nil, 0o644)
		}, "3"},
		{"killed while removing the previous one", func(t *testing.T, dir string) {
			copyTree(t, filepath.Join(ckpts(dir), "step-2"), filepath.Join(ckpts(dir), ".step-1.tmp-old"))
		}, "2"},
		{"killed after a second save at the same step committed", func(t *testing.T, dir string) {
			copyTree(t, filepath.Join(ckpts(dir), "step-2"), filepath.Join(ckpts(dir), "step-2.2"))
			os.WriteFile(filepath.Join(ckpts(dir), "step-2.2", checkpoint.ConfigFile), []byte("second: true\n"), 0o644)
		}, "2.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := saved(t)
			tc.damage(t, dir)
			f, err := checkpoint.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			entries, _ := os.ReadDir(ckpts(dir))
			if len(entries) != 1 || entries[0].Name() != "step-"+tc.wantSteps {
				t.Errorf("checkpoints/ holds %v, want step-%s alone", entries, tc.wantSteps)
			}
			for _, file := range []string{checkpoint.WeightsFile, checkpoint.OptimizerFile, checkpoint.ConfigFile, checkpoint.InfoFile} {
				top, _ := os.Stat(filepath.Join(dir, file))
				inside, _ := os.Stat(filepath.Join(ckpts(dir), "step-"+tc.wantSteps, file))
				if top == nil || inside == nil || !os.SameFile(top, inside) {
					t.Errorf("%s at the top is not step-%s's", file, tc.wantSteps)
				}
			}
			top, _ := os.ReadDir(dir)
			for _, e := range top {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("Open left %s", e.Name())
				}
			}
		})
	}
}

// saveSteps saves a checkpoint after steps updates.
func saveSteps(t *testing.T, f *checkpoint.Folder, steps int) {
	t.Helper()
	m, err := models.New("mlp", models.Input{C: 1, H: 4, W: 4, Classes: 3}, models.Config{Seed: uint64(steps)})
	if err != nil {
		t.Fatal(err)
	}
	opt := &checkpoint.OptimizerState{Optimizer: "SGD", Steps: steps}
	if err := f.Save(m, opt, checkpoint.RunInfo{Status: checkpoint.StatusRunning, Progress: &checkpoint.Progress{Steps: steps}}); err != nil {
		t.Fatal(err)
	}
}

// setStep rewrites the step count of a checkpoint folder's optimizer state.
func setStep(t *testing.T, dir string, steps int) {
	t.Helper()
	path := filepath.Join(dir, checkpoint.OptimizerFile)
	s, err := checkpoint.LoadOptimizer(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Steps = steps
	if err := checkpoint.SaveOptimizer(path, s); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Saves at one step get step-N, step-N.2, …: the newest is always the
// greatest, whatever was pruned in between.
func TestSavesAtOneStepGetGrowingNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	f, err := checkpoint.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, want := range []string{"step-5", "step-5.2", "step-5.3"} {
		saveSteps(t, f, 5)
		entries, _ := os.ReadDir(filepath.Join(dir, checkpoint.CheckpointsDir))
		if len(entries) != 1 || entries[0].Name() != want {
			t.Errorf("checkpoints/ holds %v, want %s alone", entries, want)
		}
	}
}
