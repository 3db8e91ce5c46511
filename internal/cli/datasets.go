package cli

import (
	"context"
	"fmt"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/spf13/cobra"
)

// DatasetsOptions are the flags of `cnntrain datasets`.
type DatasetsOptions struct {
	DataDir string
	JSON    bool
}

// DatasetInfo is one dataset in `cnntrain datasets`.
type DatasetInfo struct {
	Name    string                `json:"name"`
	Images  string                `json:"images"`
	Train   int                   `json:"train_images"`
	Test    int                   `json:"test_images"`
	Folder  string                `json:"folder"`
	Files   []datasets.FileStatus `json:"files"`
	Present bool                  `json:"present"`
}

func newDatasetsCommand(s Streams) *cobra.Command {
	opts := &DatasetsOptions{}
	cmd := &cobra.Command{
		Use:   "datasets",
		Short: "List the datasets, their files and whether they are in the data folder",
		Long: `Lists every dataset cnntrain reads, the files it needs and where they are looked
for: --data-dir, else $CNNTRAIN_DATA, else ./data. Missing files are downloaded
from the official mirrors when a command needs them (unless --no-download).`,
		Example: `  cnntrain datasets
  cnntrain datasets --data-dir .data --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return RunDatasets(cmd.Context(), opts, s) },
	}
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "dataset folder (default $CNNTRAIN_DATA, else ./data)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// RunDatasets lists the datasets and their files.
func RunDatasets(_ context.Context, o *DatasetsOptions, s Streams) error {
	if err := checkDataDirFlag(o.DataDir); err != nil {
		return err
	}
	dir := datasets.ResolveDataDir(o.DataDir)
	var rows []DatasetInfo
	for _, name := range datasets.Names() {
		info, err := datasets.Lookup(name)
		if err != nil {
			return err
		}
		files, err := datasets.Status(name, dir)
		if err != nil {
			return err
		}
		row := DatasetInfo{Name: name, Images: fmt.Sprintf("%dx%dx%d, %d classes", info.C, info.H, info.W, len(info.Classes)),
			Train: info.TrainSize, Test: info.TestSize, Folder: dir, Files: files, Present: true}
		for _, f := range files {
			row.Present = row.Present && f.Present
		}
		rows = append(rows, row)
	}
	if o.JSON {
		return writeJSON(s.Out, rows)
	}
	fmt.Fprintf(s.Out, "data folder: %s\n", dir)
	for _, r := range rows {
		state := "present"
		if !r.Present {
			state = "missing files (downloaded when needed)"
		}
		for _, f := range r.Files {
			if f.Problem != "" {
				// A download cannot replace a folder or a FIFO: train
				// refuses it, and so must the listing.
				state = "a file's name is taken (see below); move that away first"
				break
			}
		}
		fmt.Fprintf(s.Out, "\n%s: %s, %d train / %d test images: %s\n", r.Name, r.Images, r.Train, r.Test, state)
		for _, f := range r.Files {
			switch {
			case f.Problem != "":
				fmt.Fprintf(s.Out, "  bad     %s %s\n", f.Path, f.Problem)
			case f.Present:
				fmt.Fprintf(s.Out, "  ok      %s\n", f.Path)
			default:
				fmt.Fprintf(s.Out, "  missing %s\n", f.Path)
			}
		}
	}
	return nil
}
