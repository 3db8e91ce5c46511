package datasets

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStatusSaysWhatIsWhere(t *testing.T) {
	dir := t.TempDir()
	mnist := filepath.Join(dir, "mnist")
	if err := os.MkdirAll(mnist, 0o755); err != nil {
		t.Fatal(err)
	}
	// One file present uncompressed, one present as a folder (not a file).
	if err := os.WriteFile(filepath.Join(mnist, "train-labels-idx1-ubyte"), []byte{0}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mnist, "t10k-labels-idx1-ubyte.gz"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := Status("mnist", dir)
	if err != nil {
		t.Fatal(err)
	}
	present := map[string]string{}
	for _, f := range st {
		if f.Present {
			present[f.Name] = f.Path
		}
	}
	if len(st) != 4 || len(present) != 1 || present["train-labels-idx1-ubyte.gz"] != filepath.Join(mnist, "train-labels-idx1-ubyte") {
		t.Errorf("status %+v", st)
	}
	if _, err := Status("svhn", dir); err == nil {
		t.Error("an unknown dataset has a status")
	}
}

// A relative data folder is reported as absolute paths, usable from any
// working directory.
func TestStatusPathsAreAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	st, err := Status("mnist", "data")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range st {
		if !filepath.IsAbs(f.Path) {
			t.Errorf("%s: path %q is relative", f.Name, f.Path)
		}
	}
}
