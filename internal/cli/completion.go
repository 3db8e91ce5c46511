package cli

import (
	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/device"
	"github.com/cnntrain/cnntrain/internal/models"
	"github.com/spf13/cobra"
)

// flagValues are the values shell completion offers for the flags that
// take one of a few names, on every command that has them.
var flagValues = map[string]func() []string{
	"model":     models.Names,
	"summary":   models.Names,
	"dataset":   datasets.Names,
	"optimizer": func() []string { return []string{"sgd", "adam"} },
	"device":    func() []string { return device.Names },
}

// registerCompletions walks the command tree and registers flagValues.
func registerCompletions(cmd *cobra.Command) {
	for name, values := range flagValues {
		if cmd.Flags().Lookup(name) == nil {
			continue
		}
		_ = cmd.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return values(), cobra.ShellCompDirectiveNoFileComp
		})
	}
	for _, c := range cmd.Commands() {
		registerCompletions(c)
	}
}
