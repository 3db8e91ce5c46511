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

// Names are the library names the emulator answers to in its folder: the
// driver and cuBLAS are links to the emulator itself, cuDNN is a shim of its
// own (csrc/standin.c, linking the emulator) with its sub-libraries beside
// it as separate stand-in files, as in cuDNN 9, so that how cnntrain loads
// them can be seen.
var Names = append([]string{"libcuda.so.1", "libcublas.so.13", CuDNNShim}, CuDNNSubLibraries...)

// Library is the file that holds the emulator's code.
const Library = "libcnntrain-gpu-emulator.so"

// CuDNNShim is the stand-in for cuDNN's libcudnn.so.9.
const CuDNNShim = "libcudnn.so.9"

// CuDNNSubLibraries are the stand-ins for cuDNN 9.x's sub-libraries, the
// graph library first (the others need it).
var CuDNNSubLibraries = []string{
	"libcudnn_graph.so.9", "libcudnn_engines_precompiled.so.9", "libcudnn_engines_runtime_compiled.so.9",
	"libcudnn_engines_tensor_ir.so.9", "libcudnn_heuristic.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9",
	"libcudnn_adv.so.9", "libcudnn_ext.so.9",
}

// LoadLog is the variable naming the file where the stand-ins note each
// load ("load NAME PATH") and the emulator the first cuDNN call ("call FN").
const LoadLog = "CNNTRAIN_EMULATOR_LOAD_LOG"

// Build compiles the emulator into dir and links it there under Names, for
// CNNTRAIN_CUDA_LIBS=dir. It takes about ten seconds.
func Build(dir string) error {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return ErrNoCompiler
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Dir(file)
	lib := filepath.Join(dir, Library)
	// -ffp-contract=off: no fused multiply-add, as NVRTC's --fmad=false.
	cmd := exec.Command(gxx, "-std=c++20", "-O3", "-shared", "-fPIC", "-pthread", "-ffp-contract=off",
		"-Wall", "-Wextra", "-I", filepath.Join(src, "..", "kernels"), filepath.Join(src, "csrc", "emulator.cpp"), "-o", lib)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("compiling the GPU emulator: %v\n%s", err, out)
	}
	for _, name := range []string{"libcuda.so.1", "libcublas.so.13"} {
		link := filepath.Join(dir, name)
		os.Remove(link)
		if err := os.Symlink(filepath.Base(lib), link); err != nil {
			return fmt.Errorf("linking the emulator as %s: %w", name, err)
		}
	}
	standin := filepath.Join(src, "csrc", "standin.c")
	// The shim finds the emulator beside it, as cuDNN's shim finds its parts.
	if err := BuildStandIn(dir, CuDNNShim, standin, "-DCUDNN_SHIM", "-L"+dir, "-l:"+Library); err != nil {
		return err
	}
	for i, name := range CuDNNSubLibraries {
		var needs []string
		if i > 0 {
			needs = []string{"-L" + dir, "-l:" + CuDNNSubLibraries[0]}
		}
		if err := BuildStandIn(dir, name, standin, needs...); err != nil {
			return err
		}
	}
	return nil
}

// BuildStandIn compiles csrc/standin.c (or src) as dir/name, soname name,
// runpath $ORIGIN, with the extra flags (libraries it needs), for tests
// that lay out library folders of their own.
func BuildStandIn(dir, name, src string, flags ...string) error {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return ErrNoCompiler
	}
	if src == "" {
		_, file, _, _ := runtime.Caller(0)
		src = filepath.Join(filepath.Dir(file), "csrc", "standin.c")
	}
	path := filepath.Join(dir, name)
	os.Remove(path) // a link to the emulator would be written through
	args := append([]string{"-shared", "-fPIC", "-O1", "-Wall", "-DSTANDIN_NAME=\"" + name + "\"", "-o", path, src,
		"-Wl,-soname," + name, "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN", "-Wl,--no-as-needed"}, flags...)
	if out, err := exec.Command(gcc, append(args, "-ldl")...).CombinedOutput(); err != nil {
		return fmt.Errorf("compiling the stand-in %s: %v\n%s", name, err, out)
	}
	return nil
}
