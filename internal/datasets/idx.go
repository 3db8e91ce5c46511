package datasets

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"slices"
)

// IDX magic numbers: two zero bytes, element type 0x08 (unsigned byte), number
// of dimensions.
const (
	idxMagicLabels = 0x00000801
	idxMagicImages = 0x00000803
)

// formatError is a problem with a file's content. It names the file and
// matches ErrCorrupt (and the underlying cause, if any).
type formatError struct {
	path    string
	problem string
	cause   error
}

func (e *formatError) Error() string { return e.path + ": " + e.problem }

func (e *formatError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.cause}
}

func corrupt(path, format string, args ...any) error {
	return &formatError{path: path, problem: fmt.Sprintf(format, args...)}
}

// ReadIDXImages reads an IDX file of unsigned-byte images (magic 0x00000803,
// then count, rows and cols, big-endian), gzipped or not. images holds
// n*rows*cols bytes, image after image, row after row. Any deviation from the
// format, including a payload longer or shorter than the header announces,
// is an error that names path and matches ErrCorrupt.
func ReadIDXImages(path string) (images []uint8, n, rows, cols int, err error) {
	f, err := openIDX(path)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	defer f.Close()
	hdr, err := f.header(idxMagicImages, 3)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	n, rows, cols = int(hdr[0]), int(hdr[1]), int(hdr[2])
	if rows == 0 || cols == 0 {
		return nil, 0, 0, 0, corrupt(path, "header says images are %dx%d", rows, cols)
	}
	// 32-bit fields cannot overflow in int64 after the first product, but the
	// second might; a corrupt header must give an error, not a wrapped size.
	hi, total := bits.Mul64(uint64(n), uint64(rows)*uint64(cols))
	if hi != 0 || total > math.MaxInt {
		return nil, 0, 0, 0, corrupt(path, "header says %d images of %dx%d, which is impossibly large", n, rows, cols)
	}
	describe := func(size int64) string {
		return fmt.Sprintf("expected %d bytes of pixels (%d images of %dx%d), found %d", total, n, rows, cols, size)
	}
	images, err = f.payload(int64(total), describe)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return images, n, rows, cols, nil
}

// ReadIDXLabels reads an IDX file of unsigned-byte labels (magic 0x00000801,
// then count, big-endian), gzipped or not, with the same strictness as
// ReadIDXImages. It does not check the label range; Load does, as it knows
// the number of classes.
func ReadIDXLabels(path string) (labels []uint8, err error) {
	f, err := openIDX(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hdr, err := f.header(idxMagicLabels, 1)
	if err != nil {
		return nil, err
	}
	n := hdr[0]
	describe := func(size int64) string {
		return fmt.Sprintf("header says %d labels, file holds %d", n, size)
	}
	return f.payload(int64(n), describe)
}

// idxFile is an open IDX file, decompressing on the fly if it is gzipped.
type idxFile struct {
	path string
	file *os.File
	r    io.Reader
	// plainSize is the size of an uncompressed file, -1 for a gzipped one.
	// Knowing it lets payload reject a lying header before allocating.
	plainSize int64
	headerLen int64 // bytes consumed by header
	gz        *gzip.Reader
}

// openIDX opens path and, if its first two bytes are the gzip magic, wraps it
// in a gzip reader. The name is not consulted.
func openIDX(path string) (*idxFile, error) {
	file, st, err := openDataFile(path)
	if err != nil {
		return nil, err
	}
	f := &idxFile{path: path, file: file}
	br := bufio.NewReaderSize(file, 1<<20)
	magic, _ := br.Peek(2)
	if bytes.Equal(magic, gzipMagic) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			file.Close()
			return nil, &formatError{path: path, problem: fmt.Sprintf("corrupt gzip header: %v", err), cause: err}
		}
		f.gz = gz
		// Large reads straight from the decompressor; bufio would only add a copy.
		f.r = &gzipMembers{gz: gz, br: br, size: st.Size()}
		f.plainSize = -1
	} else {
		f.r = br
		f.plainSize = st.Size()
	}
	return f, nil
}

func (f *idxFile) Close() error {
	if f.gz != nil {
		f.gz.Close()
	}
	return f.file.Close()
}

// header reads the magic number, checks it, and returns the dims 32-bit
// sizes that follow it.
func (f *idxFile) header(wantMagic uint32, dims int) ([]uint32, error) {
	buf := make([]byte, 4*(1+dims))
	f.headerLen = int64(len(buf))
	got, err := io.ReadFull(f.r, buf)
	if err := f.readError(err, func() string {
		if got == 0 {
			return "empty file"
		}
		return fmt.Sprintf("truncated header: expected %d bytes, file holds %d", len(buf), got)
	}); err != nil {
		// A magic number we can read explains more than "truncated".
		if got >= 4 && binary.BigEndian.Uint32(buf) != wantMagic {
			return nil, f.magicError(buf[:got], wantMagic)
		}
		return nil, err
	}
	if binary.BigEndian.Uint32(buf) != wantMagic {
		return nil, f.magicError(buf, wantMagic)
	}
	out := make([]uint32, dims)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(buf[4*(i+1):])
	}
	return out, nil
}

// magicError explains a wrong magic number, guessing what the file is.
func (f *idxFile) magicError(start []byte, want uint32) error {
	got := binary.BigEndian.Uint32(start)
	kind := "labels"
	if want == idxMagicImages {
		kind = "images"
	}
	var hint string
	switch {
	case got == idxMagicImages:
		hint = "; this looks like an images file"
	case got == idxMagicLabels:
		hint = "; this looks like a labels file"
	case start[0] == '<' || bytes.HasPrefix(bytes.TrimSpace(start), []byte("<")):
		hint = "; this looks like an HTML or XML page (an error page saved by a failed download?)"
	case start[0] != 0 || start[1] != 0:
		hint = "; this is not an IDX file"
	case start[2] != 0x08:
		hint = fmt.Sprintf("; IDX element type 0x%02x, expected 0x08 (unsigned byte)", start[2])
	default:
		hint = fmt.Sprintf("; an IDX file with %d dimensions, expected %d", start[3], want&0xff)
	}
	return corrupt(f.path, "bad magic number 0x%08x, expected 0x%08x (%s)%s", got, want, kind, hint)
}

// payload reads exactly want bytes and checks that nothing follows them.
// describe(found) words a size mismatch.
func (f *idxFile) payload(want int64, describe func(found int64) string) ([]byte, error) {
	if f.plainSize >= 0 {
		// Everything after the header is payload.
		found := f.plainSize - f.headerLen
		if found < want {
			return nil, corrupt(f.path, "truncated: %s", describe(found))
		}
		if found > want {
			return nil, corrupt(f.path, "trailing data: %s", describe(found))
		}
	}
	buf, err := readFull(f.r, want)
	if err != nil {
		if err := f.readError(err, func() string {
			return "truncated: " + describe(int64(len(buf)))
		}); err != nil {
			return nil, err
		}
	}
	// Reading to the end also makes gzip verify its checksum.
	extra, err := io.Copy(io.Discard, f.r)
	if err := f.readError(err, nil); err != nil {
		return nil, err
	}
	if extra > 0 {
		return nil, corrupt(f.path, "trailing data: %s", describe(want+extra))
	}
	return buf, nil
}

// readError turns an error from reading into the error to report: nil for
// nil, a corrupt-gzip error for a damaged stream, a truncation error (worded
// by truncated) for a premature end, and the I/O error itself otherwise.
func (f *idxFile) readError(err error, truncated func() string) error {
	var (
		gzErr    gzipError
		trailing *trailingGzipData
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &trailing):
		return &formatError{path: f.path, problem: trailing.Error(), cause: err}
	case errors.As(err, &gzErr):
		if errors.Is(gzErr.err, io.ErrUnexpectedEOF) {
			return &formatError{path: f.path, problem: "corrupt gzip: the compressed stream ends early (truncated .gz file)", cause: gzErr.err}
		}
		return &formatError{path: f.path, problem: fmt.Sprintf("corrupt gzip: %v", gzErr.err), cause: gzErr.err}
	case truncated != nil && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return corrupt(f.path, "%s", truncated())
	default:
		return fmt.Errorf("%s: %w", f.path, err)
	}
}

// gzipError marks an error that came from the decompressor, so that a damaged
// .gz file is reported as such rather than as a short payload.
type gzipError struct{ err error }

func (e gzipError) Error() string { return e.err.Error() }
func (e gzipError) Unwrap() error { return e.err }

// gzipMembers reads a gzip file as gzip -d does: every member in turn (a
// file of several concatenated members is one stream of their data), with
// an error for bytes after the last member that do not start another one,
// which are no part of the data; Go's multistream reader would call them a
// bad header or, when fewer than a header's ten bytes, a truncated file.
type gzipMembers struct {
	gz   *gzip.Reader // set to read one member only
	br   *bufio.Reader
	size int64 // the compressed file's size
}

func (m *gzipMembers) Read(p []byte) (int, error) {
	m.gz.Multistream(false)
	for {
		n, err := m.gz.Read(p)
		switch {
		case err == nil || n > 0 && err == io.EOF:
			return n, nil
		case err != io.EOF:
			return n, gzipError{err}
		}
		next, _ := m.br.Peek(2)
		switch {
		case len(next) == 0:
			return 0, io.EOF
		case bytes.Equal(next, gzipMagic):
			if err := m.gz.Reset(m.br); err != nil {
				return 0, gzipError{err}
			}
			m.gz.Multistream(false)
		default:
			rest, err := io.Copy(io.Discard, m.br)
			if err != nil {
				return 0, err
			}
			return 0, &trailingGzipData{bytes: rest, size: m.size}
		}
	}
}

// gzipMagic starts every gzip member.
var gzipMagic = []byte{0x1f, 0x8b}

// trailingGzipData is bytes after a gzip file's last member.
type trailingGzipData struct{ bytes, size int64 }

func (e *trailingGzipData) Error() string {
	return fmt.Sprintf("trailing data after the gzip stream: %d bytes after the compressed data ends at byte %d of %d", e.bytes, e.size-e.bytes, e.size)
}

// readFull reads exactly n bytes into one buffer. It grows the buffer in
// large steps instead of allocating n up front, so that a corrupt header
// claiming gigabytes in a tiny .gz file fails at its real end instead of
// allocating first; for a genuine file it costs a few copies at most.
func readFull(r io.Reader, n int64) ([]byte, error) {
	const step = 64 << 20
	buf := make([]byte, 0, min(n, step))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n-int64(len(buf)), int64(len(buf)))))
		}
		end := min(int64(cap(buf)), n)
		got, err := io.ReadFull(r, buf[len(buf):end])
		buf = buf[:len(buf)+got]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}
