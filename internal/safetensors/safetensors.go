package safetensors

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// The dtypes that this package writes. Reading also accepts "F64", "F16",
// "BF16", "I32" and "U8".
const (
	DTypeF32 = "F32"
	DTypeI64 = "I64"
)

// ErrInvalid is wrapped by every error about content that is not valid
// safetensors: a malformed or truncated file on read, or tensors that cannot be
// written.
var ErrInvalid = errors.New("safetensors: invalid data")

// metadataKey is the reserved header key that holds the file's metadata.
const metadataKey = "__metadata__"

// maxHeaderSize bounds the JSON header, on read and on write.
const maxHeaderSize = 100_000_000

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Tensor is one named tensor with its values in C (row-major) order.
type Tensor struct {
	Name string
	// DType is the element type in the file. Encode accepts DTypeF32 and
	// DTypeI64; a tensor read from a file keeps the file's dtype (for example
	// "F16") while its values are converted into F32 or I64.
	DType string
	// Shape is the size of each dimension; empty for a scalar.
	Shape []int
	// F32 holds the values of a float tensor (F32, F64, F16 and BF16).
	F32 []float32
	// I64 holds the values of an integer tensor (I64, I32 and U8).
	I64 []int64
}

// NumElements reports the number of elements that Shape describes: the product
// of its dimensions, 1 for a scalar.
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is the content of a whole safetensors file.
type File struct {
	// Tensors are in data-offset order after a read. Encode keeps their order
	// within each element size, placing 8-byte elements first (see the package
	// documentation).
	Tensors []Tensor
	// Metadata is the header's "__metadata__" object. Encode omits it when
	// empty; Decode leaves it nil when the file has none.
	Metadata map[string]string
}

// Get returns the tensor with the given name.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// Names returns the names of the tensors, sorted.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	slices.Sort(names)
	return names
}

// dtypeSize returns the width in bytes of the dtypes this package knows.
func dtypeSize(dtype string) (int, bool) {
	switch dtype {
	case "F64", "I64":
		return 8, true
	case "F32", "I32":
		return 4, true
	case "F16", "BF16":
		return 2, true
	case "U8":
		return 1, true
	}
	return 0, false
}

// numElements multiplies the dimensions of shape, failing on negative
// dimensions and on products that do not fit in an int.
func numElements(shape []int) (int, error) {
	n := 1
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v: dimension %d is %d, must be >= 0", shape, i, d)
		}
		if d == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v: too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

// byteSize returns the number of bytes that shape takes with elements of the
// given width.
func byteSize(shape []int, width int) (int, error) {
	n, err := numElements(shape)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt/width {
		return 0, fmt.Errorf("shape %v: too many bytes", shape)
	}
	return n * width, nil
}
