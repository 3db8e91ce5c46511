// emulator.cpp is a stand-in for NVIDIA's libcuda.so.1, libcublas.so.13 and libcudnn.so.9 that
// runs on the CPU, so the Go side of the CUDA backend (library binding, argument blocks, streams,
// events, graph capture, pinned memory, cuBLAS calls, cuDNN's convolutions) executes in CI on
// machines without a GPU. cuDNN's legacy convolution API is in cudnn.inc, included at the end:
// NCHW float tensors, both convolution modes, checked shapes, pointers and workspaces. See doc.go
// for what it emulates and how strictly. Build (from this directory):
//
//	g++ -std=c++20 -O3 -shared -fPIC -pthread -ffp-contract=off -I../../kernels emulator.cpp
//	    -o libcnntrain-gpu-emulator.so
//
// then name it libcuda.so.1, libcublas.so.13 and libcudnn.so.9 (symbolic links) in a folder that
// CNNTRAIN_CUDA_LIBS points at. Device memory is host memory: a CUdeviceptr is an address.
#include "shim/cuda_shim.h"

#include "kernels.cu"
#include "shim/kernel_list.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

namespace emu {

// CUresult values the emulator returns (cuda.h's numbers).
enum : CUresult {
    SUCCESS = 0,
    INVALID_VALUE = 1,
    OUT_OF_MEMORY = 2,
    NOT_INITIALIZED = 3,
    INVALID_DEVICE = 101,
    INVALID_IMAGE = 200,
    INVALID_CONTEXT = 201,
    INVALID_HANDLE = 400,
    NOT_FOUND = 500,
    NOT_READY = 600,
    ILLEGAL_ADDRESS = 700,
    CAPTURE_UNSUPPORTED = 900,
    CAPTURE_INVALIDATED = 901,
    CAPTURE_ISOLATION = 906,
    CAPTURE_WRONG_THREAD = 908,
};

// One lock serializes the whole API: Go calls in from whatever thread its goroutine runs on.
std::recursive_mutex mu;
#define LOCKED std::lock_guard<std::recursive_mutex> lock_(emu::mu)

bool initialized = false;
int context_token;                                // the primary context's handle is its address
thread_local void* current_context = nullptr;     // cuCtxSetCurrent is per host thread
CUresult sticky = SUCCESS;                        // an illegal address poisons the context, as on a GPU

void complain(const char* what, const std::string& detail)
{
    std::fprintf(stderr, "cnntrain GPU emulator: %s: %s\n", what, detail.c_str());
}

// Allocations: device memory and pinned host memory, each followed by a guard zone whose pattern a
// kernel or copy must leave alone.
constexpr size_t guard_bytes = 256;
constexpr unsigned char guard_value = 0xA5;

struct Allocation {
    size_t bytes;
    bool pinned; // host memory from cuMemHostAlloc
};
std::map<uintptr_t, Allocation> allocations;

// The device's memory: what cuDeviceTotalMem and cuMemGetInfo report, and what cuMemAlloc may take
// in all before it answers CUDA_ERROR_OUT_OF_MEMORY, as a full card does
// (cnntrain_emulator_device_memory). device_peak is the most in use since the size was last set.
constexpr size_t default_device_bytes = size_t(8) << 30;
size_t device_bytes = default_device_bytes;
size_t device_in_use = 0, device_peak = 0;

void* allocate(size_t bytes, bool pinned)
{
    void* p = std::aligned_alloc(256, (bytes + guard_bytes + 255) / 256 * 256);
    if (!p)
        return nullptr;
    std::memset(static_cast<char*>(p) + bytes, guard_value, guard_bytes);
    allocations[reinterpret_cast<uintptr_t>(p)] = {bytes, pinned};
    return p;
}

// find is the allocation holding [p, p+bytes), or null.
const Allocation* find(uintptr_t p, size_t bytes, uintptr_t* base = nullptr)
{
    auto it = allocations.upper_bound(p);
    if (it == allocations.begin())
        return nullptr;
    --it;
    if (p + bytes > it->first + it->second.bytes)
        return nullptr;
    if (base)
        *base = it->first;
    return &it->second;
}

bool device_range(CUdeviceptr p, size_t bytes)
{
    const Allocation* a = find(p, bytes);
    return a && !a->pinned;
}

bool pinned_range(const void* p, size_t bytes)
{
    const Allocation* a = find(reinterpret_cast<uintptr_t>(p), bytes);
    return a && a->pinned;
}

// check_guards makes an overrun of any allocation a sticky illegal-address error.
void check_guards(const std::string& after)
{
    for (auto& [p, a] : allocations) {
        const unsigned char* g = reinterpret_cast<const unsigned char*>(p) + a.bytes;
        for (size_t i = 0; i < guard_bytes; i++) {
            if (g[i] != guard_value) {
                complain("illegal address", after + " wrote past the end of an allocation of " +
                                                std::to_string(a.bytes) + " bytes");
                sticky = ILLEGAL_ADDRESS;
                std::memset(const_cast<unsigned char*>(g), guard_value, guard_bytes);
                break;
            }
        }
    }
}

// Streams run their work lazily, as late as the program lets them: only when the host waits for
// them (a synchronize, a synchronous copy, an event it waits for) or another stream waits for one
// of their events. Work a program forgot to order therefore runs in the wrong order here, and the
// results show it.
struct Work {
    std::string what;
    std::function<void()> run;
};

struct Stream {
    explicit Stream(bool blocking) : blocking(blocking) {}
    bool blocking;                  // synchronizes with the legacy stream
    std::deque<Work> queue;
    uint64_t enqueued = 0, done = 0; // counters of work items
    std::vector<Work>* capture = nullptr;
    bool capture_invalid = false;
};

Stream legacy(true);
std::set<Stream*> streams;

Stream* stream_of(void* s) { return s ? static_cast<Stream*>(s) : &legacy; }

bool known(Stream* s) { return s == &legacy || streams.count(s); }

void run_item(Stream* s)
{
    Work w = std::move(s->queue.front());
    s->queue.pop_front();
    w.run();
    s->done++;
    check_guards(w.what);
}

// flush runs s's work up to item number target (all of it by default).
void flush(Stream* s, uint64_t target = UINT64_MAX)
{
    while (s->done < target && !s->queue.empty())
        run_item(s);
}

bool capturing()
{
    if (legacy.capture)
        return true;
    for (Stream* s : streams)
        if (s->capture)
            return true;
    return false;
}

// invalidate_captures is what a synchronizing call during a capture does to it. Real CUDA is
// laxer in relaxed mode for streams that do not synchronize with the legacy stream; the emulator
// refuses every synchronization during a capture, since none can mean what the program wants.
CUresult refuse_during_capture(const char* call)
{
    complain(call, "synchronizes while a stream is capturing a graph");
    for (Stream* s : streams)
        if (s->capture)
            s->capture_invalid = true;
    return CAPTURE_UNSUPPORTED;
}

// sync_legacy is the implicit synchronization of a synchronous call on the legacy stream: it
// waits for the legacy stream and every blocking stream, not for non-blocking ones.
void sync_legacy()
{
    flush(&legacy);
    for (Stream* s : streams)
        if (s->blocking)
            flush(s);
}

void enqueue(Stream* s, std::string what, std::function<void()> run)
{
    if (s->capture) {
        s->capture->push_back({std::move(what), std::move(run)});
        return;
    }
    s->queue.push_back({std::move(what), std::move(run)});
    s->enqueued++;
}

struct Event {
    Stream* stream = nullptr; // of the last record; null before one
    uint64_t target = 0;      // the stream's item count at the record
    bool in_capture = false;
};
std::set<Event*> events;

struct Graph {
    std::vector<Work> work;
};
std::set<Graph*> graphs;
std::set<Graph*> execs; // instantiated graphs, same shape

// Kernels: a CUfunction is the address of one of these.
struct Kernel {
    const char* name;
    size_t params;
    // bind copies the argument values params points at (as cuLaunchKernel does) into a call.
    std::function<std::function<void()>(dim3, dim3, void**)> bind;
    // serial kernels never call __syncthreads: their threads run one after another on one host
    // thread (cuda_shim.h's launch_serial), which is fast.
    bool serial;
};

template <class... P, size_t... I>
std::function<void()> bind_args(void (*k)(P...), bool serial, dim3 grid, dim3 block, void** params,
                                std::index_sequence<I...>)
{
    std::tuple<std::remove_cv_t<P>...> vals{*static_cast<std::remove_cv_t<P>*>(params[I])...};
    return [k, serial, grid, block, vals] {
        std::apply(
            [&](auto... a) {
                if (serial)
                    launch_serial(k, grid, block, a...);
                else
                    launch_fibers(k, grid, block, a...);
            },
            vals);
    };
}

template <class... P>
Kernel kernel(const char* name, bool syncs, void (*k)(P...))
{
    return {name, sizeof...(P),
            [k, syncs](dim3 grid, dim3 block, void** params) {
                return bind_args(k, !syncs, grid, block, params, std::index_sequence_for<P...>{});
            },
            !syncs};
}

#define EMU_KERNEL(name, syncs) kernel(#name, syncs, name),
std::vector<Kernel> kernel_table = {CNNTRAIN_KERNELS(EMU_KERNEL)};

int module_token;

// Counters for tests: kernel launches enqueued, captures ended, graph launches.
long long launches, captures, graph_launches;

// ctx is the guard at the top of every call that needs a context.
CUresult ctx()
{
    if (!initialized)
        return NOT_INITIALIZED;
    if (current_context != &context_token)
        return INVALID_CONTEXT;
    return sticky;
}

#define NEED_CTX                       \
    do {                               \
        if (CUresult r_ = emu::ctx()) \
            return r_;                 \
    } while (0)

} // namespace emu

using namespace emu;

extern "C" {

// The driver API (libcuda.so.1).

CUresult cuInit(unsigned int flags)
{
    LOCKED;
    if (flags != 0)
        return INVALID_VALUE;
    initialized = true;
    return SUCCESS;
}

CUresult cuDriverGetVersion(int* v)
{
    if (!v)
        return INVALID_VALUE;
    *v = 13000;
    return SUCCESS;
}

CUresult cuGetErrorName(CUresult r, const char** s)
{
    static const std::map<CUresult, const char*> names = {
        {SUCCESS, "CUDA_SUCCESS"},
        {INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE"},
        {OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY"},
        {NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED"},
        {INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE"},
        {INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE"},
        {INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT"},
        {INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE"},
        {NOT_FOUND, "CUDA_ERROR_NOT_FOUND"},
        {NOT_READY, "CUDA_ERROR_NOT_READY"},
        {ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS"},
        {CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"},
        {CAPTURE_INVALIDATED, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"},
        {CAPTURE_ISOLATION, "CUDA_ERROR_STREAM_CAPTURE_ISOLATION"},
        {CAPTURE_WRONG_THREAD, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"},
    };
    auto it = names.find(r);
    if (it == names.end())
        return INVALID_VALUE;
    *s = it->second;
    return SUCCESS;
}

CUresult cuGetErrorString(CUresult r, const char** s)
{
    const char* name;
    if (cuGetErrorName(r, &name))
        return INVALID_VALUE;
    *s = "reported by the cnntrain GPU emulator";
    return SUCCESS;
}

CUresult cuDeviceGetCount(int* n)
{
    if (!initialized)
        return NOT_INITIALIZED;
    *n = 1;
    return SUCCESS;
}

CUresult cuDeviceGet(int* d, int ordinal)
{
    if (!initialized)
        return NOT_INITIALIZED;
    if (ordinal != 0)
        return INVALID_DEVICE;
    *d = 0;
    return SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, int dev)
{
    if (dev != 0)
        return INVALID_DEVICE;
    std::snprintf(name, len, "cnntrain GPU emulator (host threads)");
    return SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, int dev)
{
    LOCKED;
    if (dev != 0)
        return INVALID_DEVICE;
    *bytes = device_bytes;
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, int attr, int dev)
{
    if (dev != 0)
        return INVALID_DEVICE;
    switch (attr) {
    case 75: *v = 9; break;   // compute capability major
    case 76: *v = 0; break;   // minor
    case 16: *v = 132; break; // multiprocessors
    default: return INVALID_VALUE;
    }
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(void** ctx, int dev)
{
    LOCKED;
    if (!initialized)
        return NOT_INITIALIZED;
    if (dev != 0)
        return INVALID_DEVICE;
    *ctx = &context_token;
    return SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(int dev) { return dev == 0 ? SUCCESS : INVALID_DEVICE; }

CUresult cuCtxSetCurrent(void* c)
{
    if (c && c != &context_token)
        return INVALID_CONTEXT;
    current_context = c;
    return SUCCESS;
}

CUresult cuCtxSynchronize()
{
    LOCKED;
    NEED_CTX;
    if (capturing())
        return refuse_during_capture("cuCtxSynchronize");
    flush(&legacy);
    for (Stream* s : streams)
        flush(s);
    return sticky;
}

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t bytes)
{
    LOCKED;
    NEED_CTX;
    if (bytes == 0)
        return INVALID_VALUE;
    if (bytes > device_bytes - std::min(device_in_use, device_bytes))
        return OUT_OF_MEMORY;
    void* a = allocate(bytes, false);
    if (!a)
        return OUT_OF_MEMORY;
    device_in_use += bytes;
    device_peak = std::max(device_peak, device_in_use);
    *p = reinterpret_cast<CUdeviceptr>(a);
    return SUCCESS;
}

CUresult cuMemGetInfo_v2(size_t* free, size_t* total)
{
    LOCKED;
    NEED_CTX;
    *free = device_bytes - std::min(device_in_use, device_bytes);
    *total = device_bytes;
    return SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p)
{
    LOCKED;
    NEED_CTX;
    auto it = allocations.find(p);
    if (it == allocations.end() || it->second.pinned)
        return INVALID_VALUE;
    device_in_use -= it->second.bytes;
    allocations.erase(it);
    std::free(reinterpret_cast<void*>(p));
    return SUCCESS;
}

// refuse_pinned makes cuMemHostAlloc fail, as a sandbox's limits can
// (cnntrain_emulator_refuse_pinned).
static bool refuse_pinned = false;

CUresult cuMemHostAlloc(void** p, size_t bytes, unsigned int flags)
{
    LOCKED;
    NEED_CTX;
    if (bytes == 0 || flags > 0xf)
        return INVALID_VALUE;
    if (refuse_pinned)
        return OUT_OF_MEMORY;
    *p = allocate(bytes, true);
    return *p ? SUCCESS : OUT_OF_MEMORY;
}

CUresult cuMemFreeHost(void* p)
{
    LOCKED;
    NEED_CTX;
    auto it = allocations.find(reinterpret_cast<uintptr_t>(p));
    if (it == allocations.end() || !it->second.pinned)
        return INVALID_VALUE;
    allocations.erase(it);
    std::free(p);
    return SUCCESS;
}

// Synchronous copies and memset run on the legacy stream.

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes)
{
    LOCKED;
    NEED_CTX;
    if (capturing())
        return refuse_during_capture("cuMemcpyHtoD");
    if (!device_range(dst, bytes))
        return INVALID_VALUE;
    sync_legacy();
    std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
    return SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes)
{
    LOCKED;
    NEED_CTX;
    if (capturing())
        return refuse_during_capture("cuMemcpyDtoH");
    if (!device_range(src, bytes))
        return INVALID_VALUE;
    sync_legacy();
    std::memcpy(dst, reinterpret_cast<void*>(src), bytes);
    return sticky;
}

CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes)
{
    LOCKED;
    NEED_CTX;
    if (capturing())
        return refuse_during_capture("cuMemcpyDtoD");
    if (!device_range(dst, bytes) || !device_range(src, bytes))
        return INVALID_VALUE;
    sync_legacy();
    std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), bytes);
    return SUCCESS;
}

CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n)
{
    LOCKED;
    NEED_CTX;
    if (capturing())
        return refuse_during_capture("cuMemsetD32");
    if (!device_range(dst, n * 4) || dst % 4)
        return INVALID_VALUE;
    sync_legacy();
    for (size_t i = 0; i < n; i++)
        reinterpret_cast<unsigned int*>(dst)[i] = v;
    return SUCCESS;
}

// Asynchronous copies. Pinned host memory is read or written when the copy runs, as a DMA would;
// pageable memory is staged at the call (host to device) or the call waits for the stream
// (device to host), as the driver does.

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, void* hs)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (!known(s) || !device_range(dst, bytes))
        return INVALID_VALUE;
    if (pinned_range(src, bytes)) {
        enqueue(s, "cuMemcpyHtoDAsync", [=] { std::memcpy(reinterpret_cast<void*>(dst), src, bytes); });
        return SUCCESS;
    }
    if (s->capture)
        return refuse_during_capture("cuMemcpyHtoDAsync from pageable memory");
    // CUDA's API synchronization notes say only that a copy between device and pageable memory
    // "might be synchronous": the emulator takes the weakest reading and reads src when the stream
    // runs the copy, so a caller that changes src before waiting for the stream is caught.
    enqueue(s, "cuMemcpyHtoDAsync", [=] { std::memcpy(reinterpret_cast<void*>(dst), src, bytes); });
    return SUCCESS;
}

CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, void* hs)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (!known(s) || !device_range(src, bytes))
        return INVALID_VALUE;
    const bool pinned = pinned_range(dst, bytes);
    if (!pinned && s->capture)
        return refuse_during_capture("cuMemcpyDtoHAsync to pageable memory");
    // Into pageable memory too the copy is done only once the stream is waited for (see
    // cuMemcpyHtoDAsync_v2).
    enqueue(s, "cuMemcpyDtoHAsync", [=] { std::memcpy(dst, reinterpret_cast<void*>(src), bytes); });
    return sticky;
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, void* hs)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (!known(s) || !device_range(dst, bytes) || !device_range(src, bytes))
        return INVALID_VALUE;
    enqueue(s, "cuMemcpyDtoDAsync", [=] { std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), bytes); });
    return SUCCESS;
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, void* hs)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (!known(s) || !device_range(dst, n * 4) || dst % 4)
        return INVALID_VALUE;
    enqueue(s, "cuMemsetD32Async", [=] {
        for (size_t i = 0; i < n; i++)
            reinterpret_cast<unsigned int*>(dst)[i] = v;
    });
    return SUCCESS;
}

// Streams and events.

CUresult cuStreamCreate(void** hs, unsigned int flags)
{
    LOCKED;
    NEED_CTX;
    if (flags > 1)
        return INVALID_VALUE;
    Stream* s = new Stream(flags == 0);
    streams.insert(s);
    *hs = s;
    return SUCCESS;
}

CUresult cuStreamDestroy_v2(void* hs)
{
    LOCKED;
    NEED_CTX;
    Stream* s = static_cast<Stream*>(hs);
    if (!streams.count(s))
        return INVALID_HANDLE;
    if (s->capture)
        return refuse_during_capture("cuStreamDestroy");
    flush(s); // destroying a stream lets its work finish
    streams.erase(s);
    delete s;
    return SUCCESS;
}

CUresult cuStreamSynchronize(void* hs)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (!known(s))
        return INVALID_HANDLE;
    if (capturing())
        return refuse_during_capture("cuStreamSynchronize");
    if (s == &legacy)
        sync_legacy();
    else
        flush(s);
    return sticky;
}

CUresult cuEventCreate(void** he, unsigned int flags)
{
    LOCKED;
    NEED_CTX;
    if (flags > 0xf)
        return INVALID_VALUE;
    Event* e = new Event;
    events.insert(e);
    *he = e;
    return SUCCESS;
}

CUresult cuEventDestroy_v2(void* he)
{
    LOCKED;
    NEED_CTX;
    Event* e = static_cast<Event*>(he);
    if (!events.erase(e))
        return INVALID_HANDLE;
    delete e;
    return SUCCESS;
}

CUresult cuEventRecord(void* he, void* hs)
{
    LOCKED;
    NEED_CTX;
    Event* e = static_cast<Event*>(he);
    Stream* s = stream_of(hs);
    if (!events.count(e) || !known(s))
        return INVALID_HANDLE;
    e->stream = s;
    e->in_capture = s->capture != nullptr;
    e->target = s->enqueued;
    return SUCCESS;
}

CUresult cuEventSynchronize(void* he)
{
    LOCKED;
    NEED_CTX;
    Event* e = static_cast<Event*>(he);
    if (!events.count(e))
        return INVALID_HANDLE;
    if (e->in_capture || capturing())
        return refuse_during_capture("cuEventSynchronize");
    if (e->stream)
        flush(e->stream, e->target);
    return sticky;
}

CUresult cuStreamWaitEvent(void* hs, void* he, unsigned int flags)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    Event* e = static_cast<Event*>(he);
    if (!known(s) || !events.count(e) || flags != 0)
        return INVALID_HANDLE;
    if (s->capture && !e->in_capture) {
        complain("cuStreamWaitEvent", "a capturing stream waits for an event recorded outside the capture");
        s->capture_invalid = true;
        return CAPTURE_ISOLATION;
    }
    if (!e->stream || e->in_capture)
        return SUCCESS; // nothing recorded: no wait; joins inside a capture are in order here
    Stream* from = e->stream;
    const uint64_t target = e->target;
    enqueue(s, "cuStreamWaitEvent", [=] {
        if (known(from))
            flush(from, target);
    });
    return SUCCESS;
}

// Graphs: a capture records a stream's work instead of running it; launching the instantiated
// graph queues the recorded work, with the argument values copied at capture, on a stream.

CUresult cuStreamBeginCapture_v2(void* hs, int mode)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (s == &legacy || !known(s) || mode < 0 || mode > 2)
        return INVALID_VALUE;
    if (s->capture)
        return CAPTURE_UNSUPPORTED;
    s->capture = new std::vector<Work>;
    s->capture_invalid = false;
    return SUCCESS;
}

CUresult cuStreamEndCapture(void* hs, void** graph)
{
    LOCKED;
    NEED_CTX;
    Stream* s = stream_of(hs);
    if (!known(s) || !s->capture)
        return INVALID_VALUE;
    std::unique_ptr<std::vector<Work>> work(s->capture);
    s->capture = nullptr;
    *graph = nullptr;
    if (s->capture_invalid)
        return CAPTURE_INVALIDATED;
    Graph* g = new Graph{std::move(*work)};
    graphs.insert(g);
    captures++;
    *graph = g;
    return SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags)
{
    LOCKED;
    NEED_CTX;
    Graph* g = static_cast<Graph*>(graph);
    if (!graphs.count(g) || flags != 0)
        return INVALID_VALUE;
    Graph* x = new Graph{g->work};
    execs.insert(x);
    *exec = x;
    return SUCCESS;
}

CUresult cuGraphLaunch(void* exec, void* hs)
{
    LOCKED;
    NEED_CTX;
    Graph* x = static_cast<Graph*>(exec);
    Stream* s = stream_of(hs);
    if (!execs.count(x) || !known(s))
        return INVALID_HANDLE;
    for (const Work& w : x->work)
        enqueue(s, "graph node " + w.what, w.run);
    graph_launches++;
    return SUCCESS;
}

CUresult cuGraphExecDestroy(void* exec)
{
    LOCKED;
    Graph* x = static_cast<Graph*>(exec);
    if (!execs.erase(x))
        return INVALID_HANDLE;
    delete x;
    return SUCCESS;
}

CUresult cuGraphDestroy(void* graph)
{
    LOCKED;
    Graph* g = static_cast<Graph*>(graph);
    if (!graphs.erase(g))
        return INVALID_HANDLE;
    delete g;
    return SUCCESS;
}

// Modules and launches.

// cuModuleLoadDataEx accepts only cnntrain's PTX, whose kernels the emulator carries compiled for
// the host; other images are refused with a line in the error log, if one is given.
CUresult cuModuleLoadDataEx(void** module, const void* image, unsigned n, const int* options, void** values)
{
    LOCKED;
    NEED_CTX;
    if (!image || std::strncmp(static_cast<const char*>(image), "// cnntrain kernels.cu", 22) != 0) {
        char* log = nullptr;
        size_t size = 0;
        for (unsigned i = 0; i < n; i++) {
            if (options[i] == 5) // CU_JIT_ERROR_LOG_BUFFER
                log = static_cast<char*>(values[i]);
            if (options[i] == 6) // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, the size as the value
                size = reinterpret_cast<size_t>(values[i]);
        }
        if (log && size > 0)
            std::snprintf(log, size, "cnntrain GPU emulator: not the PTX of cnntrain's kernels.cu");
        return INVALID_IMAGE;
    }
    *module = &module_token;
    return SUCCESS;
}

CUresult cuModuleUnload(void* module)
{
    LOCKED;
    NEED_CTX;
    return module == &module_token ? SUCCESS : INVALID_HANDLE;
}

CUresult cuModuleGetFunction(void** fn, void* module, const char* name)
{
    LOCKED;
    NEED_CTX;
    if (module != &module_token)
        return INVALID_HANDLE;
    for (Kernel& k : kernel_table) {
        if (std::strcmp(k.name, name) == 0) {
            *fn = &k;
            return SUCCESS;
        }
    }
    return NOT_FOUND;
}

// cuLaunchKernel copies the argument values at the call, as the driver does. The emulator also
// wants the kernelParams array NULL-terminated (the real driver ignores what follows the last
// parameter), so a launch with too many or too few arguments is caught here.
CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void* hs, void** params, void** extra)
{
    LOCKED;
    NEED_CTX;
    Kernel* k = static_cast<Kernel*>(fn);
    Stream* s = stream_of(hs);
    if (k < kernel_table.data() || k >= kernel_table.data() + kernel_table.size() || !known(s))
        return INVALID_HANDLE;
    if (gx == 0 || bx == 0 || gy != 1 || gz != 1 || by != 1 || bz != 1 || bx > 1024 || gx > 0x7fffffffu ||
        shared != 0 || extra != nullptr || !params) {
        complain(k->name, "a launch the kernels' contract does not allow");
        return INVALID_VALUE;
    }
    for (size_t i = 0; i < k->params; i++) {
        if (!params[i]) {
            complain(k->name, "launched with " + std::to_string(i) + " arguments, takes " + std::to_string(k->params));
            return INVALID_VALUE;
        }
    }
    if (params[k->params]) {
        complain(k->name, "launched with more than its " + std::to_string(k->params) + " arguments");
        return INVALID_VALUE;
    }
    enqueue(s, k->name, k->bind(dim3(gx), dim3(bx), params));
    launches++;
    return SUCCESS;
}

// cnntrain_emulator_refuse_pinned makes later pinned allocations fail (refuse
// != 0) or succeed again (not a CUDA function: for the tests).
void cnntrain_emulator_refuse_pinned(int refuse)
{
    LOCKED;
    refuse_pinned = refuse != 0;
}

// cnntrain_emulator_device_memory sets the device's memory to bytes (0: the default 8 GiB), the
// allocations already made included, and starts the peak over from what is in use (not a CUDA
// function: for the tests).
void cnntrain_emulator_device_memory(long long bytes)
{
    LOCKED;
    device_bytes = bytes > 0 ? size_t(bytes) : default_device_bytes;
    device_peak = device_in_use;
}

// cnntrain_emulator_device_usage reports the device memory in use and the most in use since
// cnntrain_emulator_device_memory (not a CUDA function: for the tests).
void cnntrain_emulator_device_usage(long long* in_use, long long* peak)
{
    LOCKED;
    *in_use = (long long)device_in_use;
    *peak = (long long)device_peak;
}

// cnntrain_emulator_counters reports the counters (not a CUDA function: for the tests).
void cnntrain_emulator_counters(long long* kernel_launches, long long* ended_captures, long long* graph_launches_)
{
    LOCKED;
    *kernel_launches = launches;
    *ended_captures = captures;
    *graph_launches_ = graph_launches;
}

// cuBLAS (libcublas.so.13): single-precision products, column-major, run on the handle's stream.

typedef int cublasStatus_t;
enum : cublasStatus_t {
    CUBLAS_SUCCESS = 0,
    CUBLAS_NOT_INITIALIZED = 1,
    CUBLAS_INVALID_VALUE = 7,
    CUBLAS_EXECUTION_FAILED = 13,
};

struct BlasHandle {
    Stream* stream = &legacy;
    int math = 0;
};
std::set<BlasHandle*> blas_handles;

cublasStatus_t cublasCreate_v2(BlasHandle** h)
{
    LOCKED;
    if (ctx() != SUCCESS)
        return CUBLAS_NOT_INITIALIZED;
    *h = new BlasHandle;
    blas_handles.insert(*h);
    return CUBLAS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(BlasHandle* h)
{
    LOCKED;
    if (!blas_handles.erase(h))
        return CUBLAS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_SUCCESS;
}

cublasStatus_t cublasGetVersion_v2(BlasHandle* h, int* v)
{
    LOCKED;
    if (!blas_handles.count(h))
        return CUBLAS_NOT_INITIALIZED;
    *v = 130000;
    return CUBLAS_SUCCESS;
}

// cublasGetProperty needs no handle: MAJOR_VERSION 0, MINOR_VERSION 1, PATCH_LEVEL 2.
cublasStatus_t cublasGetProperty(int type, int* value)
{
    static const int version[3] = {13, 0, 0};
    if (type < 0 || type > 2 || !value)
        return CUBLAS_INVALID_VALUE;
    *value = version[type];
    return CUBLAS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(BlasHandle* h, int mode)
{
    LOCKED;
    if (!blas_handles.count(h))
        return CUBLAS_NOT_INITIALIZED;
    if ((mode & ~16) < 0 || (mode & ~16) > 3)
        return CUBLAS_INVALID_VALUE;
    h->math = mode;
    return CUBLAS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(BlasHandle* h, void* hs)
{
    LOCKED;
    if (!blas_handles.count(h))
        return CUBLAS_NOT_INITIALIZED;
    Stream* s = stream_of(hs);
    if (!known(s))
        return CUBLAS_INVALID_VALUE;
    h->stream = s;
    return CUBLAS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(BlasHandle* h, void* ws, size_t bytes)
{
    LOCKED;
    if (!blas_handles.count(h))
        return CUBLAS_NOT_INITIALIZED;
    if (bytes > 0 && !device_range(reinterpret_cast<CUdeviceptr>(ws), bytes))
        return CUBLAS_INVALID_VALUE;
    return CUBLAS_SUCCESS;
}

cublasStatus_t cublasSgemm_v2(BlasHandle* h, int ta, int tb, int m, int n, int k, const float* alpha,
                              const float* a, int lda, const float* b, int ldb, const float* beta, float* c, int ldc)
{
    LOCKED;
    if (!blas_handles.count(h))
        return CUBLAS_NOT_INITIALIZED;
    if (ctx() != SUCCESS)
        return CUBLAS_EXECUTION_FAILED;
    const bool tA = ta == 1, tB = tb == 1;
    if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1) || m < 0 || n < 0 || k < 0 || lda < std::max(1, tA ? k : m) ||
        ldb < std::max(1, tB ? n : k) || ldc < std::max(1, m))
        return CUBLAS_INVALID_VALUE;
    if (m == 0 || n == 0)
        return CUBLAS_SUCCESS;
    const size_t a_elems = size_t(lda) * ((tA ? m : k) - 1) + (tA ? k : m);
    const size_t b_elems = size_t(ldb) * ((tB ? k : n) - 1) + (tB ? n : k);
    const size_t c_elems = size_t(ldc) * (n - 1) + m;
    if ((k > 0 && (!device_range(CUdeviceptr(a), a_elems * 4) || !device_range(CUdeviceptr(b), b_elems * 4))) ||
        !device_range(CUdeviceptr(c), c_elems * 4)) {
        complain("cublasSgemm", "a matrix outside device memory");
        return CUBLAS_INVALID_VALUE;
    }
    const float al = *alpha, be = *beta; // host pointer mode: read at the call
    // Each C element sums its k products in order, in float; op(A) is packed column-major first so
    // the inner loop runs down contiguous columns.
    enqueue(h->stream, "cublasSgemm", [=] {
        std::vector<float> pa(size_t(m) * k), acc(m);
        for (int l = 0; l < k; l++)
            for (int i = 0; i < m; i++)
                pa[i + size_t(l) * m] = tA ? a[l + size_t(i) * lda] : a[i + size_t(l) * lda];
        for (int j = 0; j < n; j++) {
            std::fill(acc.begin(), acc.end(), 0.0f);
            for (int l = 0; l < k; l++) {
                const float bl = tB ? b[j + size_t(l) * ldb] : b[l + size_t(j) * ldb];
                const float* col = &pa[size_t(l) * m];
                for (int i = 0; i < m; i++)
                    acc[i] += col[i] * bl;
            }
            for (int i = 0; i < m; i++) {
                float& out = c[i + size_t(j) * ldc];
                out = be == 0 ? al * acc[i] : al * acc[i] + be * out;
            }
        }
    });
    return CUBLAS_SUCCESS;
}

} // extern "C"

// cuDNN (libcudnn.so.9): the legacy convolution API, in its own file.
#include "cudnn.inc"
