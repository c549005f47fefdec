package data

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// mnistFiles are the four MNIST file names, gzipped as published.
var mnistFiles = []string{
	"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
}

// writeMNIST writes a small MNIST-format folder: trainN and testN images of
// rows×cols, labels i mod 10, gzipped or raw, and returns it.
func writeMNIST(t *testing.T, trainN, testN, rows, cols int, gz bool) string {
	t.Helper()
	dir := t.TempDir()
	for _, split := range []struct {
		prefix string
		n      int
	}{{"train", trainN}, {"t10k", testN}} {
		labels := make([]byte, split.n)
		for i := range labels {
			labels[i] = byte(i % 10)
		}
		img := idxBytes(idxImagesMagic, []uint32{uint32(split.n), uint32(rows), uint32(cols)}, ramp(split.n*rows*cols))
		lab := idxBytes(idxLabelsMagic, []uint32{uint32(split.n)}, labels)
		suffix := ""
		if gz {
			img, lab, suffix = gzipped(t, img), gzipped(t, lab), ".gz"
		}
		writeFile(t, dir, split.prefix+"-images-idx3-ubyte"+suffix, img)
		writeFile(t, dir, split.prefix+"-labels-idx1-ubyte"+suffix, lab)
	}
	return dir
}

func TestMNISTSmallFiles(t *testing.T) {
	for _, gz := range []bool{true, false} {
		dir := writeMNIST(t, 12, 3, 28, 28, gz)
		train, test, err := MNIST(dir)
		if err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		if train.Len() != 12 || test.Len() != 3 {
			t.Errorf("gzip %v: %d and %d examples, want 12 and 3", gz, train.Len(), test.Len())
		}
		// Example 2's first pixel is byte 2·28·28 of the ramp.
		got, label := example(t, test, 2)
		if want := float64(2*28*28%256) / 255; label != 2 || !near(float64(got[0]), want, 1e-7) {
			t.Errorf("gzip %v: test example 2 starts %g with label %d, want %g and 2", gz, got[0], label, want)
		}
	}
}

func TestMNISTErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string
		want  []string
	}{
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") },
			[]string{"MNIST file train-images-idx3-ubyte.gz not found in", "run scripts/fetch-mnist.sh"}},
		{"missing test labels", func(t *testing.T) string {
			dir := writeMNIST(t, 2, 2, 28, 28, true)
			writeFile(t, dir, "t10k-labels-idx1-ubyte.gz", nil)
			return dir
		}, []string{"t10k-labels-idx1-ubyte.gz: truncated idx header"}},
		{"count mismatch", func(t *testing.T) string {
			dir := writeMNIST(t, 3, 2, 28, 28, true)
			writeFile(t, dir, "train-labels-idx1-ubyte.gz", gzipped(t, idxBytes(idxLabelsMagic, []uint32{2}, []byte{1, 2})))
			return dir
		}, []string{"train-labels-idx1-ubyte.gz holds 2 labels but", "train-images-idx3-ubyte.gz holds 3 images"}},
		{"label 10", func(t *testing.T) string {
			dir := writeMNIST(t, 3, 2, 28, 28, true)
			writeFile(t, dir, "t10k-labels-idx1-ubyte.gz", gzipped(t, idxBytes(idxLabelsMagic, []uint32{2}, []byte{1, 10})))
			return dir
		}, []string{"t10k-labels-idx1-ubyte.gz: label 10 at index 1: expected a digit below 10"}},
		{"wrong size", func(t *testing.T) string { return writeMNIST(t, 2, 2, 28, 27, false) },
			[]string{"train-images-idx3-ubyte: images are 28×27, expected MNIST's 28×28"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := MNIST(tc.setup(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if dir, err := DefaultDir(); err != nil || dir != "/cache/bot-onnx/data/mnist" {
		t.Errorf("got %q, %v; want /cache/bot-onnx/data/mnist", dir, err)
	}
}

// labelHistogram counts the labels of d.
func labelHistogram(t *testing.T, d Dataset) []int {
	t.Helper()
	l, err := NewLoader(d, LoaderConfig{BatchSize: 1000, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Epoch(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	hist := make([]int, d.Classes())
	for _, b := range collect(t, it) {
		for _, label := range b.labels {
			hist[label]++
		}
	}
	return hist
}

// TestMNISTReal checks the real MNIST files, installed by
// scripts/fetch-mnist.sh, against well-known facts about them.
func TestMNISTReal(t *testing.T) {
	dir, err := DefaultDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	for _, name := range mnistFiles {
		testenv.RequireFile(t, filepath.Join(dir, name), "scripts/fetch-mnist.sh")
	}
	train, test, err := MNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		d           Dataset
		n           int
		firstLabels []int
		histogram   []int
	}{
		{"train", train, 60000, []int{5, 0, 4, 1, 9, 2, 1, 3},
			[]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}},
		{"test", test, 10000, []int{7, 2, 1, 0, 4, 1, 4, 9},
			[]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, h, w := tc.d.Shape()
			if tc.d.Len() != tc.n || c != 1 || h != 28 || w != 28 || tc.d.Classes() != 10 {
				t.Errorf("%d examples of %d×%d×%d, %d classes; want %d of 1×28×28, 10",
					tc.d.Len(), c, h, w, tc.d.Classes(), tc.n)
			}
			var first []int
			for i := range tc.firstLabels {
				_, label := example(t, tc.d, i)
				first = append(first, label)
			}
			if !slices.Equal(first, tc.firstLabels) {
				t.Errorf("first labels %v, want %v", first, tc.firstLabels)
			}
			if hist := labelHistogram(t, tc.d); !slices.Equal(hist, tc.histogram) {
				t.Errorf("label histogram %v, want %v", hist, tc.histogram)
			}
		})
	}

	mean, std, err := MeanStd(train)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("train set on [0,1]: mean %.5f, std %.5f", mean[0], std[0])
	if !near(mean[0], MNISTMean, 0.0005) || !near(std[0], MNISTStd, 0.0005) {
		t.Errorf("train mean %.5f std %.5f, want %.4f and %.4f (±0.0005)", mean[0], std[0], MNISTMean, MNISTStd)
	}

	// MNIST normalised by its standard figures and repeated to three
	// channels, as a 3-channel model sees it: every channel standardised.
	norm, err := Normalize(train, []float64{MNISTMean}, []float64{MNISTStd})
	if err != nil {
		t.Fatal(err)
	}
	rgb, err := RepeatChannels(norm, 3)
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err = MeanStd(rgb)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 3 {
		if !near(mean[k], 0, 0.002) || !near(std[k], 1, 0.002) {
			t.Errorf("normalised channel %d: mean %.5f std %.5f, want 0 and 1 (±0.002)", k, mean[k], std[k])
		}
	}
}
