package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
// not wait. stop restores the default behaviour.
func WatchSignals(parent context.Context, exit func(code int), msgs io.Writer) (ctx context.Context, stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	ctx, done := watchSignals(parent, ch, exit, msgs)
	return ctx, func() {
		signal.Stop(ch)
		done()
	}
}

func watchSignals(parent context.Context, signals <-chan os.Signal, exit func(int), msgs io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	finished := make(chan struct{})
	go func() {
		select {
		case sig := <-signals:
			fmt.Fprintf(msgs, "\ncnntrain: %v: stopping at the next minibatch (again to quit at once)\n", sig)
			cancel(signalCause{sig})
		case <-finished:
			return
		}
		select {
		case sig := <-signals:
			fmt.Fprintf(msgs, "\ncnntrain: %v again: quitting\n", sig)
			exit(signalExitCode(sig))
		case <-finished:
		}
	}()
	return ctx, func() {
		close(finished)
		cancel(nil)
	}
}

// Execute runs cnntrain as the binary does, with the process's arguments
// handled by the caller, its streams and its signals, and returns the exit
// code.
func Execute(args []string) int {
	ctx, stop := WatchSignals(context.Background(), os.Exit, os.Stderr)
	defer stop()
	return Main(ctx, args, Streams{Out: os.Stdout, Err: os.Stderr})
}
