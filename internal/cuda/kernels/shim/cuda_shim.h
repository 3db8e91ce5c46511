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
#include <cstdint>
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
// Under launch_fibers: where the running GPU thread's and its scheduler's stack pointers are kept
// while the other runs (see fiber_switch).
inline thread_local void **fiber_self, **fiber_scheduler;
void fiber_switch(void** save_sp, void* to_sp);
// Whether the launch in progress has called __syncthreads.
inline std::atomic<bool> synced;
} // namespace cuda_shim

inline void __syncthreads()
{
    if (cuda_shim::fiber_self) {
        cuda_shim::fiber_switch(cuda_shim::fiber_self, *cuda_shim::fiber_scheduler);
        return;
    }
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

// launch_serial runs kernel<<<grid, block>>>(args...) on the calling thread, one GPU thread after
// another, for kernels that never call __syncthreads (which then aborts): starting block.x host
// threads per launch costs milliseconds, which a program of thousands of launches (the GPU
// emulator) cannot pay. The result is the same as launch's for such kernels.
template <class... Params, class... Args>
void launch_serial(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args)
{
    static_assert(sizeof...(Params) == sizeof...(Args), "launch_serial: wrong number of kernel arguments");
    blockDim = block;
    gridDim = grid;
    cuda_shim::sync_barrier = nullptr;
    for (unsigned int b = 0; b < grid.x; b++) {
        blockIdx = dim3(b);
        for (unsigned int t = 0; t < block.x; t++) {
            threadIdx = dim3(t);
            kernel(args...);
        }
    }
}


namespace cuda_shim {
// fiber_switch saves the callee-saved registers (and the SSE and x87 control words) on the current
// stack, stores the stack pointer in *save_sp, and resumes the fiber whose stack pointer is to_sp.
// glibc's swapcontext would do, but it makes a system call per switch, and a reduction over 256
// threads switches thousands of times per block. x86-64 System V only.
asm(R"(
    .text
    .globl _ZN9cuda_shim12fiber_switchEPPvS0_
    .hidden _ZN9cuda_shim12fiber_switchEPPvS0_
    .type _ZN9cuda_shim12fiber_switchEPPvS0_, @function
_ZN9cuda_shim12fiber_switchEPPvS0_:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size _ZN9cuda_shim12fiber_switchEPPvS0_, .-_ZN9cuda_shim12fiber_switchEPPvS0_
)");

// The fiber a launch_fibers scheduler is running, and the code every fiber starts with.
struct Fiber {
    void* sp;
    bool done;
};
inline thread_local Fiber* fiber_current;
inline thread_local void (*fiber_body)(void*);
inline thread_local void* fiber_body_arg;

// fiber_start is where a fresh fiber begins (fiber_switch "returns" into it): it runs the kernel
// and switches back for good.
[[noreturn]] inline void fiber_start()
{
    fiber_body(fiber_body_arg);
    fiber_current->done = true;
    void* unused;
    fiber_switch(&unused, *fiber_scheduler);
    std::abort(); // never resumed
}

// fiber_stack lays out a fresh stack for fiber_switch to resume into fiber_start: the control
// words, six registers and the return address, so that fiber_start is entered with the stack
// aligned as after a call.
inline void* fiber_stack(char* base, size_t bytes)
{
    uintptr_t top = (reinterpret_cast<uintptr_t>(base) + bytes) & ~uintptr_t(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;                                       // alignment: fiber_start sees rsp % 16 == 8
    *--sp = reinterpret_cast<void*>(&fiber_start);          // return address
    for (int i = 0; i < 6; i++)
        *--sp = nullptr;                                   // rbp, rbx, r12-r15
    --sp;
    uint32_t mxcsr;
    uint16_t fcw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fcw));
    std::memcpy(sp, &mxcsr, 4);
    std::memcpy(reinterpret_cast<char*>(sp) + 4, &fcw, 2);
    return sp;
}
} // namespace cuda_shim

// launch_fibers runs kernel<<<grid, block>>>(args...) on the calling thread with each GPU thread a
// fiber: a block's fibers run in turn, each until its next __syncthreads or its end, and a round
// of all of them is one barrier phase. It gives launch's results for any kernel without starting
// threads; the GPU emulator uses it for the kernels that synchronize.
template <class... Params, class... Args>
void launch_fibers(void (*kernel)(Params...), dim3 grid, dim3 block, Args... args)
{
    static_assert(sizeof...(Params) == sizeof...(Args), "launch_fibers: wrong number of kernel arguments");
    using namespace cuda_shim;
    constexpr size_t stack_bytes = 64 << 10;
    static thread_local std::vector<std::vector<char>> stacks;
    if (stacks.size() < block.x)
        stacks.resize(block.x, std::vector<char>(stack_bytes));
    std::vector<Fiber> fibers(block.x);
    void* scheduler_sp;
    auto body = [&] { kernel(args...); };
    fiber_body = [](void* b) { (*static_cast<decltype(body)*>(b))(); };
    fiber_body_arg = &body;
    blockDim = block;
    gridDim = grid;
    sync_barrier = nullptr;
    fiber_scheduler = &scheduler_sp;
    for (unsigned int b = 0; b < grid.x; b++) {
        blockIdx = dim3(b);
        for (unsigned int t = 0; t < block.x; t++)
            fibers[t] = {fiber_stack(stacks[t].data(), stack_bytes), false};
        for (bool live = true; live;) {
            live = false;
            for (unsigned int t = 0; t < block.x; t++) {
                Fiber& f = fibers[t];
                if (f.done)
                    continue;
                threadIdx = dim3(t);
                fiber_current = &f;
                fiber_self = &f.sp;
                fiber_switch(&scheduler_sp, f.sp);
                live = live || !f.done;
            }
        }
    }
    fiber_self = nullptr;
    fiber_scheduler = nullptr;
}
