// Command ptxgen compiles internal/cuda/kernels/kernels.cu to PTX with
// NVIDIA's NVRTC library (no GPU, no CUDA headers, no cgo: the library is
// loaded with purego) and writes kernels.ptx, whose first line records the
// SHA-256 of the source it was made from. `make ptx` runs it; a test checks
// the recorded hash against kernels.cu, so CI needs no NVRTC.
//
//	go run ./internal/cuda/cmd/ptxgen -nvrtc /path/to/libnvrtc.so.12
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
	"github.com/cnntrain/cnntrain/internal/cuda"
	"github.com/cnntrain/cnntrain/internal/cuda/kernels"
	"github.com/ebitengine/purego"
)

type nvrtc struct {
	version     func(major, minor *int32) int32
	create      func(prog *uintptr, src, name *byte, numHeaders int32, headers, includeNames **byte) int32
	compile     func(prog uintptr, numOptions int32, options **byte) int32
	ptxSize     func(prog uintptr, size *uint64) int32
	ptx         func(prog uintptr, out *byte) int32
	logSize     func(prog uintptr, size *uint64) int32
	log         func(prog uintptr, out *byte) int32
	destroy     func(prog *uintptr) int32
	errorString func(result int32) *byte
}

func main() {
	lib := flag.String("nvrtc", os.Getenv("NVRTC"), "path of libnvrtc.so.12 (shared/tools/get-nvrtc fetches it)")
	src := flag.String("src", "internal/cuda/kernels/kernels.cu", "CUDA C source")
	out := flag.String("o", "internal/cuda/kernels/kernels.ptx", "PTX to write")
	flag.Parse()
	if err := run(*lib, *src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ptxgen:", err)
		os.Exit(1)
	}
}

func run(lib, srcPath, outPath string) error {
	if lib == "" {
		return fmt.Errorf("say where libnvrtc.so.12 is with -nvrtc or $NVRTC")
	}
	// NVRTC dlopens its builtins library by bare name; loading it first, by
	// path, lets that find it without LD_LIBRARY_PATH.
	builtins, _ := filepath.Glob(filepath.Join(filepath.Dir(lib), "libnvrtc-builtins.so.*"))
	for _, b := range builtins {
		if _, err := purego.Dlopen(b, purego.RTLD_NOW|purego.RTLD_GLOBAL); err == nil {
			break
		}
	}
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("load %s: %w", lib, err)
	}
	var n nvrtc
	for name, fn := range map[string]any{
		"nvrtcVersion": &n.version, "nvrtcCreateProgram": &n.create, "nvrtcCompileProgram": &n.compile,
		"nvrtcGetPTXSize": &n.ptxSize, "nvrtcGetPTX": &n.ptx, "nvrtcGetProgramLogSize": &n.logSize,
		"nvrtcGetProgramLog": &n.log, "nvrtcDestroyProgram": &n.destroy, "nvrtcGetErrorString": &n.errorString,
	} {
		purego.RegisterLibFunc(fn, h, name)
	}
	source, err := os.ReadFile(srcPath)
	if err != nil {
		return err
	}
	var major, minor int32
	n.version(&major, &minor)
	check := func(call string, r int32) error {
		if r != 0 {
			return fmt.Errorf("%s: %s", call, cuda.GoString(n.errorString(r)))
		}
		return nil
	}
	var prog uintptr
	if err := check("nvrtcCreateProgram", n.create(&prog, cuda.CString(string(source)), cuda.CString("kernels.cu"), 0, nil, nil)); err != nil {
		return err
	}
	defer n.destroy(&prog)
	opts := make([]*byte, len(kernels.PTXOptions))
	for i, o := range kernels.PTXOptions {
		opts[i] = cuda.CString(o)
	}
	compileErr := check("nvrtcCompileProgram", n.compile(prog, int32(len(opts)), &opts[0]))
	var size uint64
	n.logSize(prog, &size)
	if size > 1 {
		buf := make([]byte, size)
		n.log(prog, &buf[0])
		fmt.Fprint(os.Stderr, strings.TrimRight(string(buf), "\x00"))
	}
	if compileErr != nil {
		return compileErr
	}
	if err := check("nvrtcGetPTXSize", n.ptxSize(prog, &size)); err != nil {
		return err
	}
	ptx := make([]byte, size)
	if err := check("nvrtcGetPTX", n.ptx(prog, &ptx[0])); err != nil {
		return err
	}
	sum := sha256.Sum256(source)
	text := kernels.Header(hex.EncodeToString(sum[:])) +
		fmt.Sprintf("// made by NVRTC %d.%d with %s\n", major, minor, strings.Join(kernels.PTXOptions, " ")) +
		strings.TrimRight(string(ptx), "\x00")
	if err := atomicfile.WriteBytes(outPath, []byte(text)); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ptxgen: %s (%d bytes) from %s with NVRTC %d.%d\n", outPath, len(text), srcPath, major, minor)
	return nil
}
