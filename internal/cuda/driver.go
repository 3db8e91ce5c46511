package cuda

import (
	"fmt"
	"unsafe"
)

// result is a CUresult; 0 is success.
type result int32

// driver is the part of the CUDA driver API (libcuda.so.1) cnntrain uses,
// the _v2 entry points where they exist.
type driver struct {
	lib Library

	cuInit                   func(flags uint32) result
	cuDriverGetVersion       func(version *int32) result
	cuGetErrorName           func(r result, name **byte) result
	cuGetErrorString         func(r result, str **byte) result
	cuDeviceGetCount         func(count *int32) result
	cuDeviceGet              func(dev *int32, ordinal int32) result
	cuDeviceGetName          func(name *byte, length int32, dev int32) result
	cuDeviceTotalMem         func(bytes *uint64, dev int32) result
	cuDeviceGetAttribute     func(value *int32, attr int32, dev int32) result
	cuDevicePrimaryCtxRetain func(ctx *uintptr, dev int32) result
	cuCtxSetCurrent          func(ctx uintptr) result
	cuCtxSynchronize         func() result
	cuMemAlloc               func(ptr *uint64, bytes uint64) result
	cuMemFree                func(ptr uint64) result
	cuMemGetInfo             func(free, total *uint64) result
	cuMemcpyHtoD             func(dst uint64, src unsafe.Pointer, bytes uint64) result
	cuMemcpyDtoH             func(dst unsafe.Pointer, src uint64, bytes uint64) result
	cuMemcpyDtoD             func(dst, src uint64, bytes uint64) result
	cuMemsetD32              func(dst uint64, value uint32, n uint64) result
	cuModuleLoadDataEx       func(module *uintptr, image *byte, numOptions uint32, options *int32, values *uintptr) result
	cuModuleUnload           func(module uintptr) result
	cuModuleGetFunction      func(fn *uintptr, module uintptr, name *byte) result
	cuLaunchKernel           func(fn uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) result

	cuStreamCreate              func(stream *uintptr, flags uint32) result
	cuStreamDestroy             func(stream uintptr) result
	cuStreamSynchronize         func(stream uintptr) result
	cuMemcpyHtoDAsync           func(dst uint64, src unsafe.Pointer, bytes uint64, stream uintptr) result
	cuMemcpyDtoHAsync           func(dst unsafe.Pointer, src uint64, bytes uint64, stream uintptr) result
	cuMemsetD32Async            func(dst uint64, value uint32, n uint64, stream uintptr) result
	cuStreamBeginCapture        func(stream uintptr, mode int32) result
	cuStreamEndCapture          func(stream uintptr, graph *uintptr) result
	cuGraphInstantiateWithFlags func(exec *uintptr, graph uintptr, flags uint64) result
	cuGraphLaunch               func(exec, stream uintptr) result
	cuGraphExecDestroy          func(exec uintptr) result
	cuGraphDestroy              func(graph uintptr) result

	cuMemHostAlloc     func(p *unsafe.Pointer, bytes uint64, flags uint32) result
	cuMemFreeHost      func(p unsafe.Pointer) result
	cuMemcpyDtoDAsync  func(dst, src uint64, bytes uint64, stream uintptr) result
	cuEventCreate      func(event *uintptr, flags uint32) result
	cuEventDestroy     func(event uintptr) result
	cuEventRecord      func(event, stream uintptr) result
	cuEventSynchronize func(event uintptr) result
	cuStreamWaitEvent  func(stream, event uintptr, flags uint32) result
}

const (
	streamNonBlocking = 1 // CU_STREAM_NON_BLOCKING: no implicit synchronization with the legacy stream
	captureRelaxed    = 2 // CU_STREAM_CAPTURE_MODE_RELAXED: goroutines change threads mid-capture
	eventNoTiming     = 2 // CU_EVENT_DISABLE_TIMING: the lightest event, for ordering only
)

// Device attributes (CUdevice_attribute).
const (
	attrComputeCapabilityMajor = 75
	attrComputeCapabilityMinor = 76
	attrMultiprocessorCount    = 16
)

func loadDriver(s Search) (*driver, error) {
	d := &driver{lib: s.openSystem("cuInit", "libcuda.so.1", "libcuda.so")}
	if d.lib.Missing != "" {
		return d, fmt.Errorf("no CUDA driver: %s", d.lib.Missing)
	}
	err := bind(&d.lib, map[string]any{
		"cuInit":                      &d.cuInit,
		"cuDriverGetVersion":          &d.cuDriverGetVersion,
		"cuGetErrorName":              &d.cuGetErrorName,
		"cuGetErrorString":            &d.cuGetErrorString,
		"cuDeviceGetCount":            &d.cuDeviceGetCount,
		"cuDeviceGet":                 &d.cuDeviceGet,
		"cuDeviceGetName":             &d.cuDeviceGetName,
		"cuDeviceTotalMem_v2":         &d.cuDeviceTotalMem,
		"cuDeviceGetAttribute":        &d.cuDeviceGetAttribute,
		"cuDevicePrimaryCtxRetain":    &d.cuDevicePrimaryCtxRetain,
		"cuCtxSetCurrent":             &d.cuCtxSetCurrent,
		"cuCtxSynchronize":            &d.cuCtxSynchronize,
		"cuMemAlloc_v2":               &d.cuMemAlloc,
		"cuMemFree_v2":                &d.cuMemFree,
		"cuMemGetInfo_v2":             &d.cuMemGetInfo,
		"cuMemcpyHtoD_v2":             &d.cuMemcpyHtoD,
		"cuMemcpyDtoH_v2":             &d.cuMemcpyDtoH,
		"cuMemcpyDtoD_v2":             &d.cuMemcpyDtoD,
		"cuMemsetD32_v2":              &d.cuMemsetD32,
		"cuModuleLoadDataEx":          &d.cuModuleLoadDataEx,
		"cuModuleUnload":              &d.cuModuleUnload,
		"cuModuleGetFunction":         &d.cuModuleGetFunction,
		"cuLaunchKernel":              &d.cuLaunchKernel,
		"cuStreamCreate":              &d.cuStreamCreate,
		"cuStreamDestroy_v2":          &d.cuStreamDestroy,
		"cuStreamSynchronize":         &d.cuStreamSynchronize,
		"cuMemcpyHtoDAsync_v2":        &d.cuMemcpyHtoDAsync,
		"cuMemcpyDtoHAsync_v2":        &d.cuMemcpyDtoHAsync,
		"cuMemsetD32Async":            &d.cuMemsetD32Async,
		"cuStreamBeginCapture_v2":     &d.cuStreamBeginCapture,
		"cuStreamEndCapture":          &d.cuStreamEndCapture,
		"cuGraphInstantiateWithFlags": &d.cuGraphInstantiateWithFlags,
		"cuGraphLaunch":               &d.cuGraphLaunch,
		"cuGraphExecDestroy":          &d.cuGraphExecDestroy,
		"cuGraphDestroy":              &d.cuGraphDestroy,
		"cuMemHostAlloc":              &d.cuMemHostAlloc,
		"cuMemFreeHost":               &d.cuMemFreeHost,
		"cuMemcpyDtoDAsync_v2":        &d.cuMemcpyDtoDAsync,
		"cuEventCreate":               &d.cuEventCreate,
		"cuEventDestroy_v2":           &d.cuEventDestroy,
		"cuEventRecord":               &d.cuEventRecord,
		"cuEventSynchronize":          &d.cuEventSynchronize,
		"cuStreamWaitEvent":           &d.cuStreamWaitEvent,
	})
	if err != nil {
		return d, fmt.Errorf("unusable CUDA driver: %w", err)
	}
	return d, nil
}

// check turns a CUresult into an error naming the call.
func (d *driver) check(call string, r result) error {
	if r == 0 {
		return nil
	}
	name, text := "", ""
	var p *byte
	if d.cuGetErrorName != nil && d.cuGetErrorName(r, &p) == 0 && p != nil {
		name = GoString(p)
	}
	if d.cuGetErrorString != nil && d.cuGetErrorString(r, &p) == 0 && p != nil {
		text = GoString(p)
	}
	switch {
	case name != "" && text != "":
		return fmt.Errorf("%s: %s (%s, %d)", call, text, name, r)
	case name != "":
		return fmt.Errorf("%s: %s (%d)", call, name, r)
	}
	return fmt.Errorf("%s: CUDA error %d", call, r)
}

// GoString copies a NUL-terminated C string (also for cmd/ptxgen's NVRTC).
func GoString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for ptr := unsafe.Pointer(p); *(*byte)(ptr) != 0; ptr = unsafe.Add(ptr, 1) {
		b = append(b, *(*byte)(ptr))
	}
	return string(b)
}

// CString is s with a terminating NUL, for C.
func CString(s string) *byte {
	b := append([]byte(s), 0)
	return &b[0]
}
