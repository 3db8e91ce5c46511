package deadline_test

import (
	"testing"
	"time"

	"github.com/cnntrain/cnntrain/internal/testsupport/deadline"
)

// The context ends before the test binary's deadline, not after it and not
// at some fixed time of its own.
func TestContextEndsBeforeTheTestDeadline(t *testing.T) {
	d, ok := t.Deadline()
	ctx := deadline.Context(t)
	got, has := ctx.Deadline()
	if !ok {
		if has {
			t.Fatalf("without -timeout the context has a deadline %v", got)
		}
		t.Skip("go test -timeout 0: no deadline to derive from")
	}
	if !has || !got.Before(d) || got.Before(d.Add(-time.Until(d)/10)) {
		t.Fatalf("context deadline %v, test deadline %v: want shortly before it", got, d)
	}
}

func TestPollWaitsForTheCondition(t *testing.T) {
	calls := 0
	if !deadline.Poll(t, func() bool { calls++; return calls == 5 }) || calls != 5 {
		t.Fatalf("Poll returned after %d calls, want 5 and true", calls)
	}
}
