package cuda

import (
	"fmt"
	"path/filepath"
	"strings"
)

// cublas is the part of cuBLAS cnntrain uses: single-precision matrix
// products.
type cublas struct {
	lib Library

	create       func(handle *uintptr) int32
	destroy      func(handle uintptr) int32
	getVersion   func(handle uintptr, version *int32) int32
	setMathMode  func(handle uintptr, mode int32) int32
	setStream    func(handle uintptr, stream uintptr) int32
	setWorkspace func(handle uintptr, workspace uint64, bytes uint64) int32
	sgemm        func(handle uintptr, transA, transB int32, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32, beta *float32, c uint64, ldc int32) int32
}

// cuBLAS math modes (cublasMath_t).
const (
	// mathDefault is strict FP32 since CUDA 11 (no TF32 unless asked for),
	// the mode PyTorch sets with TF32 off (docs/architecture.md on why not
	// CUBLAS_PEDANTIC_MATH).
	mathDefault = 0
	mathTF32    = 3 // tensor cores with TF32 inputs
)

// cuBLAS operations (cublasOperation_t).
const (
	opN = 0
	opT = 1
)

// cublasNames are the cuBLAS sonames that work, newest first.
var cublasNames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}

func loadCuBLAS(s Search) (*cublas, error) {
	// libcublas needs libcublasLt of its own version, which the loader finds
	// beside it only where the library says so (PyTorch's wheels do, a copy
	// in a plain folder named by CNNTRAIN_CUDA_LIBS need not).
	c := &cublas{lib: s.openWith(func(dir, name string) {
		preload(filepath.Join(dir, strings.Replace(name, "libcublas", "libcublasLt", 1)))
	}, cublasNames...)}
	if c.lib.Missing != "" {
		return c, fmt.Errorf("no cuBLAS: %s", c.lib.Missing)
	}
	err := bind(&c.lib, map[string]any{
		"cublasCreate_v2":       &c.create,
		"cublasDestroy_v2":      &c.destroy,
		"cublasGetVersion_v2":   &c.getVersion,
		"cublasSetMathMode":     &c.setMathMode,
		"cublasSetStream_v2":    &c.setStream,
		"cublasSetWorkspace_v2": &c.setWorkspace,
		"cublasSgemm_v2":        &c.sgemm,
	})
	if err != nil {
		return c, fmt.Errorf("unusable cuBLAS: %w", err)
	}
	// The version needs no handle, but is not worth refusing a cuBLAS that
	// cannot tell it.
	var getProperty func(kind int32, value *int32) int32
	if bind(&c.lib, map[string]any{"cublasGetProperty": &getProperty}) == nil {
		var v [3]int32 // MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
		for i := range v {
			if getProperty(int32(i), &v[i]) != 0 {
				return c, nil
			}
		}
		c.lib.Version = fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
	}
	return c, nil
}

func (c *cublas) check(call string, status int32) error {
	if status == 0 {
		return nil
	}
	return fmt.Errorf("%s: cuBLAS status %d", call, status)
}
