// Package secondpass marks the tests that make test runs in its second pass,
// without the race detector: long ones (real processes killed at random
// moments, the conformance suite's variants on the emulated GPU) whose worth
// is in their numbers or their processes, where the race detector adds
// nothing but a tenfold slowdown. Their names start with TestLong, which the
// second pass selects, as it selects TestReal for the real-data checks.
package secondpass

import (
	"strings"
	"testing"
)

// Only skips t under -short (the race-detector pass), saying where it runs.
// It refuses a test whose name the second pass would not select.
func Only(t *testing.T) {
	t.Helper()
	if name, _, _ := strings.Cut(t.Name(), "/"); !strings.HasPrefix(name, "TestLong") && !strings.HasPrefix(name, "TestReal") {
		t.Fatalf("%s: a second-pass test's name must start with TestLong, or make test never runs it", name)
	}
	if testing.Short() {
		t.Skip("-short: runs in make test's second pass (TestLong*, without the race detector)")
	}
}
