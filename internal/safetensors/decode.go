package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"
)

// ReadFile reads and validates the safetensors file at path. Its errors name
// the path.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	f, err := Decode(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return f, nil
}

// Decode reads a safetensors file of size bytes from r and validates it. It
// reads exactly size bytes; size must be the true size of the file, since it
// decides where the data buffer ends. Float tensors are converted to float32
// and integer tensors to int64, keeping the file's dtype in Tensor.DType.
// Errors about the content, including a reader that ends before size bytes,
// wrap ErrInvalid.
func Decode(r io.Reader, size int64) (*File, error) {
	if size < 8 {
		return nil, invalidf("file is %d bytes, too short for the 8-byte header length", max(size, 0))
	}
	var lenBuf [8]byte
	if err := readFull(r, lenBuf[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	// A length that cannot be right most likely means another kind of file
	// (a JPEG, a PyTorch .pt zip): say that, and what it starts with.
	if n > maxHeaderSize {
		return nil, invalidf("not a safetensors file: it starts with %s; read as a header length, %d is more than the limit of %d", describeStart(lenBuf[:]), n, maxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, invalidf("not a safetensors file: it starts with %s; read as a header length, header length %d does not fit in a file of %d bytes", describeStart(lenBuf[:]), n, size)
	}
	header := make([]byte, n)
	if err := readFull(r, header); err != nil {
		return nil, err
	}
	dataLen := size - 8 - int64(n)

	f, infos, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if err := checkLayout(infos, dataLen); err != nil {
		return nil, err
	}
	buf := make([]byte, chunkSize)
	for i := range infos {
		t, err := readTensor(r, &infos[i], buf)
		if err != nil {
			return nil, err
		}
		f.Tensors = append(f.Tensors, t)
	}
	return f, nil
}

// readFull is io.ReadFull that reports a short read as a truncated file.
func readFull(r io.Reader, buf []byte) error {
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return invalidf("file truncated: %w", io.ErrUnexpectedEOF)
		}
		return err
	}
	return nil
}

// tensorInfo is one validated header entry.
type tensorInfo struct {
	name       string
	dtype      string
	width      int
	shape      []int
	begin, end int64
}

// parseHeader parses and validates the JSON header.
func parseHeader(header []byte) (*File, []tensorInfo, error) {
	if !utf8.Valid(header) {
		return nil, nil, invalidf("header is not valid UTF-8")
	}
	fields, err := objectFields(header)
	if err != nil {
		return nil, nil, invalidf("header: %v", err)
	}
	f := &File{}
	infos := make([]tensorInfo, 0, len(fields))
	for _, fld := range fields {
		if fld.key == metadataKey {
			if f.Metadata, err = parseMetadata(fld.value); err != nil {
				return nil, nil, invalidf("header: %s: %v", metadataKey, err)
			}
			continue
		}
		info, err := parseEntry(fld.key, fld.value)
		if err != nil {
			return nil, nil, invalidf("header: tensor %q: %v", fld.key, err)
		}
		infos = append(infos, info)
	}
	f.Tensors = make([]Tensor, 0, len(infos))
	return f, infos, nil
}

// parseMetadata parses the "__metadata__" object.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	fields, err := objectFields(raw)
	if err != nil {
		return nil, err
	}
	md := make(map[string]string, len(fields))
	for _, fld := range fields {
		s, err := parseString(fld.value)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %v", fld.key, err)
		}
		md[fld.key] = s
	}
	return md, nil
}

// parseEntry parses and checks one tensor's header entry on its own.
func parseEntry(name string, raw json.RawMessage) (tensorInfo, error) {
	info := tensorInfo{name: name}
	if name == "" {
		return info, errors.New("empty tensor name")
	}
	fields, err := objectFields(raw)
	if err != nil {
		return info, err
	}
	var dtype, shape, offsets json.RawMessage
	for _, fld := range fields {
		switch fld.key {
		case "dtype":
			dtype = fld.value
		case "shape":
			shape = fld.value
		case "data_offsets":
			offsets = fld.value
		default:
			return info, fmt.Errorf("unknown field %q", fld.key)
		}
	}
	for _, req := range []struct {
		name string
		raw  json.RawMessage
	}{{"dtype", dtype}, {"shape", shape}, {"data_offsets", offsets}} {
		if req.raw == nil {
			return info, fmt.Errorf("missing field %q", req.name)
		}
	}

	if info.dtype, err = parseString(dtype); err != nil {
		return info, fmt.Errorf("dtype: %v", err)
	}
	var ok bool
	if info.width, ok = dtypeSize(info.dtype); !ok {
		return info, fmt.Errorf("unsupported dtype %q (want F32, F64, F16, BF16, I64, I32 or U8)", info.dtype)
	}

	dims, err := parseInts(shape)
	if err != nil {
		return info, fmt.Errorf("shape: %v", err)
	}
	info.shape = make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return info, fmt.Errorf("shape %v: dimension %d is negative", dims, i)
		}
		if int64(int(d)) != d {
			return info, fmt.Errorf("shape %v: dimension %d too large", dims, i)
		}
		info.shape[i] = int(d)
	}
	nbytes, err := byteSize(info.shape, info.width)
	if err != nil {
		return info, err
	}

	offs, err := parseInts(offsets)
	if err != nil {
		return info, fmt.Errorf("data_offsets: %v", err)
	}
	if len(offs) != 2 {
		return info, fmt.Errorf("data_offsets %v: want [begin, end]", offs)
	}
	info.begin, info.end = offs[0], offs[1]
	switch {
	case info.begin < 0 || info.end < 0:
		return info, fmt.Errorf("data_offsets %v: negative offset", offs)
	case info.begin > info.end:
		return info, fmt.Errorf("data_offsets %v: begin after end", offs)
	case uint64(info.end-info.begin) != uint64(nbytes):
		return info, fmt.Errorf("data_offsets %v span %d bytes, but shape %v of %s needs %d",
			offs, info.end-info.begin, info.shape, info.dtype, nbytes)
	}
	return info, nil
}

// checkLayout sorts infos by offset and checks that they tile the data buffer
// of dataLen bytes exactly.
func checkLayout(infos []tensorInfo, dataLen int64) error {
	slices.SortFunc(infos, func(a, b tensorInfo) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	})
	var pos int64
	for i, t := range infos {
		switch {
		case t.begin < pos:
			return invalidf("tensor %q: data_offsets [%d %d] overlap tensor %q", t.name, t.begin, t.end, infos[i-1].name)
		case t.begin > pos:
			return invalidf("tensor %q: data_offsets [%d %d] leave a gap of %d bytes before it", t.name, t.begin, t.end, t.begin-pos)
		case t.end > dataLen:
			return invalidf("tensor %q: data_offsets [%d %d] go past the end of the %d-byte data buffer (file truncated?)",
				t.name, t.begin, t.end, dataLen)
		}
		pos = t.end
	}
	if pos != dataLen {
		return invalidf("%d trailing bytes after the last tensor", dataLen-pos)
	}
	return nil
}

// readTensor reads the data of one tensor from r, which must be positioned at
// its start, converting it through buf.
func readTensor(r io.Reader, info *tensorInfo, buf []byte) (Tensor, error) {
	t := Tensor{Name: info.name, DType: info.dtype, Shape: info.shape}
	n := int((info.end - info.begin) / int64(info.width))
	float := isFloat(info.dtype)
	if float {
		t.F32 = make([]float32, n)
	} else {
		t.I64 = make([]int64, n)
	}
	per := len(buf) / info.width // elements per chunk
	for done := 0; done < n; {
		k := min(n-done, per)
		chunk := buf[:k*info.width]
		if err := readFull(r, chunk); err != nil {
			return t, err
		}
		if float {
			convertFloat(t.F32[done:done+k], chunk, info.dtype)
		} else {
			convertInt(t.I64[done:done+k], chunk, info.dtype)
		}
		done += k
	}
	return t, nil
}

// isFloat reports whether dtype is a floating-point type.
func isFloat(dtype string) bool {
	switch dtype {
	case "F32", "F64", "F16", "BF16":
		return true
	}
	return false
}

// convertFloat decodes little-endian float data of dtype into dst.
func convertFloat(dst []float32, src []byte, dtype string) {
	le := binary.LittleEndian
	for i := range dst {
		switch dtype {
		case "F32":
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		case "F64":
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		case "F16":
			dst[i] = halfToFloat32(le.Uint16(src[2*i:]))
		case "BF16":
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
	}
}

// convertInt decodes little-endian integer data of dtype into dst.
func convertInt(dst []int64, src []byte, dtype string) {
	le := binary.LittleEndian
	for i := range dst {
		switch dtype {
		case "I64":
			dst[i] = int64(le.Uint64(src[8*i:]))
		case "I32":
			dst[i] = int64(int32(le.Uint32(src[4*i:])))
		case "U8":
			dst[i] = int64(src[i])
		}
	}
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch exp {
	case 0x1f: // infinity or NaN, keeping the payload
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case 0: // zero or subnormal: mant * 2^-24
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	default: // rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// field is one member of a JSON object, in document order.
type field struct {
	key   string
	value json.RawMessage
}

// jsonError describes a syntax error from encoding/json's Decoder, which
// reports input that ends too early as io.EOF.
func jsonError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("not valid JSON: %w", err)
}

// objectFields parses data as a single JSON object (surrounding whitespace
// allowed) and returns its members, rejecting duplicate keys, which
// encoding/json would otherwise merge silently.
func objectFields(data []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object: %.40s", bytes.TrimSpace(data))
	}
	var fields []field
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("not valid JSON: object key %v", tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, jsonError(err)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		fields = append(fields, field{key, value})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonError(err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %v", tok)
		}
		return nil, fmt.Errorf("trailing data after the JSON object: %v", err)
	}
	return fields, nil
}

// parseString parses a JSON string.
func parseString(raw json.RawMessage) (string, error) {
	var s string
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("want a string, got %.40s", raw)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

// parseInts parses a JSON array of integers.
func parseInts(raw json.RawMessage) ([]int64, error) {
	var elems []json.RawMessage
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("want an array of integers, got %.40s", raw)
	}
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, err
	}
	ints := make([]int64, len(elems))
	for i, e := range elems {
		v, err := strconv.ParseInt(string(bytes.TrimSpace(e)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("element %d is %.40s, want an integer in int64 range", i, e)
		}
		ints[i] = v
	}
	return ints, nil
}

// describeStart names a file type from its first bytes where it is a common
// mistake, else shows them in hex.
func describeStart(b []byte) string {
	switch {
	case b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "a JPEG image's bytes"
	case string(b[:4]) == "\x89PNG":
		return "a PNG image's bytes"
	case string(b[:4]) == "PK\x03\x04":
		return "a zip archive's bytes (a PyTorch .pt checkpoint is one: save with safetensors.torch.save_file)"
	case b[0] == 0x80 && b[1] <= 5:
		return "a Python pickle's bytes (torch.save without the zip format)"
	}
	return fmt.Sprintf("bytes % x", b)
}
