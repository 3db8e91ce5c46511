// Package datasets finds, checks, downloads and reads the labelled image sets
// cnntrain trains on, and turns them into normalized float32 batches.
//
// # Known datasets
//
//	name            train   test   image     classes
//	mnist           60000  10000   1x28x28   the digits "0 - zero" ... "9 - nine"
//	fashion-mnist   60000  10000   1x28x28   "T-shirt/top", "Trouser", ... "Ankle boot"
//	cifar10         50000  10000   3x32x32   "airplane", "automobile", "bird", ... "truck"
//
// [Names] lists them, [Lookup] describes one (shape, class names, the usual
// normalization mean and std, split sizes). An unknown name gives an error
// that lists the known ones and matches [ErrUnknownDataset].
//
// Class names are torchvision's. For CIFAR-10 the course notebooks print
// shorter ones, ('plane', 'car', 'bird', ...): [Info].ShortClasses holds
// those, and is nil for datasets whose notebooks use Classes as they are.
// The CIFAR-10 mean and std are the VGG notebook's, (0.4914, 0.4822, 0.4465)
// and (0.2023, 0.1994, 0.2010); notebooks that normalize with 0.5 pass their
// own [Normalize].
//
// # Where the files go
//
// The data directory is the --data-dir flag if given, else $CNNTRAIN_DATA, else
// ./data ([ResolveDataDir]). Each dataset has a folder of its own there, holding
// the files exactly as the official distribution names them:
//
//	DATA/mnist/train-images-idx3-ubyte.gz
//	DATA/mnist/train-labels-idx1-ubyte.gz
//	DATA/mnist/t10k-images-idx3-ubyte.gz
//	DATA/mnist/t10k-labels-idx1-ubyte.gz
//	DATA/fashion-mnist/  (the same four names)
//	DATA/cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin
//	DATA/cifar-10-batches-bin/test_batch.bin
//	DATA/cifar-10-batches-bin/batches.meta.txt
//
// Every MNIST file may also be stored uncompressed, under the same name
// without ".gz". When both exist the .gz one is used. Whether a file is
// gzipped is decided by its first bytes, not its name, so a file that was
// gunzipped but kept its name still reads.
//
// The CIFAR-10 folder is the cifar-10-batches-bin folder of the official
// "binary version" archive, cifar-10-binary.tar.gz, as it unpacks (the other
// files in it, such as readme.html, are not needed).
//
// # Reading
//
// [Load] reads both splits of a dataset into memory as [Split] values: NCHW
// bytes 0..255 plus one label byte per image. It is strict: a wrong magic
// number, unexpected image size, wrong image count, truncated or over-long
// payload, image and label files that disagree, a label outside the class
// range or a damaged gzip stream is an error that names the file and the
// problem and matches [ErrCorrupt]. Nothing is ever silently skipped or padded.
// A .gz of several members reads as their data one after the other, as
// gzip -d reads it; bytes after the last member that start no other are
// "trailing data after the gzip stream". Something other than a file at a
// data file's name (a folder, a FIFO, a device, a symlink loop) is named
// as what it is, never as missing, and never opened in a way that waits.
// [ReadIDXImages] and [ReadIDXLabels] are the file-level readers underneath.
//
// A CIFAR-10 batch file is a sequence of 3073-byte records: a label byte,
// then the red, green and blue planes of a 32x32 image, row by row. That is
// one NCHW image already, so the training split's Images is the pixel parts
// of data_batch_1.bin to data_batch_5.bin, in that order, and its Labels the
// label bytes. Each batch file must hold exactly a fifth of the training
// split (10000 records), test_batch.bin the whole test split, and every label
// must be 0..9; a size that is not a whole number of records, a wrong record
// count or a label out of range is an [ErrCorrupt] error naming the file, the
// record and the value. [ReadCIFARBatch] reads one file on its own.
//
// batches.meta.txt is required and checked, not used to rename anything: it
// must list exactly the ten class names of [Info].Classes, in order, one per
// line (surrounding spaces, CRLF line ends and trailing blank lines are
// fine). Labels index Info.Classes, which [Lookup] knows without any files,
// so a list that disagrees means the folder holds some other dataset and is
// an [ErrCorrupt] error.
//
// # Downloading
//
// With [LoadOptions].Download set, missing files are fetched from the mirrors
// torchvision uses, in order, moving on to the next mirror when one fails.
// Each file's MD5 is checked while it streams in, and the file only appears
// under its final name once complete and verified, so an interrupted or
// corrupted download never leaves a half-written file behind. When files are
// missing and cannot be downloaded (or downloading is off), the error matches
// [ErrMissing] and says which files are missing and where they belong.
//
// CIFAR-10 is served as one archive,
// https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (about 160 MB).
// It streams into a temporary file in the dataset's folder while its MD5 is
// checked; then the missing files, and only those, are unpacked from it (in
// Go, no external tar), each written atomically, and the archive is removed.
// Files already present are left as they are. An archive that holds a link,
// a device, an absolute name or a name with "..", or that lacks a needed
// file, is refused, and the files unpacked from it so far are removed again.
// Without a network, put the files there by hand: unpack the archive and
// move its cifar-10-batches-bin folder into the data directory.
//
// # Batches
//
// A [Loader] serves a split as batches of float32 images, computed exactly
// like torchvision's ToTensor() followed by Normalize(mean, std):
//
//	x = (float32(b)/255 - mean[c]) / std[c]
//
// optionally with a fixed pixel permutation (permuted MNIST, see [Permutation])
// and training augmentation. [Loader.Epoch] returns an iterator; a goroutine
// prepares the next batches while the caller trains on the current one. The
// order of every epoch follows from (Seed, epoch) alone, so a run repeats;
// [Loader.From] continues an epoch from a [Position] (the augmentation
// stream's state included), which is how a stopped run resumes at any
// minibatch. A [Batch] and its slices are reused: they
// stay valid only until the next batch is requested.
//
// # Augmentation
//
// [LoaderConfig].RandomCrop and RandomFlip are the CIFAR-10 notebooks'
// training transforms,
//
//	transforms.RandomCrop(32, padding=4)
//	transforms.RandomHorizontalFlip()
//
// with torchvision's semantics. They act on the raw image, before ToTensor
// and Normalize: the image is padded with zero bytes, so after normalization
// a padding pixel is (0-mean)/std, not 0. For each image the crop's top
// offset and then its left offset into the padded image are drawn uniformly
// from 0..2*padding (offset padding, padding is the image itself), then
// whether to flip, with probability 1/2. The draws come from (Seed, epoch)
// alone, image after image in epoch order, so augmented epochs are exactly
// reproducible. The prefetching goroutine draws a batch's augmentations first,
// in order, then splits its images among itself and LoaderConfig.Workers-1
// helpers (all cores by default), each with its own scratch buffer, so the
// batch is the same for any number of workers and no step allocates.
//
// # Adding a dataset
//
// Each dataset is one entry in a table (see datasets.go): its [Info], the
// folder name, the mirrors, the files with their MD5s (or, for a dataset
// served as one tar.gz, the archive's name, MD5 and inner folder), and a
// function that reads the located files into two splits. Locating, gzip
// detection, downloading, verifying, unpacking and the error messages are
// shared by all entries.
package datasets
