package cpu_test

import (
	"slices"
	"testing"

	"github.com/cnntrain/cnntrain/internal/backend/cpu"
)

// ReadHost points a buffer at the data pipeline's batch; the next Upload
// must copy into the buffer's own memory again, never into that batch,
// which the loader still owns.
func TestReadHostThenUploadLeavesTheHostDataAlone(t *testing.T) {
	b := cpu.New()
	buf, err := b.Alloc(3)
	if err != nil {
		t.Fatal(err)
	}
	host := []float32{1, 2, 3}
	if !b.ReadHost(buf, host) {
		t.Fatal("ReadHost of a slice of the buffer's length refused")
	}
	got := make([]float32, 3)
	if err := b.Download(got, buf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, host) {
		t.Fatalf("buffer reading host memory holds %v, want %v", got, host)
	}
	host[0] = 9 // read in place, not copied
	if err := b.Download(got, buf); err != nil {
		t.Fatal(err)
	}
	if got[0] != 9 {
		t.Errorf("after the host data changed the buffer reads %v: it was copied", got)
	}

	// A second batch read in place before any Upload: the buffer's own
	// memory is still the one Alloc gave, not the first batch.
	next := []float32{4, 5, 6}
	if !b.ReadHost(buf, next) {
		t.Fatal("second ReadHost refused")
	}
	if err := b.Upload(buf, []float32{7, 8, 9}); err != nil {
		t.Fatal(err)
	}
	if want := []float32{9, 2, 3}; !slices.Equal(host, want) {
		t.Errorf("Upload after ReadHost wrote into the first batch: %v, want %v", host, want)
	}
	if want := []float32{4, 5, 6}; !slices.Equal(next, want) {
		t.Errorf("Upload after ReadHost wrote into the second batch: %v, want %v", next, want)
	}
	if err := b.Download(got, buf); err != nil {
		t.Fatal(err)
	}
	if want := []float32{7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("buffer holds %v after Upload, want %v", got, want)
	}

	if b.ReadHost(buf, make([]float32, 4)) {
		t.Error("ReadHost of 4 values into a buffer of 3 accepted")
	}
	if buf.Len() != 3 {
		t.Errorf("refused ReadHost changed the buffer's length to %d", buf.Len())
	}
}

func TestAllocRefusesANegativeLength(t *testing.T) {
	if _, err := cpu.New().Alloc(-1); err == nil {
		t.Error("Alloc(-1): no error")
	}
}
