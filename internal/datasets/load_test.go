package datasets

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNamesAndLookup(t *testing.T) {
	if got, want := Names(), []string{"cifar10", "fashion-mnist", "mnist"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	m, err := Lookup("mnist")
	if err != nil {
		t.Fatal(err)
	}
	if m.C != 1 || m.H != 28 || m.W != 28 || m.TrainSize != 60000 || m.TestSize != 10000 ||
		m.Mean[0] != 0.1307 || m.Std[0] != 0.3081 || len(m.Classes) != 10 || m.Classes[3] != "3 - three" {
		t.Errorf("mnist info: %+v", m)
	}
	f, err := Lookup("fashion-mnist")
	if err != nil {
		t.Fatal(err)
	}
	if f.Mean[0] != 0.2860 || f.Std[0] != 0.3530 || len(f.Classes) != 10 || f.Classes[0] != "T-shirt/top" || f.Classes[9] != "Ankle boot" {
		t.Errorf("fashion-mnist info: %+v", f)
	}
	if m.ShortClasses != nil || f.ShortClasses != nil {
		t.Errorf("the MNISTs have no short class names: %v, %v", m.ShortClasses, f.ShortClasses)
	}
	c, err := Lookup("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	if c.C != 3 || c.H != 32 || c.W != 32 || c.TrainSize != 50000 || c.TestSize != 10000 ||
		!slices.Equal(c.Mean, []float32{0.4914, 0.4822, 0.4465}) || !slices.Equal(c.Std, []float32{0.2023, 0.1994, 0.2010}) {
		t.Errorf("cifar10 info: %+v", c)
	}
	if want := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}; !slices.Equal(c.Classes, want) {
		t.Errorf("cifar10 classes %v", c.Classes)
	}
	// The notebooks' classes = ('plane', 'car', 'bird', ...).
	if want := []string{"plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}; !slices.Equal(c.ShortClasses, want) {
		t.Errorf("cifar10 short classes %v", c.ShortClasses)
	}
	// Lookup hands out copies: changing them must not change the table.
	m.Classes[0], m.Mean[0] = "changed", 42
	c.ShortClasses[0], c.Std[2] = "changed", 42
	if again, _ := Lookup("mnist"); again.Classes[0] != "0 - zero" || again.Mean[0] != 0.1307 {
		t.Errorf("Lookup result aliases the table: %+v", again)
	}
	if again, _ := Lookup("cifar10"); again.ShortClasses[0] != "plane" || again.Std[2] != 0.2010 {
		t.Errorf("Lookup result aliases the table: %+v", again)
	}
	if c.Preset.Normalize == nil {
		t.Fatal("cifar10's notebook preset has no normalization")
	}
	c.Preset.Normalize.Mean[0] = 42
	if again, _ := Lookup("cifar10"); again.Preset.Normalize.Mean[0] == 42 {
		t.Error("Lookup result aliases the table's preset normalization")
	}

	// The notebooks print CIFAR-10's short names and the MNISTs' own.
	if fresh, _ := Lookup("cifar10"); fresh.NotebookClasses()[0] != "plane" {
		t.Errorf("cifar10 notebook classes %v", fresh.NotebookClasses())
	}
	if got := m.NotebookClasses(); !slices.Equal(got, m.Classes) {
		t.Errorf("mnist notebook classes %v", got)
	}
	// Names are matched without regard to case, as --dataset takes them.
	if info, err := Lookup("Fashion-MNIST"); err != nil || info.Name != "fashion-mnist" {
		t.Errorf("Lookup(Fashion-MNIST): %v, %v", info.Name, err)
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("cifar100")
	if !errors.Is(err, ErrUnknownDataset) {
		t.Fatalf("got %v, want ErrUnknownDataset", err)
	}
	if !strings.Contains(err.Error(), `"cifar100"`) || !strings.Contains(err.Error(), "fashion-mnist, mnist") {
		t.Errorf("error should name the dataset and list the known ones: %v", err)
	}
	if _, _, err := Load(context.Background(), "cifar100", t.TempDir(), LoadOptions{}); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("Load: got %v, want ErrUnknownDataset", err)
	}
}

func TestResolveDataDir(t *testing.T) {
	t.Setenv("CNNTRAIN_DATA", "/from/env")
	if got := ResolveDataDir("/from/flag"); got != "/from/flag" {
		t.Errorf("flag: got %q", got)
	}
	if got := ResolveDataDir(""); got != "/from/env" {
		t.Errorf("env: got %q", got)
	}
	t.Setenv("CNNTRAIN_DATA", "")
	if got := ResolveDataDir(""); got != "./data" {
		t.Errorf("default: got %q", got)
	}
}

func TestLoadTiny(t *testing.T) {
	files := useTinyDataset(t)
	dir := t.TempDir()
	// Mixed storage: two files gzipped, two plain.
	writeTiny(t, dir, files, trainLabelsIDX, testImagesIDX)
	train, test, err := Load(context.Background(), "tiny", dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *Split, name string, n, split int) {
		t.Helper()
		if s.Name != name || s.N != n || s.C != 1 || s.H != tinyH || s.W != tinyW || s.ImageSize() != tinyH*tinyW {
			t.Fatalf("%s: got %q N=%d C=%d H=%d W=%d", name, s.Name, s.N, s.C, s.H, s.W)
		}
		if !bytes.Equal(s.Labels, tinyLabelSet(n)) {
			t.Errorf("%s labels %v", name, s.Labels)
		}
		for i := range n {
			for k := range tinyH * tinyW {
				if got, want := s.Images[i*s.ImageSize()+k], tinyPixel(split)(i, k); got != want {
					t.Fatalf("%s image %d pixel %d = %d, want %d", name, i, k, got, want)
				}
			}
		}
	}
	check(train, "tiny train", tinyTrain, 0)
	check(test, "tiny test", tinyTest, 1)
}

// With both variants present the .gz one is read: here the plain one is
// garbage, so success proves the choice.
func TestLoadPrefersGzip(t *testing.T) {
	files := useTinyDataset(t)
	dir := t.TempDir()
	writeTiny(t, dir, files)
	writeFile(t, filepath.Join(dir, "tiny", "train-images-idx3-ubyte"), []byte("garbage"))
	if _, _, err := Load(context.Background(), "tiny", dir, LoadOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDatasetChecks(t *testing.T) {
	files := useTinyDataset(t)
	good := func(n int) []byte { return idxImages(n, tinyH, tinyW, tinyPixel(0)) }
	cases := []struct {
		name    string
		file    string
		content []byte
		want    string
	}{
		{"wrong image size", trainImagesIDX, idxImages(tinyTrain, tinyW, tinyH, tinyPixel(0)), "images are 4x3, expected 3x4 for tiny"},
		{"wrong width", trainImagesIDX, idxImages(tinyTrain, tinyH, 6, tinyPixel(0)), "images are 3x6, expected 3x4 for tiny"},
		{"wrong height", testImagesIDX, idxImages(tinyTest, 6, tinyW, tinyPixel(1)), "images are 6x4, expected 3x4 for tiny"},
		{"too few images", trainImagesIDX, good(tinyTrain - 1), "header says 5 images, expected 6 for tiny train"},
		{"test images in train", trainImagesIDX, good(tinyTest), "header says 4 images, expected 6 for tiny train"},
		{"too few labels", testLabelsIDX, idxLabels(tinyLabelSet(tinyTest - 1)), "header says 3 labels, expected 4 for tiny test"},
		{"label out of range", trainLabelsIDX, idxLabels([]byte{0, 1, 2, 3, 0, 1}), "label 3 at index 3 is out of range 0..2"},
		{"truncated labels", trainLabelsIDX, idxLabels(tinyLabelSet(tinyTrain))[:8+tinyTrain-1], "truncated: header says 6 labels, file holds 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTiny(t, dir, files)
			path := filepath.Join(dir, "tiny", tc.file)
			writeFile(t, path, gz(t, tc.content))
			_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if want := "read tiny: " + path + ": " + tc.want; err.Error() != want {
				t.Errorf("error\n got %q\nwant %q", err, want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	files := useTinyDataset(t)
	dir := t.TempDir()
	writeTiny(t, dir, map[string][]byte{
		trainImagesIDX: files[trainImagesIDX],
		testLabelsIDX:  files[testLabelsIDX],
	}, testLabelsIDX)
	_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	want := "tiny: missing files in " + filepath.Join(dir, "tiny") + ": " + trainLabelsIDX + ", " + testImagesIDX +
		" (official copies: http://127.0.0.1:1/unused/). Put the official files there, or set --data-dir / $CNNTRAIN_DATA to a folder that has them."
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}
}

// A relative data directory is reported as an absolute path, so the advice
// in the error can be followed from anywhere.
func TestLoadMissingAbsolutePath(t *testing.T) {
	useTinyDataset(t)
	t.Chdir(t.TempDir())
	_, _, err := Load(context.Background(), "tiny", "data", LoadOptions{})
	abs, _ := filepath.Abs(filepath.Join("data", "tiny"))
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "missing files in "+abs+": ") {
		t.Fatalf("got %v, want ErrMissing naming %s", err, abs)
	}
}

// A file where the data folder or the dataset's folder should be is named
// as such, not reported as missing files to put "there", and nothing is
// downloaded for it.
func TestLoadFileForAFolder(t *testing.T) {
	useTinyDataset(t)
	root := t.TempDir()
	file := filepath.Join(root, "file")
	writeFile(t, file, []byte("x"))
	writeFile(t, filepath.Join(root, "data", "tiny"), []byte("x"))
	for _, tc := range []struct{ dataDir, file string }{
		{file, file},
		{filepath.Join(root, "data"), filepath.Join(root, "data", "tiny")},
	} {
		_, _, err := Load(context.Background(), "tiny", tc.dataDir, LoadOptions{Download: true})
		want := "tiny: not a folder: " + tc.file + " is a file; the data folder (--data-dir, $CNNTRAIN_DATA) holds a folder per dataset (tiny/)"
		if !errors.Is(err, ErrNotAFolder) || err.Error() != want {
			t.Errorf("data folder %s:\n got %v\nwant %s", tc.dataDir, err, want)
		}
	}
}

func TestLoadCancelled(t *testing.T) {
	files := useTinyDataset(t)
	dir := t.TempDir()
	writeTiny(t, dir, files)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Load(ctx, "tiny", dir, LoadOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
