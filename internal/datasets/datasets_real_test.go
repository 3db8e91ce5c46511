package datasets

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cnntrain/cnntrain/internal/testsupport/realdata"
)

func TestRealMNIST(t *testing.T) {
	dir := realdata.Dir(t)
	start := time.Now()
	train, test, err := Load(context.Background(), "mnist", dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded MNIST in %v", time.Since(start))
	if train.N != 60000 || test.N != 10000 || train.ImageSize() != 784 || len(train.Images) != 60000*784 {
		t.Fatalf("got %d/%d images of %d bytes", train.N, test.N, train.ImageSize())
	}
	if train.Labels[0] != 5 {
		t.Errorf("first training label %d, want 5", train.Labels[0])
	}
	// The class counts of MNIST are well known; any reading bug shows here.
	hist := func(labels []uint8) []int {
		h := make([]int, 10)
		for _, l := range labels {
			h[l]++
		}
		return h
	}
	if got, want := hist(train.Labels), []int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}; !slices.Equal(got, want) {
		t.Errorf("train label histogram %v, want %v", got, want)
	}
	if got, want := hist(test.Labels), []int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}; !slices.Equal(got, want) {
		t.Errorf("test label histogram %v, want %v", got, want)
	}
	// The table's normalization constants are the pixel statistics of the
	// training set.
	var sum, sumSq float64
	for _, b := range train.Images {
		x := float64(b) / 255
		sum += x
		sumSq += x * x
	}
	n := float64(len(train.Images))
	mean := sum / n
	std := math.Sqrt(sumSq/n - mean*mean)
	info, _ := Lookup("mnist")
	if math.Abs(mean-float64(info.Mean[0])) > 1e-4 || math.Abs(std-float64(info.Std[0])) > 1e-4 {
		t.Errorf("pixel mean %.4f std %.4f, table says %v %v", mean, std, info.Mean[0], info.Std[0])
	}
}

// The MD5s in the table are the ones downloads are checked against; here
// they are checked against the official files.
func TestRealMNISTChecksums(t *testing.T) {
	dir := realdata.Dir(t)
	d, err := lookup("mnist")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.files {
		path := filepath.Join(dir, d.dir, f.Name)
		file, err := os.Open(path)
		if os.IsNotExist(err) {
			t.Logf("%s: not there gzipped, MD5 not checked", path)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		h := md5.New()
		_, err = io.Copy(h, file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != f.MD5 {
			t.Errorf("%s: MD5 %s, table says %s", path, got, f.MD5)
		}
	}
}

// The prepared CIFAR-10 copy (see /work/shared/datasets: the official binary
// format, pixels re-encoded from JPEGs) or the official one.
func TestRealCIFAR10(t *testing.T) {
	dir := realdata.Dir(t)
	start := time.Now()
	train, test, err := Load(context.Background(), "cifar10", dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded CIFAR-10 in %v", time.Since(start))
	if train.N != 50000 || test.N != 10000 || train.C != 3 || train.H != 32 || train.W != 32 ||
		len(train.Images) != 50000*3072 || len(test.Images) != 10000*3072 || train.Name != "cifar10 train" {
		t.Fatalf("got %q: %d/%d images of %dx%dx%d", train.Name, train.N, test.N, train.C, train.H, train.W)
	}
	// Load succeeded, so batches.meta.txt names these classes.
	info, _ := Lookup("cifar10")
	if want := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}; !slices.Equal(info.Classes, want) {
		t.Errorf("classes %v", info.Classes)
	}
	hist := func(labels []uint8) []int {
		h := make([]int, 10)
		for _, l := range labels {
			h[l]++
		}
		return h
	}
	if got := hist(train.Labels); !slices.Equal(got, slices.Repeat([]int{5000}, 10)) {
		t.Errorf("train label histogram %v, want 5000 per class", got)
	}
	if got := hist(test.Labels); !slices.Equal(got, slices.Repeat([]int{1000}, 10)) {
		t.Errorf("test label histogram %v, want 1000 per class", got)
	}
	// Per-channel pixel means of the training set are the table's means
	// (0.4914, 0.4822, 0.4465); a swapped plane or misaligned record would
	// show. The table's stds are not the pixel stds (about 0.247, 0.243,
	// 0.261), so those are only logged.
	for c := range 3 {
		var sum, sumSq float64
		for i := range train.N {
			for _, b := range train.Images[i*3072+c*1024 : i*3072+(c+1)*1024] {
				x := float64(b) / 255
				sum += x
				sumSq += x * x
			}
		}
		n := float64(train.N * 1024)
		mean := sum / n
		std := math.Sqrt(sumSq/n - mean*mean)
		t.Logf("channel %d: mean %.4f std %.4f", c, mean, std)
		if math.Abs(mean-float64(info.Mean[c])) > 0.002 {
			t.Errorf("channel %d: pixel mean %.4f, table says %v", c, mean, info.Mean[c])
		}
		if std < 0.2 || std > 0.3 {
			t.Errorf("channel %d: pixel std %.4f is implausible", c, std)
		}
	}
	// The test split's pixels are not the training split's.
	if slices.Equal(test.Images[:3072], train.Images[:3072]) {
		t.Error("the first test image equals the first training image")
	}
}
