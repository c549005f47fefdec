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
	return mnistIDXFiles.read(dir)
}

// idxSet describes a data set stored as MNIST's four idx files of 28×28
// images, for the messages its reader gives.
type idxSet struct {
	name       string // "MNIST"
	script     string // what installs it
	defaultDir func() (string, error)
	cacheDir   string // defaultDir's answer spelled out, for when it fails
	preferGz   bool   // look for name.gz first and name it when missing
	classes    int
	labelWord  string // "a digit"
}

var mnistIDXFiles = idxSet{name: "MNIST", script: "scripts/fetch-mnist.sh (or `./scripts/task data`)", defaultDir: DefaultDir,
	cacheDir: "${XDG_CACHE_HOME:-$HOME/.cache}/bot-onnx/data/mnist", preferGz: true, classes: mnistClasses, labelWord: "a digit"}

// read reads the training and test splits from dir.
func (s idxSet) read(dir string) (train, test Dataset, err error) {
	train, err = s.readSplit(dir, "train")
	if err != nil {
		return nil, nil, err
	}
	test, err = s.readSplit(dir, "t10k")
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readSplit reads one split: prefix is "train" or "t10k".
func (s idxSet) readSplit(dir, prefix string) (*Images, error) {
	imagesPath, err := s.find(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labelsPath, err := s.find(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	images, err := ReadIDXImages(imagesPath)
	if err != nil {
		return nil, err
	}
	if images.Rows != mnistSide || images.Cols != mnistSide {
		return nil, fmt.Errorf("%s: images are %d×%d, expected %s's %d×%d",
			imagesPath, images.Rows, images.Cols, s.name, mnistSide, mnistSide)
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
		if int(l) >= s.classes {
			return nil, fmt.Errorf("%s: label %d at index %d: expected %s below %d", labelsPath, l, i, s.labelWord, s.classes)
		}
	}
	return NewImages(images.Pixels, labels, 1, mnistSide, mnistSide, s.classes, 1.0/255)
}

// find returns the path of name or name.gz in dir, whichever is there
// (the set's preferred form first).
func (s idxSet) find(dir, name string) (string, error) {
	candidates := []string{name, name + ".gz"}
	missing := name
	if s.preferGz {
		candidates[0], candidates[1], missing = name+".gz", name, name+".gz"
	}
	for _, candidate := range candidates {
		path := filepath.Join(dir, candidate)
		_, err := os.Stat(path)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	where, err := s.defaultDir()
	if err != nil {
		where = s.cacheDir
	}
	return "", fmt.Errorf("%s file %s not found in %s: run %s, which installs %s into %s",
		s.name, missing, dir, s.script, s.name, where)
}
