package datasets

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// idxImages builds an IDX images file (uncompressed) of n images of rows x
// cols whose pixel k of image i is pixel(i, k).
func idxImages(n, rows, cols int, pixel func(i, k int) byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxMagicImages, uint32(n), uint32(rows), uint32(cols)})
	for i := range n {
		for k := range rows * cols {
			b.WriteByte(pixel(i, k))
		}
	}
	return b.Bytes()
}

// idxLabels builds an IDX labels file (uncompressed).
func idxLabels(labels []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{idxMagicLabels, uint32(len(labels))})
	b.Write(labels)
	return b.Bytes()
}

// idxHeader builds just a header with arbitrary words.
func idxHeader(words ...uint32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, words)
	return b.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// Shape of the "tiny" test dataset: non-square images so that swapped rows
// and cols would show, three classes so that labels 3..255 are out of range.
const (
	tinyH, tinyW     = 3, 4
	tinyTrain        = 6
	tinyTest         = 4
	tinyClasses      = 3
	tinyMirrorPrefix = "/tiny/"
)

// tinyPixel makes every image distinct and recognisable.
func tinyPixel(split int) func(i, k int) byte {
	return func(i, k int) byte { return byte(split*100 + i*tinyH*tinyW + k) }
}

func tinyLabelSet(n int) []byte {
	l := make([]byte, n)
	for i := range l {
		l[i] = byte(i % tinyClasses)
	}
	return l
}

// tinyFiles returns the official (gzipped) content of the tiny dataset's
// files, by file name.
func tinyFiles(t testing.TB) map[string][]byte {
	return map[string][]byte{
		trainImagesIDX: gz(t, idxImages(tinyTrain, tinyH, tinyW, tinyPixel(0))),
		trainLabelsIDX: gz(t, idxLabels(tinyLabelSet(tinyTrain))),
		testImagesIDX:  gz(t, idxImages(tinyTest, tinyH, tinyW, tinyPixel(1))),
		testLabelsIDX:  gz(t, idxLabels(tinyLabelSet(tinyTest))),
	}
}

// useTinyDataset adds a small IDX dataset called "tiny" to the table for the
// duration of the test, with MD5s matching tinyFiles. Tests that use it must
// not run in parallel with each other.
func useTinyDataset(t *testing.T) map[string][]byte {
	t.Helper()
	files := tinyFiles(t)
	d := &dataset{
		info: Info{
			Name: "tiny", C: 1, H: tinyH, W: tinyW,
			Classes: []string{"a", "b", "c"},
			Mean:    []float32{0.5}, Std: []float32{0.25},
			TrainSize: tinyTrain, TestSize: tinyTest,
		},
		dir:     "tiny",
		mirrors: []string{"http://127.0.0.1:1/unused/"},
		files: idxFiles(
			md5hex(files[trainImagesIDX]), md5hex(files[trainLabelsIDX]),
			md5hex(files[testImagesIDX]), md5hex(files[testLabelsIDX]),
		),
		read: readIDXDataset,
	}
	saved := table
	table = append(slices.Clip(table), d)
	t.Cleanup(func() { table = saved })
	return files
}

// writeTiny writes the tiny dataset's files into dataDir/tiny; plain lists
// the files to store uncompressed (without .gz).
func writeTiny(t *testing.T, dataDir string, files map[string][]byte, plain ...string) {
	t.Helper()
	for name, data := range files {
		path := filepath.Join(dataDir, "tiny", name)
		if slices.Contains(plain, name) {
			path = path[:len(path)-len(".gz")]
			data = gunzip(t, data)
		}
		writeFile(t, path, data)
	}
}

func gunzip(t testing.TB, data []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dirNames lists the names in dir (hidden temporary files included).
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
