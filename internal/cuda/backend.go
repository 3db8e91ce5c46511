package cuda

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/cuda/kernels"
	"github.com/cnntrain/cnntrain/internal/ops"
)

// Options tune a CUDA backend.
type Options struct {
	// TF32 lets cuBLAS use tensor cores with TF32 inputs for matrix products
	// (and so convolutions). Off, products are strict FP32 (cuBLAS's
	// default math mode, as PyTorch's with TF32 off).
	TF32 bool
	// NoGraphs launches every kernel of a step one by one instead of
	// recording the step once as a CUDA graph and replaying it.
	NoGraphs bool
	// NoCuDNN runs convolutions as im2col and cuBLAS products even where
	// cuDNN is found.
	NoCuDNN bool
}

// Backend is one GPU. It is not safe for concurrent use: the executor
// issues its calls one after another, all on one stream.
type Backend struct {
	l       *libs
	ordinal int
	gpu     GPU
	dev     int32
	ctx     uintptr
	stream  uintptr // every kernel, product and copy runs on it, in order
	// copyStream brings staged batches in while stream computes (Stage).
	copyStream uintptr
	lanes      map[uint64]*lane // by input buffer address
	pageable   string           // why Stage uploads from pageable memory; "" while pinned memory serves
	module     uintptr
	fns        map[string]uintptr
	blas       uintptr
	blasWS     *Buffer // cuBLAS's workspace, set once so a graph capture allocates nothing
	dnn        uintptr // cuDNN's handle; 0 without cuDNN
	dnnWhy     string  // why convolutions do not use cuDNN
	// im2colConvs are the geometries cuDNN could not take, with why: they
	// run as im2col and cuBLAS products (cudnnConvFor).
	im2colConvs map[convGeometry]string
	convs       map[convGeometry]*cudnnConv
	status      *Buffer // one int32 a loss kernel sets when a target is not a class
	// table is the optimizer update's table of tensors (updateTable), grown
	// as needed; tableRows is its host side, reused, and tableOnDevice what
	// the device table holds, so that an unchanged table is not sent again.
	table         *Buffer
	tableRows     []int32
	tableOnDevice []int32
	armed         bool // a loss kernel ran since the status was last read
	args          launchArgs
	opts          Options
	// recording is set while a graph is captured: nothing may wait for the
	// GPU or copy from the host then.
	recording bool
	closed    bool
}

var (
	_ backend.Backend        = (*Backend)(nil)
	_ backend.Recorder       = (*Backend)(nil)
	_ backend.GroupUpdater   = (*Backend)(nil)
	_ backend.MemoryReporter = (*Backend)(nil)
)

// FreeMemory is the GPU's free memory now and its total, as the driver
// reports them (cuMemGetInfo): what other processes and this one already
// hold is not free.
func (b *Backend) FreeMemory() (free, total uint64, err error) {
	if err := b.enter(); err != nil {
		return 0, 0, err
	}
	defer b.leave()
	err = b.l.drv.check("cuMemGetInfo", b.l.drv.cuMemGetInfo(&free, &total))
	return free, total, err
}

// blasWorkspace is cuBLAS's workspace, PyTorch's default size for Hopper.
const blasWorkspace = 32 << 20

// enter pins the calling goroutine to its thread and makes the GPU's context
// current there. The driver keeps the current context per thread, and Go
// moves goroutines between threads between any two calls; every call into
// the driver or cuBLAS is made between enter and leave.
func (b *Backend) enter() error {
	runtime.LockOSThread()
	if err := b.l.drv.check("cuCtxSetCurrent", b.l.drv.cuCtxSetCurrent(b.ctx)); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	return nil
}

func (b *Backend) leave() { runtime.UnlockOSThread() }

// noRecording refuses what a graph capture cannot hold.
func (b *Backend) noRecording(what string) error {
	if b.recording {
		return fmt.Errorf("cuda: %s while recording a CUDA graph (a kernel must not wait for the GPU or read the host)", what)
	}
	return nil
}

// JIT options of cuModuleLoadDataEx (CUjit_option).
const (
	jitErrorLogBuffer     = 5 // CU_JIT_ERROR_LOG_BUFFER
	jitErrorLogBufferSize = 6 // CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
)

// loadModule has the driver compile ptx for the GPU; where it cannot, the
// error carries the compiler's log, the only account of why.
func loadModule(d *driver, ptx string) (uintptr, error) {
	log := make([]byte, 16<<10)
	options := [2]int32{jitErrorLogBuffer, jitErrorLogBufferSize}
	// The size is passed as the value itself, not through a pointer.
	values := [2]uintptr{uintptr(unsafe.Pointer(&log[0])), uintptr(len(log))}
	var module uintptr
	err := d.check("cuModuleLoadDataEx (JIT of the embedded PTX)", d.cuModuleLoadDataEx(&module, CString(ptx), 2, &options[0], &values[0]))
	runtime.KeepAlive(log)
	if err != nil {
		n := bytes.IndexByte(log, 0)
		if n < 0 {
			n = len(log)
		}
		if msg := strings.TrimSpace(string(log[:n])); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return 0, err
	}
	return module, nil
}

// Open starts GPU ordinal: its primary context, the kernels' module, a
// cuBLAS handle.
func Open(ordinal int, opts Options) (*Backend, error) {
	l := load()
	if !l.driverOK || l.err != nil {
		return nil, l.err
	}
	d := l.drv
	var n int32
	if err := d.check("cuDeviceGetCount", d.cuDeviceGetCount(&n)); err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= int(n) {
		return nil, fmt.Errorf("cuda:%d: this machine has %d GPU(s)", ordinal, n)
	}
	if kernels.PTX == "" {
		return nil, fmt.Errorf("this build carries no PTX for its CUDA kernels (run make ptx and rebuild)")
	}
	if kernels.PTXSourceHash() != kernels.SourceHash() {
		return nil, fmt.Errorf("the embedded PTX was made from another kernels.cu (run make ptx and rebuild)")
	}
	b := &Backend{l: l, ordinal: ordinal, opts: opts, fns: map[string]uintptr{}, lanes: map[uint64]*lane{}}
	var err error
	if b.gpu, err = describe(d, ordinal); err != nil {
		return nil, err
	}
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&b.dev, int32(ordinal))); err != nil {
		return nil, err
	}
	if b.ctx, err = l.primaryContext(b.dev); err != nil {
		return nil, err
	}
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	if err := d.check("cuStreamCreate", d.cuStreamCreate(&b.stream, streamNonBlocking)); err != nil {
		return nil, err
	}
	if b.module, err = loadModule(d, kernels.PTX); err != nil {
		return nil, err
	}
	for _, name := range kernels.Names {
		var fn uintptr
		if err := d.check("cuModuleGetFunction "+name, d.cuModuleGetFunction(&fn, b.module, CString(name))); err != nil {
			return nil, err
		}
		b.fns[name] = fn
	}
	bl := l.blas
	if err := bl.check("cublasCreate", bl.create(&b.blas)); err != nil {
		return nil, err
	}
	mode := int32(mathDefault)
	if opts.TF32 {
		mode = mathTF32
	}
	if err := bl.check("cublasSetMathMode", bl.setMathMode(b.blas, mode)); err != nil {
		return nil, err
	}
	if err := bl.check("cublasSetStream", bl.setStream(b.blas, b.stream)); err != nil {
		return nil, err
	}
	ws, err := b.Alloc(blasWorkspace / 4)
	if err != nil {
		return nil, err
	}
	b.blasWS = ws.(*Buffer)
	if err := bl.check("cublasSetWorkspace", bl.setWorkspace(b.blas, b.blasWS.ptr, blasWorkspace)); err != nil {
		return nil, err
	}
	st, err := b.Alloc(1)
	if err != nil {
		return nil, err
	}
	b.status = st.(*Buffer)
	if err := b.openCuDNN(); err != nil {
		return nil, err
	}
	return b, nil
}

// openCuDNN makes cuDNN's handle, on the backend's stream, where cuDNN was
// found and is wanted; otherwise it notes why convolutions go without it.
// The caller holds the context.
func (b *Backend) openCuDNN() error {
	b.convs, b.im2colConvs = map[convGeometry]*cudnnConv{}, map[convGeometry]string{}
	l := b.l
	switch {
	case b.opts.NoCuDNN: // and so never loaded
		b.dnnWhy = "cuDNN turned off"
		return nil
	}
	if _, err := l.cudnn(); err != nil {
		b.dnnWhy = err.Error()
		return nil
	}
	if err := l.dnn.check("cudnnCreate", l.dnn.create(&b.dnn)); err != nil {
		b.dnn, b.dnnWhy = 0, err.Error()
		return nil
	}
	return l.dnn.check("cudnnSetStream", l.dnn.setStream(b.dnn, b.stream))
}

// Convolutions says how the backend runs convolutions, e.g. "cuDNN 9.1.0"
// or "im2col and cuBLAS (no cuDNN: ...)".
func (b *Backend) Convolutions() string {
	if b.dnn != 0 {
		return "cuDNN " + b.l.dnn.lib.Version
	}
	return "im2col and cuBLAS (" + b.dnnWhy + ")"
}

// Notes are what ran in a slower way than the device line promised, each
// with why: convolutions cuDNN could not take and batches that could not come
// from pinned memory. A run reports them at its end.
func (b *Backend) Notes() []string {
	var notes []string
	for g, why := range b.im2colConvs {
		notes = append(notes, fmt.Sprintf("convolutions of %v ran as im2col and cuBLAS products: %s", g, why))
	}
	slices.Sort(notes)
	if b.pageable != "" {
		notes = append(notes, "batches went to the GPU "+b.BatchUploads())
	}
	return notes
}

// GPU describes the device.
func (b *Backend) GPU() GPU { return b.gpu }

func (b *Backend) Name() string { return fmt.Sprintf("cuda:%d", b.ordinal) }

// Buffer is device memory: an address and a length in 4-byte elements.
type Buffer struct {
	ptr  uint64
	n    int
	view bool // made by Slice: Free leaves it alone
}

func (x *Buffer) Len() int { return x.n }

func dev(x backend.Buffer) *Buffer {
	if x == nil {
		return nil
	}
	return x.(*Buffer)
}

// ptr is x's device address, 0 for nil (a kernel's NULL).
func ptr(x backend.Buffer) arg {
	if d := dev(x); d != nil {
		return arg(d.ptr)
	}
	return 0
}

func (b *Backend) Alloc(n int) (backend.Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda: cannot allocate %d elements", n)
	}
	if err := b.noRecording("allocating"); err != nil {
		return nil, err
	}
	buf := &Buffer{n: n}
	if n == 0 {
		return buf, nil
	}
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	d := b.l.drv
	if err := d.check(fmt.Sprintf("cuMemAlloc of %.1f MB", float64(n)*4/(1<<20)), d.cuMemAlloc(&buf.ptr, uint64(n)*4)); err != nil {
		return nil, err
	}
	if err := d.check("cuMemsetD32Async", d.cuMemsetD32Async(buf.ptr, 0, uint64(n), b.stream)); err != nil {
		return nil, err
	}
	return buf, nil
}

// Free waits for the GPU and releases x, with the lanes of the buffers in it.
func (b *Backend) Free(x backend.Buffer) error {
	d := dev(x)
	if d == nil || d.view || d.ptr == 0 {
		return nil
	}
	if err := b.freeLanesIn(d.ptr, d.n); err != nil {
		return err
	}
	if err := b.Sync(); err != nil {
		return err
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	err := b.l.drv.check("cuMemFree", b.l.drv.cuMemFree(d.ptr))
	d.ptr, d.n = 0, 0
	return err
}

func (b *Backend) Slice(x backend.Buffer, off, n int) backend.Buffer {
	d := dev(x)
	if off < 0 || n < 0 || off+n > d.n {
		panic(fmt.Sprintf("cuda: slice [%d, %d) of a buffer of %d", off, off+n, d.n)) // an executor bug
	}
	return &Buffer{ptr: d.ptr + uint64(off)*4, n: n, view: true}
}

// Upload copies from pageable memory: the driver stages src before the call
// returns, so src may change afterwards.
func (b *Backend) Upload(dst backend.Buffer, src []float32) error {
	d := dev(dst)
	if d.n != len(src) {
		return fmt.Errorf("cuda: upload of %d values into a buffer of %d", len(src), d.n)
	}
	if err := b.noRecording("uploading"); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	drv := b.l.drv
	if err := drv.check("cuMemcpyHtoDAsync", drv.cuMemcpyHtoDAsync(d.ptr, unsafe.Pointer(&src[0]), uint64(len(src))*4, b.stream)); err != nil {
		return err
	}
	// From pageable memory the driver "might be synchronous" (CUDA's API
	// synchronization notes): only a wait makes src free for the caller to
	// change. Uploads are parameters, optimizer state and tables, rare;
	// batches come through Stage.
	return drv.check("cuStreamSynchronize", drv.cuStreamSynchronize(b.stream))
}

// Download waits for the stream's work before src and copies it. After a
// loss kernel it first reads the status word that kernel sets for a target
// that is not a class, and reports it.
func (b *Backend) Download(dst []float32, src backend.Buffer) error {
	s := dev(src)
	if s.n != len(dst) {
		return fmt.Errorf("cuda: download of a buffer of %d values into %d", s.n, len(dst))
	}
	if err := b.noRecording("downloading"); err != nil {
		return err
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	if b.armed {
		b.armed = false
		var bad int32
		if err := b.copyOut(unsafe.Pointer(&bad), b.status.ptr, 4); err != nil {
			return err
		}
		if bad != 0 {
			return fmt.Errorf("the target of sample %d is not a class", bad-1)
		}
	}
	if len(dst) == 0 {
		return nil
	}
	return b.copyOut(unsafe.Pointer(&dst[0]), s.ptr, uint64(len(dst))*4)
}

// copyOut copies device memory to pageable host memory after the stream's
// work, and waits for it: CUDA no longer promises that an asynchronous copy
// into pageable memory is done when the call returns. The copy is the
// stream's last work, so the wait costs nothing more.
func (b *Backend) copyOut(dst unsafe.Pointer, src, bytes uint64) error {
	drv := b.l.drv
	if err := drv.check("cuMemcpyDtoHAsync", drv.cuMemcpyDtoHAsync(dst, src, bytes, b.stream)); err != nil {
		return err
	}
	return drv.check("cuStreamSynchronize", drv.cuStreamSynchronize(b.stream))
}

func (b *Backend) Fill(x backend.Buffer, v float32) error {
	d := dev(x)
	if d.n == 0 {
		return nil
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	return b.l.drv.check("cuMemsetD32Async", b.l.drv.cuMemsetD32Async(d.ptr, math.Float32bits(v), uint64(d.n), b.stream))
}

func (b *Backend) Sync() error {
	if err := b.noRecording("synchronizing"); err != nil {
		return err
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	return b.l.drv.check("cuStreamSynchronize", b.l.drv.cuStreamSynchronize(b.stream))
}

// Records is on unless Options.NoGraphs.
func (b *Backend) Records() bool { return !b.opts.NoGraphs }

// Record captures the kernels calls launches into a CUDA graph without
// running them; the graph's Replay runs them all with one launch, with the
// arguments they had when recorded.
func (b *Backend) Record(calls func() error) (backend.Recording, error) {
	if err := b.noRecording("recording"); err != nil {
		return nil, err
	}
	if err := b.enter(); err != nil {
		return nil, err
	}
	defer b.leave()
	d := b.l.drv
	if err := d.check("cuStreamBeginCapture", d.cuStreamBeginCapture(b.stream, captureRelaxed)); err != nil {
		return nil, err
	}
	b.recording, b.armed = true, false
	callsErr := calls()
	b.recording = false
	armsStatus := b.armed
	b.armed = false
	var graph uintptr
	endErr := d.check("cuStreamEndCapture", d.cuStreamEndCapture(b.stream, &graph))
	if graph != 0 {
		defer d.cuGraphDestroy(graph)
	}
	if callsErr != nil {
		return nil, callsErr
	}
	if endErr != nil {
		return nil, endErr
	}
	r := &recording{b: b, armsStatus: armsStatus}
	if err := d.check("cuGraphInstantiate", d.cuGraphInstantiateWithFlags(&r.exec, graph, 0)); err != nil {
		return nil, err
	}
	return r, nil
}

// recording is an instantiated CUDA graph.
type recording struct {
	b          *Backend
	exec       uintptr
	armsStatus bool // it holds a loss kernel
}

func (r *recording) Replay() error {
	b := r.b
	if r.exec == 0 {
		return fmt.Errorf("cuda: replay of a released graph")
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	if err := b.l.drv.check("cuGraphLaunch", b.l.drv.cuGraphLaunch(r.exec, b.stream)); err != nil {
		return err
	}
	b.armed = b.armed || r.armsStatus
	return nil
}

func (r *recording) Release() error {
	if r.exec == 0 {
		return nil
	}
	b := r.b
	if err := b.Sync(); err != nil {
		return err
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	err := b.l.drv.check("cuGraphExecDestroy", b.l.drv.cuGraphExecDestroy(r.exec))
	r.exec = 0
	return err
}

func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	keep := func(err error) { errs = append(errs, err) }
	keep(b.Sync())
	for addr := range b.lanes {
		keep(b.freeLane(addr))
	}
	keep(b.Free(b.status))
	keep(b.Free(b.table))
	keep(b.Free(b.blasWS))
	for _, c := range b.convs {
		keep(c.destroy())
	}
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	if b.dnn != 0 {
		keep(b.l.dnn.check("cudnnDestroy", b.l.dnn.destroy(b.dnn)))
	}
	if b.blas != 0 {
		keep(b.l.blas.check("cublasDestroy", b.l.blas.destroy(b.blas)))
	}
	if b.module != 0 {
		keep(b.l.drv.check("cuModuleUnload", b.l.drv.cuModuleUnload(b.module)))
	}
	for _, s := range []uintptr{b.copyStream, b.stream} {
		if s != 0 {
			keep(b.l.drv.check("cuStreamDestroy", b.l.drv.cuStreamDestroy(s)))
		}
	}
	// The primary context stays retained (libs.primaryContext).
	return errors.Join(errs...)
}

func (b *Backend) SGD(p, g, velocity backend.Buffer, s ops.SGDStep) error {
	return b.SGDGroup([]backend.Buffer{p}, []backend.Buffer{g}, []backend.Buffer{velocity}, s)
}

func (b *Backend) Adam(p, g, m, v backend.Buffer, s ops.AdamStep) error {
	return b.AdamGroup([]backend.Buffer{p}, []backend.Buffer{g}, []backend.Buffer{m}, []backend.Buffer{v}, s)
}

// SGDGroup updates every parameter with one launch of sgd_steps.
func (b *Backend) SGDGroup(p, g, velocity []backend.Buffer, s ops.SGDStep) error {
	first := 0
	if s.First {
		first = 1
	}
	if s.Momentum == 0 {
		velocity = nil // unread: each row points v at p
	}
	base, table, n, err := b.updateTable(8, p, g, velocity)
	if err != nil || n == 0 {
		return err
	}
	return b.launchN("sgd_steps", n, base, table, i32(len(p)), f32(s.LR), f32(s.Momentum), f32(s.WeightDecay), i32(first))
}

// AdamGroup updates every parameter with one launch of adam_steps.
func (b *Backend) AdamGroup(p, g, m, v []backend.Buffer, s ops.AdamStep) error {
	base, table, n, err := b.updateTable(10, p, g, m, v)
	if err != nil || n == 0 {
		return err
	}
	return b.launchN("adam_steps", n, base, table, i32(len(p)),
		f32(s.Beta1), f32(s.OneMinusBeta1), f32(s.Beta2), f32(s.OneMinusBeta2),
		f32(s.NegStepSize), f32(s.BiasCorrection2Sqrt), f32(s.Eps), f32(s.WeightDecay))
}

// updateTable writes the multi-tensor update kernels' table (kernels.cu) for
// the parameters p and their other buffers, rowInts ints a row, uploads it
// and returns the base address, the table's and the largest parameter's
// length. A nil list of buffers (SGD's velocity without momentum) points at
// p. The table is uploaded only when it changed (a step's tensors are the
// same as the last step's); the upload is stream-ordered after the previous
// update's kernel, so one device table serves every step.
func (b *Backend) updateTable(rowInts int, p []backend.Buffer, others ...[]backend.Buffer) (base, table arg, n int, err error) {
	if len(p) == 0 {
		return 0, 0, 0, nil
	}
	for _, o := range others {
		if o != nil && len(o) != len(p) {
			return 0, 0, 0, fmt.Errorf("cuda: update of %d parameters with %d of another buffer", len(p), len(o))
		}
	}
	base = ptr(p[0])
	rows := b.tableRows[:0]
	offset := func(x backend.Buffer) {
		off := (int64(ptr(x)) - int64(base)) / 4
		rows = append(rows, int32(uint32(off)), int32(uint64(off)>>32))
	}
	for i, w := range p {
		offset(w)
		for _, o := range others {
			if o == nil {
				offset(w)
			} else {
				if dev(o[i]).n != dev(w).n {
					return 0, 0, 0, fmt.Errorf("cuda: update of a parameter of %d values with a buffer of %d", dev(w).n, dev(o[i]).n)
				}
				offset(o[i])
			}
		}
		rows = append(rows, int32(dev(w).n))
		for len(rows)%rowInts != 0 {
			rows = append(rows, 0)
		}
		n = max(n, dev(w).n)
	}
	b.tableRows = rows
	if slices.Equal(rows, b.tableOnDevice) {
		return base, ptr(b.table), n, nil
	}
	b.tableOnDevice = b.tableOnDevice[:0] // until the upload below succeeds
	if b.table == nil || b.table.n < len(rows) {
		if b.table != nil {
			if err := b.Free(b.table); err != nil {
				return 0, 0, 0, err
			}
		}
		t, err := b.Alloc(max(len(rows), 256))
		if err != nil {
			return 0, 0, 0, err
		}
		b.table = t.(*Buffer)
	}
	// The ints travel as the float32 buffer they are stored in, bit for bit.
	bits := unsafe.Slice((*float32)(unsafe.Pointer(&rows[0])), len(rows))
	if err := b.Upload(b.Slice(b.table, 0, len(rows)), bits); err != nil {
		return 0, 0, 0, err
	}
	b.tableOnDevice = append(b.tableOnDevice[:0], rows...)
	return base, ptr(b.table), n, nil
}
