// Package realdata gives tests the folder of real datasets named by
// $CNNTRAIN_TEST_DATA, prepared by `make data` or .ci/run.
package realdata

import (
	"os"
	"testing"
)

// EnvVar names the prepared data folder.
const EnvVar = "CNNTRAIN_TEST_DATA"

// Dir returns the data folder or skips the test, loudly: a silently skipped
// real-data check looks exactly like a passing one. Under -short (make
// test's race-detector pass) the checks wait for the second pass.
func Dir(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the real-data checks run in make test's second pass")
	}
	dir := os.Getenv(EnvVar)
	if dir == "" {
		t.Skip("SKIPPED: " + EnvVar + " is not set, so the real-data checks (MNIST, CIFAR-10) did not run; " +
			".ci/run sets it (or: make data && " + EnvVar + "=$PWD/.data make test)")
	}
	return dir
}
