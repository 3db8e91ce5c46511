package cpu_test

import (
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
	"github.com/cnntrain/cnntrain/internal/backend/backendtest"
	"github.com/cnntrain/cnntrain/internal/backend/cpu"
)

// The CPU backend passes the conformance suite every backend runs.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func() backend.Backend { return cpu.New() })
}

// The reference comparison itself, CPU against CPU: every op of the real
// models runs and agrees exactly with itself (the GPU backend's test runs
// the same against the CPU).
func TestAgainstReferenceRunsEveryModelOp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs VGG16's ops at batch 128")
	}
	backendtest.ReportAgainstReference(t, cpu.New(), cpu.New(), 0)
}
