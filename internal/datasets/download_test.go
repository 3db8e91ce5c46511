package datasets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// mirror serves files by name under /tiny/ and records the names requested.
type mirror struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newMirror(t *testing.T, files map[string][]byte) *mirror {
	m := &mirror{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.URL.Path)
		m.mu.Lock()
		m.requests = append(m.requests, name)
		m.mu.Unlock()
		data, ok := files[name]
		if !ok || !strings.HasPrefix(r.URL.Path, tinyMirrorPrefix) {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mirror) url() string { return m.URL + tinyMirrorPrefix }

func (m *mirror) requested() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.requests)
}

func allTinyNames() []string {
	return []string{trainImagesIDX, trainLabelsIDX, testImagesIDX, testLabelsIDX}
}

func TestDownload(t *testing.T) {
	files := useTinyDataset(t)
	srv := newMirror(t, files)
	dir := t.TempDir()
	var progress bytes.Buffer
	opt := LoadOptions{Download: true, Mirrors: []string{srv.url()}, Progress: &progress}
	train, test, err := Load(context.Background(), "tiny", dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != tinyTrain || test.N != tinyTest {
		t.Fatalf("got %d/%d images", train.N, test.N)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, "tiny", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: saved file differs (%v)", name, err)
		}
	}
	if got := dirNames(t, filepath.Join(dir, "tiny")); len(got) != 4 {
		t.Errorf("the folder should hold just the four files, holds %v", got)
	}
	// Not a terminal: one plain line per file, no carriage returns.
	lines := strings.Split(strings.TrimSuffix(progress.String(), "\n"), "\n")
	if len(lines) != 4 || strings.Contains(progress.String(), "\r") {
		t.Errorf("progress should be one line per file, got %q", progress.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "downloaded") || !strings.Contains(l, "MD5 ok") {
			t.Errorf("progress line %q", l)
		}
	}

	// Everything is there now: a second Load must not touch the network.
	before := len(srv.requested())
	if _, _, err := Load(context.Background(), "tiny", dir, opt); err != nil {
		t.Fatal(err)
	}
	if after := len(srv.requested()); after != before {
		t.Errorf("second Load made %d requests", after-before)
	}
}

// Only the missing files are fetched; present ones (even uncompressed) stay.
func TestDownloadOnlyMissing(t *testing.T) {
	files := useTinyDataset(t)
	srv := newMirror(t, files)
	dir := t.TempDir()
	writeTiny(t, dir, map[string][]byte{trainImagesIDX: files[trainImagesIDX]}, trainImagesIDX)
	_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{Download: true, Mirrors: []string{srv.url()}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := srv.requested(), allTinyNames()[1:]; !slices.Equal(got, want) {
		t.Errorf("requested %v, want %v", got, want)
	}
}

func TestDownloadMD5Mismatch(t *testing.T) {
	files := useTinyDataset(t)
	bad := map[string][]byte{}
	for name, data := range files {
		bad[name] = data
	}
	bad[trainLabelsIDX] = gz(t, idxLabels([]byte{2, 2, 2, 2, 2, 2})) // valid file, wrong content
	srv := newMirror(t, bad)
	dir := t.TempDir()
	_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{Download: true, Mirrors: []string{srv.url()}})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	t.Log(err)
	for _, want := range []string{"MD5 mismatch", "missing files in", trainLabelsIDX, testImagesIDX, testLabelsIDX} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// The first file was good and stays; the bad one left nothing, not even
	// a temporary file.
	if got := dirNames(t, filepath.Join(dir, "tiny")); !slices.Equal(got, []string{trainImagesIDX}) {
		t.Errorf("folder holds %v, want only %s", got, trainImagesIDX)
	}
}

func TestDownloadFallsBackToNextMirror(t *testing.T) {
	files := useTinyDataset(t)
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer broken.Close()
	good := newMirror(t, files)
	var progress bytes.Buffer
	dir := t.TempDir()
	_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{
		Download: true,
		Mirrors:  []string{broken.URL + "/", good.url()},
		Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := good.requested(); !slices.Equal(got, allTinyNames()) {
		t.Errorf("good mirror got %v", got)
	}
	if !strings.Contains(progress.String(), "500 Internal Server Error") {
		t.Errorf("progress should mention the failed mirror: %q", progress.String())
	}
}

func TestDownloadAllMirrorsFail(t *testing.T) {
	useTinyDataset(t)
	notFound := newMirror(t, nil)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/"
	closed.Close() // connection refused from now on
	dir := t.TempDir()
	_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{
		Download: true,
		Mirrors:  []string{notFound.url(), closedURL},
	})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	t.Log(err)
	msg := err.Error()
	want := "tiny: missing files in " + filepath.Join(dir, "tiny") + ": " + strings.Join(allTinyNames(), ", ") + "; download failed ("
	if !strings.HasPrefix(msg, want) {
		t.Errorf("error\n got %q\nwant prefix %q", msg, want)
	}
	for _, s := range []string{notFound.url() + trainImagesIDX + ": HTTP 404 Not Found", closedURL + trainImagesIDX, "--data-dir / $CNNTRAIN_DATA"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q: %s", s, msg)
		}
	}
	// Offline: after the first file failed everywhere, the rest are not tried.
	if got := notFound.requested(); !slices.Equal(got, []string{trainImagesIDX}) {
		t.Errorf("requests: %v", got)
	}
	if got := dirNames(t, filepath.Join(dir, "tiny")); len(got) != 0 {
		t.Errorf("failed download left %v", got)
	}
}

func TestDownloadCancelled(t *testing.T) {
	files := useTinyDataset(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Send part of the file, then stall until the client gives up.
		w.Header().Set("Content-Length", "100000")
		w.Write(files[trainImagesIDX])
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	}))
	defer srv.Close()
	go func() { <-started; cancel() }()
	dir := t.TempDir()
	second := newMirror(t, files)
	_, _, err := Load(ctx, "tiny", dir, LoadOptions{Download: true, Mirrors: []string{srv.URL + "/", second.url()}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrMissing) || strings.Contains(err.Error(), "missing files") {
		t.Errorf("a cancelled download is reported as missing files: %v", err)
	}
	t.Log(err)
	if got := second.requested(); len(got) != 0 {
		t.Errorf("after cancellation the next mirror was still asked for %v", got)
	}
	if got := dirNames(t, filepath.Join(dir, "tiny")); len(got) != 0 {
		t.Errorf("cancelled download left %v", got)
	}
}

func TestIsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer devNull.Close()
	regular, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	if !isTerminal(devNull) { // a character device, like a terminal
		t.Error("character device not treated as a terminal")
	}
	if isTerminal(regular) || isTerminal(&bytes.Buffer{}) || isTerminal(nil) {
		t.Error("a file or buffer treated as a terminal")
	}
}

// On a terminal progress redraws one line in place and ends it with a newline.
func TestProgressTerminalLine(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, tty: true}
	p.start("tiny: f.gz", 2000)
	p.Write(make([]byte, 1000))
	p.finish("tiny: downloaded f.gz")
	got := out.String()
	if !strings.HasPrefix(got, "\rtiny: f.gz: downloading 1.0 kB of 2.0 kB (50%)") || !strings.HasSuffix(got, "\rtiny: downloaded f.gz\x1b[K\n") ||
		strings.Count(got, "\n") != 1 {
		t.Errorf("terminal progress %q", got)
	}
}

func TestMirrorTable(t *testing.T) {
	m, _ := lookup("mnist")
	want := []string{"https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"}
	if !slices.Equal(m.mirrors, want) {
		t.Errorf("mnist mirrors %v", m.mirrors)
	}
	isMD5 := func(s string) bool { return len(s) == 32 && strings.Trim(s, "0123456789abcdef") == "" }
	for _, d := range table {
		if d.archive != nil {
			if !isMD5(d.archive.MD5) {
				t.Errorf("%s %s: MD5 %q is not 32 lower-case hex digits", d.info.Name, d.archive.Name, d.archive.MD5)
			}
			for _, f := range d.files {
				if f.MD5 != "" {
					t.Errorf("%s %s: an archive member has an MD5 of its own, which nothing checks", d.info.Name, f.Name)
				}
			}
			continue
		}
		for _, f := range d.files {
			if !isMD5(f.MD5) {
				t.Errorf("%s %s: MD5 %q is not 32 lower-case hex digits", d.info.Name, f.Name, f.MD5)
			}
		}
	}
	c, _ := lookup("cifar10")
	if got := fileURL(c.mirrors[0], c.archive.Name); got != "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" ||
		c.archive.MD5 != "c32a1d4ab5d03f1284b67883e8d87530" || c.archive.Dir != "cifar-10-batches-bin" || c.dir != "cifar-10-batches-bin" {
		t.Errorf("cifar10 archive %s, %+v, folder %s", got, c.archive, c.dir)
	}
}

// A download the server cuts short is reported as such, not as a failure
// to write the file.
func TestCutDownloadIsNotAWriteError(t *testing.T) {
	useTinyDataset(t)
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000)) // then the handler returns: the connection ends early
	}))
	defer cut.Close()
	_, _, err := Load(context.Background(), "tiny", t.TempDir(), LoadOptions{Download: true, Mirrors: []string{cut.URL + "/"}})
	if err == nil || !strings.Contains(err.Error(), "the download broke off after 1.0 kB of 100.0 kB") || strings.Contains(err.Error(), "write ") {
		t.Errorf("got %v", err)
	}
}

// What stands where a data file should be and is not a file is named as
// such, not "missing", and nothing waits on a FIFO.
func TestNotAFileInPlaceOfAFile(t *testing.T) {
	useTinyDataset(t)
	for _, tc := range []struct {
		name string
		make func(path string) error
		want string
	}{
		{"folder", func(p string) error { return os.Mkdir(p, 0o755) }, "is a folder, not a file"},
		{"fifo", func(p string) error { return makeFIFO(p) }, "is a FIFO, not a file"},
		{"device", func(p string) error { return os.Symlink("/dev/zero", p) }, "is a device, not a file"},
		{"symlink loop", func(p string) error { return os.Symlink(filepath.Base(p), p) }, "is a symlink loop, not a file"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "tiny", trainImagesIDX)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := tc.make(path); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{})
		want := path + " " + tc.want + "; the data file " + trainImagesIDX + " belongs there"
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(fmt.Sprint(err), want) || strings.Contains(fmt.Sprint(err), "missing") {
			t.Errorf("%s: got %v, want %q", tc.name, err, want)
		}
		files, err := Status("tiny", dir)
		if err != nil || files[0].Present || files[0].Problem != tc.want || files[0].Path != path {
			t.Errorf("%s: Status says %+v, %v; want %q at %s", tc.name, files[0], err, tc.want, path)
		}
		// Read straight, as after a swap behind Load's back: refused, at once.
		if _, _, _, _, err := ReadIDXImages(path); !strings.Contains(fmt.Sprint(err), path+" "+tc.want) {
			t.Errorf("%s: ReadIDXImages: %v", tc.name, err)
		}
	}
}

// TestOnly reads the test split from a folder that holds only the test
// files, and asks for nothing else when they are missing.
func TestLoadTestOnly(t *testing.T) {
	files := useTinyDataset(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tiny"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(context.Background(), "tiny", dir, LoadOptions{TestOnly: true})
	if !errors.Is(err, ErrMissing) || strings.Contains(err.Error(), trainImagesIDX) || !strings.Contains(err.Error(), testImagesIDX) {
		t.Fatalf("empty folder: got %v, want only the test files missing", err)
	}
	for _, name := range []string{testImagesIDX, testLabelsIDX} {
		if err := os.WriteFile(filepath.Join(dir, "tiny", name), files[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	train, test, err := Load(context.Background(), "tiny", dir, LoadOptions{TestOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if train != nil || test == nil || test.N != tinyTest {
		t.Errorf("train %v, test %+v", train, test)
	}
	if _, _, err := Load(context.Background(), "tiny", dir, LoadOptions{}); !errors.Is(err, ErrMissing) {
		t.Errorf("a full load without the training files: got %v", err)
	}
}

// Without mirrors in the options, the dataset's own are used.
func TestDownloadUsesTheDatasetsMirrors(t *testing.T) {
	files := useTinyDataset(t)
	srv := newMirror(t, files)
	table[len(table)-1].mirrors = []string{srv.url()} // the tiny dataset, for this test only
	if _, _, err := Load(context.Background(), "tiny", t.TempDir(), LoadOptions{Download: true}); err != nil {
		t.Fatal(err)
	}
	if got := srv.requested(); len(got) != len(allTinyNames()) {
		t.Errorf("the dataset's mirror was asked for %v", got)
	}
}
