package cuda

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fakeDriver builds testdata/fakecuda.c into dir/libcuda.so.1 with gcc.
func fakeDriver(t *testing.T, dir string, initResult int) {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: the fake-driver checks of the CUDA loader are NOT run")
	}
	out, err := exec.Command(gcc, "-shared", "-fPIC", "-O1", "-DINIT_RESULT="+itoa(initResult),
		"-o", filepath.Join(dir, "libcuda.so.1"), "testdata/fakecuda.c").CombinedOutput()
	if err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestProbeWithoutDriverSaysWhere(t *testing.T) {
	dir := t.TempDir()
	r := ProbeWith(Search{Dirs: []string{dir}, OnlyDirs: true})
	if r.Usable() || !strings.Contains(r.Reason, "libcuda.so.1") || !strings.Contains(r.Reason, "CNNTRAIN_CUDA_LIBS") {
		t.Errorf("reason %q: want it to name libcuda.so.1 and CNNTRAIN_CUDA_LIBS", r.Reason)
	}
	// Each of the three libraries is still reported, the ones the driver's
	// absence kept from being loaded too, so `devices` answers "is cuBLAS
	// there?" on a machine still missing its driver.
	var names []string
	for _, lib := range r.Libraries {
		if lib.Missing == "" {
			t.Errorf("%s: found in an empty folder?", lib.Name)
		}
		names = append(names, lib.Name)
	}
	if want := []string{"libcuda.so.1", "libcublas.so.13", "libcudnn.so.9"}; !slices.Equal(names, want) {
		t.Errorf("libraries reported: %v, want %v", names, want)
	}
}

func TestProbeWithDriverThatDoesNotStart(t *testing.T) {
	dir := t.TempDir()
	fakeDriver(t, dir, 100)
	r := ProbeWith(Search{Dirs: []string{dir}, OnlyDirs: true})
	for _, want := range []string{"does not start", "cuInit", "no CUDA-capable device is detected", "CUDA_ERROR_NO_DEVICE"} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason %q lacks %q", r.Reason, want)
		}
	}
	if r.Driver != "13.0" || r.Libraries[0].Path != filepath.Join(dir, "libcuda.so.1") {
		t.Errorf("driver %q from %q", r.Driver, r.Libraries[0].Path)
	}
}

func TestProbeWithoutCuBLAS(t *testing.T) {
	dir := t.TempDir()
	fakeDriver(t, dir, 0)
	r := ProbeWith(Search{Dirs: []string{dir}, OnlyDirs: true})
	if len(r.GPUs) != 1 || r.GPUs[0].Name != "Fake GPU" || r.GPUs[0].ComputeCapability != "9.0" || r.GPUs[0].MemoryBytes != 8<<30 {
		t.Errorf("GPUs %+v, want the fake one", r.GPUs)
	}
	if r.Usable() || !strings.Contains(r.Reason, "no cuBLAS") || !strings.Contains(r.Reason, "libcublas.so.13") {
		t.Errorf("reason %q: want it to say cuBLAS is missing", r.Reason)
	}
}

// A library that exists but cannot be loaded is named with the loader's
// complaint.
func TestProbeWithBrokenDriverFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "libcuda.so.1"), []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := ProbeWith(Search{Dirs: []string{dir}, OnlyDirs: true})
	if !strings.Contains(r.Reason, "could not load") || !strings.Contains(r.Reason, filepath.Join(dir, "libcuda.so.1")) {
		t.Errorf("reason %q", r.Reason)
	}
}

// A libcudnn.so.9 that lacks the convolution API is reported as unusable,
// naming what it lacks, and does not stop the GPU from being used.
func TestProbeWithUnusableCuDNN(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: the fake-cuDNN check of the CUDA loader is NOT run")
	}
	dir := t.TempDir()
	fakeDriver(t, dir, 0)
	src := filepath.Join(dir, "empty.c")
	if err := os.WriteFile(src, []byte("int cnntrain_not_cudnn;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-o", filepath.Join(dir, "libcudnn.so.9"), src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	r := ProbeWith(Search{Dirs: []string{dir}, OnlyDirs: true})
	dnn := r.Libraries[len(r.Libraries)-1]
	if dnn.Name != "libcudnn.so.9" || dnn.Path == "" || !strings.Contains(dnn.Missing, "unusable cuDNN") ||
		!strings.Contains(dnn.Missing, "cudnnConvolutionForward") || !strings.Contains(dnn.Missing, "optional") {
		t.Errorf("cuDNN reported as %+v", dnn)
	}
	if strings.Contains(r.Reason, "cuDNN") {
		t.Errorf("reason %q: cuDNN is optional", r.Reason)
	}
}

func TestKernelDriverVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "version")
	text := "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:14 UTC 2025\nGCC version:  gcc version 12.2.0\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if v := kernelDriverVersion(path); v != "580.65.06" {
		t.Errorf("version %q, want 580.65.06", v)
	}
	if v := kernelDriverVersion(filepath.Join(dir, "absent")); v != "" {
		t.Errorf("version %q without the file", v)
	}
}

// A PyTorch venv whose python3 is on PATH but which is not activated (as on
// machines where PATH starts with /opt/torch/.venv/bin) is searched for
// NVIDIA's wheel libraries, before the system-wide Python folders.
func TestWheelFoldersOfThePythonOnPath(t *testing.T) {
	venv := t.TempDir()
	lib := filepath.Join(venv, "lib", "python3.12", "site-packages", "nvidia", "cu13", "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(venv, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// A venv's python3 is a link to the system's interpreter.
	system, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to link to")
	}
	if err := os.Symlink(system, filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dirs := Search{}.dirs()
	if !slices.Contains(dirs, lib) {
		t.Fatalf("%s is not searched; searched %v", lib, dirs)
	}
}

// PTX the driver cannot compile is reported with the JIT compiler's log
// (cuModuleLoadDataEx's error log), the only account of why: the fake
// driver refuses every image with a ptxas complaint.
func TestPTXTheDriverRefusesIsReportedWithItsLog(t *testing.T) {
	dir := t.TempDir()
	fakeDriver(t, dir, 0)
	d, err := loadDriver(Search{Dirs: []string{dir}, OnlyDirs: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = loadModule(d, "// not PTX\n")
	if err == nil {
		t.Fatal("the fake driver's refusal was not reported")
	}
	for _, want := range []string{"cuModuleLoadDataEx", "Unsupported .version 9.9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// helperEnv tells a child test process (TestLoaderHelper) what to do: the
// loader reads $LD_LIBRARY_PATH once, as a process starts, so what it
// resolves a soname to can only be tested in a process of its own.
const helperEnv = "CNNTRAIN_CUDA_LOADER_HELPER"

// TestLoaderHelper is not a test: run as a child by the tests below, it
// probes the driver after changing $LD_LIBRARY_PATH under the loader (which
// keeps the value it started with) to $CNNTRAIN_CUDA_SEARCH_PATH, so that
// the folder search and the soname lead to different files, and prints the
// driver's entry of the report as JSON.
func TestLoaderHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "soname" {
		return
	}
	os.Setenv("LD_LIBRARY_PATH", os.Getenv("CNNTRAIN_CUDA_SEARCH_PATH"))
	r := ProbeWithoutCuDNN()
	b, err := json.Marshal(r.Libraries[0])
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("driver: %s\n", b)
}

// driverLoadedByChild runs TestLoaderHelper with $LD_LIBRARY_PATH loaderPath
// at its start, searchPath under the folder search and $CNNTRAIN_CUDA_LIBS
// explicit, and returns the driver it reports.
func driverLoadedByChild(t *testing.T, loaderPath, searchPath, explicit string) Library {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoaderHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=soname", "LD_LIBRARY_PATH="+loaderPath,
		"CNNTRAIN_CUDA_SEARCH_PATH="+searchPath, "CNNTRAIN_CUDA_LIBS="+explicit)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the helper process: %v\n%s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "driver: "); ok {
			var lib Library
			if err := json.Unmarshal([]byte(j), &lib); err != nil {
				t.Fatal(err)
			}
			return lib
		}
	}
	t.Fatalf("the helper process reported no driver:\n%s", out)
	return Library{}
}

// libcuda is asked of the system's loader by its soname before the folders
// are searched, so the driver is the one every other CUDA program of the
// machine gets: here the loader's $LD_LIBRARY_PATH holds one fake driver and
// the folder search (the same variable, changed under the loader) another.
// The report names the file the loader chose. A folder named explicitly
// ($CNNTRAIN_CUDA_LIBS) is a choice and still comes first.
func TestDriverIsLoadedBySonameFirst(t *testing.T) {
	system, searched := t.TempDir(), t.TempDir()
	fakeDriver(t, system, 0)
	fakeDriver(t, searched, 0)
	lib := driverLoadedByChild(t, system, searched, "")
	if want := filepath.Join(system, "libcuda.so.1"); lib.Path != want || !lib.BySoname || lib.File != want {
		t.Errorf("driver %+v, want %s found by soname", lib, want)
	}
	lib = driverLoadedByChild(t, system, searched, searched)
	if want := filepath.Join(searched, "libcuda.so.1"); lib.Path != want || lib.BySoname {
		t.Errorf("with CNNTRAIN_CUDA_LIBS=%s: driver %+v, want %s by path", searched, lib, want)
	}
}

// A library's file is the mapping that holds an address, its path whole
// (spaces included).
func TestFileAtAnAddress(t *testing.T) {
	maps := "55d0c0000000-55d0c0001000 r--p 00000000 08:01 1 /usr/bin/cnntrain\n" +
		"7f0000000000-7f0000100000 r-xp 00000000 08:01 2 /opt/my libs/libcuda.so.580.65.06\n" +
		"7f0000100000-7f0000200000 rw-p 00000000 00:00 0 \n"
	if got, err := fileAt([]byte(maps), 0x7f0000000010); err != nil || got != "/opt/my libs/libcuda.so.580.65.06" {
		t.Errorf("fileAt = %q, %v", got, err)
	}
	if got, err := fileAt([]byte(maps), 0x7f0000100000); err == nil {
		t.Errorf("an anonymous mapping gave %q", got)
	}
}
