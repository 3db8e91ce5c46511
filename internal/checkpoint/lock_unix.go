//go:build unix

package checkpoint

import (
	"errors"
	"io"
	"os"
	"syscall"
)

var errLocked = errors.New("locked")

// lockDir takes an exclusive flock on the folder itself, so no lock file is
// left in the run folder; the kernel drops it when the process dies.
func lockDir(dir string) (io.Closer, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return d, nil
}
