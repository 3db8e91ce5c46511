// Package cli is cnntrain's command line. Every command is an options struct
// and a run function that tests call directly; cobra only fills the struct.
// Errors travel up unchanged and Main maps them to exit codes in one place:
// 0 success, 1 failure, 2 usage, 130 interrupted.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// Streams are where a command writes: data to Out, messages for humans to Err.
type Streams struct {
	Out, Err io.Writer
}

// usageError marks a mistake in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.As(err, &ue),
		errors.Is(err, models.ErrUnknownModel),
		errors.Is(err, models.ErrIncompatible),
		errors.Is(err, models.ErrBadConfig),
		errors.Is(err, datasets.ErrUnknownDataset),
		errors.Is(err, config.ErrInvalidConfig):
		return ExitUsage
	}
	return ExitFailure
}

// Main runs cnntrain with args and returns the exit code. ctx is cancelled on
// Ctrl-C.
func Main(ctx context.Context, args []string, s Streams) int {
	root := NewRootCommand(s)
	// Anything cobra rejects before a command runs (unknown command or flag,
	// wrong arguments) is a usage error.
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if !started {
		err = usageError{err}
	}
	code := ExitCode(err)
	switch code {
	case ExitInterrupted:
		fmt.Fprintln(s.Err, "cnntrain: interrupted; nothing was saved")
	case ExitUsage:
		fmt.Fprintf(s.Err, "cnntrain: %v\nRun 'cnntrain %s --help' for usage.\n", err, commandName(root, args))
	default:
		fmt.Fprintf(s.Err, "cnntrain: %v\n", err)
	}
	return code
}

func commandName(root *cobra.Command, args []string) string {
	if cmd, _, err := root.Find(args); err == nil && cmd != root {
		return cmd.Name()
	}
	return ""
}

// NewRootCommand builds the command tree.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "cnntrain",
		Short: "Train the classic convolutional networks of the course notebooks",
		Long: `cnntrain trains and evaluates the networks of the classic deep-learning course
notebooks (an MLP and a small CNN on MNIST, the pixel-shuffling experiment),
numerically as PyTorch does, with checkpoints PyTorch can load.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version(),
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	// Flag parsing errors are usage errors.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newTrainCommand(s), newEvalCommand(s), newShuffleCommand(s))
	return root
}

// Version is the build's version: the module version for `go install`ed
// builds, else the VCS revision the binary was built from.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev[:min(12, len(rev))] + dirty
}
