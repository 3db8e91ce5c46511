package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// signalCause is the cancellation cause of a context stopped by a signal.
type signalCause struct{ sig os.Signal }

func (c signalCause) Error() string { return c.sig.String() + " received" }

// signalExitCode is the shell's code for a process ended by sig: 128 plus
// its number (130 for SIGINT, 143 for SIGTERM).
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return ExitInterrupted
}

// interruptedExitCode is the exit code of a command stopped because ctx was
// cancelled: the signal's, when one did it.
func interruptedExitCode(ctx context.Context) int {
	if c, ok := context.Cause(ctx).(signalCause); ok {
		return signalExitCode(c.sig)
	}
	return ExitInterrupted
}

// WatchSignals returns a context that the first SIGINT or SIGTERM cancels,
// with the signal as its cause, so a command stops at the next minibatch and
// keeps its work; a second signal calls exit at once, for a user who will
// not wait. Where a command cannot stop at a next minibatch (reading a
// config or data file, compiling, a FIFO nobody writes), it says so with
// quitAtOnce and the first signal exits. stop restores the default
// behaviour.
func WatchSignals(parent context.Context, exit func(code int), msgs io.Writer) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	ctx, done := watchSignals(parent, ch, exit, msgs)
	return ctx, func() {
		signal.Stop(ch)
		done()
	}
}

// signalWatch is what the signal goroutine consults: whether the command
// can stop gracefully now, and what to undo before quitting at once.
type signalWatch struct {
	mu      sync.Mutex
	atOnce  int    // quitAtOnce phases open
	cleanup func() // of the innermost phase, or nil
	note    string // of the innermost phase: what quitting keeps
}

type signalWatchKey struct{}

func watchSignals(parent context.Context, signals <-chan os.Signal, exit func(int), msgs io.Writer) (context.Context, func()) {
	w := &signalWatch{}
	ctx, cancel := context.WithCancelCause(context.WithValue(parent, signalWatchKey{}, w))
	finished := make(chan struct{})
	go func() {
		select {
		case sig := <-signals:
			w.mu.Lock() // held to the exit: no phase may end or begin meanwhile
			if w.atOnce > 0 {
				fmt.Fprintf(msgs, "\ncnntrain: %v: quitting (%s)\n", sig, w.note)
				if w.cleanup != nil {
					w.cleanup()
				}
				exit(signalExitCode(sig))
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			fmt.Fprintf(msgs, "\ncnntrain: %v: stopping at the next minibatch (again to quit at once)\n", sig)
			cancel(signalCause{sig})
		case <-finished:
			return
		}
		select {
		case sig := <-signals:
			// Quitting in the middle of a save is safe: the checkpoint
			// being written is not committed, and the last one is intact.
			fmt.Fprintf(msgs, "\ncnntrain: %v again: quitting now; a checkpoint being saved is abandoned, the last complete one is kept\n", sig)
			exit(signalExitCode(sig))
		case <-finished:
		}
	}()
	return ctx, func() {
		close(finished)
		cancel(nil)
	}
}

// atOncePhase is a stretch of a command during which a signal quits at
// once; see quitAtOnce.
type atOncePhase struct {
	w           *signalWatch
	ended       bool
	outside     func() // the enclosing phase's cleanup and note
	outsideNote string
}

// quitAtOnce begins a phase in which the first signal ends the process at
// once (after the phase's cleanup, see OnQuit) instead of cancelling ctx: the
// command is not where it could stop gracefully. note says what quitting
// keeps ("nothing was trained yet"). End ends it. Without a signal watcher
// (a test's own context) it does nothing.
func quitAtOnce(ctx context.Context, note string) *atOncePhase {
	w, _ := ctx.Value(signalWatchKey{}).(*signalWatch)
	if w == nil {
		return &atOncePhase{ended: true}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.atOnce++
	p := &atOncePhase{w: w, outside: w.cleanup, outsideNote: w.note}
	w.note = note
	return p
}

// OnQuit sets what quitting during the phase undoes first (removing a run
// folder that holds nothing yet, say).
func (p *atOncePhase) OnQuit(cleanup func()) {
	if p.ended {
		return
	}
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	p.w.cleanup = cleanup
}

// End ends the phase; a second call does nothing.
func (p *atOncePhase) End() {
	if p.ended {
		return
	}
	p.ended = true
	p.w.mu.Lock()
	defer p.w.mu.Unlock()
	p.w.atOnce--
	p.w.cleanup, p.w.note = p.outside, p.outsideNote
}

// Execute runs cnntrain as the binary does, with the process's arguments
// handled by the caller, its streams and its signals, and returns the exit
// code.
func Execute(args []string) int {
	ctx, stop := WatchSignals(context.Background(), os.Exit, os.Stderr)
	defer stop()
	return Main(ctx, args, Streams{Out: os.Stdout, Err: os.Stderr})
}
