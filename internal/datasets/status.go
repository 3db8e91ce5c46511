package datasets

import (
	"path/filepath"
	"strings"
)

// FileStatus is one file of a dataset in a data folder.
type FileStatus struct {
	Name    string `json:"name"`
	Path    string `json:"path"` // where it is, or where it is looked for
	Present bool   `json:"present"`
	// Problem says what stands at Path instead of the file ("is a
	// folder, not a file"); a download cannot replace it.
	Problem string `json:"problem,omitempty"`
}

// Status lists the files of dataset name in dataDir (absolute paths), each
// found or not, the way Load looks for them.
func Status(name, dataDir string) ([]FileStatus, error) {
	d, err := lookup(name)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	dir := filepath.Join(dataDir, d.dir)
	paths, _ := locate(dir, d.files)
	out := make([]FileStatus, len(d.files))
	for i, f := range d.files {
		out[i] = FileStatus{Name: f.Name, Path: filepath.Join(dir, f.Name), Present: paths[i] != ""}
		if paths[i] != "" {
			out[i].Path = paths[i]
			continue
		}
		for _, name := range []string{f.Name, strings.TrimSuffix(f.Name, ".gz")} {
			if what := inTheWay(filepath.Join(dir, name)); what != "" {
				out[i].Path, out[i].Problem = filepath.Join(dir, name), what
				break
			}
		}
	}
	return out, nil
}
