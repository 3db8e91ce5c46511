// Package deadline gives tests the one clock they may decide by: go test's own
// -timeout. A fixed wait ("a minute is enough") measures the machine, not the
// code, and fails a correct test on a busy one; a context that ends a little
// before the test binary's deadline still turns a deadlock into a failure with
// a message, instead of the panic and lost output of the timeout itself.
package deadline

import (
	"context"
	"testing"
	"time"
)

// Context is t.Context() ending shortly before t's deadline (go test
// -timeout), leaving a twentieth of the time left for the test to report; it
// never ends early without a deadline (-timeout 0).
func Context(t *testing.T) context.Context {
	ctx := t.Context()
	d, ok := t.Deadline()
	if !ok {
		return ctx
	}
	ctx, cancel := context.WithDeadline(ctx, d.Add(-time.Until(d)/20))
	t.Cleanup(cancel)
	return ctx
}

// Poll calls done until it reports true or Context(t) ends; it reports
// whether done held. Between calls it sleeps a little longer each time, up to
// a tenth of a second, so a wait costs nothing when the condition comes at
// once and little CPU when it takes long.
func Poll(t *testing.T, done func() bool) bool {
	ctx := Context(t)
	pause := time.Millisecond
	for !done() {
		select {
		case <-ctx.Done():
			return done()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
	return true
}
