package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MNIST's image size and class count.
const (
	mnistSide    = 28
	mnistClasses = 10
)

// DefaultDir returns the folder scripts/fetch-mnist.sh installs MNIST into:
// os.UserCacheDir()/bot-onnx/data/mnist (on Linux
// ${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/mnist).
func DefaultDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locating the user cache folder: %w", err)
	}
	return filepath.Join(base, "bot-onnx", "data", "mnist"), nil
}

// MNIST reads the MNIST training (60,000) and test (10,000) sets from the
// four canonical idx files in dir: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each gzipped (name.gz, as published) or raw.
// Examples are 1×28×28 with values in [0,1] (see the package
// documentation); labels are the digits 0–9.
func MNIST(dir string) (train, test Dataset, err error) {
	train, err = readMNIST(dir, "train")
	if err != nil {
		return nil, nil, err
	}
	test, err = readMNIST(dir, "t10k")
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readMNIST reads one MNIST split: prefix is "train" or "t10k".
func readMNIST(dir, prefix string) (*Images, error) {
	imagesPath, err := findMNISTFile(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labelsPath, err := findMNISTFile(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	images, err := ReadIDXImages(imagesPath)
	if err != nil {
		return nil, err
	}
	if images.Rows != mnistSide || images.Cols != mnistSide {
		return nil, fmt.Errorf("%s: images are %d×%d, expected MNIST's %d×%d",
			imagesPath, images.Rows, images.Cols, mnistSide, mnistSide)
	}
	labels, err := ReadIDXLabels(labelsPath)
	if err != nil {
		return nil, err
	}
	if len(labels) != images.N {
		return nil, fmt.Errorf("%s holds %d labels but %s holds %d images: expected one label an image",
			labelsPath, len(labels), imagesPath, images.N)
	}
	for i, l := range labels {
		if l >= mnistClasses {
			return nil, fmt.Errorf("%s: label %d at index %d: expected a digit below %d", labelsPath, l, i, mnistClasses)
		}
	}
	return NewImages(images.Pixels, labels, 1, mnistSide, mnistSide, mnistClasses, 1.0/255)
}

// findMNISTFile returns the path of name.gz in dir, or of name if only the
// uncompressed file is there.
func findMNISTFile(dir, name string) (string, error) {
	for _, candidate := range []string{name + ".gz", name} {
		path := filepath.Join(dir, candidate)
		_, err := os.Stat(path)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	where, err := DefaultDir()
	if err != nil {
		where = "${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/mnist"
	}
	return "", fmt.Errorf("MNIST file %s.gz not found in %s: run scripts/fetch-mnist.sh (or `./scripts/task data`), which installs MNIST into %s",
		name, dir, where)
}
