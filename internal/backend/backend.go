// Package backend is the seam between cnntrain's executor and a device. A
// Backend owns device memory (opaque Buffers), moves data to and from the
// host, and compiles each op descriptor of internal/ops into a Kernel for the
// input shapes it will see; it also applies the optimizer rules in place.
//
// The executor (internal/vm) never touches device memory itself: it plans
// where every tensor lives, then calls kernels with views of that plan. So a
// new device is one more implementation of Backend, and every line above it
// (graph building, memory planning, the training loop) is shared and tested on
// the CPU. internal/backend/cpu is the CPU backend; backendtest is the
// conformance suite every backend runs.
package backend

import (
	"errors"

	"github.com/cnntrain/cnntrain/internal/ops"
)

// Buffer is a run of 4-byte elements in a backend's memory. Only the backend
// that made it can read it.
type Buffer interface {
	// Len is the number of elements.
	Len() int
}

// HostReader is a Backend whose kernels can read host memory directly (the
// CPU): ReadHost points buffer dst, which kernels only read, at src instead
// of copying src into it, until the next ReadHost or Upload of dst. src
// must stay unchanged while kernels run. It reports false where it cannot
// (lengths differ), and the caller uploads instead.
type HostReader interface {
	ReadHost(dst Buffer, src []float32) bool
}

// Stager is a Backend that can bring a step's input in while the work queued
// before it still runs (CUDA: from pinned host memory, on a stream of its
// own). Stage copies src into dst as Upload does, in the order of the calls,
// and src may change once it returns.
type Stager interface {
	Stage(dst Buffer, src []float32) error
	// StagingBytes is the memory staging into a buffer of n elements keeps
	// for as long as the buffer lives, once in device memory and once in
	// pinned host memory, so that a memory plan can count it.
	StagingBytes(n int) int64
}

// MemoryReporter is a Backend with memory of its own (a GPU), where a run's
// programs, parameters, optimizer state and staging buffers live instead of
// in the host's: FreeMemory is how much of it is free now and its total, so
// that a run that would not fit is refused before it allocates. The CPU does
// not implement it: its memory is the host's, judged as such.
type MemoryReporter interface {
	FreeMemory() (free, total uint64, err error)
}

// GroupUpdater is a Backend that applies an optimizer rule to many
// parameters at once (CUDA: one launch for all of them, as PyTorch's foreach
// optimizers, instead of one per parameter). The slices are parallel: one
// entry per parameter; velocity is nil without momentum.
type GroupUpdater interface {
	SGDGroup(p, g, velocity []Buffer, s ops.SGDStep) error
	AdamGroup(p, g, m, v []Buffer, s ops.AdamStep) error
}

// Backend is a device that runs cnntrain's ops.
type Backend interface {
	// Name identifies the device, e.g. "cpu" or "cuda:0".
	Name() string
	// Alloc returns a zeroed buffer of n elements.
	Alloc(n int) (Buffer, error)
	// Slice is a view of elements [off, off+n) of b.
	Slice(b Buffer, off, n int) Buffer
	// Upload copies src into dst; Download copies src into dst. Lengths must
	// match.
	Upload(dst Buffer, src []float32) error
	Download(dst []float32, src Buffer) error
	// Free releases a buffer Alloc returned (not a Slice of one); it and
	// its views become invalid.
	Free(b Buffer) error
	// Fill sets every element of b to v.
	Fill(b Buffer, v float32) error
	// Compile makes the kernel of op for inputs of the given shapes. An op
	// the backend cannot run is an error naming it (wrapping
	// ErrUnsupported), never a silent fallback to another device.
	Compile(op ops.Op, in []ops.Shape) (Kernel, error)
	// SGD and Adam apply one update of the optimizer rule to parameter p
	// with gradient g and its state buffers, in place.
	SGD(p, g, velocity Buffer, s ops.SGDStep) error
	Adam(p, g, m, v Buffer, s ops.AdamStep) error
	// Sync waits until all queued work is done.
	Sync() error
	// Close releases the device's resources; buffers become invalid.
	Close() error
}

// Recorder is a Backend that can record a sequence of kernel calls once and
// replay it as one launch (CUDA graphs): the executor records a program's
// calls on its first run and replays them after. While recording nothing
// runs, so a kernel must not read results back, wait for the device or copy
// from the host then.
type Recorder interface {
	// Records says whether recording is on (an option may turn it off).
	Records() bool
	// Record records what calls launches.
	Record(calls func() error) (Recording, error)
}

// Recording is a recorded sequence of kernel calls.
type Recording interface {
	// Replay runs the calls again with the arguments they were recorded with.
	Replay() error
	// Release frees the recording.
	Release() error
}

// Kernel is one op compiled for fixed input shapes.
type Kernel interface {
	// Workspace is the number of scratch elements one call needs; the
	// executor passes a buffer at least that long, shared by all kernels,
	// its content undefined between calls.
	Workspace() int
	// Forward computes Args.Out from Args.In, writes the op's Saved
	// tensors and updates the inputs the op declares in Updates.
	Forward(a Args) error
	// Backward writes into Args.DIn the gradient with respect to input wrt,
	// from the forward inputs, output, saved tensors and Args.DOut.
	Backward(wrt int, a Args) error
}

// Args are a kernel call's buffers, laid out as the op's descriptor says.
type Args struct {
	In        []Buffer
	Out       Buffer
	Saved     []Buffer
	Workspace Buffer
	DOut, DIn Buffer // backward only
}

// ErrUnsupported is wrapped by Compile for an op a backend cannot run.
var ErrUnsupported = errors.New("op not supported by this backend")
