package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CIFAR-10's image size, class count and binary record: one label byte,
// then the 32×32 red plane, the green plane and the blue plane, each
// row-major: C×H×W order already.
const (
	cifarSide    = 32
	cifarClasses = 10
	cifarPixels  = 3 * cifarSide * cifarSide // 3072
	cifarRecord  = 1 + cifarPixels           // 3073
)

// cifarTrainFiles and cifarTestFile are the files of the binary version,
// cifar-10-batches-bin (from cifar-10-binary.tar.gz), that hold the 50,000
// training and 10,000 test images, 10,000 a file.
var (
	cifarTrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	cifarTestFile   = "test_batch.bin"
)

// CIFAR10Classes are CIFAR-10's class names, indexed by label (the order of
// batches.meta.txt).
var CIFAR10Classes = [10]string{
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck",
}

// CIFAR-10's per-channel (red, green, blue) mean and standard deviation
// over every pixel of its 50,000 training images, on values in [0,1] (the
// units of the data sets [CIFAR10] returns): the figures in common use, as
// in torchvision-based training code. fb.resnet.torch (datasets/cifar10.lua),
// the reference for the ResNet CIFAR recipes, quotes the same statistics in
// [0,255] units, mean (125.3, 123.0, 113.9) and std (63.0, 62.1, 66.7),
// which divided by 255 agree with these within their own rounding
// (0.05/255 = 0.0002). Not to be confused
// with (0.2023, 0.1994, 0.2010), also widespread, which is not the pixels'
// standard deviation (it is an average of per-image ones). Pass them to
// [Normalize] as CIFAR10Mean[:] and CIFAR10Std[:]; they are not to be
// changed.
var (
	CIFAR10Mean = [3]float64{0.4914, 0.4822, 0.4465}
	CIFAR10Std  = [3]float64{0.2470, 0.2435, 0.2616}
)

// CIFAR10DefaultDir returns the folder where bot-onnx looks for CIFAR-10's
// binary version by default: os.UserCacheDir()/bot-onnx/data/cifar-10-batches-bin
// (on Linux ${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/cifar-10-batches-bin),
// the folder cifar-10-binary.tar.gz unpacks to, placed in the data cache.
func CIFAR10DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locating the user cache folder: %w", err)
	}
	return filepath.Join(base, "bot-onnx", "data", "cifar-10-batches-bin"), nil
}

// CIFAR10 reads CIFAR-10's training set (data_batch_1.bin …
// data_batch_5.bin, in that order) and test set (test_batch.bin) from the
// binary version's files in dir: cifar-10-batches-bin, as
// cifar-10-binary.tar.gz unpacks (a dir that holds that folder does too).
// Each file is a sequence of 3,073-byte records: a label byte 0–9, then the
// image's red, green and blue 32×32 planes, row-major. Examples are 3×32×32
// with values in [0,1] (scale 1/255, the units of [CIFAR10Mean] and
// [CIFAR10Std]); labels index [CIFAR10Classes]. The real files hold 10,000
// records each, 50,000 training and 10,000 test examples; any whole number
// of records is accepted, so small files in the format work too, but a file
// whose size is not a multiple of 3,073 bytes, or a label above 9, is an
// error, and so is every missing file, all named at once.
func CIFAR10(dir string) (train, test Dataset, err error) {
	files := append(append([]string(nil), cifarTrainFiles...), cifarTestFile)
	missing, err := cifarMissing(dir, files)
	if err != nil {
		return nil, nil, err
	}
	if len(missing) == len(files) {
		nested := filepath.Join(dir, "cifar-10-batches-bin")
		if m, err := cifarMissing(nested, files); err == nil && len(m) < len(files) {
			dir, missing = nested, m
		}
	}
	if len(missing) > 0 {
		what := "file"
		if len(missing) > 1 {
			what = "files"
		}
		return nil, nil, fmt.Errorf("CIFAR-10 %s %s not found in %s: expected the binary version's folder cifar-10-batches-bin, as cifar-10-binary.tar.gz unpacks (data_batch_1.bin … data_batch_5.bin and test_batch.bin)",
			what, strings.Join(missing, ", "), dir)
	}
	paths := func(names ...string) []string {
		p := make([]string, len(names))
		for i, name := range names {
			p[i] = filepath.Join(dir, name)
		}
		return p
	}
	train, err = readCIFAR(paths(cifarTrainFiles...))
	if err != nil {
		return nil, nil, err
	}
	test, err = readCIFAR(paths(cifarTestFile))
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// cifarMissing returns the names among names that are not in dir.
func cifarMissing(dir string, names []string) ([]string, error) {
	var missing []string
	for _, name := range names {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, name)
		case err != nil:
			return nil, err
		}
	}
	return missing, nil
}

// readCIFAR reads the records of the binary files at paths, in order, into
// one data set.
func readCIFAR(paths []string) (*Images, error) {
	total := 0
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if err := checkCIFARSize(path, info.Size()); err != nil {
			return nil, err
		}
		total += int(info.Size() / cifarRecord)
	}
	pixels := make([]uint8, 0, total*cifarPixels)
	labels := make([]uint8, 0, total)
	for _, path := range paths {
		content, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := checkCIFARSize(path, int64(len(content))); err != nil {
			return nil, err
		}
		for r := range len(content) / cifarRecord {
			record := content[r*cifarRecord : (r+1)*cifarRecord]
			if record[0] >= cifarClasses {
				return nil, fmt.Errorf("%s: record %d (at byte %d) has label %d: expected a class 0–%d",
					path, r, r*cifarRecord, record[0], cifarClasses-1)
			}
			labels = append(labels, record[0])
			pixels = append(pixels, record[1:]...)
		}
	}
	return NewImages(pixels, labels, 3, cifarSide, cifarSide, cifarClasses, 1.0/255)
}

// checkCIFARSize checks that a file of size bytes holds a whole number of
// records, at least one.
func checkCIFARSize(path string, size int64) error {
	switch {
	case size == 0:
		return fmt.Errorf("%s: empty file: expected records of %d bytes (a label byte and 3×32×32 pixel bytes)", path, cifarRecord)
	case size%cifarRecord != 0:
		return fmt.Errorf("%s: %d bytes is not a whole number of %d-byte records (a label byte and 3×32×32 pixel bytes): %d records and %d bytes over",
			path, size, cifarRecord, size/cifarRecord, size%cifarRecord)
	}
	return nil
}
