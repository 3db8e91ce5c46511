// Package emulator builds a stand-in for NVIDIA's libcuda.so.1,
// libcublas.so.13 and libcudnn.so.9 that runs on the CPU, so that the Go half
// of the CUDA backend (internal/cuda) runs in CI on machines without a GPU:
// the library search and binding through purego, contexts, memory, the
// argument blocks of kernel launches, streams and events, graph capture and
// replay, pinned host memory, every cuBLAS call and cuDNN's convolutions. Its
// tests run the backend conformance suite on it.
//
// csrc/emulator.cpp is one shared library (g++, no CUDA headers) exporting the
// driver, cuBLAS and cuDNN entry points cnntrain binds, with the real headers'
// signatures and error numbers. A CUdeviceptr is a host address; the kernels
// are kernels.cu itself, compiled against kernels/shim/cuda_shim.h, each GPU
// thread a host thread; cublasSgemm is a plain column-major triple loop.
// cuDNN (csrc/cudnn.inc) is its legacy convolution API for NCHW float
// tensors: descriptors, the v7 algorithm heuristics, workspace sizes, and
// forward, backward data and backward filter convolution in both modes
// (CUDNN_CONVOLUTION flips the filter, CUDNN_CROSS_CORRELATION does not), with
// any padding, stride and dilation, summed in double from the definition.
//
// It is stricter than a GPU where a GPU would let a mistake pass in silence:
//
//   - a context is current per host thread, as in the driver: a call from a
//     thread where cnntrain did not make it current fails with
//     CUDA_ERROR_INVALID_CONTEXT (Go moves goroutines between threads);
//   - work runs as late as the program allows: a stream's queue runs only
//     when the host waits for it or another stream waits for one of its
//     events, so a missing wait shows up as wrong results;
//   - pinned host memory is read and written when the copy runs, as by DMA,
//     so a host buffer reused too early shows up too;
//   - every synchronization during a graph capture fails and invalidates the
//     capture; kernel arguments are copied at launch (and at capture), so a
//     value the program changes later does not leak into a replay;
//   - the device has a size (8 GiB, or what a test sets), which cuMemGetInfo
//     and cuDeviceTotalMem report and cuMemAlloc refuses to exceed with
//     CUDA_ERROR_OUT_OF_MEMORY, as a full card does;
//   - each allocation ends in a guard zone, and a write past its end is a
//     sticky CUDA_ERROR_ILLEGAL_ADDRESS naming the kernel or copy;
//   - kernelParams must be NULL-terminated (the real driver ignores what
//     follows the last argument), so a launch with the wrong number of
//     arguments is refused with the kernel's name;
//   - a cuDNN convolution whose descriptors disagree (channels, output
//     dimensions), whose tensors are not wholly in device memory, whose output
//     or workspace overlaps another argument, or whose workspace is smaller
//     than its algorithm needs is refused with CUDNN_STATUS_BAD_PARAM and a
//     message naming the dimensions; the heuristics list first an algorithm
//     that needs a workspace (reporting tensor-op math under the default math
//     type, as on Ampere and later), and the convolution fills its workspace
//     with NaNs before and after it runs, so a workspace too small, shared
//     with a tensor or relied on afterwards shows up.
//
// What it cannot check: timing, occupancy, the real driver's JIT of the PTX
// (kernels.cu is compiled by g++ here, and its PTX is checked against the
// source by a recorded hash), and cuBLAS's and cuDNN's own numerics (they
// check the arguments and compute the product or convolution the arguments
// describe, not TF32 rounding nor each algorithm's order of summation).
//
// Build the library with Build, or `make emulator`, and point
// CNNTRAIN_CUDA_LIBS at its folder to run cnntrain itself on it:
//
//	make emulator && CNNTRAIN_CUDA_LIBS=$PWD/.emulator cnntrain devices
package emulator
