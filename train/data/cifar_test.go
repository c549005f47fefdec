package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cifarValue is value j (C×H×W order) of record r of file f in the small
// files the tests write: every record differs, and the value tells where
// it came from.
func cifarValue(f, r, j int) byte { return byte(f*53 + r*11 + j*3) }

// cifarLabel is the label of record r of file f.
func cifarLabel(f, r int) byte { return byte((f + r) % 10) }

// cifarRecords encodes n records of file f in CIFAR-10's binary format.
func cifarRecords(f, n int) []byte {
	var out []byte
	for r := range n {
		out = append(out, cifarLabel(f, r))
		for j := range 3072 {
			out = append(out, cifarValue(f, r, j))
		}
	}
	return out
}

// cifarNames are the six files, the training batches first, in the order
// CIFAR10 reads them.
var cifarNames = append(slices.Clone(cifarTrainFiles), cifarTestFile)

// writeCIFAR writes a small cifar-10-batches-bin folder: file f (in the
// order of cifarNames) holds counts[f] records. It returns the folder.
func writeCIFAR(t *testing.T, counts []int) string {
	t.Helper()
	dir := t.TempDir()
	for f, name := range cifarNames {
		writeFile(t, dir, name, cifarRecords(f, counts[f]))
	}
	return dir
}

func TestCIFAR10SmallFiles(t *testing.T) {
	counts := []int{3, 1, 2, 4, 2, 3}
	dir := writeCIFAR(t, counts)
	// The folder itself, or one that holds it as cifar-10-batches-bin.
	parent := t.TempDir()
	if err := os.Rename(writeCIFAR(t, counts), filepath.Join(parent, "cifar-10-batches-bin")); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{dir, parent} {
		train, test, err := CIFAR10(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			d     Dataset
			files []int // indices into cifarNames
		}{
			{"train", train, []int{0, 1, 2, 3, 4}},
			{"test", test, []int{5}},
		} {
			n := 0
			for _, f := range tc.files {
				n += counts[f]
			}
			c, h, w := tc.d.Shape()
			if tc.d.Len() != n || c != 3 || h != 32 || w != 32 || tc.d.Classes() != 10 {
				t.Fatalf("%s: %d examples of %d×%d×%d, %d classes; want %d of 3×32×32, 10",
					tc.name, tc.d.Len(), c, h, w, tc.d.Classes(), n)
			}
			i := 0
			for _, f := range tc.files {
				for r := range counts[f] {
					got, label := example(t, tc.d, i)
					if label != int(cifarLabel(f, r)) {
						t.Fatalf("%s example %d (%s record %d): label %d, want %d", tc.name, i, cifarNames[f], r, label, cifarLabel(f, r))
					}
					for j, v := range got {
						if want := float64(cifarValue(f, r, j)) / 255; !near(float64(v), want, 1e-7) {
							t.Fatalf("%s example %d (%s record %d), value %d: got %g, want %g", tc.name, i, cifarNames[f], r, j, v, want)
						}
					}
					i++
				}
			}
		}
	}
}

func TestCIFAR10Planes(t *testing.T) {
	// One record whose red, green and blue planes are 10, 20 and 30, with
	// the top-left pixel of each 255, 128 and 0.
	record := []byte{7}
	for k, v := range []byte{10, 20, 30} {
		plane := slices.Repeat([]byte{v}, 1024)
		plane[0] = []byte{255, 128, 0}[k]
		record = append(record, plane...)
	}
	dir := t.TempDir()
	for _, name := range cifarNames {
		writeFile(t, dir, name, record)
	}
	_, test, err := CIFAR10(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, label := example(t, test, 0)
	for _, want := range []struct {
		at int
		v  float64
	}{{0, 1}, {1, 10.0 / 255}, {1023, 10.0 / 255}, {1024, 128.0 / 255}, {1025, 20.0 / 255}, {2048, 0}, {3071, 30.0 / 255}} {
		if !near(float64(got[want.at]), want.v, 1e-7) {
			t.Errorf("value %d: got %g, want %g", want.at, got[want.at], want.v)
		}
	}
	if label != 7 || CIFAR10Classes[label] != "horse" {
		t.Errorf("label %d (%s), want 7 (horse)", label, CIFAR10Classes[label])
	}

	// Normalised by the standard statistics, as a model sees it.
	norm, err := Normalize(test, CIFAR10Mean[:], CIFAR10Std[:])
	if err != nil {
		t.Fatal(err)
	}
	got, _ = example(t, norm, 0)
	for k, at := range []int{1, 1025, 2049} {
		want := (float64([]int{10, 20, 30}[k])/255 - CIFAR10Mean[k]) / CIFAR10Std[k]
		if !near(float64(got[at]), want, 1e-5) {
			t.Errorf("channel %d normalised: got %g, want %g", k, got[at], want)
		}
	}
}

func TestCIFAR10Errors(t *testing.T) {
	ones := []int{1, 1, 1, 1, 1, 1}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string
		want  []string
	}{
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") },
			[]string{"CIFAR-10 files data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin not found in", "cifar-10-binary.tar.gz"}},
		{"two missing", func(t *testing.T) string {
			dir := writeCIFAR(t, ones)
			for _, name := range []string{"data_batch_3.bin", "test_batch.bin"} {
				if err := os.Remove(filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			return dir
		}, []string{"CIFAR-10 files data_batch_3.bin, test_batch.bin not found in"}},
		{"one missing", func(t *testing.T) string {
			dir := writeCIFAR(t, ones)
			if err := os.Remove(filepath.Join(dir, "data_batch_5.bin")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"CIFAR-10 file data_batch_5.bin not found in"}},
		{"partial record", func(t *testing.T) string {
			dir := writeCIFAR(t, ones)
			writeFile(t, dir, "data_batch_2.bin", cifarRecords(1, 3)[:3*3073-5])
			return dir
		}, []string{"data_batch_2.bin: 9214 bytes is not a whole number of 3073-byte records", "2 records and 3068 bytes over"}},
		{"empty file", func(t *testing.T) string {
			dir := writeCIFAR(t, ones)
			writeFile(t, dir, "test_batch.bin", nil)
			return dir
		}, []string{"test_batch.bin: empty file"}},
		{"label 10", func(t *testing.T) string {
			dir := writeCIFAR(t, ones)
			content := cifarRecords(3, 2)
			content[3073] = 10
			writeFile(t, dir, "data_batch_4.bin", content)
			return dir
		}, []string{"data_batch_4.bin: record 1 (at byte 3073) has label 10: expected a class 0–9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := CIFAR10(tc.setup(t))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %v, want an error containing %q", err, want)
				}
			}
		})
	}
}

func TestCIFAR10DefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if dir, err := CIFAR10DefaultDir(); err != nil || dir != "/cache/bot-onnx/data/cifar-10-batches-bin" {
		t.Errorf("got %q, %v; want /cache/bot-onnx/data/cifar-10-batches-bin", dir, err)
	}
	// The [0,255] figures of fb.resnet.torch, divided by 255, agree within
	// the rounding of both: 0.05/255 and 0.00005.
	for k, m := range []float64{125.3, 123.0, 113.9} {
		if !near(CIFAR10Mean[k], m/255, 0.00025) || !near(CIFAR10Std[k], []float64{63.0, 62.1, 66.7}[k]/255, 0.00025) {
			t.Errorf("channel %d: mean %g std %g, want about %g and %g", k, CIFAR10Mean[k], CIFAR10Std[k], m/255, []float64{63.0, 62.1, 66.7}[k]/255)
		}
	}
}
