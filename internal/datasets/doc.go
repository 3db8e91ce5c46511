// Package datasets finds, checks, downloads and reads the labelled image sets
// cnntrain trains on, and turns them into normalized float32 batches.
//
// # Known datasets
//
//	name            train   test   image     classes
//	mnist           60000  10000   1x28x28   the digits "0 - zero" ... "9 - nine"
//	fashion-mnist   60000  10000   1x28x28   "T-shirt/top", "Trouser", ... "Ankle boot"
//
// [Names] lists them, [Lookup] describes one (shape, class names, the usual
// normalization mean and std, split sizes). An unknown name gives an error
// that lists the known ones and matches [ErrUnknownDataset].
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
//
// Every file may also be stored uncompressed, under the same name without
// ".gz". When both exist the .gz one is used. Whether a file is gzipped is
// decided by its first bytes, not its name, so a file that was gunzipped but
// kept its name still reads.
//
// # Reading
//
// [Load] reads both splits of a dataset into memory as [Split] values: NCHW
// bytes 0..255 plus one label byte per image. It is strict: a wrong magic
// number, unexpected image size, wrong image count, truncated or over-long
// payload, image and label files that disagree, a label outside the class
// range or a damaged gzip stream is an error that names the file and the
// problem and matches [ErrCorrupt]. Nothing is ever silently skipped or padded.
// [ReadIDXImages] and [ReadIDXLabels] are the file-level readers underneath.
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
// # Batches
//
// A [Loader] serves a split as batches of float32 images, computed exactly
// like torchvision's ToTensor() followed by Normalize(mean, std):
//
//	x = (float32(b)/255 - mean[c]) / std[c]
//
// optionally with a fixed pixel permutation (permuted MNIST, see [Permutation])
// and a per-image augmentation hook. [Loader.Epoch] returns an iterator; a
// goroutine prepares the next batches while the caller trains on the current
// one. The order of every epoch follows from (Seed, epoch) alone, so a run can
// be repeated or resumed at any epoch. A [Batch] and its slices are reused:
// they stay valid only until the next batch is requested.
//
// # Adding a dataset
//
// Each dataset is one entry in a table (see datasets.go): its [Info], the
// folder name, the mirrors, the files with their MD5s, and a function that
// reads the located files into two splits. Locating, gzip detection,
// downloading, verifying and the error messages are shared by all entries.
package datasets
