// hostharness runs one kernel of kernels.cu on the host, through shim/cuda_shim.h, for
// kernels_host_test.go. Build (from internal/cuda/kernels):
//
//	g++ -std=c++20 -pthread -O1 -ffp-contract=off -I. hostharness/main.cpp -o harness
//
// Protocol, little-endian, one call per process. stdin:
//
//	u32 name length, name; u32 grid; u32 block; u32 argument count; then per argument a tag byte:
//	  'i' int32, 'f' float32, 'd' float64: the value;
//	  'F' float*, 'I' int*: i32 element count (−1 for NULL), then the elements.
//
// Each argument must have the type of the kernel's parameter at its position. stdout: every
// buffer argument after the launch, in order, as i32 count and elements. Errors go to stderr with
// exit status 2.
#include "shim/cuda_shim.h"

#include "kernels.cu"
#include "shim/kernel_list.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>

namespace {

[[noreturn]] void fail(const std::string& msg)
{
    std::fprintf(stderr, "hostharness: %s\n", msg.c_str());
    std::exit(2);
}

void read_exact(void* dst, size_t n)
{
    if (n > 0 && std::fread(dst, 1, n, stdin) != n)
        fail("short input");
}

template <class T>
T read_value()
{
    T v;
    read_exact(&v, sizeof v);
    return v;
}

// A buffer argument: float or int elements, or none for NULL.
struct Buffer {
    bool null;
    std::vector<float> f;
    std::vector<int> i;

    void* data() { return f.empty() ? static_cast<void*>(i.data()) : f.data(); }
    size_t size() const { return f.size() + i.size(); }
};

// Call reads one launch's arguments and keeps their buffers alive until the output is written.
struct Call {
    std::deque<Buffer> buffers; // a deque: growing it keeps earlier buffers in place

    void expect(char want)
    {
        const char tag = read_value<char>();
        if (tag != want)
            fail(std::string("argument tagged '") + tag + "' where the kernel takes '" + want + "'");
    }

    void* buffer(char tag)
    {
        expect(tag);
        const int32_t n = read_value<int32_t>();
        Buffer& b = buffers.emplace_back();
        b.null = n < 0;
        if (tag == 'F')
            b.f.resize(b.null ? 0 : n);
        else
            b.i.resize(b.null ? 0 : n);
        read_exact(b.data(), b.size() * 4);
        return b.null ? nullptr : b.data();
    }

    // take reads the argument for a parameter of type T.
    template <class T>
    T take()
    {
        if constexpr (std::is_same_v<T, int>) {
            expect('i');
            return read_value<int32_t>();
        } else if constexpr (std::is_same_v<T, float>) {
            expect('f');
            return read_value<float>();
        } else if constexpr (std::is_same_v<T, double>) {
            expect('d');
            return read_value<double>();
        } else if constexpr (std::is_same_v<std::remove_const_t<std::remove_pointer_t<T>>, float>) {
            return static_cast<T>(buffer('F'));
        } else if constexpr (std::is_same_v<std::remove_const_t<std::remove_pointer_t<T>>, int>) {
            return static_cast<T>(buffer('I'));
        } else {
            static_assert(sizeof(T) == 0, "hostharness: a kernel parameter type it cannot read");
        }
    }

    void write_buffers()
    {
        for (Buffer& b : buffers) {
            const int32_t n = b.null ? -1 : int32_t(b.size());
            std::fwrite(&n, 4, 1, stdout);
            std::fwrite(b.data(), 4, b.size(), stdout);
        }
    }
};

using Runner = std::function<void(Call&, uint32_t nargs, dim3 grid, dim3 block)>;

// runner reads a kernel's arguments by its parameter types and launches it.
template <class... Params>
Runner runner(void (*kernel)(Params...))
{
    return [kernel](Call& call, uint32_t nargs, dim3 grid, dim3 block) {
        if (nargs != sizeof...(Params))
            fail("kernel takes " + std::to_string(sizeof...(Params)) + " arguments, got " + std::to_string(nargs));
        std::tuple<Params...> args{call.take<Params>()...}; // braced: read in order
        std::apply([&](Params... a) { launch(kernel, grid, block, a...); }, args);
    };
}

#define KERNEL(name, syncs) {#name, runner(name)},

const std::map<std::string, Runner> kernels = {CNNTRAIN_KERNELS(KERNEL)};

} // namespace

int main()
{
    std::string name(read_value<uint32_t>(), '\0');
    read_exact(name.data(), name.size());
    const uint32_t grid = read_value<uint32_t>(), block = read_value<uint32_t>(), nargs = read_value<uint32_t>();
    const auto k = kernels.find(name);
    if (k == kernels.end())
        fail("no kernel " + name);
    if (grid == 0 || block == 0)
        fail("empty launch");
    Call call;
    k->second(call, nargs, dim3(grid), dim3(block));
    if (std::fgetc(stdin) != EOF)
        fail("input after the last argument");
    call.write_buffers();
    return std::fflush(stdout) == 0 ? 0 : 2;
}
