package safetensors

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every error it returns for
// an in-memory file wraps ErrInvalid, and that whatever it accepts survives
// an Encode/Decode round trip once the dtypes are normalized to F32 and I64.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	if err := Encode(&buf, &File{
		Tensors: []Tensor{
			{Name: "w", DType: DTypeF32, Shape: []int{2, 2}, F32: []float32{1, 2, 3, float32(math.NaN())}},
			{Name: "n", DType: DTypeI64, Shape: []int{}, I64: []int64{-7}},
			{Name: "z", DType: DTypeF32, Shape: []int{0, 4}},
		},
		Metadata: map[string]string{"format": "pt"},
	}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add(rawFile(`{}`, nil))
	f.Add(rawFile(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"u":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}}`, []byte{0, 0x3c, 0xff, 0x7b, 9}))
	f.Add(rawFile(`{"b":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]},"i":{"dtype":"I32","shape":[1],"data_offsets":[2,6]},"d":{"dtype":"F64","shape":[],"data_offsets":[6,14]}}`, make([]byte, 14)))
	f.Add(rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, make([]byte, 6)))

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		for i := range file.Tensors {
			tt := &file.Tensors[i]
			if n := tt.NumElements(); n != len(tt.F32)+len(tt.I64) {
				t.Fatalf("tensor %q: shape %v but %d values", tt.Name, tt.Shape, len(tt.F32)+len(tt.I64))
			}
			if isFloat(tt.DType) {
				tt.DType = DTypeF32
			} else {
				tt.DType = DTypeI64
			}
		}
		var out bytes.Buffer
		if err := Encode(&out, file); err != nil {
			t.Fatalf("re-encoding a decoded file: %v", err)
		}
		again, err := Decode(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("decoding a re-encoded file: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) || len(again.Metadata) != len(file.Metadata) {
			t.Fatalf("round trip changed the file: %+v -> %+v", file, again)
		}
		for _, want := range file.Tensors {
			got, ok := again.Get(want.Name)
			if !ok || !sameTensor(*got, want) {
				t.Fatalf("round trip changed tensor %q: %+v -> %+v", want.Name, want, got)
			}
		}
		for k, v := range file.Metadata {
			if again.Metadata[k] != v {
				t.Fatalf("round trip changed metadata %q: %q -> %q", k, v, again.Metadata[k])
			}
		}
	})
}
