package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// oneFile is the table entry unpack is asked for in these tests.
var oneFile = []remoteFile{{Name: "data.bin"}}

// A pax global header (what GNU tar and Python write first) is metadata,
// not an entry: the archive is unpacked as if it were not there.
func TestUnpackSkipsPaxGlobalHeaders(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "d/data.bin", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("abc"))
	tw.Close()
	zw.Close()
	dest := t.TempDir()
	if err := unpack(context.Background(), &b, "d", dest, oneFile); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dest, "data.bin")); err != nil || string(got) != "abc" {
		t.Errorf("data.bin: %q, %v", got, err)
	}
}

// Entries no dataset archive has are refused by name, and nothing is left
// in the destination.
func TestUnpackRefusesOddEntries(t *testing.T) {
	good := tarEntry{name: "d/data.bin", typ: tar.TypeReg, body: []byte("abc")}
	for _, tc := range []struct {
		name  string
		entry tarEntry
		want  string
	}{
		{"wanted name is a folder", tarEntry{name: "d/data.bin", typ: tar.TypeDir}, `entry "d/data.bin" is a folder, expected a file`},
		{"backslash", tarEntry{name: `d\..\..\evil`, typ: tar.TypeReg, body: []byte("x")}, "has an absolute or malformed name"},
		{"block device", tarEntry{name: "d/sda", typ: tar.TypeBlock}, `entry "d/sda" is a device`},
		{"character device", tarEntry{name: "d/tty", typ: tar.TypeChar}, `entry "d/tty" is a device`},
		{"fifo", tarEntry{name: "d/pipe", typ: tar.TypeFifo}, `entry "d/pipe" is a named pipe`},
	} {
		dest := t.TempDir()
		err := unpack(context.Background(), bytes.NewReader(tarGz(t, []tarEntry{good, tc.entry})), "d", dest, oneFile)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
		if names := dirNames(t, dest); len(names) != 0 {
			t.Errorf("%s: the refused archive left %v", tc.name, names)
		}
	}
}

// A cancelled unpack stops before reading on and leaves nothing behind.
func TestUnpackStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := t.TempDir()
	archive := tarGz(t, []tarEntry{{name: "d/data.bin", typ: tar.TypeReg, body: []byte("abc")}})
	if err := unpack(ctx, bytes.NewReader(archive), "d", dest, oneFile); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if names := dirNames(t, dest); len(names) != 0 {
		t.Errorf("a cancelled unpack left %v", names)
	}
}
