package emulator

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// ErrNoCompiler is returned by Build where no g++ is found.
var ErrNoCompiler = errors.New("g++ not found: the GPU emulator cannot be built")

// Names are the library names the emulator answers to in its folder.
var Names = []string{"libcuda.so.1", "libcublas.so.13", "libcudnn.so.9"}

// Build compiles the emulator into dir and links it there under Names, for
// CNNTRAIN_CUDA_LIBS=dir. It takes about ten seconds.
func Build(dir string) error {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return ErrNoCompiler
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Dir(file)
	lib := filepath.Join(dir, "libcnntrain-gpu-emulator.so")
	// -ffp-contract=off: no fused multiply-add, as NVRTC's --fmad=false.
	cmd := exec.Command(gxx, "-std=c++20", "-O3", "-shared", "-fPIC", "-pthread", "-ffp-contract=off",
		"-Wall", "-Wextra", "-I", filepath.Join(src, "..", "kernels"), filepath.Join(src, "csrc", "emulator.cpp"), "-o", lib)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compiling the GPU emulator: %v\n%s", err, out)
	}
	for _, name := range Names {
		link := filepath.Join(dir, name)
		os.Remove(link)
		if err := os.Symlink(filepath.Base(lib), link); err != nil {
			return err
		}
	}
	return nil
}
