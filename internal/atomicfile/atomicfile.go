// Package atomicfile writes files so that readers see either the old content or the
// complete new content, never a half-written file: the data goes to a temporary file
// in the same directory, is synced, and is renamed over the destination.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode is the permission of every file written, before the umask: readable by
// everyone, as files made by cp or a shell redirection are.
const Mode fs.FileMode = 0o644

// tempInfix marks a temporary file: ".<name>.tmp-<random>".
const tempInfix = ".tmp-"

// IsTemp reports whether a directory entry's name is one of Write's temporary
// files, which a process that died while writing leaves behind.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix)
}

// Write creates path with the bytes that fill writes. If fill fails, or anything on
// the way does, the destination is left untouched and the temporary file removed.
// The file gets Mode less the process's umask.
func Write(path string, fill func(w io.Writer) error) (err error) {
	// A folder in the way would fail only at the rename, after all the
	// writing, and with "file exists", which says nothing useful.
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("cannot write %s: it is a folder; name a file", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := createTemp(dir, "."+filepath.Base(path)+tempInfix)
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	SyncDir(dir)
	return nil
}

// TempDir creates an empty folder in dir for what will be renamed to name
// once complete, under a temporary name (".<name>.tmp-<random>", which IsTemp
// recognizes), with the permission of folders made by mkdir less the umask.
func TempDir(dir, name string) (string, error) {
	for range 100 {
		path := filepath.Join(dir, "."+name+tempInfix+strconv.FormatUint(rand.Uint64(), 36))
		err := os.Mkdir(path, 0o755)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create temporary folder for %s: %w", filepath.Join(dir, name), err)
		}
	}
	return "", fmt.Errorf("no free temporary name in %s", dir)
}

// Link makes dst the file src is, atomically: readers of dst see the old
// file or src, never a mix. It is a hard link where the filesystem has them
// (no copy, no extra space), else a copy written as Write does. A link is
// durable once the caller syncs dst's folder (SyncDir).
func Link(src, dst string) error {
	if a, err := os.Stat(src); err != nil {
		return fmt.Errorf("link %s: %w", dst, err)
	} else if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
		return nil // rename between two links of one file would do nothing and keep the temporary name
	}
	dir := filepath.Dir(dst)
	for range 100 {
		tmp := filepath.Join(dir, "."+filepath.Base(dst)+tempInfix+strconv.FormatUint(rand.Uint64(), 36))
		err := os.Link(src, tmp)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return copyFile(src, dst) // a filesystem without hard links
		}
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("rename into %s: %w", dst, err)
		}
		return nil // SyncDir is the caller's, once for all its links
	}
	return fmt.Errorf("no free temporary name in %s", dir)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	defer in.Close()
	return Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// createTemp is os.CreateTemp with Mode instead of 0600, so the umask, not
// the temporary name, decides who may read the final file.
func createTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, Mode)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("no free temporary name in %s", dir)
}

// SyncDir makes a rename or a new entry in dir durable across a power cut.
// It is best effort: some systems cannot sync a directory, and the rename
// itself has already succeeded.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// WriteBytes is Write for content already in memory.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
