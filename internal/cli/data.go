package cli

import (
	"context"
	"io"
	"os"

	"github.com/cnntrain/cnntrain/internal/datasets"
	"github.com/cnntrain/cnntrain/internal/train"
	"github.com/spf13/pflag"
)

// dataOptions are the flags every command that reads a dataset shares.
type dataOptions struct {
	DataDir    string
	NoDownload bool
}

func (o *dataOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", "", "dataset folder (default $CNNTRAIN_DATA, else ./data)")
	fs.BoolVar(&o.NoDownload, "no-download", false, "fail instead of downloading missing dataset files")
}

// load reads dataset name, downloading missing files unless told not to.
func (o *dataOptions) load(ctx context.Context, name string, progress io.Writer) (train.Data, error) {
	return o.read(ctx, name, progress, false)
}

// loadTest reads the test split of dataset name alone (Data.Train is nil):
// evaluation needs neither the training files nor their download.
func (o *dataOptions) loadTest(ctx context.Context, name string, progress io.Writer) (train.Data, error) {
	return o.read(ctx, name, progress, true)
}

func (o *dataOptions) read(ctx context.Context, name string, progress io.Writer, testOnly bool) (train.Data, error) {
	info, err := datasets.Lookup(name)
	if err != nil {
		return train.Data{}, err
	}
	if err := checkDataDirFlag(o.DataDir); err != nil {
		return train.Data{}, err
	}
	dir := datasets.ResolveDataDir(o.DataDir)
	tr, te, err := datasets.Load(ctx, name, dir, datasets.LoadOptions{Download: !o.NoDownload, Progress: progress, TestOnly: testOnly})
	if err != nil {
		return train.Data{}, err // datasets' errors name the dataset and file
	}
	return train.Data{Info: info, Train: tr, Test: te}, nil
}

// checkDataDirFlag refuses a --data-dir that names a file: a usage error,
// rather than missing files to put in a folder that cannot be one. (A
// $CNNTRAIN_DATA or ./data that is a file, datasets.Load refuses.)
func checkDataDirFlag(dir string) error {
	if dir == "" {
		return nil
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return usagef("--data-dir %s is a file; it must name a folder (holding mnist/, cifar-10-batches-bin/ …)", dir)
	}
	return nil
}
