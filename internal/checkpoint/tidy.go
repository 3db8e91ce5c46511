//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
)

// Tidy takes hold of a run folder that a command reads and draws into
// (eval, plot) and removes the temporary files a dead process left there,
// as Open does for --resume: holding the lock proves no live process is
// writing them. Nothing else cleans a finished run, which --resume
// refuses. A folder another process holds (a run still training, or
// another command tidying) is left as it is, and so is a temporary file
// this process may not remove (someone else's folder). Call release when
// done writing into the folder, so that the pictures drawn meanwhile are
// safe from another process tidying.
func Tidy(dir string) (cleaned []string, release func(), err error) {
	lock, err := lockDir(dir)
	if errors.Is(err, errLocked) {
		return nil, func() {}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("run folder %s: lock: %w", dir, err)
	}
	release = func() { lock.Close() }
	entries, err := os.ReadDir(dir)
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("run folder: %w", err)
	}
	for _, e := range entries {
		if atomicfile.IsTemp(e.Name()) && os.Remove(filepath.Join(dir, e.Name())) == nil {
			cleaned = append(cleaned, e.Name())
		}
	}
	return cleaned, release, nil
}
