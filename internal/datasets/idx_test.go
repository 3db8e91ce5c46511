package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestReadIDXRoundTrip(t *testing.T) {
	pixel := func(i, k int) byte { return byte(i*31 + k) }
	imgs := idxImages(5, 3, 4, pixel)
	lbls := idxLabels([]byte{9, 0, 3, 1, 7})
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		ip, lp := filepath.Join(dir, "images"), filepath.Join(dir, "labels")
		if compress {
			writeFile(t, ip, gz(t, imgs))
			writeFile(t, lp, gz(t, lbls))
		} else {
			writeFile(t, ip, imgs)
			writeFile(t, lp, lbls)
		}
		images, n, rows, cols, err := ReadIDXImages(ip)
		if err != nil {
			t.Fatalf("gzip=%v: %v", compress, err)
		}
		if n != 5 || rows != 3 || cols != 4 || len(images) != 5*3*4 {
			t.Fatalf("gzip=%v: got n=%d rows=%d cols=%d len=%d", compress, n, rows, cols, len(images))
		}
		for i := range 5 {
			for k := range 12 {
				if got, want := images[i*12+k], pixel(i, k); got != want {
					t.Fatalf("gzip=%v: image %d pixel %d = %d, want %d", compress, i, k, got, want)
				}
			}
		}
		labels, err := ReadIDXLabels(lp)
		if err != nil {
			t.Fatalf("gzip=%v: %v", compress, err)
		}
		if !bytes.Equal(labels, []byte{9, 0, 3, 1, 7}) {
			t.Fatalf("gzip=%v: labels %v", compress, labels)
		}
	}
}

// The name says nothing: a gzipped file without .gz and a plain file with
// .gz both read.
func TestReadIDXDetectsGzipByContent(t *testing.T) {
	dir := t.TempDir()
	lbls := idxLabels([]byte{1, 2, 3})
	gzAsPlain := filepath.Join(dir, "labels")
	plainAsGz := filepath.Join(dir, "labels.gz")
	writeFile(t, gzAsPlain, gz(t, lbls))
	writeFile(t, plainAsGz, lbls)
	for _, p := range []string{gzAsPlain, plainAsGz} {
		got, err := ReadIDXLabels(p)
		if err != nil || !bytes.Equal(got, []byte{1, 2, 3}) {
			t.Errorf("%s: got %v, %v", p, got, err)
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	img := idxImages(2, 3, 4, func(i, k int) byte { return byte(k) }) // 16-byte header + 24 pixels
	lbl := idxLabels([]byte{0, 1, 2, 0, 1, 2})
	gzImg := gz(t, img)
	flipped := bytes.Clone(gzImg)
	flipped[len(flipped)/2] ^= 0xff
	badCRC := bytes.Clone(gzImg)
	badCRC[len(badCRC)-6] ^= 0xff // inside the CRC-32 of the trailer

	cases := []struct {
		name   string
		data   []byte
		labels bool // read with ReadIDXLabels
		want   string
	}{
		{"labels as images", lbl, false, "bad magic number 0x00000801, expected 0x00000803 (images); this looks like a labels file"},
		{"images as labels", img, true, "bad magic number 0x00000803, expected 0x00000801 (labels); this looks like an images file"},
		{"html page", []byte("<!DOCTYPE html><html>Not found</html>"), false, "HTML"},
		{"text", []byte("hello world, this is not idx"), true, "not an IDX file"},
		{"float idx", idxHeader(0x00000D03, 1, 1, 1), false, "element type 0x0d"},
		{"wrong rank", idxHeader(0x00000802, 1, 1), false, "IDX file with 2 dimensions, expected 3"},
		{"empty", nil, false, "empty file"},
		{"short header", img[:10], false, "truncated header: expected 16 bytes, file holds 10"},
		{"short header gz", gz(t, lbl[:6]), true, "truncated header: expected 8 bytes, file holds 6"},
		{"truncated images", img[:len(img)-1], false, "truncated: expected 24 bytes of pixels (2 images of 3x4), found 23"},
		{"truncated images gz", gz(t, img[:len(img)-1]), false, "truncated: expected 24 bytes of pixels (2 images of 3x4), found 23"},
		{"truncated labels", lbl[:len(lbl)-1], true, "truncated: header says 6 labels, file holds 5"},
		{"truncated labels gz", gz(t, lbl[:len(lbl)-1]), true, "truncated: header says 6 labels, file holds 5"},
		{"trailing images", append(bytes.Clone(img), 0), false, "trailing data: expected 24 bytes of pixels (2 images of 3x4), found 25"},
		{"trailing labels gz", gz(t, append(bytes.Clone(lbl), 1, 2)), true, "trailing data: header says 6 labels, file holds 8"},
		{"zero rows", idxHeader(idxMagicImages, 1, 0, 4), false, "header says images are 0x4"},
		{"zero columns", idxHeader(idxMagicImages, 1, 4, 0), false, "header says images are 4x0"},
		{"overflowing size", idxHeader(idxMagicImages, 0xffffffff, 0xffff, 0xffff), false, "impossibly large"},
		// A billion 28x28 images announced by a 40-byte .gz: must fail at
		// the real end of the data instead of allocating 784 GB first.
		{"lying header gz", gz(t, idxHeader(idxMagicImages, 1_000_000_000, 28, 28)), false, "truncated: expected 784000000000 bytes of pixels"},
		{"corrupt gzip data", flipped, false, "corrupt gzip"},
		{"gzip checksum", badCRC, false, "corrupt gzip"},
		{"truncated gzip", gzImg[:len(gzImg)-12], false, "corrupt gzip: the compressed stream ends early"},
		{"gzip header only", []byte{0x1f, 0x8b, 8}, false, "corrupt gzip header"},
		// Bytes after the last member: whether fewer than a gzip header
		// (Go's reader says "unexpected EOF") or more ("invalid header").
		{"garbage after gzip", append(bytes.Clone(gzImg), "junk"...), false, fmt.Sprintf("trailing data after the gzip stream: 4 bytes after the compressed data ends at byte %d of %d", len(gzImg), len(gzImg)+4)},
		{"long garbage after gzip", append(bytes.Clone(gzImg), bytes.Repeat([]byte("junk"), 100)...), false, "trailing data after the gzip stream: 400 bytes"},
		{"garbage after two members", append(append(gz(t, img[:20]), gz(t, img[20:])...), 0), false, "trailing data after the gzip stream: 1 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "some-file-ubyte.gz")
			writeFile(t, path, tc.data)
			var err error
			if tc.labels {
				_, err = ReadIDXLabels(path)
			} else {
				_, _, _, _, err = ReadIDXImages(path)
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error does not match ErrCorrupt: %v", err)
			}
			if !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error does not start with the path: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

// A file of concatenated gzip members is the concatenation of their data,
// as gzip -d reads it.
func TestReadIDXOfSeveralGzipMembers(t *testing.T) {
	img := idxImages(2, 3, 4, func(i, k int) byte { return byte(k) })
	path := filepath.Join(t.TempDir(), "images-ubyte.gz")
	writeFile(t, path, append(append(gz(t, img[:10]), gz(t, img[10:30])...), gz(t, img[30:])...))
	pixels, n, _, _, err := ReadIDXImages(path)
	if err != nil || n != 2 || !bytes.Equal(pixels, img[16:]) {
		t.Errorf("got %d images, %v", n, err)
	}
}

func TestReadIDXMissingFileIsNotCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope")
	_, err := ReadIDXLabels(path)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want a not-exist error that is not ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// An uncompressed file's size is known: a header announcing more pixels
// than the file holds is refused before any buffer for them is allocated
// (the reader for .gz files grows its buffer in steps of 64 MB).
func TestLyingHeaderOfAPlainFileAllocatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lying-ubyte")
	writeFile(t, path, idxHeader(idxMagicImages, 1_000_000_000, 28, 28))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _, err := ReadIDXImages(path)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated: expected 784000000000 bytes of pixels") {
		t.Errorf("got %v, want a truncation error", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("reading a 16-byte file allocated %d MB", n>>20)
	}
}
