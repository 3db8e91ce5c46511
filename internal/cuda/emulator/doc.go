// Package emulator builds a stand-in for NVIDIA's libcuda.so.1 and
// libcublas.so.13 that runs on the CPU, so that the Go half of the CUDA
// backend (internal/cuda) runs in CI on machines without a GPU: the library
// search and binding through purego, contexts, memory, the argument blocks of
// kernel launches, streams and events, graph capture and replay, pinned host
// memory, and every cuBLAS call. Its tests run the backend conformance suite
// on it.
//
// csrc/emulator.cpp is one shared library (g++, no CUDA headers) exporting the
// driver and cuBLAS entry points cnntrain binds, with cuda.h's signatures and
// error numbers. A CUdeviceptr is a host address; the kernels are kernels.cu
// itself, compiled against kernels/shim/cuda_shim.h, each GPU thread a host
// thread; cublasSgemm is a plain column-major triple loop.
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
//   - each allocation ends in a guard zone, and a write past its end is a
//     sticky CUDA_ERROR_ILLEGAL_ADDRESS naming the kernel or copy;
//   - kernelParams must be NULL-terminated (the real driver ignores what
//     follows the last argument), so a launch with the wrong number of
//     arguments is refused with the kernel's name.
//
// What it cannot check: timing, occupancy, the real driver's JIT of the PTX
// (kernels.cu is compiled by g++ here, and its PTX is checked against the
// source by a recorded hash), and cuBLAS's own numerics (it checks the
// arguments and computes the product the arguments describe).
//
// Build the library with Build, or `make emulator`, and point
// CNNTRAIN_CUDA_LIBS at its folder to run cnntrain itself on it:
//
//	make emulator && CNNTRAIN_CUDA_LIBS=$PWD/.emulator cnntrain devices
package emulator
