package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The "tiny-cifar" test dataset: the real CIFAR-10 format and classes with
// two records per training batch and three in the test batch.
const (
	tinyCIFARPerBatch = 2
	tinyCIFARTrain    = cifarTrainFiles * tinyCIFARPerBatch
	tinyCIFARTest     = 3
	tinyCIFARArchive  = "tiny-cifar.tar.gz"
)

var cifarNames = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// cifarPixel makes every record of every file distinct: file is the index in
// cifarFiles, i the record in the file, k the byte in the pixel part.
func cifarPixel(file, i, k int) byte { return byte(file*37 + i*11 + k*5) }

// cifarLabel is the label of record i of file.
func cifarLabel(file, i int) byte { return byte((file*tinyCIFARPerBatch + i) % 10) }

// cifarBatch builds a batch file of n records of file's content.
func cifarBatch(file, n int) []byte {
	b := make([]byte, 0, n*cifarRecord)
	for i := range n {
		b = append(b, cifarLabel(file, i))
		for k := range cifarImage {
			b = append(b, cifarPixel(file, i, k))
		}
	}
	return b
}

// tinyCIFARFiles returns the content of the tiny-cifar folder, by file name.
func tinyCIFARFiles() map[string][]byte {
	files := map[string][]byte{cifarMeta: []byte(strings.Join(cifarNames, "\n") + "\n\n")}
	for i, f := range cifarFiles()[:cifarTrainFiles+1] {
		n := tinyCIFARPerBatch
		if f.Name == cifarTest {
			n = tinyCIFARTest
		}
		files[f.Name] = cifarBatch(i, n)
	}
	return files
}

// tarEntry is one entry of a generated archive.
type tarEntry struct {
	name string
	typ  byte
	body []byte
	link string
}

func tarGz(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link}
		if e.typ == tar.TypeDir {
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cifarEntries lays files out as the official archive does: the folder, its
// files in table order, and a readme that is not extracted.
func cifarEntries(files map[string][]byte) []tarEntry {
	entries := []tarEntry{{name: cifarDir + "/", typ: tar.TypeDir}}
	for _, f := range cifarFiles() {
		if data, ok := files[f.Name]; ok {
			entries = append(entries, tarEntry{name: cifarDir + "/" + f.Name, typ: tar.TypeReg, body: data})
		}
	}
	return append(entries, tarEntry{name: cifarDir + "/readme.html", typ: tar.TypeReg, body: []byte("<html>")})
}

// useTinyCIFAR adds the tiny-cifar dataset to the table for the duration of
// the test and returns its files and its table entry, whose archive MD5 is
// that of archive. Tests that use it must not run in parallel.
func useTinyCIFAR(t *testing.T, archive []byte) (map[string][]byte, *dataset) {
	t.Helper()
	info, err := Lookup("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	info.Name, info.TrainSize, info.TestSize = "tiny-cifar", tinyCIFARTrain, tinyCIFARTest
	d := &dataset{
		info:    info,
		dir:     "tiny-cifar",
		mirrors: []string{"http://127.0.0.1:1/unused/"},
		files:   cifarFiles(),
		archive: &remoteArchive{Name: tinyCIFARArchive, MD5: md5hex(archive), Dir: cifarDir},
		read:    readCIFARDataset,
	}
	saved := table
	table = append(slices.Clip(table), d)
	t.Cleanup(func() { table = saved })
	return tinyCIFARFiles(), d
}

func writeTinyCIFAR(t *testing.T, dataDir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		writeFile(t, filepath.Join(dataDir, "tiny-cifar", name), data)
	}
}

// checkTinyCIFAR checks that train and test hold exactly the tiny-cifar
// records: the pixel parts concatenated in file order, and their labels.
func checkTinyCIFAR(t *testing.T, train, test *Split) {
	t.Helper()
	check := func(s *Split, name string, files []int, per int) {
		t.Helper()
		n := len(files) * per
		if s.Name != name || s.N != n || s.C != 3 || s.H != 32 || s.W != 32 || len(s.Images) != n*3072 || len(s.Labels) != n {
			t.Fatalf("%s: got %q N=%d %dx%dx%d, %d bytes, %d labels", name, s.Name, s.N, s.C, s.H, s.W, len(s.Images), len(s.Labels))
		}
		for fi, file := range files {
			for i := range per {
				idx := fi*per + i
				if got, want := s.Labels[idx], cifarLabel(file, i); got != want {
					t.Fatalf("%s: label %d = %d, want %d", name, idx, got, want)
				}
				img := s.Images[idx*3072 : (idx+1)*3072]
				for k, v := range img {
					if want := cifarPixel(file, i, k); v != want {
						t.Fatalf("%s: image %d byte %d = %d, want %d", name, idx, k, v, want)
					}
				}
			}
		}
	}
	check(train, "tiny-cifar train", []int{0, 1, 2, 3, 4}, tinyCIFARPerBatch)
	check(test, "tiny-cifar test", []int{5}, tinyCIFARTest)
}

func TestLoadCIFARTiny(t *testing.T) {
	files, _ := useTinyCIFAR(t, nil)
	for name, meta := range map[string]string{
		"trailing blank lines": strings.Join(cifarNames, "\n") + "\n\n\n",
		"no final newline":     strings.Join(cifarNames, "\n"),
		"CRLF":                 strings.Join(cifarNames, "\r\n") + "\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			files[cifarMeta] = []byte(meta)
			writeTinyCIFAR(t, dir, files)
			train, test, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkTinyCIFAR(t, train, test)
		})
	}
}

func TestLoadCIFARChecks(t *testing.T) {
	files, _ := useTinyCIFAR(t, nil)
	withLabel := func(file, record int, label byte) []byte {
		b := cifarBatch(file, tinyCIFARPerBatch)
		b[record*cifarRecord] = label
		return b
	}
	names := func(edit func([]string) []string) []byte {
		return []byte(strings.Join(edit(slices.Clone(cifarNames)), "\n") + "\n")
	}
	cases := []struct {
		name    string
		file    string
		content []byte
		want    string
	}{
		{"extra byte", "data_batch_2.bin", append(cifarBatch(1, 2), 0),
			"holds 6147 bytes, not a whole number of 3073-byte records (expected 2 records, 6146 bytes)"},
		{"cut mid-record", "data_batch_5.bin", cifarBatch(4, 2)[:6146-100],
			"holds 6046 bytes, not a whole number of 3073-byte records (expected 2 records, 6146 bytes)"},
		{"record missing", cifarTest, cifarBatch(5, 2), "holds 2 records, expected 3 for a tiny-cifar test batch"},
		{"record too many", "data_batch_1.bin", cifarBatch(0, 3), "holds 3 records, expected 2 for a tiny-cifar train batch"},
		{"empty", "data_batch_4.bin", nil, "empty file"},
		{"label 10", "data_batch_3.bin", withLabel(2, 1, 10), "label 10 in record 1 is out of range 0..9"},
		{"label 255", cifarTest, append(cifarBatch(5, 2), withLabel(5, 0, 255)[:cifarRecord]...), "label 255 in record 2 is out of range 0..9"},
		{"meta: nine names", cifarMeta, names(func(n []string) []string { return n[:9] }),
			"lists 9 class names, expected 10 (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck)"},
		{"meta: eleven names", cifarMeta, names(func(n []string) []string { return append(n, "unicorn") }), "lists 11 class names, expected 10"},
		{"meta: notebook names", cifarMeta, names(func(n []string) []string { n[0], n[1] = "plane", "car"; return n }),
			`line 1 names class 0 "plane", expected "airplane"`},
		{"meta: blank line inside", cifarMeta, names(func(n []string) []string { return slices.Insert(n, 3, "") }),
			"line 4 is blank; expected one class name per line"},
		{"meta: empty", cifarMeta, nil, "lists 0 class names, expected 10"},
		{"meta: too large", cifarMeta, append(names(func(n []string) []string { return n }), make([]byte, maxMetaSize)...),
			"larger than 65536 bytes; expected a short list of class names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTinyCIFAR(t, dir, files)
			path := filepath.Join(dir, "tiny-cifar", tc.file)
			writeFile(t, path, tc.content)
			_, _, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if !strings.HasPrefix(err.Error(), "read tiny-cifar: "+path+": "+tc.want) {
				t.Errorf("error\n got %q\nwant %q", err, "read tiny-cifar: "+path+": "+tc.want)
			}
		})
	}
}

func TestLoadCIFARMissing(t *testing.T) {
	files, _ := useTinyCIFAR(t, nil)
	dir := t.TempDir()
	delete(files, "data_batch_3.bin")
	delete(files, cifarTest)
	writeTinyCIFAR(t, dir, files)
	_, _, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	want := "tiny-cifar: missing files in " + filepath.Join(dir, "tiny-cifar") + ": data_batch_3.bin, test_batch.bin" +
		" (they are in the cifar-10-batches-bin/ folder of the official archive http://127.0.0.1:1/unused/tiny-cifar.tar.gz)." +
		" Put the official files there, or set --data-dir / $CNNTRAIN_DATA to a folder that has them."
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}

	// The real entry, offline, in an empty folder.
	empty := t.TempDir()
	_, _, err = Load(context.Background(), "cifar10", empty, LoadOptions{})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	for _, s := range []string{
		"missing files in " + filepath.Join(empty, "cifar-10-batches-bin") + ": data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin, batches.meta.txt",
		"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
}

func TestReadCIFARBatch(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.bin")
	writeFile(t, good, cifarBatch(3, 4))
	images, labels, err := ReadCIFARBatch(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 4*3072 || len(labels) != 4 {
		t.Fatalf("%d bytes, %d labels", len(images), len(labels))
	}
	for i := range 4 {
		if labels[i] != cifarLabel(3, i) {
			t.Errorf("label %d = %d", i, labels[i])
		}
		for k := range 3072 {
			if images[i*3072+k] != cifarPixel(3, i, k) {
				t.Fatalf("image %d byte %d = %d", i, k, images[i*3072+k])
			}
		}
	}

	bad := []struct {
		name    string
		content []byte
		want    string
	}{
		{"odd size", cifarBatch(0, 10)[:30729], "holds 30729 bytes, not a whole number of 3073-byte records"},
		{"label", append(cifarBatch(0, 1), withByte(cifarBatch(0, 1), 0, 12)...), "label 12 in record 1 is out of range 0..9"},
		{"empty", nil, "empty file"},
	}
	for _, tc := range bad {
		path := filepath.Join(dir, tc.name)
		writeFile(t, path, tc.content)
		_, _, err := ReadCIFARBatch(path)
		if !errors.Is(err, ErrCorrupt) || err.Error() != path+": "+tc.want {
			t.Errorf("%s: got %v, want ErrCorrupt %q", tc.name, err, tc.want)
		}
	}
	if _, _, err := ReadCIFARBatch(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

func withByte(b []byte, i int, v byte) []byte {
	b = slices.Clone(b)
	b[i] = v
	return b
}

// cifarMirror serves archive under the tiny mirror prefix.
func cifarMirror(t *testing.T, archive []byte) *mirror {
	return newMirror(t, map[string][]byte{tinyCIFARArchive: archive})
}

func TestDownloadCIFAR(t *testing.T) {
	archive := tarGz(t, cifarEntries(tinyCIFARFiles()))
	files, _ := useTinyCIFAR(t, archive)
	srv := cifarMirror(t, archive)
	dir := t.TempDir()
	var progress bytes.Buffer
	opt := LoadOptions{Download: true, Mirrors: []string{srv.url()}, Progress: &progress}
	train, test, err := Load(context.Background(), "tiny-cifar", dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkTinyCIFAR(t, train, test)
	// Just the seven files: no archive, no temporary file, no readme.
	folder := filepath.Join(dir, "tiny-cifar")
	if got, want := dirNames(t, folder), slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}
	for name, want := range files {
		if got, err := os.ReadFile(filepath.Join(folder, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: saved file differs (%v)", name, err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(progress.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "tiny-cifar: tiny-cifar.tar.gz: downloaded") || !strings.Contains(lines[0], "MD5 ok") ||
		!strings.HasPrefix(lines[1], "tiny-cifar: unpacked data_batch_1.bin, ") || !strings.HasSuffix(lines[1], "batches.meta.txt into "+folder) {
		t.Errorf("progress %q", progress.String())
	}
	if got := srv.requested(); !slices.Equal(got, []string{tinyCIFARArchive}) {
		t.Errorf("requested %v", got)
	}
	if _, _, err := Load(context.Background(), "tiny-cifar", dir, opt); err != nil || len(srv.requested()) != 1 {
		t.Errorf("second Load: %v, %d requests in all", err, len(srv.requested()))
	}
}

// Files already there are kept: only the missing ones come out of the archive.
func TestDownloadCIFAROnlyMissing(t *testing.T) {
	archive := tarGz(t, cifarEntries(tinyCIFARFiles()))
	files, _ := useTinyCIFAR(t, archive)
	srv := cifarMirror(t, archive)
	dir := t.TempDir()
	// A local first batch that differs from the archive's (its records are
	// the second batch's).
	local := cifarBatch(1, tinyCIFARPerBatch)
	writeTinyCIFAR(t, dir, map[string][]byte{"data_batch_1.bin": local, cifarMeta: files[cifarMeta]})
	train, _, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{Download: true, Mirrors: []string{srv.url()}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(train.Images[:3072], local[1:3073]) || !bytes.Equal(train.Images[3072:6144], cifarBatch(1, 2)[3074:]) {
		t.Error("the local data_batch_1.bin was replaced")
	}
	if got := dirNames(t, filepath.Join(dir, "tiny-cifar")); len(got) != 7 {
		t.Errorf("folder holds %v", got)
	}
}

// A mirror whose copy fails the MD5 check leaves nothing, and the next
// mirror's copy is used from scratch.
func TestDownloadCIFARBadMD5(t *testing.T) {
	archive := tarGz(t, cifarEntries(tinyCIFARFiles()))
	useTinyCIFAR(t, archive)
	damaged := slices.Clone(archive)
	damaged[len(damaged)/2] ^= 1
	longer := append(slices.Clone(archive), make([]byte, 1000)...) // longer than the good copy
	dir := t.TempDir()
	folder := filepath.Join(dir, "tiny-cifar")

	_, _, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{Download: true, Mirrors: []string{cifarMirror(t, damaged).url()}})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "MD5 mismatch") {
		t.Fatalf("got %v, want ErrMissing with an MD5 mismatch", err)
	}
	t.Log(err)
	if got := dirNames(t, folder); len(got) != 0 {
		t.Errorf("a bad download left %v", got)
	}

	good := cifarMirror(t, archive)
	train, test, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{
		Download: true, Mirrors: []string{cifarMirror(t, longer).url(), good.url()},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTinyCIFAR(t, train, test)
}

func TestDownloadCIFARRefusesArchive(t *testing.T) {
	files := tinyCIFARFiles()
	entries := cifarEntries(files)
	cases := []struct {
		name    string
		entries []tarEntry
		want    string
	}{
		{"climbs out", slices.Insert(slices.Clone(entries), 3, tarEntry{name: cifarDir + "/../../evil", typ: tar.TypeReg, body: []byte("x")}),
			`entry "cifar-10-batches-bin/../../evil" climbs out of the archive's folder; refusing the archive`},
		{"absolute", slices.Insert(slices.Clone(entries), 3, tarEntry{name: "/tmp/evil", typ: tar.TypeReg, body: []byte("x")}),
			`entry "/tmp/evil" has an absolute or malformed name; refusing the archive`},
		{"symlink", slices.Insert(slices.Clone(entries), 3, tarEntry{name: cifarDir + "/link", typ: tar.TypeSymlink, link: "/etc/passwd"}),
			`entry "cifar-10-batches-bin/link" is a symbolic link, not a file or folder; refusing the archive`},
		{"member is a link", slices.Concat(entries[:1], []tarEntry{{name: cifarDir + "/data_batch_1.bin", typ: tar.TypeLink, link: "x"}}, entries[2:]),
			`entry "cifar-10-batches-bin/data_batch_1.bin" is a hard link`},
		{"member twice", slices.Insert(slices.Clone(entries), 4, entries[2]),
			`entry "cifar-10-batches-bin/data_batch_2.bin" appears twice`},
		{"member missing", slices.Delete(slices.Clone(entries), 6, 7),
			"the archive lacks cifar-10-batches-bin/test_batch.bin"},
		{"wrong folder", []tarEntry{{name: "cifar-10-batches-py/data_batch_1", typ: tar.TypeReg, body: []byte("x")}},
			"the archive lacks cifar-10-batches-bin/data_batch_1.bin, cifar-10-batches-bin/data_batch_2.bin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			archive := tarGz(t, tc.entries)
			useTinyCIFAR(t, archive) // the MD5 matches: only the unpacking can object
			srv := cifarMirror(t, archive)
			dir := t.TempDir()
			_, _, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{Download: true, Mirrors: []string{srv.url()}})
			if !errors.Is(err, ErrMissing) {
				t.Fatalf("got %v, want ErrMissing", err)
			}
			t.Log(err)
			want := fmt.Sprintf("; download failed (unpack %s from %s%s: %s", tinyCIFARArchive, srv.url(), tinyCIFARArchive, tc.want)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error\n got %q\nwant it to contain %q", err, want)
			}
			// Nothing stays behind, not even the dataset's folder (an empty
			// one would look like a dataset that lost its files).
			if got := dirNames(t, dir); len(got) != 0 {
				t.Errorf("a refused archive left %v in the data folder", got)
			}
		})
	}
}

// With TestOnly the training batches are neither needed nor read: a folder
// with only the test batch and the class names gives the test split alone.
func TestLoadCIFARTestOnly(t *testing.T) {
	files, _ := useTinyCIFAR(t, nil)
	dir := t.TempDir()
	writeTinyCIFAR(t, dir, map[string][]byte{cifarTest: files[cifarTest], cifarMeta: files[cifarMeta]})
	train, test, err := Load(context.Background(), "tiny-cifar", dir, LoadOptions{TestOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if train != nil {
		t.Errorf("TestOnly gave a training split of %d images", train.N)
	}
	if test == nil || test.N != tinyCIFARTest || test.Labels[0] != files[cifarTest][0] || !bytes.Equal(test.Images[:cifarImage], files[cifarTest][1:cifarRecord]) {
		t.Errorf("the test split is not the test batch's records")
	}
}

// A batch file that grows while it is read (its size was checked first)
// is refused, not silently cut.
func TestCIFARRecordsRefuseTrailingData(t *testing.T) {
	batch := append(cifarBatch(0, 2), 7)
	images, labels := make([]uint8, 2*cifarImage), make([]uint8, 2)
	err := readCIFARRecords("grown.bin", bytes.NewReader(batch), images, labels, 10)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "trailing data after 2 records") {
		t.Errorf("got %v, want trailing data", err)
	}
	if err := readCIFARRecords("exact.bin", bytes.NewReader(batch[:len(batch)-1]), images, labels, 10); err != nil {
		t.Errorf("exactly two records: %v", err)
	}
}
