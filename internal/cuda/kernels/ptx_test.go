package kernels

import (
	"strings"
	"testing"
)

// The embedded PTX was made from kernels.cu as it is now: CI has no NVRTC,
// so a change to the source without `make ptx` would otherwise ship kernels
// that are not the ones reviewed and tested.
func TestPTXIsFromTheCurrentSource(t *testing.T) {
	if got, want := PTXSourceHash(), SourceHash(); got != want {
		t.Fatalf("kernels.ptx records source %q, kernels.cu is %q: run make ptx", got, want)
	}
	for _, name := range Names {
		if !strings.Contains(PTX, ".entry "+name+"(") {
			t.Errorf("kernels.ptx has no entry %s", name)
		}
	}
}
