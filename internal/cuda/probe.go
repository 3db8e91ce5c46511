package cuda

import (
	"fmt"
	"os"
	"regexp"
	"sync"
)

// GPU describes one device.
type GPU struct {
	Ordinal           int    `json:"ordinal"`
	Name              string `json:"name"`
	MemoryBytes       uint64 `json:"memory_bytes"`
	ComputeCapability string `json:"compute_capability"`
	Multiprocessors   int    `json:"multiprocessors"`
}

// Report is what Probe found: the driver, the GPUs, the libraries, or why
// there is no usable GPU.
type Report struct {
	// Driver is the CUDA version the driver supports, e.g. "13.0".
	Driver string `json:"driver_cuda_version,omitempty"`
	// DriverVersion is the NVIDIA kernel driver's, e.g. "580.65.06", where
	// /proc/driver/nvidia/version tells it.
	DriverVersion string    `json:"driver_version,omitempty"`
	GPUs          []GPU     `json:"gpus"`
	Libraries     []Library `json:"libraries"`
	// Reason is empty when a GPU can be used; otherwise why not.
	Reason string `json:"reason,omitempty"`
}

// Usable says whether a GPU can train.
func (r Report) Usable() bool { return r.Reason == "" && len(r.GPUs) > 0 }

// libs is the loaded libraries, shared by every backend of the process.
type libs struct {
	search   Search
	drv      *driver
	blas     *cublas
	driverOK bool // libcuda loaded, bound and initialized
	err      error
	// dnn is cuDNN, optional: when dnnErr says why it cannot be used,
	// convolutions run as im2col and cuBLAS products. It is loaded by the
	// first backend that uses it (cudnn), never by one that does not: a
	// cuDNN that cannot load its parts aborts the process, and --no-cudnn
	// is the way around that.
	dnnOnce sync.Once
	dnn     *cudnn
	dnnErr  error

	// contexts are the primary contexts retained, by device, each once for
	// the process (primaryContext).
	contextsMu sync.Mutex
	contexts   map[int32]uintptr
}

// primaryContext retains dev's primary context the first time and returns
// it ever after. It is never released: the CUDA runtime inside cuBLAS and
// cuDNN keeps state for that context, and a release that let its count
// reach zero would destroy it under them between two backends (a test
// binary opens dozens). PyTorch keeps it for the whole process too.
func (l *libs) primaryContext(dev int32) (uintptr, error) {
	l.contextsMu.Lock()
	defer l.contextsMu.Unlock()
	if ctx, ok := l.contexts[dev]; ok {
		return ctx, nil
	}
	var ctx uintptr
	if err := l.drv.check("cuDevicePrimaryCtxRetain", l.drv.cuDevicePrimaryCtxRetain(&ctx, dev)); err != nil {
		return 0, err
	}
	if l.contexts == nil {
		l.contexts = map[int32]uintptr{}
	}
	l.contexts[dev] = ctx
	return ctx, nil
}

// cudnn loads cuDNN the first time, with the libraries' search.
func (l *libs) cudnn() (*cudnn, error) {
	l.dnnOnce.Do(func() { l.dnn, l.dnnErr = loadCuDNN(l.search) })
	return l.dnn, l.dnnErr
}

var (
	loaded   *libs
	loadOnce sync.Once
)

// load finds and initializes the driver and cuBLAS once per process, with
// the default search.
func load() *libs {
	loadOnce.Do(func() { loaded = loadWith(Search{}) })
	return loaded
}

func loadWith(s Search) *libs {
	l := &libs{search: s}
	if l.drv, l.err = loadDriver(s); l.err != nil {
		return l
	}
	if l.err = l.drv.check("cuInit", l.drv.cuInit(0)); l.err != nil {
		l.err = fmt.Errorf("the CUDA driver does not start: %w", l.err)
		return l
	}
	l.driverOK = true
	l.blas, l.err = loadCuBLAS(s)
	return l
}

// Probe reports the GPUs and libraries of this machine, cuDNN included,
// which it loads (cnntrain devices).
func Probe() Report { return probeWith(load(), Search{}, true) }

// ProbeWithoutCuDNN is Probe leaving cuDNN unopened: what says whether a
// GPU can train (the device choice; devices --no-cudnn), since only a
// backend that uses cuDNN may load it.
func ProbeWithoutCuDNN() Report { return probeWith(load(), Search{}, false) }

// ProbeWith is Probe with its own library search (tests).
func ProbeWith(s Search) Report { return probeWith(loadWith(s), s, true) }

// NotOpened is the Missing of the cuDNN entry of a report that left it alone.
const NotOpened = "not opened (--no-cudnn)"

func probeWith(l *libs, s Search, withCuDNN bool) Report {
	var r Report
	if l.drv != nil {
		r.Libraries = append(r.Libraries, l.drv.lib)
	}
	if l.blas != nil {
		r.Libraries = append(r.Libraries, l.blas.lib)
	} else { // the driver did not start, so cuBLAS was not loaded: say whether it is there
		r.Libraries = append(r.Libraries, s.open(cublasNames...))
	}
	dnn := Library{Name: cudnnShim, Missing: NotOpened}
	if withCuDNN {
		// Also where the driver did not start: say whether cuDNN is there.
		c, err := l.cudnn()
		dnn = c.lib
		if err != nil && dnn.Missing == "" {
			dnn.Missing = err.Error()
		}
		if dnn.Missing != "" {
			dnn.Missing += " (optional: convolutions use im2col and cuBLAS without it)"
		}
	}
	r.Libraries = append(r.Libraries, dnn)
	if l.drv != nil && l.drv.cuDriverGetVersion != nil {
		var v int32
		if l.drv.cuDriverGetVersion(&v) == 0 {
			r.Driver = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		}
	}
	r.DriverVersion = kernelDriverVersion(driverVersionFile)
	if !l.driverOK {
		r.Reason = l.err.Error()
		return r
	}
	var n int32
	if err := l.drv.check("cuDeviceGetCount", l.drv.cuDeviceGetCount(&n)); err != nil {
		r.Reason = err.Error()
		return r
	}
	if n == 0 {
		r.Reason = "the CUDA driver sees no GPU"
		return r
	}
	for i := range n {
		g, err := describe(l.drv, int(i))
		if err != nil {
			r.Reason = err.Error()
			return r
		}
		r.GPUs = append(r.GPUs, g)
	}
	if l.err != nil { // the driver works, cuBLAS does not
		r.Reason = l.err.Error()
	}
	return r
}

func describe(d *driver, ordinal int) (GPU, error) {
	var dev int32
	if err := d.check("cuDeviceGet", d.cuDeviceGet(&dev, int32(ordinal))); err != nil {
		return GPU{}, err
	}
	g := GPU{Ordinal: ordinal}
	name := make([]byte, 256)
	if err := d.check("cuDeviceGetName", d.cuDeviceGetName(&name[0], int32(len(name)), dev)); err != nil {
		return GPU{}, err
	}
	g.Name = GoString(&name[0])
	if err := d.check("cuDeviceTotalMem", d.cuDeviceTotalMem(&g.MemoryBytes, dev)); err != nil {
		return GPU{}, err
	}
	var major, minor, sms int32
	if err := d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&major, attrComputeCapabilityMajor, dev)); err != nil {
		return GPU{}, err
	}
	if err := d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&minor, attrComputeCapabilityMinor, dev)); err != nil {
		return GPU{}, err
	}
	if err := d.check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&sms, attrMultiprocessorCount, dev)); err != nil {
		return GPU{}, err
	}
	g.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	g.Multiprocessors = int(sms)
	return g, nil
}

// driverVersionFile is where the NVIDIA kernel module states its version.
var driverVersionFile = "/proc/driver/nvidia/version"

var kernelModuleVersion = regexp.MustCompile(`Kernel Module\s+([0-9][0-9.]*)`)

// kernelDriverVersion reads the driver's version from path, "" where it is
// not there (no NVIDIA driver, or a container without /proc's file).
func kernelDriverVersion(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if m := kernelModuleVersion.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}
