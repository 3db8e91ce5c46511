package cli

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every cnntrain command the README shows names a real command with flags
// it takes and values that parse: the README runs as written (data and run
// folders aside).
func TestREADMECommandsParse(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checked := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "cnntrain ") || !strings.HasPrefix(sc.Text(), "    ") {
			continue // only indented code lines
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if i := strings.Index(line, " >"); i >= 0 {
			line = line[:i]
		}
		args := strings.Fields(line)[1:]
		root := NewRootCommand(Streams{Out: &strings.Builder{}, Err: &strings.Builder{}})
		cmd, rest, err := root.Find(args)
		if err != nil || cmd == root && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			t.Errorf("README: %q: no such command (%v)", line, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("README: %q: %v", line, err)
			continue
		}
		if cmd.Args != nil {
			if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
				t.Errorf("README: %q: %v", line, err)
			}
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d README commands found", checked)
	}
	t.Logf("%d README commands parse", checked)
}

// Every go test the Makefile runs names its own -timeout: Go's default of ten
// minutes per package is a wall-clock verdict on the machine, which a busy one
// fails on a green tree.
func TestMakefileTestsCarryATimeout(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "\t") {
			continue // a recipe line; comments may speak of go test
		}
		f := strings.Fields(line)
		for k := 0; k+1 < len(f); k++ {
			if (f[k] == "$(GO)" || f[k] == "go") && f[k+1] == "test" {
				if strings.Contains(line, " -c ") {
					break // builds a test binary, runs nothing
				}
				lines++
				if !strings.Contains(line, " -timeout ") {
					t.Errorf("Makefile:%d: go test without -timeout: %s", i+1, strings.TrimSpace(line))
				}
				break
			}
		}
	}
	if lines < 3 {
		t.Errorf("found %d go test lines in the Makefile, want the test, bench and parity ones", lines)
	}
}

// No test decides by a fixed clock: a wait bounded by time.Second or
// time.Minute, or a context.WithTimeout, fails a correct test on a busy
// machine. Deadlines come from go test's -timeout (testsupport/deadline).
func TestNoTestHasAFixedDeadline(t *testing.T) {
	forbidden := []string{"time.Second", "time.Minute", "time.Hour", "context.WithTimeout", "context.WithDeadline"}
	checked := 0
	err := filepath.WalkDir("../..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".") && path != "../..") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") || strings.Contains(filepath.ToSlash(path), "internal/testsupport/deadline/") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(line, "//")
			for _, f := range forbidden {
				if strings.Contains(code, f) && path != "../../internal/cli/readme_test.go" {
					t.Errorf("%s:%d: %s in a test; derive the deadline from t.Deadline() (testsupport/deadline)", path, i+1, f)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Errorf("only %d test files found", checked)
	}
}
