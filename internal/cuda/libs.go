package cuda

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
)

// Search says where NVIDIA's libraries are looked for. The zero value looks
// in the usual places: Dirs, then $CNNTRAIN_CUDA_LIBS, the loader's paths
// and `ldconfig -p`, $CUDA_HOME and /usr/local/cuda, and the nvidia/*/lib
// folders of Python installations (where PyTorch's wheels keep them). The
// driver is the exception (openSystem): after the folders named explicitly
// it is asked of the system's loader by its soname, as NVIDIA's own
// libraries load it.
type Search struct {
	// Dirs are searched first, in order.
	Dirs []string
	// OnlyDirs skips every other place (tests).
	OnlyDirs bool
}

// Library is one shared library found, or why not.
type Library struct {
	Name string `json:"name"`           // the name asked for, e.g. "libcublas.so.13"
	Path string `json:"path,omitempty"` // where it was loaded from
	// File is the file the library's code was mapped from (/proc/self/maps),
	// its links resolved, e.g. libcuda.so.580.65.06 for libcuda.so.1.
	File string `json:"file,omitempty"`
	// BySoname says the system's loader chose the file, asked for Name
	// (the driver, where no folder was named for it).
	BySoname bool     `json:"by_soname,omitempty"`
	Version  string   `json:"version,omitempty"`
	Missing  string   `json:"missing,omitempty"` // why it could not be used
	Tried    []string `json:"-"`
	handle   uintptr
}

// explicitDirs are the folders named for the libraries: Dirs and
// $CNNTRAIN_CUDA_LIBS, in order, without repeats.
func (s Search) explicitDirs() []string {
	out := uniqueDirs(nil, s.Dirs...)
	if s.OnlyDirs {
		return out
	}
	return uniqueDirs(out, filepath.SplitList(os.Getenv("CNNTRAIN_CUDA_LIBS"))...)
}

func uniqueDirs(out []string, ds ...string) []string {
	for _, d := range ds {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// dirs lists the folders to search, most specific first, without repeats.
func (s Search) dirs() []string {
	out := s.explicitDirs()
	if s.OnlyDirs {
		return out
	}
	add := func(ds ...string) { out = uniqueDirs(out, ds...) }
	add(filepath.SplitList(os.Getenv("LD_LIBRARY_PATH"))...)
	add(ldconfigDirs()...)
	add("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64", "/usr/lib/wsl/lib")
	for _, home := range []string{os.Getenv("CUDA_HOME"), os.Getenv("CUDA_PATH"), "/usr/local/cuda"} {
		if home != "" {
			add(filepath.Join(home, "lib64"), filepath.Join(home, "lib"), filepath.Join(home, "targets", "x86_64-linux", "lib"))
		}
	}
	add(wheelDirs()...)
	return out
}

var (
	ldconfigOnce  sync.Once
	ldconfigCache []string
)

// ldconfigDirs are the folders of the libraries `ldconfig -p` lists.
func ldconfigDirs() []string {
	ldconfigOnce.Do(func() {
		bin, err := exec.LookPath("ldconfig")
		if err != nil {
			bin = "/sbin/ldconfig"
		}
		out, err := exec.Command(bin, "-p").Output()
		if err != nil {
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if _, path, ok := strings.Cut(sc.Text(), " => "); ok {
				if d := filepath.Dir(strings.TrimSpace(path)); !slices.Contains(ldconfigCache, d) {
					ldconfigCache = append(ldconfigCache, d)
				}
			}
		}
	})
	return ldconfigCache
}

// wheelDirs are the nvidia/*/lib folders of Python site-packages: PyTorch's
// pip wheels install CUDA's libraries there, not system-wide. Besides an
// active virtual environment and the usual prefixes, the prefix of each
// python3 on PATH counts, so a venv that holds PyTorch is found without
// being activated (e.g. /opt/torch/.venv/bin/python3 on PATH).
func wheelDirs() []string {
	var roots []string
	prefixes := pythonPrefixes()
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		prefixes = append([]string{v}, prefixes...)
	}
	for _, p := range prefixes {
		roots = append(roots, filepath.Join(p, "lib", "python3*", "site-packages"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	roots = append(roots,
		"/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages",
		"/opt/conda/lib/python3*/site-packages", "/root/.pyenv/versions/*/lib/python3*/site-packages")
	var out []string
	for _, r := range roots {
		matches, _ := filepath.Glob(filepath.Join(r, "nvidia", "*", "lib"))
		for _, m := range matches {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// pythonPrefixes are the installation prefixes of the python3 and python
// programs on PATH: the folder above bin/, both as found (a venv's bin/python3
// is a link into the system's Python, and the venv is what holds the wheels)
// and with links resolved.
func pythonPrefixes() []string {
	var out []string
	add := func(bin string) {
		if p := filepath.Dir(filepath.Dir(bin)); p != "/" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		for _, name := range []string{"python3", "python"} {
			bin := filepath.Join(dir, name)
			if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
				continue
			}
			add(bin)
			if real, err := filepath.EvalSymlinks(bin); err == nil {
				add(real)
			}
		}
	}
	return out
}

// open loads the first of names found in the search folders, by absolute
// path (never by bare name, so what is loaded is what is reported).
func (s Search) open(names ...string) Library { return s.openWith(nil, names...) }

// openWith is open, calling before(dir, name) ahead of each attempt to load
// dir/name: a library's companions that the loader would not find in dir
// can be loaded from there first.
func (s Search) openWith(before func(dir, name string), names ...string) Library {
	lib := Library{Name: names[0]}
	var failures []string
	if s.openIn(&lib, &failures, s.dirs(), before, names) {
		return lib
	}
	s.explainMissing(&lib, failures, names)
	return lib
}

// openSystem loads a library the way NVIDIA's loaders treat the driver: from
// the folders named explicitly (Dirs, $CNNTRAIN_CUDA_LIBS: a choice, such as
// the emulator's) if one holds it, else by soname, as the system's loader
// resolves it ($LD_LIBRARY_PATH, ld.so.cache, its default folders: with a
// compat or stub copy on the machine, a folder search of ours could pick
// another one than every other CUDA program gets), and only then from the
// rest of the search. Where the loader chose, the file is read back from
// the process's mappings by the address of symbol.
func (s Search) openSystem(symbol string, names ...string) Library {
	lib := Library{Name: names[0]}
	var failures []string
	if s.openIn(&lib, &failures, s.explicitDirs(), nil, names) {
		return lib
	}
	if !s.OnlyDirs {
		h, err := purego.Dlopen(names[0], purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			lib.handle, lib.BySoname = h, true
			lib.Path, _ = mappedFileOf(h, symbol)
			if lib.Path == "" {
				lib.Path = "(" + names[0] + " as the system's loader found it)"
			}
			return lib
		}
		if !strings.Contains(err.Error(), "No such file") {
			failures = append(failures, fmt.Sprintf("%s (by soname): %v", names[0], err))
		}
		explicit := s.explicitDirs()
		rest := slices.DeleteFunc(s.dirs(), func(d string) bool { return slices.Contains(explicit, d) })
		if s.openIn(&lib, &failures, rest, nil, names) {
			return lib
		}
	}
	s.explainMissing(&lib, failures, names)
	return lib
}

// openIn loads the first of names found in dirs into lib, noting each
// file that would not load in failures.
func (s Search) openIn(lib *Library, failures *[]string, dirs []string, before func(dir, name string), names []string) bool {
	for _, dir := range dirs {
		for _, name := range names {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			lib.Tried = append(lib.Tried, path)
			if before != nil {
				before(dir, name)
			}
			h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err != nil {
				*failures = append(*failures, fmt.Sprintf("%s: %v", path, err))
				continue
			}
			lib.Name, lib.Path, lib.handle = name, path, h
			return true
		}
	}
	return false
}

func (s Search) explainMissing(lib *Library, failures []string, names []string) {
	if len(failures) > 0 {
		lib.Missing = "could not load " + strings.Join(failures, "; ")
	} else {
		lib.Missing = fmt.Sprintf("%s not found (looked in %d folders; set CNNTRAIN_CUDA_LIBS to the folder that holds it)", strings.Join(names, " or "), len(s.dirs()))
	}
}

// bind sets each function pointer in fns to the symbol of its name, or
// returns an error naming the missing symbols. It notes the file the
// symbols come from in lib.File.
func bind(lib *Library, fns map[string]any) error {
	var missing []string
	for name, fn := range fns {
		addr, err := purego.Dlsym(lib.handle, name)
		if err != nil || addr == 0 {
			missing = append(missing, name)
			continue
		}
		purego.RegisterFunc(fn, addr)
		if lib.File == "" {
			lib.File, _ = mappedFile(addr)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%s lacks %s", lib.Path, strings.Join(missing, ", "))
	}
	return nil
}

// rtldNoload is glibc's RTLD_NOLOAD: dlopen only finds a library already
// loaded (purego does not name it).
const rtldNoload = 0x4

// alreadyLoaded tells whether a library of this soname is in the process.
func alreadyLoaded(soname string) bool {
	h, err := purego.Dlopen(soname, purego.RTLD_LAZY|rtldNoload)
	if err != nil {
		return false
	}
	purego.Dlclose(h) // NOLOAD took a reference
	return true
}

// preload loads path, if it exists, for the libraries loaded after it that
// need it; a failure is left to show, with the loader's reason, when the
// library that needs it is loaded or first used.
func preload(path string) {
	if fileExists(path) {
		purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	}
}

// mappedFileOf is mappedFile of symbol's address in the library of handle h.
func mappedFileOf(h uintptr, symbol string) (string, error) {
	addr, err := purego.Dlsym(h, symbol)
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", symbol, err)
	}
	return mappedFile(addr)
}

// mapsFile is where Linux lists the process's mappings.
const mapsFile = "/proc/self/maps"

// mappedFile is the file mapped at addr in this process: the file a
// library's code came from, with its links resolved by the kernel (what
// dladdr's dli_fname would give, before resolving, without cgo).
func mappedFile(addr uintptr) (string, error) {
	b, err := os.ReadFile(mapsFile)
	if err != nil {
		return "", fmt.Errorf("reading the mappings: %w", err)
	}
	return fileAt(b, uint64(addr))
}

// fileAt finds addr in maps, the text of /proc/self/maps: lines of
// "start-end perms offset dev inode path".
func fileAt(maps []byte, addr uint64) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || addr < start || addr >= end {
			continue
		}
		// A path may hold spaces: it is the rest of the line.
		return strings.Join(fields[5:], " "), nil
	}
	return "", fmt.Errorf("address %#x is in no mapped file", addr)
}
