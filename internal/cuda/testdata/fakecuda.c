/* A stand-in for libcuda.so.1, built by the tests with gcc, to check how
 * cnntrain reports a driver that does not start (INIT_RESULT != 0) or one
 * that starts and shows one GPU. Every entry point cnntrain binds exists. */
#include <stddef.h>
#include <string.h>

#ifndef INIT_RESULT
#define INIT_RESULT 0
#endif

typedef int CUresult;

CUresult cuInit(unsigned flags) { return INIT_RESULT; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuGetErrorName(CUresult r, const char **s) {
	*s = r == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
	return 0;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	*s = r == 100 ? "no CUDA-capable device is detected" : "unknown error";
	return 0;
}
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
CUresult cuDeviceGetName(char *name, int len, int dev) { strncpy(name, "Fake GPU", len); return 0; }
CUresult cuDeviceTotalMem_v2(size_t *bytes, int dev) { *bytes = (size_t)8 << 30; return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int dev) {
	*v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0;
	return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int dev) { return 999; }
CUresult cuCtxSetCurrent(void *ctx) { return 999; }
CUresult cuCtxSynchronize(void) { return 999; }
CUresult cuMemAlloc_v2(unsigned long long *p, size_t n) { return 999; }
CUresult cuMemFree_v2(unsigned long long p) { return 999; }
CUresult cuMemGetInfo_v2(size_t *free, size_t *total) { return 999; }
CUresult cuMemcpyHtoD_v2(unsigned long long d, const void *s, size_t n) { return 999; }
CUresult cuMemcpyDtoH_v2(void *d, unsigned long long s, size_t n) { return 999; }
CUresult cuMemcpyDtoD_v2(unsigned long long d, unsigned long long s, size_t n) { return 999; }
CUresult cuMemsetD32_v2(unsigned long long d, unsigned v, size_t n) { return 999; }
/* Refuses every image, writing a compiler's complaint to the error log
 * (CU_JIT_ERROR_LOG_BUFFER 5, its size as the value of option 6), as the
 * driver does for PTX it cannot compile. */
CUresult cuModuleLoadDataEx(void **m, const void *image, unsigned n, int *options, void **values) {
	char *log = NULL;
	size_t size = 0;
	for (unsigned i = 0; i < n; i++) {
		if (options[i] == 5)
			log = values[i];
		if (options[i] == 6)
			size = (size_t)values[i];
	}
	if (log && size > 0) {
		strncpy(log, "ptxas application ptx input, line 11; fatal   : Unsupported .version 9.9", size - 1);
		log[size - 1] = 0;
	}
	return 218; /* CUDA_ERROR_INVALID_PTX */
}
CUresult cuModuleUnload(void *m) { return 999; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) { return 999; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared, void *stream, void **params, void **extra) {
	return 999;
}
CUresult cuStreamCreate(void **s, unsigned flags) { return 999; }
CUresult cuStreamDestroy_v2(void *s) { return 999; }
CUresult cuStreamSynchronize(void *s) { return 999; }
CUresult cuMemcpyHtoDAsync_v2(unsigned long long d, const void *s, size_t n, void *st) { return 999; }
CUresult cuMemcpyDtoHAsync_v2(void *d, unsigned long long s, size_t n, void *st) { return 999; }
CUresult cuMemsetD32Async(unsigned long long d, unsigned v, size_t n, void *st) { return 999; }
CUresult cuStreamBeginCapture_v2(void *s, int mode) { return 999; }
CUresult cuStreamEndCapture(void *s, void **g) { return 999; }
CUresult cuGraphInstantiateWithFlags(void **e, void *g, unsigned long long flags) { return 999; }
CUresult cuGraphLaunch(void *e, void *s) { return 999; }
CUresult cuGraphExecDestroy(void *e) { return 999; }
CUresult cuGraphDestroy(void *g) { return 999; }
CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags) { return 999; }
CUresult cuMemFreeHost(void *p) { return 999; }
CUresult cuMemcpyDtoDAsync_v2(unsigned long long d, unsigned long long s, size_t n, void *st) { return 999; }
CUresult cuEventCreate(void **e, unsigned flags) { return 999; }
CUresult cuEventDestroy_v2(void *e) { return 999; }
CUresult cuEventRecord(void *e, void *s) { return 999; }
CUresult cuEventSynchronize(void *e) { return 999; }
CUresult cuStreamWaitEvent(void *s, void *e, unsigned flags) { return 999; }
