//go:build unix

package checkpoint

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A FIFO is not opened (that would wait for a writer), and a folder is one.
func TestDetectKindOfSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	if got := DetectKind(fifo); got != KindUnknown {
		t.Errorf("FIFO: %v", got)
	}
	if got := DetectKind(dir); got != KindFolder {
		t.Errorf("folder: %v", got)
	}
	if got := DetectKind(filepath.Join(dir, "none")); got != KindUnknown {
		t.Errorf("missing file: %v", got)
	}
	_ = os.Remove(fifo)
}
