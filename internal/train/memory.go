package train

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/graph"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/vm"
	G "gorgonia.org/gorgonia"
)

// ErrOutOfMemory is wrapped by the refusal of a run that needs more memory
// than the process may take: Go cannot recover from running out, so the run
// is refused while that can still be said.
var ErrOutOfMemory = errors.New("not enough memory")

// MemoryNeed is what a run takes beyond what is allocated when it is
// checked (the model's host values and the data), in bytes, by part.
type MemoryNeed struct {
	Batch     int   // the training batch, as the loader caps it
	Train     int64 // the training programs: activations, gradients, workspace
	Eval      int64 // the evaluation programs
	Params    int64 // the parameters' device copy, BatchNorm's buffers with them
	Optimizer int64 // momentum buffers or Adam's moments
	Staging   int64 // a GPU's staging buffers for the batches (backend.Stager)
	Loaders   int64 // the data pipelines' batch buffers
}

// Total is every part together.
func (n MemoryNeed) Total() int64 {
	return n.Train + n.Eval + n.Params + n.Optimizer + n.Staging + n.Loaders
}

// String names the parts there are: a GPU run's host part is only its
// loaders and pinned staging buffers.
func (n MemoryNeed) String() string {
	var parts []string
	if n.Train != 0 {
		parts = append(parts, fmt.Sprintf("batches of %d images %s", n.Batch, gb(n.Train)))
	}
	for _, p := range []struct {
		name  string
		bytes int64
	}{{"evaluation", n.Eval}, {"parameters", n.Params}, {"optimizer state", n.Optimizer}, {"staging buffers", n.Staging}, {"data loaders", n.Loaders}} {
		if p.bytes != 0 {
			parts = append(parts, p.name+" "+gb(p.bytes))
		}
	}
	return gb(n.Total()) + ": " + strings.Join(parts, ", ")
}

// onDevice is the part of n that a GPU holds: all but the loaders. Its
// staging buffers have a pinned copy on the host as well (onHost).
func (n MemoryNeed) onDevice() MemoryNeed {
	n.Loaders = 0
	return n
}

// onHost is the part of a GPU run's need that stays on the host: the
// loaders and the pinned side of the staging buffers.
func (n MemoryNeed) onHost() MemoryNeed {
	return MemoryNeed{Batch: n.Batch, Staging: n.Staging, Loaders: n.Loaders}
}

func gb(b int64) string { return fmt.Sprintf("%.2f GB", float64(b)/1e9) }

// memoryNeed plans what cfg's run of m takes on b, with trainN training and
// testN test images, at training batch size batch; nothing is allocated.
func memoryNeed(b backend.Backend, cfg config.Config, m *models.Model, trainN, testN, batch int) (MemoryNeed, error) {
	in := m.Input
	chw := int64(in.C * in.H * in.W)
	stager, stages := b.(backend.Stager)
	var staging int64
	// plan is one program's arena and workspace; a stager's program also
	// keeps staging buffers for its images and labels.
	plan := func(n int, opts graph.NetOptions) (int64, error) {
		net, err := graph.Compile(m.Net, []int{n, in.C, in.H, in.W}, opts)
		if err != nil {
			return 0, err
		}
		p, err := vm.PlanFor(b, net)
		if stages {
			for _, input := range []*G.Node{net.Images, net.Labels} {
				if input != nil {
					staging += stager.StagingBytes(input.Shape().TotalSize())
				}
			}
		}
		return p.Peak, err
	}
	// Programs are compiled per batch size and kept: the full batches'
	// and the last, partial one's.
	programs := func(size, n int, opts graph.NetOptions) (total int64, per int, err error) {
		per = max(1, min(size, n))
		sizes := []int{per}
		if last := n % per; last != 0 {
			sizes = append(sizes, last)
		}
		for _, s := range sizes {
			peak, err := plan(s, opts)
			if err != nil {
				return 0, 0, err
			}
			total += peak
		}
		return total, per, nil
	}
	var need MemoryNeed
	var err error
	var trainPer, testPer int
	if need.Train, trainPer, err = programs(batch, trainN, graph.NetOptions{Training: true, Loss: m.Loss, Gradients: true}); err != nil {
		return need, err
	}
	if need.Eval, testPer, err = programs(cfg.TestBatchSize, testN, graph.NetOptions{Loss: m.Loss, BatchStatsAtTest: cfg.BNBatchStatsAtTest}); err != nil {
		return need, err
	}
	need.Batch, need.Staging = trainPer, staging
	for _, p := range m.Params() {
		need.Params += int64(len(p.Data())) * 4
	}
	params := int64(m.NumParams()) * 4 // the trainable ones: the optimizer's
	switch {
	case cfg.Optimizer == "adam":
		need.Optimizer = 2 * params
	case cfg.Momentum != 0:
		need.Optimizer = params
	}
	// Each loader keeps its prefetched batches (three) as float32 images
	// and byte labels, and the training one its epoch's order.
	need.Loaders = 3*int64(trainPer+testPer)*(chw*4+1) + 8*int64(trainN)
	return need, nil
}

// fitMemory refuses a run whose need at batch exceeds what is available,
// saying what it needs, what there is and the largest batch (a power of
// two) that fits, or that the model alone does not fit.
func fitMemory(batch int, needAt func(batch int) (MemoryNeed, error), avail Available) error {
	need, err := needAt(batch)
	if err != nil || need.Total() <= avail.Bytes {
		return err
	}
	refuse := fmt.Sprintf("this run needs %v; %s is available (%s)", need, gb(avail.Bytes), avail.Limit)
	one, err := needAt(1)
	if err != nil {
		return err
	}
	if one.Total() > avail.Bytes {
		return fmt.Errorf("%w: %s; even a batch of 1 needs %s: try a smaller model (--width, --hidden, --features)", ErrOutOfMemory, refuse, gb(one.Total()))
	}
	// The largest batch that fits, by bisection: need grows with the batch.
	lo, hi := 1, need.Batch
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		n, err := needAt(mid)
		if err != nil {
			return err
		}
		if n.Total() <= avail.Bytes {
			lo = mid
		} else {
			hi = mid
		}
	}
	fits := 1 << (63 - bits.LeadingZeros64(uint64(lo)))
	return fmt.Errorf("%w: %s; try --batch-size %d", ErrOutOfMemory, refuse, fits)
}

// Available is how much memory the process may still take, and which limit
// says so.
type Available struct {
	Bytes int64
	Limit string
}

// MemorySources reads the limits on the process's memory; tests replace
// them.
type MemorySources struct {
	// ReadFile reads /proc and /sys/fs/cgroup files.
	ReadFile func(path string) ([]byte, error)
	// AddressSpace is RLIMIT_AS's soft limit; ok is false when unlimited.
	AddressSpace func() (limit uint64, ok bool)
}

// HostMemory is the running machine's sources.
var HostMemory = MemorySources{
	ReadFile: os.ReadFile,
	AddressSpace: func() (uint64, bool) {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil || lim.Cur == math.MaxUint64 { // RLIM_INFINITY
			return 0, false
		}
		return lim.Cur, true
	},
}

// Available is the smallest of: the cgroup's limit less its usage (v2, or
// v1), MemAvailable, and the address-space limit (ulimit -v) less what the
// process maps; ok is false when none of them can be read.
func (s MemorySources) Available() (avail Available, ok bool) {
	consider := func(bytes int64, limit string) {
		if !ok || bytes < avail.Bytes {
			avail, ok = Available{Bytes: max(bytes, 0), Limit: limit}, true
		}
	}
	for _, cg := range s.cgroups() {
		if max, err := s.number(cg.dir, cg.max); err == nil {
			if used, err := s.number(cg.dir, cg.used); err == nil {
				consider(max-used, "the cgroup's memory limit less its usage")
			}
		}
	}
	if kb, ok := s.field("/proc/meminfo", "MemAvailable:"); ok {
		consider(kb*1024, "MemAvailable in /proc/meminfo")
	}
	if limit, limited := s.AddressSpace(); limited {
		if kb, ok := s.field("/proc/self/status", "VmSize:"); ok && limit <= math.MaxInt64 {
			consider(int64(limit)-kb*1024, "the address-space limit (ulimit -v) less what the process maps")
		}
	}
	return avail, ok
}

// cgroupFiles is where a cgroup keeps its memory limit and usage.
type cgroupFiles struct{ dir, max, used string }

// cgroups are the memory cgroups of the process, from /proc/self/cgroup.
func (s MemorySources) cgroups() []cgroupFiles {
	data, err := s.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var out []cgroupFiles
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			out = append(out, cgroupFiles{filepath.Join("/sys/fs/cgroup", parts[2]), "memory.max", "memory.current"})
		case strings.Contains(","+parts[1]+",", ",memory,"):
			out = append(out, cgroupFiles{filepath.Join("/sys/fs/cgroup/memory", parts[2]), "memory.limit_in_bytes", "memory.usage_in_bytes"})
		}
	}
	return out
}

// number reads a cgroup file holding one number; "max" is no limit.
func (s MemorySources) number(dir, name string) (int64, error) {
	data, err := s.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
}

// field reads a "Name:   123 kB" line of a /proc file, in kB.
func (s MemorySources) field(path, name string) (int64, bool) {
	data, err := s.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
