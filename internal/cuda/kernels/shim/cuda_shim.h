// cuda_shim.h lets g++ (-std=c++20 -pthread) compile kernels.cu unchanged, so the kernels' logic
// runs on a machine without a GPU:
//
//	g++ -std=c++20 -pthread -ffp-contract=off -include shim/cuda_shim.h -x c++ -c kernels.cu
//
// It emulates what kernels.cu uses of CUDA: 1-D launches whose blocks run one after another, each
// with one host thread per GPU thread; __shared__ variables as statics, which the block's threads
// share and which are safe because only one block runs at a time; __syncthreads as a barrier;
// the bit casts. -ffp-contract=off stands for NVRTC's --fmad=false.
#pragma once

#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <math.h>
#include <optional>
#include <pthread.h>
#include <thread>
#include <vector>

#define CNNTRAIN_HOST_SHIM 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
// __restrict__ is g++'s own keyword.

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x = 1, unsigned int y = 1, unsigned int z = 1) : x(x), y(y), z(z) {}
};

// The built-in variables, per emulated GPU thread.
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace cuda_shim {
// The barrier of the block the calling thread belongs to; null once a launch runs its blocks
// without barriers (see launch).
inline thread_local std::barrier<>* sync_barrier;
// Whether the launch in progress has called __syncthreads.
inline std::atomic<bool> synced;
} // namespace cuda_shim

inline void __syncthreads()
{
    if (!cuda_shim::sync_barrier) {
        std::fputs("cuda_shim: __syncthreads in a later block of a kernel whose block 0 never called it\n", stderr);
        std::abort();
    }
    cuda_shim::synced.store(true);
    cuda_shim::sync_barrier->arrive_and_wait();
}

inline unsigned int __float_as_uint(float f)
{
    unsigned int u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

inline float __uint_as_float(unsigned int u)
{
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

namespace cuda_shim {
// small_stacks makes the threads launch starts small: with glibc's default 8 MiB stacks, starting
// 256 threads can take 100 ms, and a test makes hundreds of launches. GPU threads need little.
inline void small_stacks()
{
#ifdef __GLIBC__
    static const bool done = [] {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 128 << 10);
        pthread_setattr_default_np(&attr);
        pthread_attr_destroy(&attr);
        return true;
    }();
    (void)done;
#endif
}
} // namespace cuda_shim

// launch runs kernel<<<grid, block>>>(args...) to completion. block.x host threads each play one
// thread index in every block, block after block. A thread that returns from the kernel drops out
// of the block's barrier, as an exited GPU thread no longer holds up __syncthreads; a second
// barrier keeps every thread out of block b+1 until all have left block b, and its completion
// step gives block b+1 a fresh __syncthreads barrier.
//
// Waking every thread once per block costs about a millisecond, which grid-stride kernels with
// hundreds of blocks and no __syncthreads do not need: when block 0 never synchronized, the
// threads run the remaining blocks without barriers (and __syncthreads, should a later block call
// it after all, aborts rather than share a barrier across blocks). One launch runs at a time.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args)
{
    static_assert(sizeof...(Params) == sizeof...(Args), "launch: wrong number of kernel arguments");
    cuda_shim::small_stacks();
    const std::ptrdiff_t threads = block.x;
    std::optional<std::barrier<>> sync(std::in_place, threads);
    bool barriers = true; // written by block_done's completion step, so read safely after it
    cuda_shim::synced = false;
    auto next_block = [&]() noexcept {
        sync.emplace(threads);
        barriers = cuda_shim::synced;
    };
    std::barrier<decltype(next_block)> block_done(threads, next_block);
    std::vector<std::jthread> pool;
    pool.reserve(block.x);
    for (unsigned int t = 0; t < block.x; t++) {
        pool.emplace_back([&, t] {
            threadIdx = dim3(t);
            blockDim = block;
            gridDim = grid;
            for (unsigned int b = 0; b < grid.x; b++) {
                blockIdx = dim3(b);
                if (!barriers) {
                    cuda_shim::sync_barrier = nullptr;
                    kernel(args...);
                    continue;
                }
                cuda_shim::sync_barrier = &*sync;
                kernel(args...);
                sync->arrive_and_drop();
                block_done.arrive_and_wait();
            }
        });
    }
}
