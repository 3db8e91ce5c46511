// Package backendtest is the conformance suite every backend runs, in the
// manner of gonum's testblas: one set of checks, the backend given as an
// argument. It holds the PyTorch parity fixtures of testdata/parity (every
// layer forward and backward, both optimizer rules, every model's output,
// loss, gradients, BatchNorm buffers and optimizer steps), finite-difference
// gradient checks, and the edge cases of the op semantics (max-pool ties and
// NaN, BatchNorm's three modes, loss targets that are no class, log-softmax
// of large scores, SGD without momentum and its first step with momentum).
//
// A backend's test file is one line:
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, func() backend.Backend { return cpu.New() }) }
package backendtest

import (
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend"
)

// Run runs the whole suite against backends made by newBackend (one per
// check, closed after it).
func Run(t *testing.T, newBackend func() backend.Backend) {
	with := func(check func(*testing.T, backend.Backend)) func(*testing.T) {
		return func(t *testing.T) {
			b := newBackend()
			defer b.Close()
			check(t, b)
		}
	}
	t.Run("Transfers", with(Transfers))
	t.Run("LayerParity", with(LayerParity))
	t.Run("MaxPoolTiesAndNaN", with(MaxPoolTiesAndNaN))
	t.Run("LossEdges", with(LossEdges))
	t.Run("OptimizerRules", with(OptimizerRules))
	t.Run("UpdateEdges", with(UpdateEdges))
	t.Run("ModelParity", with(ModelParity))
	t.Run("Gradients", with(Gradients))
	t.Run("BatchNormModes", with(BatchNormModes))
	t.Run("Memory", with(Memory))
	t.Run("EarlyLoad", with(EarlyLoad))
}
