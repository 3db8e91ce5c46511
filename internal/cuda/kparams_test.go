package cuda

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cnntrain/cnntrain/internal/cuda/kernels"
)

// ptxTools finds NVIDIA's ptxas and cuobjdump: in $CNNTRAIN_PTXAS_DIR, else
// in ~/.cache/ptxas/bin, where `make ptx` and .ci/run fetch them
// (../shared/tools/get-ptxas); without them the test is skipped, loudly.
func ptxTools(t *testing.T) (ptxas, cuobjdump string) {
	t.Helper()
	dir := os.Getenv("CNNTRAIN_PTXAS_DIR")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "ptxas", "bin")
		}
	}
	ptxas, cuobjdump = filepath.Join(dir, "ptxas"), filepath.Join(dir, "cuobjdump")
	if !fileExists(ptxas) || !fileExists(cuobjdump) {
		t.Skipf("*** NO PTXAS: ptxas and cuobjdump not in %q (set CNNTRAIN_PTXAS_DIR, or run "+
			"../shared/tools/get-ptxas ~/.cache/ptxas): the kernels' parameter sizes are NOT checked against their launches ***", dir)
	}
	return ptxas, cuobjdump
}

// kparamInfo parses `cuobjdump -elf`: each kernel's parameter sizes by
// ordinal, from the EIATTR_KPARAM_INFO attributes of its .nv.info section.
func kparamInfo(t *testing.T, elf string) map[string][]int {
	t.Helper()
	section := regexp.MustCompile(`^\.nv\.info\.(\w+)\s*$`)
	param := regexp.MustCompile(`Ordinal\s*:\s*0x([0-9a-f]+)\s+Offset\s*:\s*0x([0-9a-f]+)\s+Size\s*:\s*0x([0-9a-f]+)`)
	sizes := map[string]map[int]int{}
	kernel, inParam := "", false
	sc := bufio.NewScanner(strings.NewReader(elf))
	for sc.Scan() {
		line := sc.Text()
		if m := section.FindStringSubmatch(line); m != nil {
			kernel, sizes[m[1]] = m[1], map[int]int{}
			continue
		}
		if strings.Contains(line, "Attribute:") {
			inParam = strings.Contains(line, "EIATTR_KPARAM_INFO")
			continue
		}
		if m := param.FindStringSubmatch(line); m != nil && inParam && kernel != "" {
			ordinal, _ := strconv.ParseInt(m[1], 16, 64)
			size, _ := strconv.ParseInt(m[3], 16, 64)
			sizes[kernel][int(ordinal)] = int(size)
		}
	}
	out := map[string][]int{}
	for k, byOrdinal := range sizes {
		list := make([]int, len(byOrdinal))
		for ord, size := range byOrdinal {
			if ord >= len(list) {
				t.Fatalf("%s: parameter ordinals %v are not 0…%d", k, byOrdinal, len(list)-1)
			}
			list[ord] = size
		}
		out[k] = list
	}
	return out
}

// The parameter sizes NVIDIA's assembler gives each kernel (what the driver
// copies from each pointer in kernelParams) are what each launch site in Go
// passes: a pointer where the kernel takes an int, or a float where it
// takes a double, would compile, launch, and read garbage on a GPU (the
// emulator's kernels take the arguments as C++ does and cannot see it).
func TestKernelParameterSizesMatchTheLaunches(t *testing.T) {
	ptxas, cuobjdump := ptxTools(t)
	dir := t.TempDir()
	ptx, cubin := filepath.Join(dir, "kernels.ptx"), filepath.Join(dir, "kernels.cubin")
	if err := os.WriteFile(ptx, []byte(kernels.PTX), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ptxas, "-arch=sm_75", "-o", cubin, ptx).CombinedOutput(); err != nil {
		t.Fatalf("ptxas: %v\n%s", err, out)
	}
	elf, err := exec.Command(cuobjdump, "-elf", cubin).Output()
	if err != nil {
		t.Fatalf("cuobjdump -elf: %v", err)
	}
	want := kparamInfo(t, string(elf))
	for _, name := range kernels.Names {
		if _, ok := want[name]; !ok {
			t.Errorf("cuobjdump shows no parameters of %s", name)
		}
	}
	sites := launchSites(t)
	if len(sites) < 20 {
		t.Fatalf("found %d launch sites in the package's code, want every one", len(sites))
	}
	for _, s := range sites {
		for _, kernel := range s.kernels {
			params, ok := want[kernel]
			switch {
			case !ok:
				t.Errorf("%s: launches %s, which kernels.ptx lacks", s.pos, kernel)
			case !slices.Equal(s.sizes, params):
				t.Errorf("%s: launches %s with arguments of %v bytes; the kernel's parameters are %v bytes", s.pos, kernel, s.sizes, params)
			}
		}
	}
	if !t.Failed() {
		t.Logf("%d launch sites match the parameter sizes of %d kernels", len(sites), len(want))
	}
}

// A parsed cuobjdump listing is read as the kernels' parameter lists.
func TestKParamInfoParsing(t *testing.T) {
	elf := `
.nv.info.relu_forward
	<0x1>
	Attribute:	EIATTR_KPARAM_INFO
	Format:	EIFMT_SVAL
	Value:	Index : 0x0	Ordinal : 0x2	Offset  : 0x10	Size    : 0x4
	<0x2>
	Attribute:	EIATTR_KPARAM_INFO
	Format:	EIFMT_SVAL
	Value:	Index : 0x0	Ordinal : 0x1	Offset  : 0x8	Size    : 0x8
	<0x3>
	Attribute:	EIATTR_KPARAM_INFO
	Format:	EIFMT_SVAL
	Value:	Index : 0x0	Ordinal : 0x0	Offset  : 0x0	Size    : 0x8
	<0x4>
	Attribute:	EIATTR_MAXREG_COUNT
	Format:	EIFMT_HVAL
	Value:	0xff
`
	got := kparamInfo(t, elf)
	if want := []int{8, 8, 4}; !slices.Equal(got["relu_forward"], want) || len(got) != 1 {
		t.Errorf("parsed %v, want relu_forward %v", got, want)
	}
}

// launchSite is one call of launch, launchN or launchBlocks: the kernels it
// may launch (a name passed through a parameter can be several) and the
// size of each argument it passes.
type launchSite struct {
	pos     string
	kernels []string
	sizes   []int
}

// argConstructors are the functions that make a kernel argument of a size.
var argConstructors = map[string]int{"i32": 4, "f32": 4, "f64": 8, "ptr": 8}

// launchArgsFrom is where the kernel's arguments start in each launcher's
// parameters (after the name and the grid).
var launchArgsFrom = map[string]int{"launch": 3, "launchN": 2, "launchBlocks": 2}

// launchSites reads the package's code and finds, for each launch, what
// each argument is made by: following variables to what is assigned to
// them, parameters to what their callers pass, and calls to what the
// function returns, to the constructors i32, f32, f64 and ptr (a bare 0 is
// a null pointer or zero of any size). An argument made otherwise is an
// error: it must be made by one of those for its size to be known.
func launchSites(t *testing.T) []launchSite {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, file)
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}, Types: map[ast.Expr]types.TypeAndValue{}}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	if _, err := conf.Check("github.com/cnntrain/cnntrain/internal/cuda", fset, parsed, info); err != nil {
		t.Fatalf("type-checking the package: %v", err)
	}
	f := &flow{fset: fset, info: info, funcs: map[types.Object]*ast.FuncDecl{}, assigned: map[types.Object][]ast.Expr{}, passed: map[types.Object][]ast.Expr{}}
	f.index(parsed)
	var sites []launchSite
	for _, file := range parsed {
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || call.Ellipsis.IsValid() { // launchN passing its args... on
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			from, ok := launchArgsFrom[sel.Sel.Name]
			if !ok || len(call.Args) < from {
				return true
			}
			site := launchSite{pos: fset.Position(call.Pos()).String()}
			for _, leaf := range f.leaves(call.Args[0], nil) {
				if v := info.Types[leaf].Value; v != nil && v.Kind() == constant.String {
					site.kernels = append(site.kernels, constant.StringVal(v))
				} else {
					t.Errorf("%s: the kernel's name is not a constant (%s)", site.pos, f.show(leaf))
				}
			}
			for i, a := range call.Args[from:] {
				sizes := map[int]bool{}
				for _, leaf := range f.leaves(a, nil) {
					if size, ok := f.constructorSize(leaf); ok {
						sizes[size] = true
					} else if !isZero(info, leaf) {
						t.Errorf("%s: argument %d of %s (%s) is made by %s, not by i32, f32, f64 or ptr: its size cannot be known",
							site.pos, i, sel.Sel.Name, f.show(a), f.show(leaf))
					}
				}
				switch len(sizes) {
				case 1:
					for size := range sizes {
						site.sizes = append(site.sizes, size)
					}
				case 0:
					t.Errorf("%s: argument %d (%s) is only ever 0: make it by i32, f32, f64 or ptr", site.pos, i, f.show(a))
					site.sizes = append(site.sizes, 0)
				default:
					t.Errorf("%s: argument %d (%s) is of several sizes %v", site.pos, i, f.show(a), sizes)
					site.sizes = append(site.sizes, -1)
				}
			}
			sites = append(sites, site)
			return true
		})
	}
	return sites
}

// flow answers where a value in the package comes from.
type flow struct {
	fset     *token.FileSet
	info     *types.Info
	funcs    map[types.Object]*ast.FuncDecl
	assigned map[types.Object][]ast.Expr // a variable's assigned values (a call with several results: the call, see resultOf)
	passed   map[types.Object][]ast.Expr // a parameter's arguments at every call
	results  map[ast.Expr]int            // which result of a call an assignment takes
}

func (f *flow) obj(id *ast.Ident) types.Object {
	if o := f.info.Defs[id]; o != nil {
		return o
	}
	return f.info.Uses[id]
}

func (f *flow) callee(call *ast.CallExpr) types.Object {
	switch fn := call.Fun.(type) {
	case *ast.Ident:
		return f.info.Uses[fn]
	case *ast.SelectorExpr:
		return f.info.Uses[fn.Sel]
	}
	return nil
}

func (f *flow) index(files []*ast.File) {
	f.results = map[ast.Expr]int{}
	for _, file := range files {
		for _, d := range file.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				f.funcs[f.info.Defs[fd.Name]] = fd
			}
		}
	}
	for _, file := range files {
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.AssignStmt:
				f.assign(n.Lhs, n.Rhs)
			case *ast.ValueSpec:
				lhs := make([]ast.Expr, len(n.Names))
				for i, id := range n.Names {
					lhs[i] = id
				}
				f.assign(lhs, n.Values)
			case *ast.CallExpr:
				fd := f.funcs[f.callee(n)]
				if fd == nil {
					return true
				}
				var params []types.Object
				for _, field := range fd.Type.Params.List {
					for _, id := range field.Names {
						params = append(params, f.info.Defs[id])
					}
				}
				for i, a := range n.Args {
					if i < len(params) {
						f.passed[params[i]] = append(f.passed[params[i]], a)
					}
				}
			}
			return true
		})
	}
}

// resultExpr marks an assignment's value that is result i of a call.
type resultExpr struct {
	ast.Expr
	i int
}

func (f *flow) assign(lhs, rhs []ast.Expr) {
	for i, l := range lhs {
		id, ok := l.(*ast.Ident)
		if !ok || id.Name == "_" {
			continue
		}
		o := f.obj(id)
		switch {
		case len(rhs) == len(lhs):
			f.assigned[o] = append(f.assigned[o], rhs[i])
		case len(rhs) == 1:
			f.assigned[o] = append(f.assigned[o], resultExpr{rhs[0], i})
		}
	}
}

// leaves follows e back to the expressions that make it; seen holds the
// variables and functions being followed, against cycles.
func (f *flow) leaves(e ast.Expr, seen map[types.Object]bool) []ast.Expr {
	if seen == nil {
		seen = map[types.Object]bool{}
	}
	result := 0
	if r, ok := e.(resultExpr); ok {
		e, result = r.Expr, r.i
	}
	switch x := e.(type) {
	case *ast.ParenExpr:
		return f.leaves(x.X, seen)
	case *ast.BinaryExpr: // an address plus an offset
		return f.leaves(x.X, seen)
	case *ast.Ident:
		o := f.obj(x)
		if _, isVar := o.(*types.Var); !isVar {
			return []ast.Expr{x}
		}
		if seen[o] { // a cycle: its other paths tell
			return nil
		}
		seen[o] = true
		defer delete(seen, o)
		var out []ast.Expr
		for _, v := range append(slices.Clone(f.assigned[o]), f.passed[o]...) {
			out = append(out, f.leaves(v, seen)...)
		}
		return out
	case *ast.CallExpr:
		callee := f.callee(x)
		if _, ok := f.constructorSize(x); ok || callee == nil {
			return []ast.Expr{x}
		}
		fd := f.funcs[callee]
		if fd == nil {
			return []ast.Expr{x}
		}
		if seen[callee] { // recursion
			return nil
		}
		seen[callee] = true
		defer delete(seen, callee)
		var out []ast.Expr
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if _, ok := n.(*ast.FuncLit); ok {
				return false
			}
			if ret, ok := n.(*ast.ReturnStmt); ok && result < len(ret.Results) {
				out = append(out, f.leaves(ret.Results[result], seen)...)
			}
			return true
		})
		return out
	}
	return []ast.Expr{e}
}

func (f *flow) constructorSize(e ast.Expr) (int, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return 0, false
	}
	fn, ok := f.callee(call).(*types.Func)
	if !ok || fn.Pkg() == nil || fn.Pkg().Path() != "github.com/cnntrain/cnntrain/internal/cuda" {
		return 0, false
	}
	size, ok := argConstructors[fn.Name()]
	return size, ok
}

func isZero(info *types.Info, e ast.Expr) bool {
	v := info.Types[e].Value
	return v != nil && v.Kind() == constant.Int && constant.Sign(v) == 0
}

func (f *flow) show(e ast.Expr) string {
	if r, ok := e.(resultExpr); ok {
		e = r.Expr
	}
	return fmt.Sprintf("%s at %s", types.ExprString(e), f.fset.Position(e.Pos()))
}
