package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f.txt")
	if err := WriteBytes(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestFailedWriteLeavesOldContentAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := WriteBytes(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Errorf("content %q after a failed write, want the old one", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries in the folder, want only f.txt", len(entries))
	}
}

// A folder where the file should go is refused before anything is
// written, saying so: not "file exists" from the final rename.
func TestFolderInTheWay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	called := false
	err := Write(path, func(io.Writer) error { called = true; return nil })
	if err == nil || err.Error() != "cannot write "+path+": it is a folder; name a file" {
		t.Errorf("got %v", err)
	}
	if called {
		t.Error("the content was written before the folder was noticed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in the folder, want only the folder out.png", len(entries))
	}
}

// A written file is readable by others unless the umask says otherwise, and
// its temporary name is one IsTemp recognises (so a later run can clean up
// after a process that died mid-write).
func TestModeFollowsUmaskAndTempNamesAreRecognised(t *testing.T) {
	for _, tc := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o644}, {0o077, 0o600}} {
		old := setUmask(tc.umask)
		path := filepath.Join(t.TempDir(), "new", "f.txt") // its folder made by Write
		var tempName string
		err := Write(path, func(w io.Writer) error {
			tempName = filepath.Base(w.(*os.File).Name())
			_, err := w.Write([]byte("x"))
			return err
		})
		setUmask(old)
		if err != nil {
			t.Fatal(err)
		}
		// The folder Write makes is as mkdir makes one: 0755 less the umask.
		if dir, err := os.Stat(filepath.Dir(path)); err != nil || dir.Mode().Perm() != 0o755&^os.FileMode(tc.umask) {
			t.Errorf("umask %03o: folder made with mode %v, %v", tc.umask, dir.Mode().Perm(), err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != tc.want {
			t.Errorf("umask %03o: mode %03o, want %03o", tc.umask, got, tc.want)
		}
		if !IsTemp(tempName) {
			t.Errorf("IsTemp(%q) = false for Write's own temporary file", tempName)
		}
	}
	for _, name := range []string{"f.txt", "model.safetensors", "tmp-notes", ".hidden", "weights.tmp-1"} {
		if IsTemp(name) {
			t.Errorf("IsTemp(%q) = true", name)
		}
	}
}

// Link replaces the destination by the source's file, leaves no temporary
// name behind, and is a no-op when both already are one file.
func TestLinkPublishesTheSourceFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "step", "f"), filepath.Join(dir, "f")
	if err := WriteBytes(src, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(dst, []byte("old")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time both are one file already
		if err := Link(src, dst); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || string(got) != "new" {
			t.Fatalf("read %q, %v", got, err)
		}
		a, _ := os.Stat(src)
		b, _ := os.Stat(dst)
		if !os.SameFile(a, b) {
			t.Error("not a hard link of the source")
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("folder holds %v, want the file and the step folder", entries)
		}
	}
	if err := Link(filepath.Join(dir, "missing"), dst); err == nil {
		t.Error("linking a missing file succeeded")
	}
}

func TestTempDirIsATemporaryName(t *testing.T) {
	dir := t.TempDir()
	path, err := TempDir(dir, "step-7")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() || filepath.Dir(path) != dir || !IsTemp(filepath.Base(path)) {
		t.Fatalf("TempDir gave %s (%v, %v)", path, st, err)
	}
}
