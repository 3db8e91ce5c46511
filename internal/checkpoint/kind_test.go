package checkpoint

import (
	"encoding/binary"
	"testing"
)

// safetensorsBytes is a safetensors file with header json and no data.
func safetensorsBytes(header string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, uint64(len(header))), header...)
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want Kind
	}{
		{"jpeg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F'}, KindJPEG},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), KindPNG},
		// PyTorch's save_file writes no cnntrain metadata: still weights.
		{"pytorch weights", safetensorsBytes(`{"fc.weight":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`), KindWeights},
		{"cnntrain optimizer", safetensorsBytes(`{"__metadata__":{"format":"cnntrain-optimizer/1"},"step":{"dtype":"I64","shape":[],"data_offsets":[0,0]}}`), KindOptimizer},
		{"a header longer than the file", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), KindUnknown},
		{"indented json", []byte("{\n  \"format\": \"cnntrain-run/1\"\n}\n"), KindRunInfo},
		{"metrics", []byte(`{"kind":"minibatch","epoch":1}` + "\n" + `{"kind":"epoch","epoch":1}` + "\n"), KindMetrics},
		{"config", []byte("model: cnn\ndataset: mnist\nepochs: 1\n"), KindConfig},
		{"other yaml", []byte("name: x\n"), KindUnknown},
		{"text", []byte("# a README\n"), KindUnknown},
		{"empty", nil, KindUnknown},
	} {
		if got := kindOf(tc.data, int64(len(tc.data))); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
