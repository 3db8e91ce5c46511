package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// openDataFile opens a data file for reading and refuses anything but a
// regular file. O_NONBLOCK keeps the open of a FIFO (which would wait for a
// writer) from hanging, should one replace the file after it was looked
// at; a regular file reads the same with it.
func openDataFile(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, nil, fmt.Errorf("%w: %s is a symlink loop, not a file", ErrCorrupt, path)
		}
		return nil, nil, err // *PathError: already names the file
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s %s", ErrCorrupt, path, notAFile(st.Mode()))
	}
	return f, st, nil
}

// notAFile words what a thing of mode is instead of a file.
func notAFile(mode fs.FileMode) string {
	switch {
	case mode.IsDir():
		return "is a folder, not a file"
	case mode&fs.ModeNamedPipe != 0:
		return "is a FIFO, not a file"
	case mode&fs.ModeSocket != 0:
		return "is a socket, not a file"
	case mode&fs.ModeDevice != 0:
		return "is a device, not a file"
	}
	return fmt.Sprintf("is not a regular file (mode %v)", mode)
}

// inTheWay says what stands at path where a data file belongs and is not
// one: a folder, a FIFO, a device, a symlink loop; "" when nothing is
// there (or a link to nothing, which a download replaces). Calling any of
// them missing would send the user looking for a file that is, in a way,
// there, and a download could not replace it.
func inTheWay(path string) string {
	if _, err := os.Lstat(path); err != nil {
		return ""
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, syscall.ELOOP):
		return "is a symlink loop, not a file"
	case err != nil:
		return ""
	case st.Mode().IsRegular():
		return ""
	}
	return notAFile(st.Mode())
}

// notFilesInTheWay refuses a missing file's name taken by something that
// is not a file (see inTheWay), naming it.
func notFilesInTheWay(dir string, missing []remoteFile) error {
	for _, f := range missing {
		for _, name := range []string{f.Name, strings.TrimSuffix(f.Name, ".gz")} {
			p := filepath.Join(dir, name)
			if what := inTheWay(p); what != "" {
				return fmt.Errorf("%w: %s %s; the data file %s belongs there", ErrCorrupt, p, what, name)
			}
		}
	}
	return nil
}
