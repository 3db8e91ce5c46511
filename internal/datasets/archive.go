package datasets

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/cnntrain/cnntrain/internal/atomicfile"
)

// unpack extracts the wanted files from the tar.gz stream r into the folder
// dest. Each one must be a regular file called folder/<name> in the archive,
// and is written atomically to dest/<name>. Other files and folders are
// skipped, but the archive is refused outright if any entry is a link, a
// device or some other special file, or has an absolute name or one that
// climbs out with "..": the MD5 already vouches for the official archive, so
// such an entry means the table and the archive disagree. A wanted file that
// is absent or appears twice is an error too. On error the files written so
// far are removed again, so a refused archive leaves nothing behind.
func unpack(ctx context.Context, r io.Reader, folder, dest string, want []remoteFile) (err error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a gzip stream: %w", err)
	}
	defer zr.Close()

	wanted := make(map[string]string, len(want)) // member name -> file name
	for _, f := range want {
		wanted[folder+"/"+f.Name] = f.Name
	}
	done := make(map[string]bool, len(want))
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				os.Remove(p)
			}
		}
	}()

	tr := tar.NewReader(zr)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		member, err := entryName(hdr)
		if err != nil {
			return err
		}
		name, ok := wanted[member]
		if !ok {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("entry %q is a folder, expected a file", hdr.Name)
		}
		if done[member] {
			return fmt.Errorf("entry %q appears twice", hdr.Name)
		}
		done[member] = true
		p := filepath.Join(dest, name)
		if err := atomicfile.Write(p, func(w io.Writer) error {
			_, err := io.Copy(w, tr)
			return err
		}); err != nil {
			return err
		}
		written = append(written, p)
	}
	var absent []string
	for _, f := range want {
		if m := folder + "/" + f.Name; !done[m] {
			absent = append(absent, m)
		}
	}
	if len(absent) > 0 {
		return fmt.Errorf("the archive lacks %s", strings.Join(absent, ", "))
	}
	return nil
}

// entryName returns the cleaned name of a tar entry, or an error if the entry
// has no place in a dataset archive.
func entryName(hdr *tar.Header) (string, error) {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeXGlobalHeader: // pax metadata for the whole archive
		return "", nil
	default:
		return "", fmt.Errorf("entry %q is %s, not a file or folder; refusing the archive", hdr.Name, entryKind(hdr.Typeflag))
	}
	name := hdr.Name
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") {
		return "", fmt.Errorf("entry %q has an absolute or malformed name; refusing the archive", name)
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == ".." {
			return "", fmt.Errorf("entry %q climbs out of the archive's folder; refusing the archive", name)
		}
	}
	return path.Clean(name), nil
}

func entryKind(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a named pipe"
	default:
		return fmt.Sprintf("of tar type %q", t)
	}
}
