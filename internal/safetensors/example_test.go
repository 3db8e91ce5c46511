package safetensors_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cnntrain/cnntrain/internal/safetensors"
)

// Example writes a checkpoint and reads it back. In Python the same file loads
// with
//
//	from safetensors.torch import load_file
//	state = load_file("model.safetensors")  # {"fc.weight": tensor(...), ...}
//	model.load_state_dict(state)
func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	ckpt := &safetensors.File{
		Tensors: []safetensors.Tensor{
			{Name: "fc.weight", DType: safetensors.DTypeF32, Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
			{Name: "fc.bias", DType: safetensors.DTypeF32, Shape: []int{2}, F32: []float32{0.5, -0.5}},
			// A scalar has an empty shape.
			{Name: "bn.num_batches_tracked", DType: safetensors.DTypeI64, Shape: []int{}, I64: []int64{100}},
		},
		Metadata: map[string]string{"format": "pt"},
	}
	if err := safetensors.WriteFile(path, ckpt); err != nil {
		log.Fatal(err)
	}

	loaded, err := safetensors.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range loaded.Names() {
		t, _ := loaded.Get(name)
		fmt.Println(name, t.DType, t.Shape, t.NumElements())
	}
	w, _ := loaded.Get("fc.weight")
	fmt.Println(w.F32)
	fmt.Println(loaded.Metadata["format"])
	// Output:
	// bn.num_batches_tracked I64 [] 1
	// fc.bias F32 [2] 2
	// fc.weight F32 [2 3] 6
	// [1 2 3 4 5 6]
	// pt
}
