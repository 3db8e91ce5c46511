//go:build unix

package checkpoint_test

import (
	"errors"
	"fmt"
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
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			st, _ := e.Info()
			if st.Mode().Perm() != tc.fileMd {
				t.Errorf("umask %03o: %s has mode %v, want %v", tc.umask, e.Name(), st.Mode().Perm(), tc.fileMd)
			}
		}
		if len(entries) != 4 {
			t.Errorf("run folder holds %d files, want 4", len(entries))
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
