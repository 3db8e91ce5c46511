package checkpoint

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
)

// ErrRunExists is returned by Create for a folder that is already there.
var ErrRunExists = errors.New("run folder already exists")

// ErrInUse is returned by Open for a folder another process holds.
var ErrInUse = errors.New("run folder is in use by another cnntrain process")

// dirMode is a run folder's permission before the umask: readable by all.
const dirMode fs.FileMode = 0o755

// Folder is a run folder this process holds: claimed under its final name
// when a run starts (Create, CreateUnique) or reopened to resume one (Open).
// It stays locked while held, so two processes never write one folder; the
// lock dies with the process, so a run killed with -9 can be resumed.
type Folder struct {
	Dir string
	// Cleaned lists the temporary files of a dead process that Open removed.
	Cleaned []string
	lock    io.Closer
	created bool // claimed by this process: Discard may remove it
	saved   bool // holds a checkpoint written by this process
}

// Create claims dir for a new run: it makes the folder (and its parents),
// failing with ErrRunExists if it is already there, and checks it can write
// in it. Any spelling of the path works: "out/", "out/." and "out" are one
// folder.
func Create(dir string) (*Folder, error) {
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(filepath.Dir(dir), dirMode); err != nil {
		return nil, fmt.Errorf("run folder %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrRunExists, dir)
		}
		return nil, fmt.Errorf("run folder: %w", err)
	}
	f, err := hold(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	f.created = true
	return f, nil
}

// CreateUnique claims a new folder root/name-<time>, adding -2, -3, … when
// another run, in this process or another, took that name first. Mkdir is
// the arbiter, so two runs started in the same second get two folders.
func CreateUnique(root, name string, now time.Time) (*Folder, error) {
	base := filepath.Join(root, name+"-"+now.Format("20060102-150405"))
	for i := 1; i <= 1000; i++ {
		dir := base
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", base, i)
		}
		f, err := Create(dir)
		if !errors.Is(err, ErrRunExists) {
			return f, err
		}
	}
	return nil, fmt.Errorf("run folder: %s-2 … -1000 are all taken", base)
}

// Open takes hold of an existing run folder to resume it, removes the
// temporary files a process that died while saving left behind (holding the
// lock proves no live process is writing them) and makes the top-level
// files its newest committed checkpoint's again.
func Open(dir string) (*Folder, error) {
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run folder: %s is not a folder", dir)
	}
	f, err := hold(dir)
	if err != nil {
		return nil, err
	}
	if err := f.recoverCheckpoint(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// hold locks dir and checks that files can be written in it.
func hold(dir string) (*Folder, error) {
	lock, err := lockDir(dir)
	if errors.Is(err, errLocked) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("run folder %s: lock: %w", dir, err)
	}
	probe := filepath.Join(dir, ".write-check")
	if err := atomicfile.WriteBytes(probe, nil); err != nil {
		lock.Close()
		return nil, fmt.Errorf("run folder %s is not writable: %w", dir, err)
	}
	os.Remove(probe)
	return &Folder{Dir: dir, lock: lock}, nil
}

// Path is the path of a file in the folder.
func (f *Folder) Path(name string) string { return filepath.Join(f.Dir, name) }

// Saved reports whether this process saved a checkpoint into the folder.
func (f *Folder) Saved() bool { return f.saved }

// Close releases the folder.
func (f *Folder) Close() error {
	if f.lock == nil {
		return nil
	}
	err := f.lock.Close()
	f.lock = nil
	return err
}

// Discard removes the folder if this process created it and saved nothing
// into it (a run that failed or was stopped before its first checkpoint),
// so the same --run-dir can be used again; any other folder is kept. It
// releases the folder either way.
func (f *Folder) Discard() error {
	if err := f.Close(); err != nil {
		return err
	}
	if !f.created || f.saved {
		return nil
	}
	return os.RemoveAll(f.Dir)
}

// CheckpointsDir is the folder of a run folder that holds its committed
// checkpoint, checkpoints/step-<N>, while the top-level files are links to
// it; during a save the next one is written beside it under a temporary
// name.
const CheckpointsDir = "checkpoints"

// checkpointFiles are a checkpoint's files in the order they are published
// at the top: checkpoint.json last, so that it never names a step whose
// weights are not yet there.
var checkpointFiles = []string{WeightsFile, OptimizerFile, ConfigFile, InfoFile}

// Begin records a new run's settings in its claimed folder (checkpoint.json
// with StatusStarted, and config.yaml) before any data is read, so a run
// killed before its first checkpoint can be started over by --resume.
func (f *Folder) Begin(info RunInfo) error {
	info.Format, info.Weights, info.Status = infoFormat, WeightsFile, StatusStarted
	info.Created = time.Now().UTC().Format(time.RFC3339)
	return writeInfo(f.Dir, info)
}

// checkpointName is the folder of a checkpoint after steps updates; a
// second save at the same step (the one that finishes a run, or Ctrl-C right
// after a checkpoint) is step-<N>.2, and so on.
func checkpointName(steps, nth int) string {
	if nth <= 1 {
		return fmt.Sprintf("step-%d", steps)
	}
	return fmt.Sprintf("step-%d.%d", steps, nth)
}

// parseCheckpointName is checkpointName's inverse; ok is false for any other
// name, which the folder's code never touches.
func parseCheckpointName(name string) (steps, nth int, ok bool) {
	rest, found := strings.CutPrefix(name, "step-")
	if !found {
		return 0, 0, false
	}
	stepsText, nthText, hasNth := strings.Cut(rest, ".")
	steps, err := strconv.Atoi(stepsText)
	if err != nil || steps < 0 || strconv.Itoa(steps) != stepsText {
		return 0, 0, false
	}
	nth = 1
	if hasNth {
		if nth, err = strconv.Atoi(nthText); err != nil || nth < 2 || strconv.Itoa(nth) != nthText {
			return 0, 0, false
		}
	}
	return steps, nth, true
}

// committed lists the folder's committed checkpoints, oldest first.
func (f *Folder) committed() ([]string, error) {
	entries, err := os.ReadDir(f.Path(CheckpointsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	type ckpt struct {
		name       string
		steps, nth int
	}
	var found []ckpt
	for _, e := range entries {
		if steps, nth, ok := parseCheckpointName(e.Name()); ok && e.IsDir() {
			found = append(found, ckpt{e.Name(), steps, nth})
		}
	}
	slices.SortFunc(found, func(a, b ckpt) int { return cmp.Or(cmp.Compare(a.steps, b.steps), cmp.Compare(a.nth, b.nth)) })
	names := make([]string, len(found))
	for i, c := range found {
		names[i] = c.name
	}
	return names, nil
}

// commit writes a checkpoint after steps updates with write, into a
// temporary folder that one rename makes checkpoints/step-<N>, then
// publishes it at the top and removes the checkpoints before it.
func (f *Folder) commit(steps int, write func(dir string) error) error {
	root := f.Path(CheckpointsDir)
	if err := os.Mkdir(root, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	atomicfile.SyncDir(f.Dir)
	existing, err := f.committed()
	if err != nil {
		return err
	}
	// After every checkpoint there is, even of the same step: the newest is
	// the greatest name, which is what Open recovers.
	nth := 1
	for _, e := range existing {
		if s, n, _ := parseCheckpointName(e); s == steps {
			nth = max(nth, n+1)
		} else if s > steps {
			return fmt.Errorf("save checkpoint of step %d: %s holds a later one, %s", steps, root, e)
		}
	}
	name := checkpointName(steps, nth)
	tmp, err := atomicfile.TempDir(root, name)
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	if err := write(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	atomicfile.SyncDir(tmp)
	if err := os.Rename(tmp, filepath.Join(root, name)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("save checkpoint: %w", err)
	}
	atomicfile.SyncDir(root) // the commit point
	return f.publish(name)
}

// publish makes the committed checkpoint name the folder's top-level files
// and removes every other committed checkpoint. A process killed on the way
// leaves name committed, and Open publishes it again.
func (f *Folder) publish(name string) error {
	dir := filepath.Join(f.Path(CheckpointsDir), name)
	for _, file := range checkpointFiles {
		src := filepath.Join(dir, file)
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) && file == OptimizerFile {
			continue // saved without an optimizer state
		}
		if err := atomicfile.Link(src, f.Path(file)); err != nil {
			return fmt.Errorf("publish checkpoint %s: %w", dir, err)
		}
	}
	atomicfile.SyncDir(f.Dir)
	all, err := f.committed()
	if err != nil {
		return err
	}
	for _, old := range all {
		if old != name {
			if err := removeDir(filepath.Join(f.Path(CheckpointsDir), old)); err != nil {
				return fmt.Errorf("remove the previous checkpoint: %w", err)
			}
		}
	}
	return nil
}

// removeDir removes a folder by first renaming it to a temporary name, so
// that a process killed while removing it never leaves a half-removed folder
// under a committed checkpoint's name.
func removeDir(dir string) error {
	trash, err := atomicfile.TempDir(filepath.Dir(dir), filepath.Base(dir))
	if err != nil {
		return err
	}
	if err := os.Remove(trash); err != nil {
		return err
	}
	if err := os.Rename(dir, trash); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// recoverCheckpoint, called with the lock held, removes what a process that
// died while saving left under temporary names (recording them in Cleaned)
// and publishes the newest committed checkpoint again, in case the process
// died between committing and publishing it.
func (f *Folder) recoverCheckpoint() error {
	for _, dir := range []string{f.Dir, f.Path(CheckpointsDir)} {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) && dir != f.Dir {
			continue
		}
		if err != nil {
			return fmt.Errorf("run folder: %w", err)
		}
		for _, e := range entries {
			if atomicfile.IsTemp(e.Name()) {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("run folder: remove a dead run's temporary file: %w", err)
				}
				rel, _ := filepath.Rel(f.Dir, filepath.Join(dir, e.Name()))
				f.Cleaned = append(f.Cleaned, rel)
			}
		}
	}
	all, err := f.committed()
	if err != nil || len(all) == 0 {
		return err
	}
	return f.publish(all[len(all)-1])
}
