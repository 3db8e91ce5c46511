// Package cli is cnntrain's command line. Every command is an options struct
// and a run function that tests call directly; cobra only fills the struct.
// Errors travel up unchanged and Main maps them to exit codes in one place:
// 0 success, 1 failure, 2 usage, 130 interrupted (143 by SIGTERM).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/cnntrain/cnntrain/internal/config"
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/cnntrain/cnntrain/internal/suggest"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// interruptedError is a command stopped by Ctrl-C after keeping its work;
// msg says what was kept and how to go on.
type interruptedError struct {
	msg string
	err error // wraps context.Canceled
}

func (e interruptedError) Error() string { return e.msg }
func (e interruptedError) Unwrap() error { return e.err }

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
// Ctrl-C, with a signalCause (WatchSignals) that decides the exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	root := NewRootCommand(s)
	// Anything cobra rejects before a command runs (unknown command or flag,
	// wrong arguments) is a usage error.
	started := false
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		started = true
		return refuseEmptyValues(cmd)
	}
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
		if kept := (interruptedError{}); errors.As(err, &kept) {
			fmt.Fprintf(s.Err, "cnntrain: %s\n", kept.msg)
		} else {
			fmt.Fprintln(s.Err, "cnntrain: interrupted; nothing was saved")
		}
		code = interruptedExitCode(ctx)
	case ExitUsage:
		fmt.Fprintf(s.Err, "cnntrain: %v%s\nRun '%s --help' for usage.\n", err, flagHint(root, args, err), commandName(root, args))
	default:
		fmt.Fprintf(s.Err, "cnntrain: %v\n", err)
	}
	return code
}

// flagHint is " (did you mean --X?)" for an unknown flag close to one the
// command has.
func flagHint(root *cobra.Command, args []string, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return ""
	}
	cmd, _, ferr := root.Find(args)
	if ferr != nil {
		return ""
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if c := suggest.Closest(name, names); c != "" {
		return " (did you mean --" + c + "?)"
	}
	return ""
}

// commandName is the command line that gets help for the command args
// named: "cnntrain train", or "cnntrain" when they named none.
func commandName(root *cobra.Command, args []string) string {
	if cmd, _, err := root.Find(args); err == nil {
		return cmd.CommandPath()
	}
	return root.Name()
}

// NewRootCommand builds the command tree.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "cnntrain",
		Short: "Train the classic convolutional networks of the course notebooks",
		Long: `cnntrain trains and evaluates the networks of the classic deep-learning course
notebooks, numerically as PyTorch does, with checkpoints PyTorch can load:
the MNIST MLP and CNN, the experiment that shuffles their pixels, the CIFAR-10
LeNet, VGG11 and VGG16 with BatchNorm. It trains on an NVIDIA GPU when one
works (--device) and on the CPU otherwise.

Datasets are read from --data-dir, else $CNNTRAIN_DATA, else ./data, and
downloaded from the official mirrors when missing (cnntrain datasets shows
what is where).`,
		Example: `  cnntrain train --model cnn --dataset mnist
  cnntrain train --model vgg16 --dataset cifar10
  cnntrain eval --checkpoint runs/cnn-mnist-20261126-231500
  cnntrain shuffle-experiment --seeds 3
  cnntrain show --shuffle-pixels
  cnntrain models`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version(),
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetUsageTemplate(usageTemplate)
	// Flag parsing errors are usage errors, in plain words.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{plainFlagError(err)} })
	root.AddCommand(newTrainCommand(s), newEvalCommand(s), newShuffleCommand(s), newModelsCommand(s), newDatasetsCommand(s), newDevicesCommand(s), newPlotCommand(s), newShowCommand(s))
	registerCompletions(root)
	strictCompletion(root)
	strictHelp(root)
	return root
}

// strictHelp makes `help TOPIC` refuse a topic that is no command, as a
// usage error naming the commands: cobra's own help command prints "Unknown
// help topic" and the usage on stdout and exits 0.
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	c := subcommand(root, "help")
	if c == nil {
		return
	}
	help := c.Run
	c.Run = nil
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if target, rest, err := root.Find(args); err != nil || len(rest) > 0 || target == root && len(args) > 0 {
			var names []string
			for _, sub := range root.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			topic := strings.Join(args, " ")
			return usagef("no help on %q: it is no command%s (commands: %s)", topic, suggest.Hint(args[len(args)-1], names), strings.Join(names, ", "))
		}
		help(cmd, args)
		return nil
	}
}

// subcommand is root's command of that name (cobra's own included, once
// initialized), or nil.
func subcommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// strictCompletion makes `completion SHELL` refuse a shell it has no
// script for, as a usage error naming the shells it has: cobra's own
// command prints its help for any argument and exits 0. Without an
// argument it still prints its help.
func strictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	c := subcommand(root, "completion")
	if c == nil {
		return
	}
	c.Use = "completion SHELL"
	var shells []string
	for _, sh := range c.Commands() {
		shells = append(shells, sh.Name())
	}
	c.Args = func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		return usagef("unknown shell %q for completion%s (known: %s)", args[0], suggest.Hint(args[0], shells), strings.Join(shells, ", "))
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// plainFlagError rewords pflag's refusal of a flag's value, which ends in
// strconv's own words ("strconv.ParseInt: parsing \"abc\": invalid
// syntax"), as --flag value: what is wrong. Other errors pass unchanged.
func plainFlagError(err error) error {
	var invalid *pflag.InvalidValueError
	if !errors.As(err, &invalid) {
		return err
	}
	f, value := invalid.GetFlag(), invalid.GetValue()
	var num *strconv.NumError
	outOfRange := errors.As(err, &num) && errors.Is(num.Err, strconv.ErrRange)
	negative := strings.HasPrefix(strings.TrimSpace(value), "-")
	var why string
	switch typ := f.Value.Type(); typ {
	case "int", "int8", "int16", "int32", "int64":
		bits := 64
		if typ != "int" {
			bits, _ = strconv.Atoi(strings.TrimPrefix(typ, "int"))
		}
		switch {
		case outOfRange && negative:
			why = fmt.Sprintf("too small (at least %d)", int64(math.MinInt64)>>(64-bits))
		case outOfRange:
			why = fmt.Sprintf("too large (at most %d)", int64(math.MaxInt64)>>(64-bits))
		default:
			why = "want a whole number"
		}
	case "uint", "uint8", "uint16", "uint32", "uint64":
		bits := 64
		if typ != "uint" {
			bits, _ = strconv.Atoi(strings.TrimPrefix(typ, "uint"))
		}
		switch {
		case negative:
			why = "negative; want a whole number ≥ 0"
		case outOfRange:
			why = fmt.Sprintf("too large (at most %d)", uint64(math.MaxUint64)>>(64-bits))
		default:
			why = "want a whole number ≥ 0"
		}
	case "float32", "float64":
		why = "want a number"
		if outOfRange {
			why = "out of range (at most ±" + strconv.FormatFloat(math.MaxFloat64, 'g', -1, 64) + ")"
			if typ == "float32" {
				why = "out of range (at most ±" + strconv.FormatFloat(math.MaxFloat32, 'g', -1, 32) + ")"
			}
		}
	case "bool":
		why = "want true or false"
	default:
		return err
	}
	return fmt.Errorf("--%s %s: %s", f.Name, value, why)
}

// emptyMeans are the flags whose empty value means something (--plot "":
// draw nothing); any other flag that takes a path or name refuses one.
var emptyMeans = []string{"plot"}

// refuseEmptyValues refuses a path or name flag given an empty value
// (--run-dir= or --data-dir "$UNSET"): it would otherwise fall back to the
// default, as if the flag had not been given, and work somewhere the user
// did not mean.
func refuseEmptyValues(cmd *cobra.Command) error {
	var err error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if err != nil || f.Value.Type() != "string" || f.Value.String() != "" || slices.Contains(emptyMeans, f.Name) {
			return
		}
		switch f.Name {
		case "resume":
			err = usagef("--resume needs a run folder (leave the flag out for a new run)")
		case "config":
			err = usagef("--config needs a file name (leave the flag out for none)")
		default:
			err = usagef("--%s is empty (an unset shell variable?); give it a value, or leave the flag out for the default", f.Name)
		}
	})
	return err
}

// Version is the build's version: the module version for `go install`ed
// builds, else the VCS revision the binary was built from.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	var parts []string
	if rev != "" {
		parts = append(parts, "git "+rev+dirty)
	}
	if at != "" {
		parts = append(parts, at)
	}
	parts = append(parts, info.GoVersion)
	return v + " (" + strings.Join(parts, ", ") + ")"
}
