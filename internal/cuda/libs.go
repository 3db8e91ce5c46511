package cuda

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
)

// Search says where NVIDIA's libraries are looked for. The zero value looks
// in the usual places: Dirs, then $CNNTRAIN_CUDA_LIBS, the loader's paths
// and `ldconfig -p`, $CUDA_HOME and /usr/local/cuda, and the nvidia/*/lib
// folders of Python installations (where PyTorch's wheels keep them).
type Search struct {
	// Dirs are searched first, in order.
	Dirs []string
	// OnlyDirs skips every other place (tests).
	OnlyDirs bool
}

// Library is one shared library found, or why not.
type Library struct {
	Name    string   `json:"name"`           // the name asked for, e.g. "libcublas.so.13"
	Path    string   `json:"path,omitempty"` // where it was loaded from
	Version string   `json:"version,omitempty"`
	Missing string   `json:"missing,omitempty"` // why it could not be used
	Tried   []string `json:"-"`
	handle  uintptr
}

// dirs lists the folders to search, most specific first, without repeats.
func (s Search) dirs() []string {
	var out []string
	add := func(ds ...string) {
		for _, d := range ds {
			if d != "" && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	add(s.Dirs...)
	if s.OnlyDirs {
		return out
	}
	add(filepath.SplitList(os.Getenv("CNNTRAIN_CUDA_LIBS"))...)
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
	for _, dir := range s.dirs() {
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
				failures = append(failures, fmt.Sprintf("%s: %v", path, err))
				continue
			}
			lib.Name, lib.Path, lib.handle = name, path, h
			return lib
		}
	}
	if len(failures) > 0 {
		lib.Missing = "could not load " + strings.Join(failures, "; ")
	} else {
		lib.Missing = fmt.Sprintf("%s not found (looked in %d folders; set CNNTRAIN_CUDA_LIBS to the folder that holds it)", strings.Join(names, " or "), len(s.dirs()))
	}
	return lib
}

// bind sets each function pointer in fns to the symbol of its name, or
// returns an error naming the missing symbols.
func bind(lib Library, fns map[string]any) error {
	var missing []string
	for name, fn := range fns {
		addr, err := purego.Dlsym(lib.handle, name)
		if err != nil || addr == 0 {
			missing = append(missing, name)
			continue
		}
		purego.RegisterFunc(fn, addr)
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
