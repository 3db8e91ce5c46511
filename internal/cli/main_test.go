package cli

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// asCLI makes the test binary run cnntrain itself, so tests can start it as
// a child process and send it signals as a user would.
const asCLI = "CNNTRAIN_TEST_RUN_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(Execute(os.Args[1:]))
	}
	code := m.Run()
	if fakeMNISTDir != "" {
		os.RemoveAll(fakeMNISTDir)
	}
	os.Exit(code)
}

// fakeMNISTLabel is the label of image i of either fake MNIST split.
func fakeMNISTLabel(i int) int { return (i*7 + i/13) % 10 }

// fakeMNISTPixel is pixel p (row-major) of image i of either fake MNIST
// split: a pattern, brightened on the rows its label lights.
func fakeMNISTPixel(i, p int) uint8 {
	c := fakeMNISTLabel(i)
	v := byte((i*31 + p*17) % 64)
	if row := p / 28; row >= 2*c && row < 2*c+8 {
		v += 160
	}
	return v
}

var (
	fakeMNISTOnce sync.Once
	fakeMNISTDir  string
	fakeMNISTErr  error
)

// fakeMNIST returns a data folder holding an MNIST of the official sizes
// (60,000 and 10,000 images) whose images are easy to learn: label c lights
// rows 2c..2c+7. Tests train on --train-subset of it. It is made once per
// test binary.
func fakeMNIST(t *testing.T) string {
	t.Helper()
	fakeMNISTOnce.Do(func() {
		fakeMNISTDir, fakeMNISTErr = os.MkdirTemp("", "cnntrain-fake-mnist-")
		if fakeMNISTErr != nil {
			return
		}
		dir := filepath.Join(fakeMNISTDir, "mnist")
		for _, split := range []struct {
			prefix string
			n      int
		}{{"train", 60000}, {"t10k", 10000}} {
			images := binary.BigEndian.AppendUint32(make([]byte, 0, 16+split.n*28*28), 0x803)
			images = binary.BigEndian.AppendUint32(images, uint32(split.n))
			images = binary.BigEndian.AppendUint32(images, 28)
			images = binary.BigEndian.AppendUint32(images, 28)
			labels := binary.BigEndian.AppendUint32(nil, 0x801)
			labels = binary.BigEndian.AppendUint32(labels, uint32(split.n))
			for i := range split.n {
				labels = append(labels, byte(fakeMNISTLabel(i)))
				for p := range 28 * 28 {
					images = append(images, fakeMNISTPixel(i, p))
				}
			}
			if fakeMNISTErr = os.MkdirAll(dir, 0o755); fakeMNISTErr != nil {
				return
			}
			for name, data := range map[string][]byte{split.prefix + "-images-idx3-ubyte": images, split.prefix + "-labels-idx1-ubyte": labels} {
				if fakeMNISTErr = os.WriteFile(filepath.Join(dir, name), data, 0o644); fakeMNISTErr != nil {
					return
				}
			}
		}
	})
	if fakeMNISTErr != nil {
		t.Fatal(fakeMNISTErr)
	}
	return fakeMNISTDir
}
