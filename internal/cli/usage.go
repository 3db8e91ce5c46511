package cli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagGroups sorts every command's flags into the sections its help shows,
// in this order; a flag not listed goes under "Other flags".
var flagGroups = []struct {
	title string
	flags []string
}{
	{"Model", []string{"model", "hidden", "features", "width", "bn-batch-stats-at-test", "summary", "checkpoint"}},
	{"Data", []string{"dataset", "data-dir", "no-download", "train-subset", "augment", "shuffle-pixels", "permutation-seed"}},
	{"Optimization", []string{"epochs", "batch-size", "test-batch-size", "optimizer", "lr", "momentum", "weight-decay", "seed", "seeds"}},
	{"Device", []string{"device", "tf32", "no-cuda-graphs", "no-cudnn"}},
	{"Output", []string{"config", "run-dir", "resume", "checkpoint-every", "json", "quiet", "plot", "show", "out", "count"}},
}

// groupedFlagUsages is the help's flag sections for cmd's local flags.
func groupedFlagUsages(cmd *cobra.Command) string {
	group := map[string]int{}
	for i, g := range flagGroups {
		for _, f := range g.flags {
			group[f] = i
		}
	}
	sets := make([]*pflag.FlagSet, len(flagGroups)+1)
	for i := range sets {
		sets[i] = pflag.NewFlagSet("", pflag.ContinueOnError)
	}
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		i, ok := group[f.Name]
		if !ok {
			i = len(flagGroups)
		}
		sets[i].AddFlag(f)
	})
	var b strings.Builder
	for i, fs := range sets {
		if !fs.HasAvailableFlags() {
			continue
		}
		title := "Other"
		if i < len(flagGroups) {
			title = flagGroups[i].title
		}
		b.WriteString("\n" + title + " flags:\n" + fs.FlagUsages())
	}
	return b.String()
}

// usageTemplate is cobra's, with the local flags in groups.
const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}
{{groupedFlagUsages . | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

func init() { cobra.AddTemplateFunc("groupedFlagUsages", groupedFlagUsages) }
