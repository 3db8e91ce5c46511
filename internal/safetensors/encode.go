package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
)

// chunkSize is the size of the buffers that tensor data goes through.
const chunkSize = 64 << 10

// headerEntry is one tensor in the JSON header.
type headerEntry struct {
	DType       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// encoding is a validated File, ready to be written.
type encoding struct {
	header []byte    // the JSON header, padded
	order  []*Tensor // the tensors in data-buffer order
}

// Encode writes f to w in the safetensors format. It validates f before
// writing anything: every tensor needs a unique, non-empty name other than
// "__metadata__", dtype DTypeF32 or DTypeI64, non-negative dimensions and
// exactly as many values as its shape holds. Validation errors wrap
// ErrInvalid.
func Encode(w io.Writer, f *File) error {
	enc, err := prepare(f)
	if err != nil {
		return err
	}
	return enc.writeTo(w)
}

// WriteFile writes f to path atomically: readers of path see either the old
// file or the complete new one. On any error path is left as it was.
func WriteFile(path string, f *File) error {
	enc, err := prepare(f)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, enc.writeTo)
}

// prepare validates f, lays out the data buffer and builds the header.
func prepare(f *File) (*encoding, error) {
	entries := make(map[string]any, len(f.Tensors)+1)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if err := validate(t); err != nil {
			return nil, err
		}
		if _, dup := entries[t.Name]; dup {
			return nil, invalidf("duplicate tensor name %q", t.Name)
		}
		entries[t.Name] = nil
	}
	for k, v := range f.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, invalidf("metadata %q: key and value must be valid UTF-8", k)
		}
	}

	// 8-byte elements first, then 4-byte ones: with the data buffer starting
	// at a multiple of 8, every tensor is then aligned to its element size.
	enc := &encoding{order: make([]*Tensor, 0, len(f.Tensors))}
	for _, dtype := range []string{DTypeI64, DTypeF32} {
		for i := range f.Tensors {
			if f.Tensors[i].DType == dtype {
				enc.order = append(enc.order, &f.Tensors[i])
			}
		}
	}
	offset := 0
	for _, t := range enc.order {
		width, _ := dtypeSize(t.DType)
		size, _ := byteSize(t.Shape, width) // checked by validate
		if size > math.MaxInt-offset {
			return nil, invalidf("tensors too large")
		}
		shape := make([]int, len(t.Shape)) // [] rather than null for scalars
		copy(shape, t.Shape)
		entries[t.Name] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: [2]int{offset, offset + size}}
		offset += size
	}
	if len(f.Metadata) > 0 {
		entries[metadataKey] = f.Metadata
	}

	// encoding/json sorts map keys, which makes the header deterministic.
	var buf bytes.Buffer
	je := json.NewEncoder(&buf)
	je.SetEscapeHTML(false)
	if err := je.Encode(entries); err != nil {
		return nil, fmt.Errorf("safetensors: encode header: %w", err)
	}
	header := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	for len(header)%8 != 0 {
		header = append(header, ' ')
	}
	if len(header) > maxHeaderSize {
		return nil, invalidf("header is %d bytes, more than the limit of %d", len(header), maxHeaderSize)
	}
	enc.header = header
	return enc, nil
}

// validate checks one tensor for Encode.
func validate(t *Tensor) error {
	switch {
	case t.Name == "":
		return invalidf("tensor with empty name")
	case t.Name == metadataKey:
		return invalidf("tensor name %q is reserved", t.Name)
	case !utf8.ValidString(t.Name):
		return invalidf("tensor name %q is not valid UTF-8", t.Name)
	}
	n, err := numElements(t.Shape)
	if err != nil {
		return invalidf("tensor %q: %v", t.Name, err)
	}
	var have, other int
	switch t.DType {
	case DTypeF32:
		have, other = len(t.F32), len(t.I64)
	case DTypeI64:
		have, other = len(t.I64), len(t.F32)
	default:
		return invalidf("tensor %q: cannot write dtype %q, only %s and %s", t.Name, t.DType, DTypeF32, DTypeI64)
	}
	if other != 0 {
		return invalidf("tensor %q: dtype %s but values in the other slice", t.Name, t.DType)
	}
	if have != n {
		return invalidf("tensor %q: shape %v holds %d values, have %d", t.Name, t.Shape, n, have)
	}
	if _, err := byteSize(t.Shape, 8); err != nil {
		return invalidf("tensor %q: %v", t.Name, err)
	}
	return nil
}

// writeTo writes the file: header length, header, data.
func (enc *encoding) writeTo(w io.Writer) error {
	buf := make([]byte, 8, chunkSize)
	binary.LittleEndian.PutUint64(buf, uint64(len(enc.header)))
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if _, err := w.Write(enc.header); err != nil {
		return err
	}
	buf = buf[:0]
	flush := func(force bool) error {
		if len(buf) == 0 || (!force && len(buf) < chunkSize-8) {
			return nil
		}
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for _, t := range enc.order {
		if t.DType == DTypeF32 {
			for _, v := range t.F32 {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if err := flush(false); err != nil {
					return err
				}
			}
		} else {
			for _, v := range t.I64 {
				buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
				if err := flush(false); err != nil {
					return err
				}
			}
		}
	}
	return flush(true)
}
