package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// ErrWrongFile is wrapped by the error for a file of one kind given where
// another belongs (a run's weights where its checkpoint.json is asked for).
var ErrWrongFile = errors.New("wrong kind of file")

// Kind is what a file holds, judged by its content: a run's files given
// where another belongs are called what they are, rather than failing to
// parse as the wanted one ("not valid JSON at byte 1").
type Kind int

// The kinds of file DetectKind tells apart.
const (
	KindUnknown   Kind = iota
	KindRunInfo        // checkpoint.json, or some other JSON object
	KindWeights        // a state_dict as safetensors
	KindOptimizer      // optimizer.safetensors
	KindMetrics        // metrics.jsonl
	KindConfig         // config.yaml
	KindPNG
	KindJPEG
	KindFolder
)

func (k Kind) String() string {
	switch k {
	case KindRunInfo:
		return "a run's " + InfoFile
	case KindWeights:
		return "a model's weights (safetensors)"
	case KindOptimizer:
		return "a run's optimizer state (safetensors)"
	case KindMetrics:
		return "a run's training log (" + MetricsFile + ")"
	case KindConfig:
		return "a run's settings (" + ConfigFile + ", which train takes as --config)"
	case KindPNG:
		return "a PNG picture"
	case KindJPEG:
		return "a JPEG picture"
	case KindFolder:
		return "a folder"
	}
	return "a file of unknown kind"
}

// sniffLen is how much of a file DetectKind reads: enough for the header of
// any safetensors file cnntrain writes and for a whole config.yaml.
const sniffLen = 1 << 20

// DetectKind says what the file at path holds. It never opens what is not
// a regular file (a FIFO would block) and reads at most sniffLen bytes.
func DetectKind(path string) Kind {
	st, err := os.Stat(path)
	if err != nil {
		return KindUnknown
	}
	if st.IsDir() {
		return KindFolder
	}
	if !st.Mode().IsRegular() {
		return KindUnknown
	}
	f, err := os.Open(path)
	if err != nil {
		return KindUnknown
	}
	defer f.Close()
	head, err := io.ReadAll(io.LimitReader(f, sniffLen))
	if err != nil {
		return KindUnknown
	}
	return kindOf(head, st.Size())
}

// kindOf judges a file of size bytes by its first bytes, head.
func kindOf(head []byte, size int64) Kind {
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return KindPNG
	case bytes.HasPrefix(head, []byte{0xff, 0xd8, 0xff}):
		return KindJPEG
	}
	if k := safetensorsKind(head, size); k != KindUnknown {
		return k
	}
	text := bytes.TrimLeft(head, " \t\r\n")
	if bytes.HasPrefix(text, []byte("{")) {
		// metrics.jsonl is a JSON object per line, each with its kind;
		// checkpoint.json is indented, so its first line is "{" alone.
		first, _, _ := bytes.Cut(text, []byte("\n"))
		var rec struct{ Kind string }
		if json.Unmarshal(first, &rec) == nil && (rec.Kind == RecordMinibatch || rec.Kind == RecordEpoch) {
			return KindMetrics
		}
		return KindRunInfo
	}
	if int64(len(head)) == size && utf8.Valid(head) && !bytes.ContainsRune(head, 0) {
		var keys map[string]any
		if yaml.Unmarshal(head, &keys) == nil && keys["model"] != nil && keys["dataset"] != nil {
			return KindConfig
		}
	}
	return KindUnknown
}

// safetensorsKind recognizes a safetensors file by its layout (a
// little-endian header length, then a JSON object) and tells weights from
// an optimizer's state by the header's metadata and tensor names.
func safetensorsKind(head []byte, size int64) Kind {
	if len(head) < 9 || head[8] != '{' {
		return KindUnknown
	}
	n := binary.LittleEndian.Uint64(head)
	if n < 2 || n > uint64(size-8) {
		return KindUnknown
	}
	if n > uint64(len(head)-8) {
		return KindWeights // a header past sniffLen: a very large state_dict
	}
	var header map[string]json.RawMessage
	if json.Unmarshal(head[8:8+n], &header) != nil {
		return KindUnknown
	}
	var meta map[string]string
	if raw, ok := header["__metadata__"]; ok {
		json.Unmarshal(raw, &meta)
	}
	if _, step := header[stepTensor]; meta["format"] == optimizerFormat || step && meta["cnntrain_model"] == "" {
		return KindOptimizer
	}
	return KindWeights
}

// WrongKind is the error for path, of kind got, given where want belongs:
// what it is, and the run folder to give instead when path is in one.
func WrongKind(path string, got Kind, want string) error {
	dir := filepath.Dir(path)
	instead := "give the run folder train saved"
	if _, err := os.Stat(filepath.Join(dir, InfoFile)); err == nil {
		instead = "give the run folder " + dir
	}
	return fmt.Errorf("%w: %s is %s, not %s; %s", ErrWrongFile, path, got, want, instead)
}

// WrongFile says that path is not what want names, if its content shows it
// is a run's other file (or a picture): nil when path is of kind ok, or of
// no kind DetectKind knows.
func WrongFile(path, want string, ok ...Kind) error {
	got := DetectKind(path)
	if got == KindUnknown {
		return nil
	}
	for _, k := range ok {
		if got == k {
			return nil
		}
	}
	return WrongKind(path, got, want)
}
