package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// LoadOptions controls what Load does about missing files.
type LoadOptions struct {
	// Download fetches missing files from the official mirrors.
	Download bool
	// Progress receives download progress (nil: none). On a terminal (an
	// *os.File that is a character device) it is one line updated in place
	// with \r; anywhere else, one line per finished file.
	Progress io.Writer
	// TestOnly reads the test split alone: Load returns a nil training
	// split and neither needs nor downloads the training files.
	TestOnly bool
	// Client does the downloads; nil uses a client with connection and
	// response timeouts.
	Client *http.Client
	// Mirrors replaces the dataset's mirror base URLs (tests point it at a
	// local server).
	Mirrors []string
}

// Load reads the train and test splits of dataset name from its folder in
// dataDir (see the package documentation for the layout), downloading missing
// files first if opt.Download is set. Errors name the file concerned and match
// ErrUnknownDataset, ErrMissing or ErrCorrupt where those apply.
func Load(ctx context.Context, name, dataDir string, opt LoadOptions) (train, test *Split, err error) {
	d, err := lookup(name)
	if err != nil {
		return nil, nil, err
	}
	// Absolute paths make "put the files there" advice usable as is.
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	dir := filepath.Join(dataDir, d.dir)
	// A file in the way would be reported as missing files to put in a
	// folder that cannot exist, after a download that cannot save them.
	for _, p := range []string{dataDir, dir} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return nil, nil, fmt.Errorf("%s: %w: %s is a file; the data folder (--data-dir, $CNNTRAIN_DATA) holds a folder per dataset (%s/)", d.info.Name, ErrNotAFolder, p, d.dir)
		}
	}

	needed := d.files
	if opt.TestOnly {
		needed = nil
		for _, f := range d.files {
			if !f.Train {
				needed = append(needed, f)
			}
		}
	}
	found, missing := locate(dir, needed)
	if err := notFilesInTheWay(dir, missing); err != nil {
		return nil, nil, err
	}
	if len(missing) > 0 {
		if !opt.Download {
			return nil, nil, &missingError{d: d, dir: dir, missing: missing}
		}
		if err := fetch(ctx, d, dir, missing, opt); err != nil {
			return nil, nil, err
		}
		if found, missing = locate(dir, needed); len(missing) > 0 {
			// Only if something removed the files right after downloading.
			return nil, nil, &missingError{d: d, dir: dir, missing: missing}
		}
	}
	// paths follows the table; a file not needed has "".
	paths := make([]string, len(d.files))
	for i, j := 0, 0; i < len(d.files) && j < len(needed); i++ {
		if d.files[i].Name == needed[j].Name {
			paths[i] = found[j]
			j++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	train, test, err = d.read(d, paths)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", d.info.Name, err)
	}
	return train, test, nil
}

// locate finds each file in dir, gzipped name first, then the name without
// ".gz". paths[i] is set for every file found; missing lists the rest.
func locate(dir string, files []remoteFile) (paths []string, missing []remoteFile) {
	paths = make([]string, len(files))
	for i, f := range files {
		for _, name := range []string{f.Name, strings.TrimSuffix(f.Name, ".gz")} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				paths[i] = p
				break
			}
		}
		if paths[i] == "" {
			missing = append(missing, f)
		}
	}
	return paths, missing
}

// missingError reports files that are not there, with the reason a download
// did not fetch them if one was tried.
type missingError struct {
	d       *dataset
	dir     string
	missing []remoteFile
	cause   error // why the download failed; nil if none was tried
}

func (e *missingError) Error() string {
	names := make([]string, len(e.missing))
	for i, f := range e.missing {
		names[i] = f.Name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: missing files in %s: %s", e.d.info.Name, e.dir, strings.Join(names, ", "))
	switch a := e.d.archive; {
	case e.cause != nil:
		fmt.Fprintf(&b, "; download failed (%v)", e.cause)
	case len(e.d.mirrors) == 0:
	case a != nil:
		fmt.Fprintf(&b, " (they are in the %s/ folder of the official archive %s)", a.Dir, fileURL(e.d.mirrors[0], a.Name))
	default:
		fmt.Fprintf(&b, " (official copies: %s)", e.d.mirrors[0])
	}
	b.WriteString(". Put the official files there, or set --data-dir / $CNNTRAIN_DATA to a folder that has them.")
	return b.String()
}

func (e *missingError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrMissing}
	}
	return []error{ErrMissing, e.cause}
}

// readIDXDataset reads an MNIST-style dataset: files are train images, train
// labels, test images, test labels (see idxFiles).
func readIDXDataset(d *dataset, paths []string) (train, test *Split, err error) {
	// The four files decompress independently; reading them side by side
	// hides most of the small ones behind the large training images.
	type result struct {
		data    []uint8
		n, h, w int
		err     error
	}
	if d.info.C != 1 || len(paths) != 4 {
		return nil, nil, errors.New("internal error: an IDX dataset has four single-channel files")
	}
	res := make([]result, 4)
	var wg sync.WaitGroup
	for i, p := range paths {
		if p == "" { // a training file TestOnly does without
			continue
		}
		wg.Go(func() {
			r := &res[i]
			if i%2 == 0 {
				r.data, r.n, r.h, r.w, r.err = ReadIDXImages(p)
			} else {
				r.data, r.err = ReadIDXLabels(p)
				r.n = len(r.data)
			}
		})
	}
	wg.Wait()
	for _, r := range res {
		if r.err != nil {
			return nil, nil, r.err
		}
	}
	split := func(name string, want int, img, lbl result, imgPath, lblPath string) (*Split, error) {
		info := d.info
		if img.h != info.H || img.w != info.W {
			return nil, corrupt(imgPath, "images are %dx%d, expected %dx%d for %s", img.h, img.w, info.H, info.W, info.Name)
		}
		if img.n != want {
			return nil, corrupt(imgPath, "header says %d images, expected %d for %s %s", img.n, want, info.Name, name)
		}
		if lbl.n != want {
			return nil, corrupt(lblPath, "header says %d labels, expected %d for %s %s", lbl.n, want, info.Name, name)
		}
		if lbl.n != img.n { // implied by the two checks above; kept so a table entry can never skip it
			return nil, corrupt(lblPath, "holds %d labels but %s holds %d images", lbl.n, imgPath, img.n)
		}
		for i, l := range lbl.data {
			if int(l) >= len(info.Classes) {
				return nil, corrupt(lblPath, "label %d at index %d is out of range 0..%d", l, i, len(info.Classes)-1)
			}
		}
		return &Split{
			Name:   info.Name + " " + name,
			Images: img.data, Labels: lbl.data,
			N: img.n, C: info.C, H: info.H, W: info.W,
		}, nil
	}
	if paths[0] != "" { // else TestOnly: no training split
		if train, err = split("train", d.info.TrainSize, res[0], res[1], paths[0], paths[1]); err != nil {
			return nil, nil, err
		}
	}
	if test, err = split("test", d.info.TestSize, res[2], res[3], paths[2], paths[3]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
