package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func encode(t *testing.T, f *File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, f); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

func decode(b []byte) (*File, error) {
	return Decode(bytes.NewReader(b), int64(len(b)))
}

// rawFile builds a file from a header and a data buffer, without padding.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// sameTensor compares tensors, treating nil and empty slices alike and floats
// by their bits, so NaNs compare equal.
func sameTensor(a, b Tensor) bool {
	if a.Name != b.Name || a.DType != b.DType || len(a.Shape) != len(b.Shape) ||
		len(a.F32) != len(b.F32) || len(a.I64) != len(b.I64) {
		return false
	}
	for i := range a.Shape {
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	for i := range a.I64 {
		if a.I64[i] != b.I64[i] {
			return false
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
	}{
		{name: "empty file"},
		{name: "f32 matrix", tensors: []Tensor{
			{Name: "w", DType: DTypeF32, Shape: []int{2, 3}, F32: []float32{1, -2, 3.5, 0, float32(math.Inf(-1)), 1e-30}},
		}},
		{name: "i64 vector", tensors: []Tensor{
			{Name: "idx", DType: DTypeI64, Shape: []int{4}, I64: []int64{0, -1, math.MaxInt64, math.MinInt64}},
		}},
		{name: "scalars", tensors: []Tensor{
			{Name: "bn.num_batches_tracked", DType: DTypeI64, Shape: []int{}, I64: []int64{12345}},
			{Name: "temperature", DType: DTypeF32, F32: []float32{0.5}},
		}},
		{name: "zero-size tensors", tensors: []Tensor{
			{Name: "a", DType: DTypeF32, Shape: []int{0}},
			{Name: "b", DType: DTypeF32, Shape: []int{3, 0, 2}, F32: []float32{}},
			{Name: "c", DType: DTypeI64, Shape: []int{0, 5}},
			{Name: "d", DType: DTypeF32, Shape: []int{1}, F32: []float32{7}},
		}},
		{name: "mixed with metadata", meta: map[string]string{"format": "pt", "epoch": "3", "note": `<&> "quoted" ünïcode`},
			tensors: []Tensor{
				{Name: "conv1.weight", DType: DTypeF32, Shape: []int{2, 1, 2, 2}, F32: []float32{1, 2, 3, 4, 5, 6, 7, 8}},
				{Name: "bn1.num_batches_tracked", DType: DTypeI64, Shape: []int{}, I64: []int64{7}},
				{Name: "fc.bias", DType: DTypeF32, Shape: []int{3}, F32: []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 1}}, // -0.0 in Go source is +0
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &File{Tensors: tt.tensors, Metadata: tt.meta}
			b := encode(t, in)
			if (8+binary.LittleEndian.Uint64(b))%8 != 0 {
				t.Errorf("data buffer starts at %d, not a multiple of 8", 8+binary.LittleEndian.Uint64(b))
			}
			out, err := decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(out.Tensors) != len(in.Tensors) {
				t.Fatalf("got %d tensors, want %d", len(out.Tensors), len(in.Tensors))
			}
			for _, want := range in.Tensors {
				got, ok := out.Get(want.Name)
				if !ok {
					t.Fatalf("tensor %q missing", want.Name)
				}
				if !sameTensor(*got, want) {
					t.Errorf("tensor %q = %+v, want %+v", want.Name, *got, want)
				}
				if got.Shape == nil || (got.DType == DTypeF32 && got.F32 == nil) || (got.DType == DTypeI64 && got.I64 == nil) {
					t.Errorf("tensor %q: read slices should be non-nil: %+v", want.Name, *got)
				}
			}
			if len(tt.meta) > 0 && !reflect.DeepEqual(out.Metadata, tt.meta) {
				t.Errorf("metadata = %v, want %v", out.Metadata, tt.meta)
			}
			if len(tt.meta) == 0 && out.Metadata != nil {
				t.Errorf("metadata = %v, want nil", out.Metadata)
			}
			if again := encode(t, in); !bytes.Equal(again, b) {
				t.Error("encoding twice gave different bytes")
			}
		})
	}
}

// TestExactBytes checks the encoding of a tiny file byte for byte: the
// little-endian header length, the sorted JSON header padded with spaces to a
// multiple of 8, 8-byte tensors laid out first, and little-endian data.
func TestExactBytes(t *testing.T) {
	f := &File{
		Tensors: []Tensor{
			{Name: "w", DType: DTypeF32, Shape: []int{2}, F32: []float32{1, -2}},
			{Name: "n", DType: DTypeI64, Shape: []int{}, I64: []int64{3}},
		},
		Metadata: map[string]string{"format": "pt"},
	}
	json := `{"__metadata__":{"format":"pt"},` +
		`"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},` +
		`"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}` // 138 bytes
	var want []byte
	want = append(want, 0x90, 0, 0, 0, 0, 0, 0, 0) // 144 = 138 + 6 spaces
	want = append(want, json...)
	want = append(want, "      "...)
	want = append(want, 3, 0, 0, 0, 0, 0, 0, 0) // int64 3
	want = append(want, 0x00, 0x00, 0x80, 0x3f) // float32 1
	want = append(want, 0x00, 0x00, 0x00, 0xc0) // float32 -2

	got := encode(t, f)
	if !bytes.Equal(got, want) {
		t.Errorf("Encode =\n%q\nwant\n%q", got, want)
	}
	back, err := decode(want)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if names := back.Names(); !reflect.DeepEqual(names, []string{"n", "w"}) {
		t.Errorf("Names = %v", names)
	}
	if back.Tensors[0].Name != "n" || back.Tensors[1].Name != "w" {
		t.Errorf("tensors not in data-offset order: %v, %v", back.Tensors[0].Name, back.Tensors[1].Name)
	}
}

func TestHeaderPadding(t *testing.T) {
	for n := 1; n <= 16; n++ {
		f := &File{Tensors: []Tensor{{Name: strings.Repeat("x", n), DType: DTypeF32, F32: []float32{1}}}}
		b := encode(t, f)
		hl := binary.LittleEndian.Uint64(b)
		if hl%8 != 0 {
			t.Errorf("name length %d: header length %d is not a multiple of 8", n, hl)
		}
		header := b[8 : 8+hl]
		trimmed := bytes.TrimRight(header, " ")
		if len(header)-len(trimmed) >= 8 || trimmed[len(trimmed)-1] != '}' {
			t.Errorf("name length %d: bad padding in %q", n, header)
		}
	}
}

// TestAlignment checks that every tensor is aligned to its element size when
// F32 and I64 tensors are interleaved, as with BatchNorm's counters.
func TestAlignment(t *testing.T) {
	f := &File{Tensors: []Tensor{
		{Name: "a", DType: DTypeF32, Shape: []int{1}, F32: []float32{1}},
		{Name: "b", DType: DTypeI64, I64: []int64{2}},
		{Name: "c", DType: DTypeF32, Shape: []int{3}, F32: []float32{1, 2, 3}},
		{Name: "d", DType: DTypeI64, I64: []int64{4}},
	}}
	b := encode(t, f)
	out, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, tt := range out.Tensors {
		order = append(order, tt.Name)
	}
	if want := []string{"b", "d", "a", "c"}; !reflect.DeepEqual(order, want) {
		t.Errorf("data order = %v, want %v", order, want)
	}
}

func TestDecodeConversions(t *testing.T) {
	le := binary.LittleEndian
	u16s := func(vs ...uint16) (b []byte) {
		for _, v := range vs {
			b = le.AppendUint16(b, v)
		}
		return b
	}
	f64s := func(vs ...float64) (b []byte) {
		for _, v := range vs {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	i32s := func(vs ...int32) (b []byte) {
		for _, v := range vs {
			b = le.AppendUint32(b, uint32(v))
		}
		return b
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		dtype   string
		shape   string
		data    []byte
		wantF32 []float32
		wantI64 []int64
	}{
		{"F16", "[9]", u16s(0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x8000, 0x3555),
			[]float32{1, -2, 65504, 0x1p-24, 1023 * 0x1p-24, inf, -inf, float32(math.Copysign(0, -1)), 0.333251953125}, nil},
		{"F16", "[]", u16s(0x7e00), []float32{nan}, nil},
		{"BF16", "[2,2]", u16s(0x3f80, 0xc040, 0x7f80, 0x0000), []float32{1, -3, inf, 0}, nil},
		{"F64", "[3]", f64s(1.5, -0.1, 1e300), []float32{1.5, float32(-0.1), inf}, nil},
		{"F32", "[1]", []byte{0x00, 0x00, 0xc0, 0x3f}, []float32{1.5}, nil},
		{"I32", "[3]", i32s(-5, math.MaxInt32, math.MinInt32), nil, []int64{-5, math.MaxInt32, math.MinInt32}},
		{"U8", "[4]", []byte{0, 1, 128, 255}, nil, []int64{0, 1, 128, 255}},
		{"I64", "[1]", le.AppendUint64(nil, uint64(1<<63)), nil, []int64{math.MinInt64}},
	}
	for _, tt := range tests {
		t.Run(tt.dtype+tt.shape, func(t *testing.T) {
			header := `{"t":{"dtype":"` + tt.dtype + `","shape":` + tt.shape +
				`,"data_offsets":[0,` + strconv.Itoa(len(tt.data)) + `]}}`
			f, err := decode(rawFile(header, tt.data))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			got := f.Tensors[0]
			want := Tensor{Name: "t", DType: tt.dtype, Shape: got.Shape, F32: tt.wantF32, I64: tt.wantI64}
			if !sameTensor(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if got.NumElements() != len(tt.wantF32)+len(tt.wantI64) {
				t.Errorf("NumElements = %d for shape %v", got.NumElements(), got.Shape)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	f32 := func(name, offsets string) string {
		return `"` + name + `":{"dtype":"F32","shape":[1],"data_offsets":` + offsets + `}`
	}
	four := make([]byte, 4)
	short := rawFile(`{"a":1}`, nil)[:10]
	full := rawFile(`{`+f32("a", "[0,4]")+`}`, four)
	tests := []struct {
		name string
		file []byte
		size int64  // passed to Decode if not 0, else len(file)
		want string // substring of the error message
	}{
		{"empty file", nil, 0, "0 bytes, too short"},
		{"short file", []byte{1, 0, 0, 0, 0}, 0, "5 bytes, too short"},
		{"header length past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), 0, "header length 100 does not fit in a file of 10 bytes"},
		{"absurd header length", append(binary.LittleEndian.AppendUint64(nil, 1<<60), "{}"...), 0, "more than the limit"},
		{"header cut short", short, 15, "file truncated"},
		{"data cut short", full[:len(full)-2], int64(len(full)), "file truncated"},
		{"not JSON", rawFile(`{"a":`, nil), 0, "not valid JSON"},
		{"garbage", rawFile(`hello`, nil), 0, "not valid JSON"},
		{"array header", rawFile(`[]`, nil), 0, "not a JSON object"},
		{"null header", rawFile(`null`, nil), 0, "not a JSON object"},
		{"empty header", rawFile(``, nil), 0, "not valid JSON"},
		{"trailing JSON", rawFile(`{} {}`, nil), 0, "trailing data after the JSON object"},
		{"invalid UTF-8", rawFile("{\"\xff\":1}", nil), 0, "not valid UTF-8"},
		{"entry not object", rawFile(`{"a":1}`, nil), 0, `tensor "a": not a JSON object`},
		{"missing dtype", rawFile(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, four), 0, `missing field "dtype"`},
		{"missing shape", rawFile(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, four), 0, `missing field "shape"`},
		{"missing offsets", rawFile(`{"a":{"dtype":"F32","shape":[1]}}`, four), 0, `missing field "data_offsets"`},
		{"unknown field", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, four), 0, `unknown field "x"`},
		{"duplicate field", rawFile(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, four), 0, `duplicate key "dtype"`},
		{"unknown dtype", rawFile(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}`, four), 0, `unsupported dtype "Q4"`},
		{"dtype not string", rawFile(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, four), 0, "dtype: want a string"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}}`, nil), 0, "dimension 1 is negative"},
		{"fractional dim", rawFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, four), 0, "element 0 is 1.5, want an integer"},
		{"string dim", rawFile(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, four), 0, `element 0 is "1", want an integer`},
		{"null shape", rawFile(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, four), 0, "shape: want an array"},
		{"huge dim", rawFile(`{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}}`, four), 0, "want an integer in int64 range"},
		{"element overflow", rawFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}`, four), 0, "too many elements"},
		{"byte overflow", rawFile(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,4]}}`, four), 0, "too many bytes"},
		{"one offset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, four), 0, "want [begin, end]"},
		{"negative offset", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, four), 0, "negative offset"},
		{"begin after end", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, four), 0, "begin after end"},
		{"size mismatch", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, four), 0, "span 4 bytes, but shape [2] of F32 needs 8"},
		{"overlap", rawFile(`{`+f32("a", "[0,4]")+`,`+f32("b", "[2,6]")+`}`, make([]byte, 6)), 0, `tensor "b": data_offsets [2 6] overlap tensor "a"`},
		{"same offsets", rawFile(`{`+f32("a", "[0,4]")+`,`+f32("b", "[0,4]")+`}`, four), 0, `overlap tensor "a"`},
		{"gap", rawFile(`{`+f32("a", "[0,4]")+`,`+f32("b", "[8,12]")+`}`, make([]byte, 12)), 0, "leave a gap of 4 bytes"},
		{"gap at start", rawFile(`{`+f32("a", "[4,8]")+`}`, make([]byte, 8)), 0, "gap of 4 bytes"},
		{"trailing bytes", rawFile(`{`+f32("a", "[0,4]")+`}`, make([]byte, 7)), 0, "3 trailing bytes after the last tensor"},
		{"data without tensors", rawFile(`{}`, four), 0, "4 trailing bytes"},
		{"past end", rawFile(`{`+f32("a", "[0,4]")+`}`, make([]byte, 3)), 0, "go past the end of the 3-byte data buffer"},
		{"duplicate names", rawFile(`{`+f32("a", "[0,4]")+`,`+f32("a", "[4,8]")+`}`, make([]byte, 8)), 0, `duplicate key "a"`},
		{"empty name", rawFile(`{`+f32("", "[0,4]")+`}`, four), 0, "empty tensor name"},
		{"metadata not object", rawFile(`{"__metadata__":[]}`, nil), 0, "__metadata__: not a JSON object"},
		{"metadata value not string", rawFile(`{"__metadata__":{"epoch":3}}`, nil), 0, `value of "epoch": want a string`},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), 0, `duplicate key "__metadata__"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := tt.size
			if size == 0 {
				size = int64(len(tt.file))
			}
			_, err := Decode(bytes.NewReader(tt.file), size)
			if err == nil {
				t.Fatal("Decode succeeded, want error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestDecodeLenient checks what the format allows but this package never
// writes: an unpadded header, JSON whitespace, null metadata, zero-size
// tensors sharing an offset.
func TestDecodeLenient(t *testing.T) {
	header := " {\n \"b\" : { \"shape\" : [ 0 ] , \"data_offsets\" : [ 4 , 4 ], \"dtype\" : \"I32\" },\n" +
		` "__metadata__": null, "a": {"dtype":"U8","shape":[4],"data_offsets":[0,4]},` +
		` "c": {"dtype":"F16","shape":[0,3],"data_offsets":[4,4]} }` + "\t"
	f, err := decode(rawFile(header, []byte{1, 2, 3, 4}))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if f.Metadata != nil {
		t.Errorf("Metadata = %v, want nil", f.Metadata)
	}
	want := []Tensor{
		{Name: "a", DType: "U8", Shape: []int{4}, I64: []int64{1, 2, 3, 4}},
		{Name: "b", DType: "I32", Shape: []int{0}, I64: []int64{}},
		{Name: "c", DType: "F16", Shape: []int{0, 3}, F32: []float32{}},
	}
	if !reflect.DeepEqual(f.Tensors, want) {
		t.Errorf("Tensors = %+v, want %+v", f.Tensors, want)
	}
}

func TestEncodeInvalid(t *testing.T) {
	ok := Tensor{Name: "ok", DType: DTypeF32, F32: []float32{1}}
	tests := []struct {
		name string
		file File
		want string
	}{
		{"empty name", File{Tensors: []Tensor{{DType: DTypeF32, F32: []float32{1}}}}, "empty name"},
		{"reserved name", File{Tensors: []Tensor{{Name: "__metadata__", DType: DTypeF32, F32: []float32{1}}}}, "reserved"},
		{"invalid UTF-8 name", File{Tensors: []Tensor{{Name: "a\xff", DType: DTypeF32, F32: []float32{1}}}}, "not valid UTF-8"},
		{"duplicate", File{Tensors: []Tensor{ok, ok}}, `duplicate tensor name "ok"`},
		{"too few values", File{Tensors: []Tensor{{Name: "a", DType: DTypeF32, Shape: []int{2, 2}, F32: []float32{1, 2, 3}}}}, "shape [2 2] holds 4 values, have 3"},
		{"too many values", File{Tensors: []Tensor{{Name: "a", DType: DTypeI64, Shape: []int{}, I64: []int64{1, 2}}}}, "shape [] holds 1 values, have 2"},
		{"negative dim", File{Tensors: []Tensor{{Name: "a", DType: DTypeF32, Shape: []int{-1}}}}, "dimension 0 is -1"},
		{"overflow", File{Tensors: []Tensor{{Name: "a", DType: DTypeF32, Shape: []int{1 << 40, 1 << 40}}}}, "too many elements"},
		{"unwritable dtype", File{Tensors: []Tensor{{Name: "a", DType: "F16", F32: []float32{1}}}}, `cannot write dtype "F16"`},
		{"missing dtype", File{Tensors: []Tensor{{Name: "a", F32: []float32{1}}}}, `cannot write dtype ""`},
		{"both slices", File{Tensors: []Tensor{{Name: "a", DType: DTypeF32, F32: []float32{1}, I64: []int64{1}}}}, "values in the other slice"},
		{"bad metadata", File{Tensors: []Tensor{ok}, Metadata: map[string]string{"k": "\xff"}}, "valid UTF-8"},
		{"bad metadata key", File{Tensors: []Tensor{ok}, Metadata: map[string]string{"\xff": "v"}}, "valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, &tt.file)
			if err == nil {
				t.Fatal("Encode succeeded, want error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		n := w.n
		w.n = 0
		return n, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestEncodeWriteError(t *testing.T) {
	f := &File{Tensors: []Tensor{{Name: "w", DType: DTypeF32, Shape: []int{100000}, F32: make([]float32, 100000)}}}
	for _, n := range []int{0, 8, 100, 70000} {
		if err := Encode(&failingWriter{n: n}, f); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("after %d bytes: err = %v, want disk full", n, err)
		}
	}
}

func TestWriteReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "model.safetensors")
	in := &File{
		Tensors: []Tensor{
			{Name: "fc.weight", DType: DTypeF32, Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}},
			{Name: "bn.num_batches_tracked", DType: DTypeI64, I64: []int64{5}},
		},
		Metadata: map[string]string{"format": "pt"},
	}
	if err := WriteFile(path, in); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	out, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	for _, want := range in.Tensors {
		got, ok := out.Get(want.Name)
		if !ok || !sameTensor(*got, want) {
			t.Errorf("tensor %q = %+v, want %+v", want.Name, got, want)
		}
	}
	if _, ok := out.Get("nope"); ok {
		t.Error("Get of a missing name succeeded")
	}
	if !reflect.DeepEqual(out.Metadata, in.Metadata) {
		t.Errorf("Metadata = %v", out.Metadata)
	}
}

func TestWriteFileInvalid(t *testing.T) {
	dir := t.TempDir()
	bad := &File{Tensors: []Tensor{{Name: "w", DType: DTypeF32, Shape: []int{3}, F32: []float32{1}}}}

	path := filepath.Join(dir, "new.safetensors")
	err := WriteFile(path, bad)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteFile error = %v, want ErrInvalid naming %s", err, path)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("WriteFile left files behind: %v", entries)
	}

	// An existing file is left untouched.
	old := &File{Tensors: []Tensor{{Name: "w", DType: DTypeF32, F32: []float32{1}}}}
	if err := WriteFile(path, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := WriteFile(path, bad); err == nil {
		t.Fatal("WriteFile succeeded, want error")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed WriteFile changed the existing file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(entries))
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.safetensors")
	if _, err := ReadFile(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadFile(missing) = %v", err)
	}
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	if err := os.WriteFile(corrupt, rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(corrupt)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("ReadFile(corrupt) = %v, want ErrInvalid naming the path", err)
	}
}

func TestNames(t *testing.T) {
	f := &File{Tensors: []Tensor{{Name: "c"}, {Name: "a"}, {Name: "b"}}}
	if got := f.Names(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("Names = %v", got)
	}
	if f.Tensors[0].Name != "c" {
		t.Error("Names reordered the tensors")
	}
	if n := (Tensor{Shape: []int{2, 3, 4}}).NumElements(); n != 24 {
		t.Errorf("NumElements = %d", n)
	}
	if n := (Tensor{}).NumElements(); n != 1 {
		t.Errorf("scalar NumElements = %d", n)
	}
}

// Files of other kinds given as weights are named for what they are.
func TestDecodeOtherFileKinds(t *testing.T) {
	for _, tc := range []struct {
		start []byte
		want  string
	}{
		{[]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F'}, "a JPEG image's bytes"},
		{[]byte("PK\x03\x04\x00\x00\x08\x00"), "a zip archive's bytes (a PyTorch .pt checkpoint"},
		{[]byte("\x89PNG\r\n\x1a\n"), "a PNG image's bytes"},
		{[]byte("\x80\x02c__bui"), "a Python pickle's bytes"},
	} {
		data := append(append([]byte(nil), tc.start...), make([]byte, 100)...)
		_, err := Decode(bytes.NewReader(data), int64(len(data)))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a safetensors file") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("% x…: got %v, want %q", tc.start[:4], err, tc.want)
		}
	}
}

// Tensors larger than the 64 KB chunks their data is read and written
// through, F32 and I64, come back whole and in order (every real model has
// some: LeNet's fc1.weight is 48,000 values).
func TestRoundTripAcrossChunks(t *testing.T) {
	const nf, ni = 3*chunkSize/4 + 5, chunkSize/8 + 3 // 3 and 2 chunks
	f32 := make([]float32, nf)
	for i := range f32 {
		f32[i] = float32(i) - 0.5
	}
	i64 := make([]int64, ni)
	for i := range i64 {
		i64[i] = int64(i)*1e12 - 7
	}
	in := &File{Tensors: []Tensor{
		{Name: "w", DType: DTypeF32, Shape: []int{nf}, F32: f32},
		{Name: "n", DType: DTypeI64, Shape: []int{ni}, I64: i64},
	}}
	out, err := decode(encode(t, in))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range in.Tensors {
		got, ok := out.Get(want.Name)
		if !ok || !sameTensor(*got, want) {
			t.Errorf("tensor %q did not survive the round trip", want.Name)
		}
	}
}

// A header of a few megabytes (a long metadata value) is well within the
// format's limit of 100 MB and reads back.
func TestLargeHeader(t *testing.T) {
	note := strings.Repeat("0123456789abcdef", 1<<17) // 2 MB
	in := &File{Tensors: []Tensor{{Name: "w", DType: DTypeF32, F32: []float32{1}}}, Metadata: map[string]string{"log": note}}
	out, err := decode(encode(t, in))
	if err != nil {
		t.Fatal(err)
	}
	if out.Metadata["log"] != note {
		t.Errorf("metadata of %d bytes read back as %d", len(note), len(out.Metadata["log"]))
	}
}

// A zero-size tensor may share its offset with the tensor that starts
// there, whatever their names' order.
func TestZeroSizeTensorAtAnotherTensorsOffset(t *testing.T) {
	for _, names := range [][2]string{{"a", "b"}, {"b", "a"}} {
		header := `{"` + names[0] + `":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
			`"` + names[1] + `":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`
		f, err := decode(rawFile(header, make([]byte, 4)))
		if err != nil {
			t.Errorf("%s of 4 bytes and %s of none at offset 0: %v", names[0], names[1], err)
			continue
		}
		if len(f.Tensors) != 2 {
			t.Errorf("read %d tensors, want 2", len(f.Tensors))
		}
	}
}
