package datasets

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// The CIFAR-10 binary format: files of fixed-size records, each one label
// byte followed by the red, green and blue planes of a 32x32 image, row after
// row. A record is therefore already one NCHW image with C=3.
const (
	cifarC, cifarH, cifarW = 3, 32, 32
	cifarImage             = cifarC * cifarH * cifarW // 3072
	cifarRecord            = 1 + cifarImage           // 3073
	cifarClasses           = 10

	cifarDir        = "cifar-10-batches-bin"
	cifarMeta       = "batches.meta.txt"
	cifarTrainFiles = 5
	cifarTest       = "test_batch.bin"
)

// cifarFiles lists the files of the binary CIFAR-10 folder in the order
// readCIFARDataset expects: the five training batches, the test batch, the
// class names.
func cifarFiles() []remoteFile {
	files := make([]remoteFile, 0, cifarTrainFiles+2)
	for i := range cifarTrainFiles {
		files = append(files, remoteFile{Name: fmt.Sprintf("data_batch_%d.bin", i+1), Train: true})
	}
	return append(files, remoteFile{Name: cifarTest}, remoteFile{Name: cifarMeta})
}

// ReadCIFARBatch reads a file of the binary CIFAR-10 distribution
// (data_batch_N.bin, test_batch.bin): 3073-byte records, each a label byte
// followed by the R, G and B planes of a 32x32 image. images holds the pixel
// parts one after the other, NCHW with C=3; labels holds one byte per record.
// A size that is not a whole number of records, a label above 9 or a file
// that changes size while it is read is an error that names path and
// matches ErrCorrupt.
func ReadCIFARBatch(path string) (images, labels []uint8, err error) {
	f, size, err := openCIFAR(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if size%cifarRecord != 0 {
		return nil, nil, corrupt(path, "holds %d bytes, not a whole number of %d-byte records", size, cifarRecord)
	}
	n := int(size / cifarRecord)
	images, labels = make([]uint8, n*cifarImage), make([]uint8, n)
	if err := readCIFARRecords(path, f, images, labels, cifarClasses); err != nil {
		return nil, nil, err
	}
	return images, labels, nil
}

// readCIFARInto reads a batch file that must hold exactly len(labels)
// records into images and labels; what names the split in messages
// ("cifar10 train"). Labels from classes on are out of range.
func readCIFARInto(path string, images, labels []uint8, classes int, what string) error {
	f, size, err := openCIFAR(path)
	if err != nil {
		return err
	}
	defer f.Close()
	want := int64(len(labels))
	if size%cifarRecord != 0 {
		return corrupt(path, "holds %d bytes, not a whole number of %d-byte records (expected %d records, %d bytes)",
			size, cifarRecord, want, want*cifarRecord)
	}
	if got := size / cifarRecord; got != want {
		return corrupt(path, "holds %d records, expected %d for a %s batch", got, want, what)
	}
	return readCIFARRecords(path, f, images, labels, classes)
}

func openCIFAR(path string) (f *os.File, size int64, err error) {
	f, st, err := openDataFile(path)
	if err != nil {
		return nil, 0, err
	}
	if st.Size() == 0 {
		f.Close()
		return nil, 0, corrupt(path, "empty file")
	}
	return f, st.Size(), nil
}

// readCIFARRecords reads len(labels) records from r, which must end right
// after them, splitting each into its label and its pixels.
func readCIFARRecords(path string, r io.Reader, images, labels []uint8, classes int) error {
	if len(images) != len(labels)*cifarImage {
		return errors.New("internal error: CIFAR image buffer does not match the label count")
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for i := range labels {
		label, err := br.ReadByte()
		if err == nil {
			_, err = io.ReadFull(br, images[i*cifarImage:(i+1)*cifarImage])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return corrupt(path, "truncated: record %d of %d ends early (did the file change while it was read?)", i, len(labels))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if int(label) >= classes {
			return corrupt(path, "label %d in record %d is out of range 0..%d", label, i, classes-1)
		}
		labels[i] = label
	}
	switch _, err := br.ReadByte(); {
	case err == nil:
		return corrupt(path, "trailing data after %d records (did the file change while it was read?)", len(labels))
	case err != io.EOF:
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// maxMetaSize bounds batches.meta.txt: ten short names, not megabytes.
const maxMetaSize = 64 << 10

// checkCIFARMeta checks that the class list at path (one name per line,
// trailing blank lines allowed) names exactly the classes of the table, in
// order: labels index Info.Classes, so a list that disagrees means the folder
// holds some other dataset.
func checkCIFARMeta(path string, want []string) error {
	f, _, err := openDataFile(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetaSize+1))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxMetaSize {
		return corrupt(path, "larger than %d bytes; expected a short list of class names", maxMetaSize)
	}
	lines := strings.Split(string(data), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i]) // also drops the \r of CRLF
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if l == "" {
			return corrupt(path, "line %d is blank; expected one class name per line", i+1)
		}
	}
	if len(lines) != len(want) {
		return corrupt(path, "lists %d class names, expected %d (%s)", len(lines), len(want), strings.Join(want, ", "))
	}
	for i, l := range lines {
		if l != want[i] {
			return corrupt(path, "line %d names class %d %q, expected %q", i+1, i, l, want[i])
		}
	}
	return nil
}

// readCIFARDataset reads the binary CIFAR-10 folder: files are the training
// batches, the test batch and the class names (see cifarFiles). Each training
// batch holds TrainSize/5 records, read straight into its part of the split.
func readCIFARDataset(d *dataset, paths []string) (train, test *Split, err error) {
	info := d.info
	if info.C != cifarC || info.H != cifarH || info.W != cifarW || len(paths) != cifarTrainFiles+2 ||
		info.TrainSize%cifarTrainFiles != 0 {
		return nil, nil, errors.New("internal error: a CIFAR-10 table entry needs 3x32x32 images, seven files and a train size divisible by 5")
	}
	if err := checkCIFARMeta(paths[cifarTrainFiles+1], info.Classes); err != nil {
		return nil, nil, err
	}
	newSplit := func(name string, n int) *Split {
		return &Split{
			Name:   info.Name + " " + name,
			Images: make([]uint8, n*cifarImage), Labels: make([]uint8, n),
			N: n, C: cifarC, H: cifarH, W: cifarW,
		}
	}
	// Without the training batches (LoadOptions.TestOnly) there is no
	// training split.
	withTrain := paths[0] != ""
	test = newSplit("test", info.TestSize)
	if withTrain {
		train = newSplit("train", info.TrainSize)
	}

	// Each file fills its own part of a split; reading them side by side
	// overlaps the I/O.
	type part struct {
		split *Split
		first int // index of the file's first record in the split
		n     int
	}
	per := info.TrainSize / cifarTrainFiles
	parts := make([]part, 0, cifarTrainFiles+1)
	for i := range cifarTrainFiles {
		parts = append(parts, part{train, i * per, per})
	}
	parts = append(parts, part{test, 0, info.TestSize})
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		if p.split == nil {
			continue
		}
		wg.Go(func() {
			s := p.split
			errs[i] = readCIFARInto(paths[i],
				s.Images[p.first*cifarImage:(p.first+p.n)*cifarImage], s.Labels[p.first:p.first+p.n],
				len(info.Classes), s.Name)
		})
	}
	wg.Wait()
	for _, err := range errs { // the first failing file, in table order
		if err != nil {
			return nil, nil, err
		}
	}
	return train, test, nil
}
