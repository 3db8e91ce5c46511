package cli

import (
	"bufio"
	"os"
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
