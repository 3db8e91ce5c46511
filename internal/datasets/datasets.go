package datasets

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cnntrain/cnntrain/internal/suggest"
)

// Sentinel errors. Every error this package returns for the situations below
// wraps the matching sentinel, so callers can test with errors.Is while the
// message itself carries the details (file, dataset, what was found).
var (
	// ErrUnknownDataset: the dataset name is not in the table.
	ErrUnknownDataset = errors.New("unknown dataset")
	// ErrMissing: dataset files are absent and could not be downloaded.
	ErrMissing = errors.New("dataset files missing")
	// ErrCorrupt: a file exists but its content is not what the format or the
	// dataset promises.
	ErrCorrupt = errors.New("corrupt dataset file")
	// ErrNotAFolder: a file stands where the data folder, or a dataset's
	// folder in it, should be.
	ErrNotAFolder = errors.New("not a folder")
)

// Split is one labelled image set in memory, NCHW, raw bytes 0..255.
type Split struct {
	Name   string  // e.g. "mnist train"
	Images []uint8 // N*C*H*W
	Labels []uint8 // N
	N      int
	C      int
	H      int
	W      int
}

// ImageSize returns the number of bytes of one image, C*H*W.
func (s *Split) ImageSize() int { return s.C * s.H * s.W }

// Info describes a dataset known to cnntrain.
type Info struct {
	Name      string    // "mnist", "fashion-mnist", "cifar10"
	C, H, W   int       // image shape
	Classes   []string  // class names as torchvision spells them; labels index this
	Mean, Std []float32 // default normalization per channel (len C)
	TrainSize int       // images in the training split
	TestSize  int       // images in the test split
	// ShortClasses are the class names the PyTorch course notebooks print
	// where they differ from Classes: for CIFAR-10 the notebooks' tuple
	// ('plane', 'car', 'bird', ...). Same order as Classes; nil when the
	// notebooks use Classes as they are (MNIST, Fashion-MNIST).
	ShortClasses []string
	// Preset is how the course notebook that uses this dataset trains on it;
	// a model may tune it (models.Tune).
	Preset Preset
}

// NotebookClasses are the class names the notebooks print: ShortClasses
// where set, else Classes.
func (i Info) NotebookClasses() []string {
	if i.ShortClasses != nil {
		return i.ShortClasses
	}
	return i.Classes
}

// Preset is a notebook's training setup and the way it reports.
type Preset struct {
	Epochs, BatchSize, TestBatchSize int
	Optimizer                        string // "sgd" or "adam"
	LR, Momentum                     float64
	// Normalize overrides the dataset's Mean and Std; nil keeps them.
	Normalize *Normalize
	// Augment is RandomCrop(padding 4) and a horizontal flip.
	Augment bool
	Log     LogStyle
	// AccuracyDecimals is how the final accuracy line prints it (LogCIFAR).
	AccuracyDecimals int
}

// LogStyle is how a notebook reports training.
type LogStyle int

const (
	// LogMNIST: "Train: [6400/60000 (11%)]\tLoss: …" every 100 minibatches and
	// "Test set: Average loss: …" after every epoch.
	LogMNIST LogStyle = iota
	// LogCIFAR: "Epoch: 1 Minibatch:   101 loss: …" every 100 minibatches,
	// then "Finished Training" and one accuracy line after the last epoch.
	LogCIFAR
)

// mnistNotebook is the MNIST notebook's setup: SGD lr 0.01 momentum 0.5, one
// epoch, batches of 64, tests in batches of 1000.
var mnistNotebook = Preset{Epochs: 1, BatchSize: 64, TestBatchSize: 1000, Optimizer: "sgd", LR: 0.01, Momentum: 0.5, Log: LogMNIST}

// remoteFile is one file of a dataset as it is stored on disk and, unless the
// dataset comes as an archive, as its mirrors serve it (the uncompressed
// variant drops the ".gz").
type remoteFile struct {
	Name string
	MD5  string // hex digest of the file as served; empty for archive members
	// Train marks the files only the training split needs: evaluation
	// (LoadOptions.TestOnly) does without them.
	Train bool
}

// remoteArchive is the single download that holds all the files of a dataset
// (CIFAR-10 ships as one tar.gz). Its MD5 vouches for every member.
type remoteArchive struct {
	Name string // file name on the mirrors, e.g. "cifar-10-binary.tar.gz"
	MD5  string // hex digest of the archive as served
	Dir  string // folder inside the archive that holds the files
}

// dataset is one table entry: everything needed to find, fetch and read a
// dataset. A new dataset is a new entry; the shared code never switches on
// names.
type dataset struct {
	info    Info
	dir     string   // folder under the data directory
	mirrors []string // base URLs, tried in order
	files   []remoteFile
	// archive, if set, is what the mirrors serve instead of the separate
	// files: downloading fetches it once and unpacks the missing files.
	archive *remoteArchive
	// read reads the two splits; paths[i] is where files[i] was found.
	read func(d *dataset, paths []string) (train, test *Split, err error)
}

// MNIST and Fashion-MNIST ship the same four IDX files.
const (
	trainImagesIDX = "train-images-idx3-ubyte.gz"
	trainLabelsIDX = "train-labels-idx1-ubyte.gz"
	testImagesIDX  = "t10k-images-idx3-ubyte.gz"
	testLabelsIDX  = "t10k-labels-idx1-ubyte.gz"
)

// idxFiles lists the four IDX files in the order readIDXDataset expects:
// train images, train labels, test images, test labels.
func idxFiles(trainImagesMD5, trainLabelsMD5, testImagesMD5, testLabelsMD5 string) []remoteFile {
	return []remoteFile{
		{trainImagesIDX, trainImagesMD5, true},
		{trainLabelsIDX, trainLabelsMD5, true},
		{testImagesIDX, testImagesMD5, false},
		{testLabelsIDX, testLabelsMD5, false},
	}
}

// table holds the known datasets. The MD5s are torchvision's; the MNIST ones
// were checked against the official files.
var table = []*dataset{
	{
		info: Info{
			Name: "mnist", C: 1, H: 28, W: 28,
			Classes: []string{
				"0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
				"5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
			},
			Mean: []float32{0.1307}, Std: []float32{0.3081},
			TrainSize: 60000, TestSize: 10000,
			Preset: mnistNotebook,
		},
		dir: "mnist",
		mirrors: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"http://yann.lecun.com/exdb/mnist/",
		},
		files: idxFiles(
			"f68b3c2dcbeaaa9fbdd348bbdeb94873",
			"d53e105ee54ea40749a09fcbcd1e9432",
			"9fb629c4189551a2d022fa330f9573f3",
			"ec29112dd5afa0611ce80d1b7f02629c",
		),
		read: readIDXDataset,
	},
	{
		info: Info{
			Name: "fashion-mnist", C: 1, H: 28, W: 28,
			Classes: []string{
				"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
				"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
			},
			Mean: []float32{0.2860}, Std: []float32{0.3530},
			TrainSize: 60000, TestSize: 10000,
			Preset: mnistNotebook,
		},
		dir: "fashion-mnist",
		mirrors: []string{
			"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
		},
		files: idxFiles(
			"8d4fb7e6c68d591d4c3dfef9ec88bf0d",
			"25c81989df183df01b3e8a0aad5dffbe",
			"bef4ecab320f06d8554ea6380940ec79",
			"bb300cfdad3c16e7a12a480ee83cd310",
		),
		read: readIDXDataset,
	},
	{
		info: Info{
			Name: "cifar10", C: cifarC, H: cifarH, W: cifarW,
			Classes: []string{
				"airplane", "automobile", "bird", "cat", "deer",
				"dog", "frog", "horse", "ship", "truck",
			},
			ShortClasses: []string{
				"plane", "car", "bird", "cat", "deer",
				"dog", "frog", "horse", "ship", "truck",
			},
			// The VGG notebook's values (transforms.Normalize in its
			// CIFAR-10 pipeline).
			Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2023, 0.1994, 0.2010},
			TrainSize: 50000, TestSize: 10000,
			// Notebook 05_02 (the LeNet): Adam lr 1e-3, 10 epochs, batches
			// of 64, tests in batches of 8, normalization 0.5/0.5, the
			// accuracy printed as a whole percent.
			Preset: Preset{Epochs: 10, BatchSize: 64, TestBatchSize: 8, Optimizer: "adam", LR: 0.001,
				Normalize: &Normalize{Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.5, 0.5, 0.5}}, Log: LogCIFAR},
		},
		dir:     cifarDir,
		mirrors: []string{"https://www.cs.toronto.edu/~kriz/"},
		files:   cifarFiles(),
		archive: &remoteArchive{
			Name: "cifar-10-binary.tar.gz",
			MD5:  "c32a1d4ab5d03f1284b67883e8d87530",
			Dir:  cifarDir,
		},
		read: readCIFARDataset,
	},
}

// Names returns the sorted names of the known datasets.
func Names() []string {
	names := make([]string, 0, len(table))
	for _, d := range table {
		names = append(names, d.info.Name)
	}
	slices.Sort(names)
	return names
}

// Lookup describes the dataset called name. For an unknown name the error
// lists the known ones and matches ErrUnknownDataset.
func Lookup(name string) (Info, error) {
	d, err := lookup(name)
	if err != nil {
		return Info{}, err
	}
	// Copies, so a caller cannot change the table through the slices.
	info := d.info
	info.Classes = slices.Clone(info.Classes)
	info.Mean = slices.Clone(info.Mean)
	info.Std = slices.Clone(info.Std)
	info.ShortClasses = slices.Clone(info.ShortClasses)
	if n := info.Preset.Normalize; n != nil {
		info.Preset.Normalize = &Normalize{Mean: slices.Clone(n.Mean), Std: slices.Clone(n.Std)}
	}
	return info, nil
}

// lookup finds a dataset by name, ignoring case.
func lookup(name string) (*dataset, error) {
	for _, d := range table {
		if strings.EqualFold(d.info.Name, name) {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w %q%s (known: %s)", ErrUnknownDataset, name, suggest.Hint(name, Names()), strings.Join(Names(), ", "))
}

// Canonical is the registered spelling of a dataset name ("MNIST" →
// "mnist"), or name itself when it is not one.
func Canonical(name string) string {
	if d, err := lookup(name); err == nil {
		return d.info.Name
	}
	return name
}

// ResolveDataDir returns the data directory: flag if non-empty, else
// $CNNTRAIN_DATA if set and non-empty, else "./data".
func ResolveDataDir(flag string) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("CNNTRAIN_DATA"); env != "" {
		return env
	}
	return "./data"
}
