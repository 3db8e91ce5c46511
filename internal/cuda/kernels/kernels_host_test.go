package kernels_test

// These tests run kernels.cu on the host: g++ compiles it against shim/cuda_shim.h into
// hostharness, which runs one kernel per process with each block's threads as host threads. Every
// kernel runs on shapes of the real models under README's launch and under an odd one, and its
// results are compared with the CPU backend's op (through internal/sgemm for the matrix products
// the CUDA backend leaves to cuBLAS): bit for bit where the arithmetic is the same, within 1e-6 of
// each tensor's largest value where the order of a sum differs.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/cuda/kernels"
	"github.com/cnntrain/cnntrain/internal/ops"
	"github.com/cnntrain/cnntrain/internal/sgemm"
	"github.com/cnntrain/cnntrain/internal/testsupport/deadline"
)

var errNoCompiler = errors.New("g++ not found: CUDA kernel logic NOT checked")

// harness is the compiled hostharness, or why there is none.
var harness struct {
	bin string
	err error
}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "cnntrain-kernels-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	harness.bin, harness.err = buildHarness(dir)
	if errors.Is(harness.err, errNoCompiler) {
		fmt.Fprintf(os.Stderr, "\n*** %v ***\n\n", harness.err)
	}
	code := m.Run()
	if harness.err == nil && code == 0 {
		code = report()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildHarness(dir string) (string, error) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return "", errNoCompiler
	}
	bin := filepath.Join(dir, "hostharness")
	// -ffp-contract=off: no fused multiply-add, as NVRTC's --fmad=false.
	out, err := exec.Command(gxx, "-std=c++20", "-pthread", "-O1", "-ffp-contract=off", "-Wall", "-Wextra",
		"-I.", "hostharness/main.cpp", "-o", bin).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compiling hostharness: %v\n%s", err, out)
	}
	if len(out) > 0 {
		fmt.Fprintf(os.Stderr, "g++ warnings:\n%s", out)
	}
	return bin, nil
}

// report prints the largest error measured per kernel and fails when a kernel of kernels.Names
// went unchecked in a full run.
func report() int {
	worst.Lock()
	defer worst.Unlock()
	if testing.Verbose() {
		keys := append([]string(nil), kernels.Names...)
		for k := range worst.err {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		fmt.Println("largest error per kernel (relative to each tensor's largest |value|):")
		for _, k := range keys {
			if e, ok := worst.err[k]; ok {
				fmt.Printf("  %-34s %.3g\n", k, e)
			}
		}
	}
	if flag.Lookup("test.run").Value.String() != "" {
		return 0
	}
	var missing []string
	for _, k := range kernels.Names {
		if _, ok := worst.err[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: kernels never checked: %s\n", strings.Join(missing, ", "))
		return 1
	}
	return 0
}

// Launches.

type launch struct{ grid, block int }

// gridStrideLaunches are README's launch for a grid-stride kernel over n elements and an odd one.
func gridStrideLaunches(n int) []launch {
	return []launch{{min(max((n+255)/256, 1), 65535), 256}, {3, 32}}
}

// singleBlockLaunches are README's single block and a smaller one.
var singleBlockLaunches = []launch{{1, 256}, {1, 32}}

// null is a NULL float pointer argument.
type null struct{}

// run launches kernel on the host. args are the kernel's parameters: int (int), float32 (float),
// float64 (double), []float32 (float*), []int32 (int*) and null; the slices are overwritten with
// the buffers' content after the launch.
func run(t *testing.T, kernel string, l launch, args ...any) {
	t.Helper()
	var in bytes.Buffer
	put := func(v any) { binary.Write(&in, binary.LittleEndian, v) }
	put(uint32(len(kernel)))
	in.WriteString(kernel)
	put([]uint32{uint32(l.grid), uint32(l.block), uint32(len(args))})
	for _, a := range args {
		switch v := a.(type) {
		case int:
			in.WriteByte('i')
			put(int32(v))
		case float32:
			in.WriteByte('f')
			put(v)
		case float64:
			in.WriteByte('d')
			put(v)
		case []float32:
			in.WriteByte('F')
			put(int32(len(v)))
			put(v)
		case []int32:
			in.WriteByte('I')
			put(int32(len(v)))
			put(v)
		case null:
			in.WriteByte('F')
			put(int32(-1))
		default:
			t.Fatalf("%s: argument of type %T", kernel, a)
		}
	}
	// A deadlocked launch fails shortly before go test's -timeout, with its name.
	cmd := exec.CommandContext(deadline.Context(t), harness.bin)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &in, &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s<<<%d, %d>>>: %v\n%s", kernel, l.grid, l.block, err, stderr.Bytes())
	}
	for i, a := range args {
		var dst any
		want := int32(-1)
		switch v := a.(type) {
		case []float32:
			dst, want = v, int32(len(v))
		case []int32:
			dst, want = v, int32(len(v))
		case null:
		default:
			continue
		}
		var n int32
		if err := binary.Read(&out, binary.LittleEndian, &n); err != nil || n != want {
			t.Fatalf("%s: argument %d came back with %d elements (%v), want %d", kernel, i, n, err, want)
		}
		if dst != nil {
			if err := binary.Read(&out, binary.LittleEndian, dst); err != nil {
				t.Fatalf("%s: argument %d: %v", kernel, i, err)
			}
		}
	}
}

// runEach runs kernel once per launch, each on its own copy of args, and returns the copies.
func runEach(t *testing.T, kernel string, launches []launch, args ...any) [][]any {
	t.Helper()
	var res [][]any
	for _, l := range launches {
		c := make([]any, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case []float32:
				c[i] = slices.Clone(v)
			case []int32:
				c[i] = slices.Clone(v)
			default:
				c[i] = a
			}
		}
		run(t, kernel, l, c...)
		res = append(res, c)
	}
	return res
}

// gridStride runs a grid-stride kernel over n elements under each of gridStrideLaunches(n): the
// results must agree bit for bit, and are left in args.
func gridStride(t *testing.T, kernel string, n int, args ...any) {
	t.Helper()
	launches := gridStrideLaunches(n)
	res := runEach(t, kernel, launches, args...)
	for i, a := range args {
		switch v := a.(type) {
		case []float32:
			for _, r := range res[1:] {
				if j := firstBitDiff(res[0][i].([]float32), r[i].([]float32)); j >= 0 {
					t.Errorf("%s: launches %v and %v differ in argument %d at %d", kernel, launches[0], launches[1], i, j)
				}
			}
			copy(v, res[0][i].([]float32))
		case []int32:
			if !slices.Equal(res[0][i].([]int32), res[1][i].([]int32)) {
				t.Errorf("%s: launches %v and %v differ in argument %d", kernel, launches[0], launches[1], i)
			}
			copy(v, res[0][i].([]int32))
		}
	}
}

func firstBitDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// Comparisons.

// tolerance is how close a kernel's result must be to the CPU backend's.
type tolerance float64

const (
	bitwise tolerance = -1   // the same bits
	exact   tolerance = 0    // equal, or both NaN
	rel     tolerance = 1e-6 // within 1e-6 of the largest |value| of the tensor
)

func (tol tolerance) String() string {
	switch tol {
	case bitwise:
		return "bitwise"
	case exact:
		return "exact"
	}
	return fmt.Sprintf("%g relative", float64(tol))
}

// worst is the largest error per kernel over the whole run.
var worst = struct {
	sync.Mutex
	err map[string]float64
}{err: map[string]float64{}}

// checker compares one test's results and logs the largest error per kernel when it ends.
type checker struct {
	t     *testing.T
	err   map[string]float64
	order []string
}

func newChecker(t *testing.T) *checker {
	t.Helper()
	if errors.Is(harness.err, errNoCompiler) {
		t.Skip(harness.err)
	}
	if harness.err != nil {
		t.Fatal(harness.err)
	}
	t.Parallel() // a harness run mostly waits on its threads' wakeups: two at a time use both cores
	c := &checker{t: t, err: map[string]float64{}}
	t.Cleanup(func() {
		for _, k := range c.order {
			t.Logf("%-34s largest error %.3g", k, c.err[k])
		}
	})
	return c
}

// record notes err for each kernel of key ("a+b" for a result two kernels made together).
func (c *checker) record(key string, err float64) {
	worst.Lock()
	defer worst.Unlock()
	for _, k := range strings.Split(key, "+") {
		if _, ok := c.err[k]; !ok {
			c.order = append(c.order, k)
		}
		c.err[k] = max(c.err[k], err)
		worst.err[k] = max(worst.err[k], err)
	}
}

// floats checks a result of the kernels in key against the CPU backend's.
func (c *checker) floats(key, what string, got, want []float32, tol tolerance) {
	c.t.Helper()
	if len(got) != len(want) {
		c.t.Fatalf("%s: %s has %d values, want %d", key, what, len(got), len(want))
	}
	err, at := relError(got, want)
	c.record(key, err)
	switch tol {
	case bitwise:
		at = firstBitDiff(got, want)
	case exact:
		at = -1
		for i := range got {
			if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
				at = i
				break
			}
		}
	default:
		if err <= float64(tol) {
			at = -1
		}
	}
	if at >= 0 {
		c.t.Errorf("%s: %s[%d] = %v (%#08x), want %v (%#08x); largest error %.3g, tolerance %v",
			key, what, at, got[at], math.Float32bits(got[at]), want[at], math.Float32bits(want[at]), err, tol)
	}
}

// ints checks an integer result exactly.
func (c *checker) ints(key, what string, got, want []int32) {
	c.t.Helper()
	c.record(key, 0)
	for i := range want {
		if got[i] != want[i] {
			c.t.Errorf("%s: %s[%d] = %d, want %d", key, what, i, got[i], want[i])
			return
		}
	}
}

// relError is the largest |got − want| relative to the largest finite |want| (1 if all are 0),
// infinite where NaN or an infinity is not matched, and where it is.
func relError(got, want []float32) (float64, int) {
	scale := 0.0
	for _, w := range want {
		if !math.IsInf(float64(w), 0) && w == w {
			scale = max(scale, math.Abs(float64(w)))
		}
	}
	if scale == 0 {
		scale = 1
	}
	err, at := 0.0, 0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		var e float64
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			if math.IsNaN(w) != math.IsNaN(g) {
				e = math.Inf(1)
			}
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			if g != w {
				e = math.Inf(1)
			}
		default:
			e = math.Abs(g-w) / scale
		}
		if e > err {
			err, at = e, i
		}
	}
	return err, at
}

// The CPU backend.

var host = cpu.New()

func hostBuf(data []float32) backend.Buffer {
	b, _ := host.Alloc(len(data))
	host.Upload(b, data)
	return b
}

func floatsOf(b backend.Buffer) []float32 { return slices.Clone(b.(*cpu.Buffer).Floats()) }

// intsOf reads an ops.I32 tensor.
func intsOf(b backend.Buffer) []int32 {
	f := b.(*cpu.Buffer).Floats()
	out := make([]int32, len(f))
	for i, v := range f {
		out[i] = int32(math.Float32bits(v))
	}
	return out
}

// cpuOp is one op compiled by the CPU backend, with its buffers.
type cpuOp struct {
	t      *testing.T
	shapes []ops.Shape
	kernel backend.Kernel
	in     []backend.Buffer
	out    backend.Buffer
	saved  []backend.Buffer
	ws     backend.Buffer
}

func newCPUOp(t *testing.T, op ops.Op, shapes []ops.Shape, inputs ...[]float32) *cpuOp {
	t.Helper()
	out, err := op.OutputShape(shapes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := host.Compile(op, shapes)
	if err != nil {
		t.Fatal(err)
	}
	r := &cpuOp{t: t, shapes: shapes, kernel: k, out: hostBuf(garbage(out.Size())), ws: hostBuf(garbage(k.Workspace()))}
	for _, in := range inputs {
		r.in = append(r.in, hostBuf(in))
	}
	for _, s := range op.Saved(shapes) {
		r.saved = append(r.saved, hostBuf(garbage(s.Shape.Size())))
	}
	return r
}

func (r *cpuOp) forward() []float32 {
	r.t.Helper()
	if err := r.kernel.Forward(backend.Args{In: r.in, Out: r.out, Saved: r.saved, Workspace: r.ws}); err != nil {
		r.t.Fatal(err)
	}
	return floatsOf(r.out)
}

func (r *cpuOp) backward(wrt int, dOut []float32) []float32 {
	r.t.Helper()
	dIn := hostBuf(garbage(r.shapes[wrt].Size()))
	a := backend.Args{In: r.in, Out: r.out, Saved: r.saved, Workspace: r.ws, DOut: hostBuf(dOut), DIn: dIn}
	if err := r.kernel.Backward(wrt, a); err != nil {
		r.t.Fatal(err)
	}
	return floatsOf(dIn)
}

// Data.

// garbage is n NaNs: what a kernel writes must not depend on what was there.
func garbage(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return x
}

func uniform(rng *rand.Rand, n int, lo, hi float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = lo + (hi-lo)*rng.Float32()
	}
	return x
}

func classes(rng *rand.Rand, n, k int) []float32 {
	t := make([]float32, n)
	for i := range t {
		t[i] = float32(rng.IntN(k))
	}
	return t
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

var (
	nan    = float32(math.NaN())
	negNaN = math.Float32frombits(0xffc00000)
	inf    = float32(math.Inf(1))
	negZ   = float32(math.Copysign(0, -1))
)

// specials are the values elementwise kernels must pass through as the CPU backend does.
var specials = []float32{0, negZ, nan, negNaN, inf, -inf, 1e-40, -1e-40, math.MaxFloat32, -math.MaxFloat32, 1, -1}

// The tests.

func TestFill(t *testing.T) {
	c := newChecker(t)
	for _, v := range []float32{-2.5, 0, nan} {
		want := hostBuf(make([]float32, 1000))
		host.Fill(want, v)
		x := garbage(1000)
		gridStride(t, "fill_f32", len(x), x, len(x), v)
		c.floats("fill_f32", fmt.Sprint("fill ", v), x, floatsOf(want), bitwise)
	}
}

func TestReLU(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	x := append(slices.Clone(specials), uniform(rng, 1000, -1, 1)...)
	n := len(x)
	cpuRelu := newCPUOp(t, ops.Op{Kind: ops.ReLU}, []ops.Shape{{n}}, x)
	y := garbage(n)
	gridStride(t, "relu_forward", n, x, y, n)
	c.floats("relu_forward", "y", y, cpuRelu.forward(), exact)

	// Backward on every special as y (−0 and −NaN too, which ReLU never outputs) and as dy.
	out := append(slices.Clone(specials), uniform(rng, 1000, -1, 1)...)
	dy := append(uniform(rng, len(specials), -1, 1), specials...)
	dy = append(dy, uniform(rng, n-len(dy), -1, 1)...)
	cpuRelu.out = hostBuf(out)
	dx := garbage(n)
	gridStride(t, "relu_backward", n, out, dy, dx, n)
	c.floats("relu_backward", "dx", dx, cpuRelu.backward(0, dy), bitwise)
}

func TestLinear(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	for _, s := range []struct{ n, in, out int }{{8, 50, 10}, {8, 400, 120}, {8, 84, 10}} {
		x, w, b := uniform(rng, s.n*s.in, -1, 1), uniform(rng, s.out*s.in, -1, 1), uniform(rng, s.out, -1, 1)
		dy := uniform(rng, s.n*s.out, -1, 1)
		ref := newCPUOp(t, ops.Op{Kind: ops.Linear}, []ops.Shape{{s.n, s.in}, {s.out, s.in}, {s.out}}, x, w, b)
		what := fmt.Sprintf("(%d,%d)->%d", s.n, s.in, s.out)

		// y = bias rows (exactly b on every row), then y += x·Wᵀ (cuBLAS's
		// part, here sgemm, whose order of additions may differ from the
		// CPU op's: DotRows for few outputs).
		y := garbage(s.n * s.out)
		gridStride(t, "bias_rows", len(y), b, y, s.n, s.out)
		rows := make([]float32, 0, len(y))
		for range s.n {
			rows = append(rows, b...)
		}
		c.floats("bias_rows", what+" bias", y, rows, exact)
		sgemm.Gemm(false, true, s.n, s.out, s.in, 1, x, s.in, w, s.in, 1, y, s.out)
		c.floats("bias_rows", what+" y", y, ref.forward(), rel)

		db := garbage(s.out)
		gridStride(t, "sum_rows", s.out, dy, db, s.n, s.out)
		c.floats("sum_rows", what+" db", db, ref.backward(2, dy), exact)
	}
}

func TestConv2d(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	for _, s := range []struct {
		name                     string
		n, cin, h, w, cout, k, p int
	}{
		{"mnist conv1", 2, 1, 28, 28, 6, 5, 0},
		{"lenet conv1", 2, 3, 32, 32, 6, 5, 0},
		{"lenet conv2", 2, 6, 14, 14, 16, 5, 0},
		{"vgg conv", 4, 8, 8, 8, 16, 3, 1},
	} {
		ho, wo := s.h+2*s.p-s.k+1, s.w+2*s.p-s.k+1
		px := ho * wo
		rows, cols := s.cin*s.k*s.k, s.n*px
		x := uniform(rng, s.n*s.cin*s.h*s.w, -1, 1)
		w := uniform(rng, s.cout*rows, -1, 1)
		b := uniform(rng, s.cout, -1, 1)
		dy := uniform(rng, s.n*s.cout*px, -1, 1)
		ref := newCPUOp(t, ops.Op{Kind: ops.Conv2d, KernelSize: s.k, Padding: s.p},
			[]ops.Shape{{s.n, s.cin, s.h, s.w}, {s.cout, s.cin, s.k, s.k}, {s.cout}}, x, w, b)

		// Forward: unfold, W·col, move to (N, Cout, H, W) adding the bias.
		col := garbage(rows * cols)
		gridStride(t, "im2col", len(col), x, col, s.n, s.cin, s.h, s.w, s.k, s.p, ho, wo)
		prod := make([]float32, s.cout*cols)
		sgemm.Gemm(false, false, s.cout, cols, rows, 1, w, rows, col, cols, 0, prod, cols)
		y := garbage(s.n * s.cout * px)
		gridStride(t, "cn_to_nchw", len(y), prod, b, y, s.n, s.cout, px)
		c.floats("im2col+cn_to_nchw", s.name+" y", y, ref.forward(), exact)

		// A NULL bias adds 0.
		yNull, yZero := garbage(len(y)), garbage(len(y))
		gridStride(t, "cn_to_nchw", len(y), prod, null{}, yNull, s.n, s.cout, px)
		gridStride(t, "cn_to_nchw", len(y), prod, make([]float32, s.cout), yZero, s.n, s.cout, px)
		c.floats("cn_to_nchw", s.name+" y without bias", yNull, yZero, bitwise)

		// cuDNN's path: the convolution alone, then the bias added in place.
		yBias := slices.Clone(yNull)
		gridStride(t, "channel_bias_add", len(yBias), yBias, b, s.n, s.cout, px)
		c.floats("channel_bias_add", s.name+" y", yBias, ref.forward(), exact)

		// dx: dy as (Cout, N·H·W), Wᵀ·dy, folded back.
		dyc := garbage(s.cout * cols)
		gridStride(t, "nchw_to_cn", len(dyc), dy, dyc, s.n, s.cout, px)
		colGrad := make([]float32, rows*cols)
		sgemm.Gemm(true, false, rows, cols, s.cout, 1, w, rows, dyc, cols, 0, colGrad, cols)
		dx := garbage(len(x))
		gridStride(t, "col2im", len(dx), colGrad, dx, s.n, s.cin, s.h, s.w, s.k, s.p, ho, wo)
		c.floats("nchw_to_cn+col2im", s.name+" dx", dx, ref.backward(0, dy), exact)

		// dW = dy·colᵀ over the whole batch at once; the CPU sums per worker, so the order of the
		// sum differs.
		dw := make([]float32, s.cout*rows)
		sgemm.Gemm(false, true, s.cout, rows, cols, 1, dyc, cols, col, cols, 0, dw, rows)
		c.floats("conv dW (im2col, nchw_to_cn, Gemm)", s.name+" dW", dw, ref.backward(1, dy), rel)

		// db: slices of each channel summed, then the slices in order; 1, 3 and the backend's
		// most (64) slices, under two launches of the per-slice kernel. (TestBatchNorm has empty
		// slices: split_range is shared.)
		wantDb := ref.backward(2, dy)
		for _, splits := range []int{1, 3, 64} {
			for _, l := range []launch{{s.cout * splits, 256}, {2, 32}} {
				partials, db := garbage(s.cout*splits), garbage(s.cout)
				run(t, "channel_partials", l, dy, partials, s.n, s.cout, px, splits)
				gridStride(t, "sum_rows", s.cout, partials, db, splits, s.cout)
				c.floats("channel_partials", fmt.Sprintf("%s db, %d splits, %v", s.name, splits, l), db, wantDb, rel)
			}
		}
	}
}

func TestMaxPool(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	type pool struct {
		name              string
		n, ch, h, w, size int
		x                 []float32 // nil: random
	}
	cases := []pool{
		{"mnist", 2, 6, 24, 24, 2, nil},
		{"lenet", 2, 16, 10, 10, 2, nil},
		{"size 3, ragged edges", 2, 4, 7, 8, 3, nil},
	}
	// Ties, NaN (of either sign, several per window) and −inf everywhere, from a few values;
	// window 0 all −inf (its first index wins), window 1 with two NaNs (the last wins).
	for _, size := range []int{2, 3} {
		h, w := 3*size+1, 4*size
		x := make([]float32, 2*h*w)
		for i := range x {
			x[i] = []float32{-inf, -1, 2, 2, nan, negNaN}[rng.IntN(6)]
		}
		for j := range size {
			for i := range size {
				x[j*w+i] = -inf
				x[j*w+size+i] = 1
			}
		}
		x[size], x[(size-1)*w+2*size-1] = nan, negNaN
		cases = append(cases, pool{fmt.Sprintf("ties and NaN, size %d", size), 1, 2, h, w, size, x})
	}
	for _, s := range cases {
		x := s.x
		if x == nil {
			x = uniform(rng, s.n*s.ch*s.h*s.w, -1, 1)
		}
		planes, ho, wo := s.n*s.ch, s.h/s.size, s.w/s.size
		ref := newCPUOp(t, ops.Op{Kind: ops.MaxPool2d, Size: s.size}, []ops.Shape{{s.n, s.ch, s.h, s.w}}, x)
		y, argmax := garbage(planes*ho*wo), make([]int32, planes*ho*wo)
		for i := range argmax {
			argmax[i] = -7
		}
		gridStride(t, "maxpool_forward", len(y), x, y, argmax, planes, s.h, s.w, s.size)
		c.floats("maxpool_forward", s.name+" y", y, ref.forward(), exact)
		c.ints("maxpool_forward", s.name+" argmax", argmax, intsOf(ref.saved[0]))

		dy := uniform(rng, len(y), -1, 1)
		dx := garbage(len(x))
		gridStride(t, "maxpool_backward", len(dx), dy, argmax, dx, planes, s.h, s.w, s.size)
		c.floats("maxpool_backward", s.name+" dx", dx, ref.backward(0, dy), exact)
	}
}

// logits is (n, 10) scores with the awkward rows first: large values, ties, a −inf.
func logits(rng *rand.Rand, n int) []float32 {
	x := uniform(rng, n*10, -5, 5)
	for j := range 10 {
		x[j] = 90 + float32(j)   // exp(x) overflows float32
		x[10+j] = 0.25           // all tied
		x[20+j] = float32(j) - 4 // a −inf below
	}
	x[25] = -inf
	return x
}

func TestLogSoftmax(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	for _, n := range []int{8, 300} {
		const k = 10
		x := logits(rng, n)
		x[35] = nan // the whole row becomes NaN, as Go's max propagates it
		ref := newCPUOp(t, ops.Op{Kind: ops.LogSoftmax}, []ops.Shape{{n, k}}, x)
		want := ref.forward()
		y := garbage(n * k)
		gridStride(t, "log_softmax_forward", n, x, y, n, k)
		c.floats("log_softmax_forward", fmt.Sprintf("(%d,%d) y", n, k), y, want, rel)

		dy := uniform(rng, n*k, -1, 1)
		dx := garbage(n * k)
		gridStride(t, "log_softmax_backward", n, want, dy, dx, n, k)
		c.floats("log_softmax_backward", fmt.Sprintf("(%d,%d) dx", n, k), dx, ref.backward(0, dy), rel)
	}
}

func TestClassLoss(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	const k = 10
	for _, n := range []int{8, 300} {
		for _, fromLogits := range []bool{false, true} {
			kind, fromLogitsArg := ops.NLLLoss, 0
			x := logits(rng, n)
			if fromLogits {
				kind, fromLogitsArg = ops.CrossEntropyLoss, 1
			} else { // NLLLoss reads log-probabilities
				x = newCPUOp(t, ops.Op{Kind: ops.LogSoftmax}, []ops.Shape{{n, k}}, x).forward()
			}
			targets := classes(rng, n, k)
			targets[1], targets[2] = negZ, k-1 // −0 is class 0
			name := fmt.Sprintf("%s (%d,%d)", kind, n, k)
			ref := newCPUOp(t, ops.Op{Kind: kind}, []ops.Shape{{n, k}, {n}}, x, targets)
			wantLoss := ref.forward()

			var logp any = null{}
			if fromLogits {
				logp = garbage(n * k)
			}
			res := runEach(t, "class_loss_forward", singleBlockLaunches, x, targets, logp, garbage(1), []int32{0}, n, k, fromLogitsArg)
			for i, r := range res {
				what := fmt.Sprintf("%s %v", name, singleBlockLaunches[i])
				c.floats("class_loss_forward", what+" loss", r[3].([]float32), wantLoss, rel)
				if fromLogits {
					c.floats("class_loss_forward", what+" logp", r[2].([]float32), floatsOf(ref.saved[0]), rel)
				}
				c.ints("class_loss_forward", what+" bad", r[4].([]int32), []int32{0})
			}

			var savedLogp any = null{}
			if fromLogits {
				savedLogp = floatsOf(ref.saved[0])
			}
			dloss := []float32{0.7}
			dx := garbage(n * k)
			gridStride(t, "class_loss_backward", n*k, savedLogp, targets, dloss, dx, n, k, fromLogitsArg)
			c.floats("class_loss_backward", name+" dx", dx, ref.backward(0, dloss), rel)
		}
	}

	// An invalid target sets bad to the smallest such sample index + 1, whichever thread sees it.
	const n = 300
	x := logits(rng, n)
	for i, v := range []float32{k, 2.5, nan, -1, -0.5, inf, 1e10} {
		targets := classes(rng, n, k)
		targets[290], targets[150] = v, v
		fromLogits := i % 2
		for j, r := range runEach(t, "class_loss_forward", singleBlockLaunches, x, targets, garbage(n*k), garbage(1), []int32{0}, n, k, fromLogits) {
			c.ints("class_loss_forward", fmt.Sprintf("bad for target %v, from_logits %d, %v", v, fromLogits, singleBlockLaunches[j]), r[4].([]int32), []int32{151})
		}
	}
}

// TestBatchNorm runs the BatchNorm kernels in the order the backend chains them, with channels
// split over 1, 3, 7 and more slices than they have values (empty slices), under two launches
// of the per-slice kernels, against the CPU backend's op.
func TestBatchNorm(t *testing.T) {
	t.Parallel()
	const eps, momentum = 1e-5, 0.1
	for _, s := range []struct{ n, c, h, w, splits int }{{4, 16, 8, 8, 1}, {4, 16, 8, 8, 3}, {5, 3, 9, 9, 7}, {2, 2, 2, 2, 16}} {
		for _, mode := range []ops.BNMode{ops.BNTrain, ops.BNEval, ops.BNBatchStats} {
			t.Run(fmt.Sprintf("(%d,%d,%d,%d) %d splits %s", s.n, s.c, s.h, s.w, s.splits, mode), func(t *testing.T) {
				c := newChecker(t)
				rng := newRand()
				hw, m, work := s.h*s.w, s.n*s.h*s.w, s.c*s.splits
				shapes := []ops.Shape{{s.n, s.c, s.h, s.w}, {s.c}, {s.c}, {s.c}, {s.c}, {1}}
				x := uniform(rng, s.n*s.c*hw, -2, 3)
				gamma, beta := uniform(rng, s.c, 0.5, 1.5), uniform(rng, s.c, -0.5, 0.5)
				runMean, runVar, counter := uniform(rng, s.c, -0.2, 0.2), uniform(rng, s.c, 0.5, 1.5), []float32{3}
				dy := uniform(rng, len(x), -1, 1)
				ref := newCPUOp(t, ops.Op{Kind: ops.BatchNorm2d, Eps: eps, Momentum: momentum, Mode: mode}, shapes,
					slices.Clone(x), gamma, beta, slices.Clone(runMean), slices.Clone(runVar), slices.Clone(counter))
				wantY := ref.forward()
				for _, l := range []launch{{work, 256}, {2, 32}} {
					what := fmt.Sprint(l, " ")
					rm, rv, cnt := slices.Clone(runMean), slices.Clone(runVar), slices.Clone(counter)
					y, mean, invstd := garbage(len(x)), garbage(s.c), garbage(s.c)
					partials, stats := garbage(4*work), garbage(4*s.c)
					stat := func(step int) {
						gridStride(t, "bn_stats", s.c, partials, stats, gamma, beta, rm, rv, cnt, mean, invstd,
							s.c, s.splits, m, float64(eps), float64(momentum), int(mode), step)
					}
					if mode == ops.BNEval {
						stat(1)
					} else {
						for step := range 2 {
							run(t, "bn_partials", l, x, stats, partials, s.n, s.c, hw, s.splits, step)
							stat(step)
						}
						c.floats("bn_partials", what+"mean", mean, floatsOf(ref.saved[0]), rel)
					}
					gridStride(t, "bn_normalize", len(x), x, stats, y, s.n, s.c, hw)
					c.floats("bn_normalize", what+"y", y, wantY, rel)
					c.floats("bn_stats", what+"mean", mean, floatsOf(ref.saved[0]), rel)
					c.floats("bn_stats", what+"invstd", invstd, floatsOf(ref.saved[1]), rel)
					c.floats("bn_stats", what+"running_mean", rm, floatsOf(ref.in[3]), rel)
					c.floats("bn_stats", what+"running_var", rv, floatsOf(ref.in[4]), rel)
					c.floats("bn_stats", what+"num_batches_tracked", cnt, floatsOf(ref.in[5]), exact)

					// Backward from the CPU's saved statistics; γ is read for dx only.
					mean, invstd = floatsOf(ref.saved[0]), floatsOf(ref.saved[1])
					for wrt, size := range []int{len(x), s.c, s.c} {
						want := ref.backward(wrt, dy)
						out, sums := garbage(size), garbage(4*s.c)
						if wrt != 0 || mode != ops.BNEval {
							partials := garbage(4 * work)
							run(t, "bn_grad_partials", l, x, dy, mean, invstd, partials, s.n, s.c, hw, s.splits)
							var dst any = null{} // dx's sums stay in sums
							if wrt != 0 {
								dst = out
							}
							gridStride(t, "bn_grad_sums", s.c, partials, sums, dst, s.c, s.splits, wrt)
						}
						name := "bn_grad_sums"
						if wrt == 0 {
							name = "bn_grad_input"
							gridStride(t, name, len(x), x, gamma, dy, mean, invstd, sums, out, s.n, s.c, hw, int(mode))
						}
						c.floats(name, fmt.Sprint(what, "wrt ", wrt), out, want, rel)
						if wrt != 0 || mode != ops.BNEval {
							c.floats("bn_grad_partials", fmt.Sprint(what, "wrt ", wrt), out, want, rel)
						}
					}
				}
			})
		}
	}
}

// packed lays out tensors of the given sizes in one float slice, buffer j of every tensor before
// buffer j+1 (so a tensor's buffers lie far apart, as on a GPU), and the multi-tensor kernels'
// table: per tensor the element offsets of its buffers from the slice's start (two ints each, low
// word first) and its length, padded to rowInts.
type packed struct {
	mem   []float32
	table []int32
	at    [][]int // at[k][j]: offset of tensor k's buffer j
	sizes []int
}

func pack(sizes []int, buffers, rowInts int) *packed {
	p := &packed{sizes: sizes, at: make([][]int, len(sizes))}
	for range buffers {
		for k := len(sizes) - 1; k >= 0; k-- {
			p.at[k] = append(p.at[k], len(p.mem))
			p.mem = append(p.mem, make([]float32, sizes[k])...)
		}
	}
	for k, n := range sizes {
		row := make([]int32, rowInts)
		for j, off := range p.at[k] {
			row[2*j], row[2*j+1] = int32(uint32(off)), int32(uint64(off)>>32)
		}
		row[2*buffers] = int32(n)
		p.table = append(p.table, row...)
	}
	return p
}

// buf is tensor k's buffer j.
func (p *packed) buf(k, j int) []float32 { return p.mem[p.at[k][j] : p.at[k][j]+p.sizes[k]] }

// The multi-tensor SGD against the CPU backend's per tensor: three steps, three tensors of odd sizes.
func TestSGD(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	sizes := []int{1000, 7, 300}
	for _, s := range []struct{ momentum, wd float32 }{{0, 0}, {0, 1e-4}, {0.9, 0}, {0.9, 5e-4}} {
		pk := pack(sizes, 3, 8) // p, g, v
		var hp, hv []backend.Buffer
		for k := range sizes {
			copy(pk.buf(k, 0), uniform(rng, sizes[k], -1, 1))
			copy(pk.buf(k, 2), garbage(sizes[k])) // the first step overwrites v (or never reads it)
			hp, hv = append(hp, hostBuf(pk.buf(k, 0))), append(hv, hostBuf(make([]float32, sizes[k])))
		}
		for step := range 3 {
			first := step == 0
			for k := range sizes {
				g := uniform(rng, sizes[k], -1, 1)
				copy(pk.buf(k, 1), g)
				if err := host.SGD(hp[k], hostBuf(g), hv[k], ops.SGDStep{LR: 0.01, Momentum: s.momentum, WeightDecay: s.wd, First: first}); err != nil {
					t.Fatal(err)
				}
			}
			firstFlag := 0
			if first {
				firstFlag = 1
			}
			gridStride(t, "sgd_steps", slices.Max(sizes), pk.mem, pk.table, len(sizes), float32(0.01), s.momentum, s.wd, firstFlag)
			for k := range sizes {
				what := fmt.Sprintf("momentum %g, weight decay %g, step %d, tensor %d ", s.momentum, s.wd, step+1, k)
				c.floats("sgd_steps", what+"p", pk.buf(k, 0), floatsOf(hp[k]), rel)
				if s.momentum != 0 {
					c.floats("sgd_steps", what+"v", pk.buf(k, 2), floatsOf(hv[k]), rel)
				}
			}
		}
	}
}

// The multi-tensor Adam against the CPU backend's per tensor.
func TestAdam(t *testing.T) {
	c := newChecker(t)
	rng := newRand()
	sizes := []int{1000, 7, 300}
	const lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
	for _, wd := range []float32{0, 0.01} {
		pk := pack(sizes, 4, 10) // p, g, m, v
		var hp, hm, hv []backend.Buffer
		for k := range sizes {
			copy(pk.buf(k, 0), uniform(rng, sizes[k], -1, 1))
			hp = append(hp, hostBuf(pk.buf(k, 0)))
			hm, hv = append(hm, hostBuf(make([]float32, sizes[k]))), append(hv, hostBuf(make([]float32, sizes[k])))
		}
		for step := 1; step <= 3; step++ {
			// The host's scalars, as optim.Adam works them out.
			bc1, bc2 := 1-math.Pow(beta1, float64(step)), 1-math.Pow(beta2, float64(step))
			s := ops.AdamStep{Beta1: beta1, OneMinusBeta1: float32(1 - beta1), Beta2: beta2, OneMinusBeta2: float32(1 - beta2),
				NegStepSize: float32(-(lr / bc1)), BiasCorrection2Sqrt: float32(math.Sqrt(bc2)), Eps: eps, WeightDecay: wd}
			for k := range sizes {
				g := uniform(rng, sizes[k], -1, 1)
				copy(pk.buf(k, 1), g)
				if err := host.Adam(hp[k], hostBuf(g), hm[k], hv[k], s); err != nil {
					t.Fatal(err)
				}
			}
			gridStride(t, "adam_steps", slices.Max(sizes), pk.mem, pk.table, len(sizes), s.Beta1, s.OneMinusBeta1, s.Beta2, s.OneMinusBeta2,
				s.NegStepSize, s.BiasCorrection2Sqrt, s.Eps, s.WeightDecay)
			for k := range sizes {
				what := fmt.Sprintf("weight decay %g, step %d, tensor %d ", wd, step, k)
				c.floats("adam_steps", what+"p", pk.buf(k, 0), floatsOf(hp[k]), rel)
				c.floats("adam_steps", what+"m", pk.buf(k, 2), floatsOf(hm[k]), rel)
				c.floats("adam_steps", what+"v", pk.buf(k, 3), floatsOf(hv[k]), rel)
			}
		}
	}
}
