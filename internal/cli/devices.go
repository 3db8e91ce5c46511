package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
	"github.com/cnntrain/cnntrain/internal/cuda"
	"github.com/spf13/cobra"
)

// DevicesOptions are the flags of `cnntrain devices`.
type DevicesOptions struct {
	JSON bool
	// NoCuDNN leaves cuDNN unopened: a cuDNN that cannot load its parts
	// aborts the process that loads it.
	NoCuDNN bool
}

// DevicesReport is what devices prints with --json.
type DevicesReport struct {
	CPUThreads int `json:"cpu_threads"`
	cuda.Report
}

func newDevicesCommand(s Streams) *cobra.Command {
	opts := &DevicesOptions{}
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the GPUs and CUDA libraries cnntrain can use, or why there are none",
		Long: `Lists each NVIDIA GPU (name, memory, compute capability), the CUDA version of the
driver, and the libraries found with their paths (libcuda, cuBLAS, cuDNN), or says
why no GPU can be used. Libraries are looked for in $CNNTRAIN_CUDA_LIBS, the
loader's paths and ldconfig's, $CUDA_HOME and /usr/local/cuda, and the nvidia/*/lib
folders of Python installations (PyTorch's wheels keep them there).`,
		Example: `  cnntrain devices
  cnntrain devices --json
  cnntrain devices --no-cudnn`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunDevices(cmd.Context(), opts, s) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as one JSON object")
	cmd.Flags().BoolVar(&opts.NoCuDNN, "no-cudnn", false, "leave cuDNN unopened (a cuDNN that cannot load its parts aborts the process)")
	return cmd
}

// RunDevices probes the GPUs and prints what it found.
func RunDevices(_ context.Context, o *DevicesOptions, s Streams) error {
	probe := cuda.Probe
	if o.NoCuDNN {
		probe = cuda.ProbeWithoutCuDNN
	}
	r := DevicesReport{CPUThreads: cpu.New().Workers(), Report: probe()}
	if o.JSON {
		return writeJSON(s.Out, r)
	}
	fmt.Fprintf(s.Out, "cpu: %d threads\n", r.CPUThreads)
	switch {
	case r.Driver != "" && r.DriverVersion != "":
		fmt.Fprintf(s.Out, "NVIDIA driver %s: supports CUDA %s\n", r.DriverVersion, r.Driver)
	case r.Driver != "":
		fmt.Fprintf(s.Out, "CUDA driver: supports CUDA %s\n", r.Driver)
	}
	for _, g := range r.GPUs {
		fmt.Fprintf(s.Out, "cuda:%d: %s, %.1f GB, compute capability %s, %d multiprocessors\n",
			g.Ordinal, g.Name, float64(g.MemoryBytes)/1e9, g.ComputeCapability, g.Multiprocessors)
	}
	tw := tabwriter.NewWriter(s.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "library\tpath")
	for _, l := range r.Libraries {
		where := l.Path
		if l.File != "" && l.File != l.Path {
			where += " (file " + l.File + ")"
		}
		if l.BySoname {
			where += ", as the system's loader found it"
		}
		if l.Version != "" {
			where += " (version " + l.Version + ")"
		}
		switch {
		case l.Path == "" && l.Missing == cuda.NotOpened:
			where = l.Missing
		case l.Path == "":
			where = "missing: " + l.Missing
		case l.Missing != "": // found, but cannot be used
			where += "; not used: " + l.Missing
		}
		fmt.Fprintf(tw, "%s\t%s\n", l.Name, where)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Usable() {
		fmt.Fprintln(s.Out, "training uses cuda:0 by default (--device auto)")
	} else {
		fmt.Fprintf(s.Out, "no usable GPU: %s\ntraining uses the CPU (--device auto)\n", r.Reason)
	}
	return nil
}
