package data

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// WriteIDX writes idx files (raw, not gzipped) in the MNIST layout: images
// (magic 2051, n×rows×cols bytes) and labels (magic 2049). It is how other
// data sets are converted once into MNIST's form, and how tests make
// small data sets.
func WriteIDX(imagesPath, labelsPath string, rows, cols int, pixels, labels []byte) error {
	n := len(labels)
	if len(pixels) != n*rows*cols {
		return fmt.Errorf("write idx: %d labels need %d pixels of %d×%d, found %d", n, n*rows*cols, rows, cols, len(pixels))
	}
	images := binary.BigEndian.AppendUint32(nil, idxImagesMagic)
	for _, d := range []int{n, rows, cols} {
		images = binary.BigEndian.AppendUint32(images, uint32(d))
	}
	if err := writeAtomic(imagesPath, append(images, pixels...)); err != nil {
		return err
	}
	head := binary.BigEndian.AppendUint32(nil, idxLabelsMagic)
	head = binary.BigEndian.AppendUint32(head, uint32(n))
	return writeAtomic(labelsPath, append(head, labels...))
}

// writeAtomic writes data through a temporary file and a rename, so that a
// reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteSyntheticMNIST writes a small MNIST-format data set into dir (files
// named as MNIST's, not gzipped): each 28×28 image is noise with a bright
// 7×5 block whose place encodes its class (0–9), so a ResNet learns it in
// a few epochs. Tests and smoke runs train on it without the real files.
func WriteSyntheticMNIST(dir string, trainN, testN int, seed uint64) error {
	for _, split := range []struct {
		prefix string
		n      int
		stream uint64
	}{{"train", trainN, 1}, {"t10k", testN, 2}} {
		rng := rand.New(rand.NewPCG(seed, split.stream))
		pixels := make([]byte, split.n*28*28)
		labels := make([]byte, split.n)
		for i := range labels {
			class := rng.IntN(10)
			labels[i] = byte(class)
			img := pixels[i*784 : (i+1)*784]
			for p := range img {
				img[p] = byte(rng.IntN(60))
			}
			r, c := 2+(class/5)*12, 1+(class%5)*5
			for y := r; y < r+7; y++ {
				for x := c; x < c+5; x++ {
					img[y*28+x] = 255
				}
			}
		}
		err := WriteIDX(filepath.Join(dir, split.prefix+"-images-idx3-ubyte"), filepath.Join(dir, split.prefix+"-labels-idx1-ubyte"), 28, 28, pixels, labels)
		if err != nil {
			return err
		}
	}
	return nil
}
