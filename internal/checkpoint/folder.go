package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// Open takes hold of an existing run folder to resume it and removes the
// temporary files a process that died while saving left behind: holding the
// lock proves no live process is writing them.
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("run folder: %w", err)
	}
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				f.Close()
				return nil, fmt.Errorf("run folder: remove a dead run's temporary file: %w", err)
			}
			f.Cleaned = append(f.Cleaned, e.Name())
		}
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
