package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cudnn is the part of cuDNN 9 cnntrain uses: the convolution API that
// PyTorch calls too (descriptors, the v7 algorithm heuristics, forward,
// backward data and backward filter). cuDNN is optional: without it
// convolutions run as im2col and cuBLAS products.
type cudnn struct {
	lib Library
	// subLibraries are the parts loaded beside it, in load order.
	subLibraries []string

	getVersion     func() uint64
	getErrorString func(status int32) *byte
	create         func(handle *uintptr) int32
	destroy        func(handle uintptr) int32
	setStream      func(handle, stream uintptr) int32

	createTensor  func(d *uintptr) int32
	destroyTensor func(d uintptr) int32
	setTensor4d   func(d uintptr, format, dataType int32, n, c, h, w int32) int32
	createFilter  func(d *uintptr) int32
	destroyFilter func(d uintptr) int32
	setFilter4d   func(d uintptr, dataType, format int32, k, c, h, w int32) int32
	createConv    func(d *uintptr) int32
	destroyConv   func(d uintptr) int32
	setConv2d     func(d uintptr, padH, padW, u, v, dilationH, dilationW, mode, computeType int32) int32
	setMathType   func(d uintptr, mathType int32) int32

	forwardAlgos     func(h, x, w, conv, y uintptr, requested int32, returned *int32, perf *algoPerf) int32
	backwardData     func(h, w, dy, conv, dx uintptr, requested int32, returned *int32, perf *algoPerf) int32
	backwardFilter   func(h, x, dy, conv, dw uintptr, requested int32, returned *int32, perf *algoPerf) int32
	forwardWS        func(h, x, w, conv, y uintptr, algo int32, bytes *uint64) int32
	backwardDataWS   func(h, w, dy, conv, dx uintptr, algo int32, bytes *uint64) int32
	backwardFilterWS func(h, x, dy, conv, dw uintptr, algo int32, bytes *uint64) int32

	convForward        func(h uintptr, alpha *float32, xd uintptr, x uint64, wd uintptr, w uint64, conv uintptr, algo int32, ws uint64, wsBytes uint64, beta *float32, yd uintptr, y uint64) int32
	convBackwardData   func(h uintptr, alpha *float32, wd uintptr, w uint64, dyd uintptr, dy uint64, conv uintptr, algo int32, ws uint64, wsBytes uint64, beta *float32, dxd uintptr, dx uint64) int32
	convBackwardFilter func(h uintptr, alpha *float32, xd uintptr, x uint64, dyd uintptr, dy uint64, conv uintptr, algo int32, ws uint64, wsBytes uint64, beta *float32, dwd uintptr, dw uint64) int32
}

// algoPerf is cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t, which share
// one layout (48 bytes).
type algoPerf struct {
	algo        int32
	status      int32
	time        float32
	_           int32
	memory      uint64
	determinism int32
	mathType    int32
	_           [3]int32
}

var _ [48]byte = [unsafe.Sizeof(algoPerf{})]byte{}

// cuDNN enumerations cnntrain passes.
const (
	cudnnNCHW             = 0 // CUDNN_TENSOR_NCHW
	cudnnFloat            = 0 // CUDNN_DATA_FLOAT
	cudnnCrossCorrelation = 1 // CUDNN_CROSS_CORRELATION: PyTorch's convolution, the kernel not flipped
	cudnnDefaultMath      = 0 // CUDNN_DEFAULT_MATH: TF32 tensor cores allowed on Ampere and later
	cudnnTensorOpMath     = 1 // CUDNN_TENSOR_OP_MATH
	cudnnTensorOpConvert  = 2 // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
	cudnnFMAMath          = 3 // CUDNN_FMA_MATH: FP32 FMA kernels only, PyTorch's choice without TF32
	cudnnDeterministic    = 1 // CUDNN_DETERMINISTIC
	cudnnAlgoCount        = 8 // at least every algorithm of each direction
)

// cudnnShim is the library cnntrain binds: cuDNN 9's libcudnn.so.9 is a shim
// that opens its parts, the sub-libraries libcudnn_*.so.9 beside it, by bare
// name on first use.
const cudnnShim = "libcudnn.so.9"

// cudnnGraph is the sub-library the others need: loaded first, it is the one
// their own dependency on it finds already in the process.
const cudnnGraph = "libcudnn_graph.so.9"

// cudnnSubLibraries are the sub-libraries beside the shim in dir, every
// libcudnn*.so.9 there but the shim (the set grows between cuDNN 9 releases:
// 9.x added libcudnn_engines_tensor_ir and libcudnn_ext), libcudnn_graph
// first, then by name.
func cudnnSubLibraries(dir string) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "libcudnn*.so.9"))
	var out []string
	for _, p := range paths {
		if name := filepath.Base(p); name != cudnnShim && name != cudnnGraph {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	if graph := filepath.Join(dir, cudnnGraph); fileExists(graph) {
		out = append([]string{graph}, out...)
	}
	return out
}

// preloadCuDNNSubLibraries loads the sub-libraries beside the shim in dir,
// by absolute path, before the shim itself and so before any cuDNN call:
// the shim's own dlopen by bare name searches $LD_LIBRARY_PATH before its
// $ORIGIN runpath, and would mix in a system cuDNN found there
// (CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH), or, finding none, abort the
// process when it first needs one ("Invalid handle. Cannot load symbol").
// Already loaded, each is what that dlopen gets. It returns the paths
// loaded and why each other one would not load.
func preloadCuDNNSubLibraries(dir string) (loaded, failed []string) {
	for _, path := range cudnnSubLibraries(dir) {
		if _, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		loaded = append(loaded, path)
	}
	return loaded, failed
}

// preloadCuDNNDependencies loads the CUDA libraries cuDNN opens by bare
// name when it needs them, libcublasLt (for the legacy convolution API) and
// NVRTC (for runtime-compiled engines), of the CUDA major version cuDNN was
// built for, from the search folders: in a PyTorch wheel install they sit in
// another package's folder, where cuDNN's own dlopen would not look
// (PyTorch preloads them for the same reason).
func preloadCuDNNDependencies(s Search, lib Library) {
	addr, err := purego.Dlsym(lib.handle, "cudnnGetCudartVersion")
	if err != nil {
		return
	}
	var cudartVersion func() uint64
	purego.RegisterFunc(&cudartVersion, addr)
	major := cudartVersion() / 1000
	if major == 0 {
		return
	}
	// One already loaded (libcublas brings its libcublasLt) is the one
	// cuDNN's dlopen gets: a second copy from another folder would only
	// duplicate it.
	if lt := fmt.Sprintf("libcublasLt.so.%d", major); !alreadyLoaded(lt) {
		s.open(lt)
	}
	nvrtc := fmt.Sprintf("libnvrtc.so.%d", major)
	if alreadyLoaded(nvrtc) {
		return
	}
	if lib := s.open(nvrtc); lib.Path != "" {
		// NVRTC opens its builtins by name in turn.
		builtins, _ := filepath.Glob(filepath.Join(filepath.Dir(lib.Path), fmt.Sprintf("libnvrtc-builtins.so.%d.*", major)))
		for _, path := range builtins {
			preload(path)
		}
	}
}

func loadCuDNN(s Search) (*cudnn, error) {
	var preloaded, failed []string
	c := &cudnn{lib: s.openWith(func(dir, _ string) {
		preloaded, failed = preloadCuDNNSubLibraries(dir)
	}, cudnnShim)}
	if c.lib.Missing != "" {
		return c, fmt.Errorf("no cuDNN: %s", c.lib.Missing)
	}
	c.subLibraries = preloaded
	if len(failed) > 0 {
		// cuDNN would abort the process when it first needs the part.
		return c, fmt.Errorf("unusable cuDNN: its sub-libraries do not all load: %s", strings.Join(failed, "; "))
	}
	preloadCuDNNDependencies(s, c.lib)
	err := bind(&c.lib, map[string]any{
		"cudnnGetVersion":                                &c.getVersion,
		"cudnnGetErrorString":                            &c.getErrorString,
		"cudnnCreate":                                    &c.create,
		"cudnnDestroy":                                   &c.destroy,
		"cudnnSetStream":                                 &c.setStream,
		"cudnnCreateTensorDescriptor":                    &c.createTensor,
		"cudnnDestroyTensorDescriptor":                   &c.destroyTensor,
		"cudnnSetTensor4dDescriptor":                     &c.setTensor4d,
		"cudnnCreateFilterDescriptor":                    &c.createFilter,
		"cudnnDestroyFilterDescriptor":                   &c.destroyFilter,
		"cudnnSetFilter4dDescriptor":                     &c.setFilter4d,
		"cudnnCreateConvolutionDescriptor":               &c.createConv,
		"cudnnDestroyConvolutionDescriptor":              &c.destroyConv,
		"cudnnSetConvolution2dDescriptor":                &c.setConv2d,
		"cudnnSetConvolutionMathType":                    &c.setMathType,
		"cudnnGetConvolutionForwardAlgorithm_v7":         &c.forwardAlgos,
		"cudnnGetConvolutionBackwardDataAlgorithm_v7":    &c.backwardData,
		"cudnnGetConvolutionBackwardFilterAlgorithm_v7":  &c.backwardFilter,
		"cudnnGetConvolutionForwardWorkspaceSize":        &c.forwardWS,
		"cudnnGetConvolutionBackwardDataWorkspaceSize":   &c.backwardDataWS,
		"cudnnGetConvolutionBackwardFilterWorkspaceSize": &c.backwardFilterWS,
		"cudnnConvolutionForward":                        &c.convForward,
		"cudnnConvolutionBackwardData":                   &c.convBackwardData,
		"cudnnConvolutionBackwardFilter":                 &c.convBackwardFilter,
	})
	if err != nil {
		return c, fmt.Errorf("unusable cuDNN: %w", err)
	}
	v := c.getVersion()
	c.lib.Version = fmt.Sprintf("%d.%d.%d", v/10000, v%10000/100, v%100)
	if v < 90000 || v >= 100000 {
		return c, fmt.Errorf("unusable cuDNN: %s is version %s, cnntrain binds cuDNN 9", c.lib.Path, c.lib.Version)
	}
	return c, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// check turns a cuDNN status into an error naming the call.
func (c *cudnn) check(call string, status int32) error {
	if status == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s (cuDNN status %d)", call, GoString(c.getErrorString(status)), status)
}
