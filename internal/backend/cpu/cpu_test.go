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
