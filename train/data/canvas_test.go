package data

import (
	"crypto/sha256"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

func TestBilinearTaps(t *testing.T) {
	for _, tc := range []struct {
		in, out int
		want    []tap
	}{
		// Identity: each output reads its own pixel.
		{3, 3, []tap{{0, 0, 0}, {1, 2, 0}, {2, 2, 0}}},
		// Doubling: source coordinates −¼ (clamped), ¼, ¾, 1¼ (clamped).
		{2, 4, []tap{{0, 0, 0}, {0, 1, 64}, {0, 1, 192}, {1, 1, 0}}},
		// Halving: source coordinates ½ and 2½.
		{4, 2, []tap{{0, 1, 128}, {2, 3, 128}}},
	} {
		if got := bilinearTaps(tc.in, tc.out); !slices.Equal(got, tc.want) {
			t.Errorf("%d → %d: got %v, want %v", tc.in, tc.out, got, tc.want)
		}
	}
}

func TestResizeBilinear(t *testing.T) {
	for _, tc := range []struct {
		name           string
		src            []uint8
		sh, sw, dh, dw int
		want           []uint8
		ink            image.Rectangle
	}{
		{"identity", []uint8{0, 130, 255, 7, 127, 128}, 2, 3, 2, 3, []uint8{0, 130, 255, 7, 127, 128},
			image.Rect(1, 0, 3, 2)},
		// 255·¼ = 63.75 and 255·¾ = 191.25, rounded to nearest.
		{"doubling a row", []uint8{0, 255}, 1, 2, 1, 4, []uint8{0, 64, 191, 255}, image.Rect(2, 0, 4, 1)},
		{"halving", []uint8{0, 100, 200, 255}, 1, 4, 1, 2, []uint8{50, 228}, image.Rect(1, 0, 2, 1)},
		// The four corners of a 2×2 block at (¼,¼): weights 9/16, 3/16, 3/16, 1/16.
		{"both axes", []uint8{160, 0, 0, 0}, 2, 2, 4, 4, []uint8{
			160, 120, 40, 0,
			120, 90, 30, 0,
			40, 30, 10, 0,
			0, 0, 0, 0}, image.Rect(0, 0, 1, 1)},
		{"no ink", []uint8{127, 127}, 1, 2, 1, 3, []uint8{127, 127, 127}, image.Rectangle{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := make([]uint8, tc.dh*tc.dw)
			ink := resizeBilinear(tc.src, tc.sh, tc.sw, dst, tc.dh, tc.dw)
			if !slices.Equal(dst, tc.want) || ink != tc.ink {
				t.Errorf("got %v ink %v, want %v ink %v", dst, ink, tc.want, tc.ink)
			}
		})
	}
}

// blockDigits is a source set of n 28×28 one-channel "digits": digit k is
// a solid block of value 90+40k (rows and columns 6 to 21) with a faint
// frame of value 40 around it, labelled k. Digit 0 (value 90) has no ink.
func blockDigits(t testing.TB, n int) *Images {
	t.Helper()
	const side = 28
	pixels := make([]uint8, n*side*side)
	labels := make([]uint8, n)
	for k := range n {
		labels[k] = uint8(k)
		for y := 5; y < 23; y++ {
			for x := 5; x < 23; x++ {
				v := uint8(40)
				if y > 5 && y < 22 && x > 5 && x < 22 {
					v = uint8(90 + 40*k)
				}
				pixels[k*side*side+y*side+x] = v
			}
		}
	}
	return mustImages(t, pixels, labels, 1, side, side, n, 1.0/255)
}

// canvas returns canvas i of d: its image and label map.
func canvas(t testing.TB, d DenseDataset, i int) ([]float32, []int32) {
	t.Helper()
	c, h, w := d.Shape()
	img, labels := make([]float32, c*h*w), make([]int32, h*w)
	if err := d.Example(i, img, labels); err != nil {
		t.Fatal(err)
	}
	return img, labels
}

// checkCanvas checks canvas i of d against its layout: digits inside the
// canvas, 1 to MaxCanvasDigits of them, ink boxes apart; label in range
// everywhere; a pixel labelled a digit exactly where its value is
// CanvasInk/255 or more, and then labelled the class of the digit drawn
// there. It returns the canvas's label counts.
func checkCanvas(t *testing.T, d *DigitCanvases, i int) []int {
	t.Helper()
	img, labels := canvas(t, d, i)
	layout, err := d.Layout(i)
	if err != nil {
		t.Fatal(err)
	}
	if len(layout) < 1 || len(layout) > MaxCanvasDigits {
		t.Errorf("canvas %d holds %d digits, want 1 to %d", i, len(layout), MaxCanvasDigits)
	}
	size := d.size
	owner := make([]int, size*size) // the class of the digit covering each pixel, 0 for none
	for _, p := range layout {
		if p.X < 0 || p.Y < 0 || p.X+p.Width > size || p.Y+p.Height > size || p.Width < 1 || p.Height < 1 {
			t.Errorf("canvas %d: digit %+v is not inside the %d×%d canvas", i, p, size, size)
			continue
		}
		for y := p.Y; y < p.Y+p.Height; y++ {
			for x := p.X; x < p.X+p.Width; x++ {
				owner[y*size+x] = p.Class
			}
		}
	}
	checkObjects(t, d, i, labels)
	counts := make([]int, d.Classes())
	for j, label := range labels {
		if label < 0 || int(label) >= d.Classes() {
			t.Fatalf("canvas %d, pixel %d: label %d out of range [0, %d)", i, j, label, d.Classes())
		}
		counts[label]++
		inked := img[j] >= CanvasInk/255.0-1e-7
		switch {
		case inked != (label != CanvasBackground):
			t.Fatalf("canvas %d, pixel %d: value %g (×255 = %g) has label %d", i, j, img[j], img[j]*255, label)
		case img[j] == 0 && label != CanvasBackground:
			t.Fatalf("canvas %d, pixel %d: no intensity but label %d", i, j, label)
		case label != CanvasBackground && owner[j] == 0:
			t.Fatalf("canvas %d, pixel %d: label %d outside every digit", i, j, label)
		}
	}
	return counts
}

// checkObjects checks canvas i's objects against its label map: every
// labelled pixel lies in exactly one object's box, whose class + 1 is its
// label, and each box is tight: each of its four edges holds a pixel of
// its class.
func checkObjects(t *testing.T, d *DigitCanvases, i int, labels []int32) {
	t.Helper()
	objects, err := d.Objects(i)
	if err != nil {
		t.Fatal(err)
	}
	size := d.size
	for j, label := range labels {
		if label == CanvasBackground {
			continue
		}
		in := 0
		for _, o := range objects {
			if image.Pt(j%size, j/size).In(o.Box) {
				in++
				if o.Class+1 != int(label) {
					t.Fatalf("canvas %d, pixel %d: label %d inside the box of an object of class %d", i, j, label, o.Class)
				}
			}
		}
		if in != 1 {
			t.Fatalf("canvas %d, pixel %d: label %d inside %d object boxes, want 1", i, j, label, in)
		}
	}
	for _, o := range objects {
		b := o.Box
		if !b.In(image.Rect(0, 0, size, size)) || b.Empty() {
			t.Fatalf("canvas %d: box %v empty or outside the canvas", i, b)
		}
		edge := func(x0, y0, x1, y1 int) bool {
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					if int(labels[y*size+x]) == o.Class+1 {
						return true
					}
				}
			}
			return false
		}
		if !edge(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+1) || !edge(b.Min.X, b.Max.Y-1, b.Max.X, b.Max.Y) ||
			!edge(b.Min.X, b.Min.Y, b.Min.X+1, b.Max.Y) || !edge(b.Max.X-1, b.Min.Y, b.Max.X, b.Max.Y) {
			t.Errorf("canvas %d: box %v of class %d is not tight around its labelled pixels", i, b, o.Class)
		}
	}
}

func TestDigitCanvasesSynthetic(t *testing.T) {
	digits := blockDigits(t, 5)
	d, err := newDigitCanvases(digits, 300, 48, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := d.Shape(); c != 1 || h != 48 || w != 48 || d.Classes() != 6 || d.Len() != 300 {
		t.Fatalf("%d canvases of %d×%d×%d with %d classes, want 300 of 1×48×48 with 6", d.Len(), c, h, w, d.Classes())
	}
	total := make([]int, 6)
	sizes := map[int]bool{}
	for i := range d.Len() {
		for k, n := range checkCanvas(t, d, i) {
			total[k] += n
		}
		layout, _ := d.Layout(i)
		for _, p := range layout {
			sizes[p.Width] = true
			// The centre of block digit k has its value, 90+40k, or a
			// larger one where another digit is drawn over it.
			img, _ := canvas(t, d, i)
			centre := (p.Y+p.Height/2)*48 + p.X + p.Width/2
			want := digits.lut[90+40*(p.Class-1)]
			if img[centre] < want || (len(layout) == 1 && img[centre] != want) {
				t.Errorf("canvas %d: digit %+v has centre value %g, want %g", i, p, img[centre], want)
			}
			if p.Source < 0 || p.Source >= 5 || p.Class != p.Source+1 {
				t.Errorf("canvas %d: digit %+v: source out of range or class not source label + 1", i, p)
			}
		}
	}
	// Digit 0 (value 90) is drawn but never labelled; the others are.
	for k, n := range total {
		if (k != 1) != (n > 0) {
			t.Errorf("class %d covers %d pixels over all canvases; want pixels for every class but 1", k, n)
		}
	}
	// Sizes span 0.7 to 1.6 of 28 px, capped at nothing here: 20 to 45.
	if !sizes[20] || !sizes[45] || len(sizes) != 26 {
		t.Errorf("digit sides %v, want every side from 20 to 45", slices.Sorted(func(yield func(int) bool) {
			for s := range sizes {
				if !yield(s) {
					return
				}
			}
		}))
	}

	// The same seed gives the same canvases; another seed others.
	again, _ := newDigitCanvases(digits, 300, 48, 1, 0)
	other, _ := newDigitCanvases(digits, 300, 48, 2, 0)
	otherSplit, _ := newDigitCanvases(digits, 300, 48, 1, 1)
	img, labels := canvas(t, d, 7)
	img2, labels2 := canvas(t, again, 7)
	if !slices.Equal(img, img2) || !slices.Equal(labels, labels2) {
		t.Error("canvas 7 differs between two sets of the same seed")
	}
	for name, o := range map[string]*DigitCanvases{"seed 2": other, "split 1": otherSplit} {
		a, _ := d.Layout(7)
		b, _ := o.Layout(7)
		if slices.Equal(a, b) {
			t.Errorf("%s gives canvas 7 the same layout as seed 1, split 0: %+v", name, a)
		}
	}
}

// writeUniformMNIST writes an MNIST-format folder whose training digits
// are n solid 28×28 squares of value trainValue labelled trainLabel, and
// test digits likewise.
func writeUniformMNIST(t *testing.T, n int, trainValue, trainLabel, testValue, testLabel uint8) string {
	t.Helper()
	dir := t.TempDir()
	for _, split := range []struct {
		prefix       string
		value, label uint8
	}{{"train", trainValue, trainLabel}, {"t10k", testValue, testLabel}} {
		pixels := make([]byte, n*28*28)
		for i := range pixels {
			pixels[i] = split.value
		}
		writeFile(t, dir, split.prefix+"-images-idx3-ubyte", idxBytes(idxImagesMagic, []uint32{uint32(n), 28, 28}, pixels))
		writeFile(t, dir, split.prefix+"-labels-idx1-ubyte", idxBytes(idxLabelsMagic, []uint32{uint32(n)}, slices.Repeat([]byte{split.label}, n)))
	}
	return dir
}

// TestMNISTCanvasesSplits: training canvases hold only training digits,
// test canvases only test digits.
func TestMNISTCanvasesSplits(t *testing.T) {
	dir := writeUniformMNIST(t, 3, 200, 3, 250, 7)
	train, test, err := MNISTCanvases(dir, CanvasOptions{Seed: 5, Train: 40, Test: 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		d     *DigitCanvases
		n     int
		value float32
		class int32
	}{{"train", train, 40, train.digits.lut[200], 4}, {"test", test, 30, test.digits.lut[250], 8}} {
		t.Run(tc.name, func(t *testing.T) {
			if c, h, w := tc.d.Shape(); tc.d.Len() != tc.n || c != 1 || h != DefaultCanvasSize || w != DefaultCanvasSize || tc.d.Classes() != 11 {
				t.Fatalf("%d canvases of %d×%d×%d, %d classes; want %d of 1×64×64, 11", tc.d.Len(), c, h, w, tc.d.Classes(), tc.n)
			}
			for i := range tc.n {
				checkCanvas(t, tc.d, i)
				img, labels := canvas(t, tc.d, i)
				for j := range img {
					if (img[j] != 0 && img[j] != tc.value) || (labels[j] != 0 && labels[j] != tc.class) {
						t.Fatalf("canvas %d, pixel %d: value %g label %d; want only 0 or %g, background or %d",
							i, j, img[j], labels[j], tc.value, tc.class)
					}
				}
			}
		})
	}
}

func TestMNISTCanvasesOptions(t *testing.T) {
	dir := writeUniformMNIST(t, 2, 255, 1, 255, 2)
	train, test, err := MNISTCanvases(dir, CanvasOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != DefaultTrainCanvases || test.Len() != DefaultTestCanvases || train.size != 64 || test.size != 64 {
		t.Errorf("defaults: %d and %d canvases of %d and %d px, want %d and %d of 64",
			train.Len(), test.Len(), train.size, test.size, DefaultTrainCanvases, DefaultTestCanvases)
	}
	// A canvas as small as a digit holds it at up to its own size.
	small, _, err := MNISTCanvases(dir, CanvasOptions{Size: 28, Train: 50, Test: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range small.Len() {
		checkCanvas(t, small, i)
	}
	for _, tc := range []struct {
		name string
		dir  string
		opts CanvasOptions
		want string
	}{
		{"small canvas", dir, CanvasOptions{Size: 27}, "canvas size 27: expected at least the digits' 28 pixels"},
		{"negative count", dir, CanvasOptions{Test: -1}, "10000 training and -1 test canvases: expected at least 1 of each"},
		{"no MNIST", filepath.Join(dir, "absent"), CanvasOptions{}, "MNIST file train-images-idx3-ubyte.gz not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := MNISTCanvases(tc.dir, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	img, labels := make([]float32, 64*64), make([]int32, 64*64)
	for _, tc := range []struct {
		name   string
		i      int
		img    []float32
		labels []int32
		want   string
	}{
		{"index", 10000, img, labels, "example 10000 out of range [0, 10000)"},
		{"image buffer", 0, img[1:], labels, "image buffer holds 4095 values, expected 1×64×64 = 4096"},
		{"label buffer", 0, img, labels[:10], "label map buffer holds 10 values, expected 64×64 = 4096"},
	} {
		if err := train.Example(tc.i, tc.img, tc.labels); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := train.Layout(-1); err == nil || !strings.Contains(err.Error(), "canvas -1 out of range") {
		t.Errorf("Layout(-1): got %v", err)
	}
}

// canvasHash is the SHA-256 of canvases 0 to n−1 of d: each image's bytes
// (value × 255, rounded) then its labels, one byte a pixel.
func canvasHash(t *testing.T, d DenseDataset, n int) string {
	t.Helper()
	h := sha256.New()
	for i := range n {
		img, labels := canvas(t, d, i)
		buf := make([]byte, 0, len(img)+len(labels))
		for _, v := range img {
			buf = append(buf, byte(math.Round(float64(v)*255)))
		}
		for _, l := range labels {
			buf = append(buf, byte(l))
		}
		h.Write(buf)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// objectsHash is the SHA-256 of the objects of canvases 0 to n−1 of d,
// one line each: canvas, class, x0, y0, x1, y1.
func objectsHash(t *testing.T, d *DigitCanvases, n int) string {
	t.Helper()
	h := sha256.New()
	for i := range n {
		objects, err := d.Objects(i)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objects {
			fmt.Fprintf(h, "%d %d %d %d %d %d\n", i, o.Class, o.Box.Min.X, o.Box.Min.Y, o.Box.Max.X, o.Box.Max.Y)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestMNISTCanvasesReal pins the canvases of seed 1 made from the real
// MNIST files, installed by scripts/fetch-mnist.sh, and checks them.
func TestMNISTCanvasesReal(t *testing.T) {
	dir, err := DefaultDir()
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	for _, name := range mnistFiles {
		testenv.RequireFile(t, filepath.Join(dir, name), "scripts/fetch-mnist.sh")
	}
	train, test, err := MNISTCanvases(dir, CanvasOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		d       *DigitCanvases
		sources int
		layout0 []PlacedDigit
		hash    string
		objects string
	}{
		{"train", train, 60000, []PlacedDigit{{Source: 21672, Class: 8, X: 24, Y: 4, Width: 37, Height: 37}},
			"340bd2dd4683dce1de0843cbaac948a6fb2cd84a163c194a8029b072a3b288cf", "6f7f75f0332e194c29f6ab04f918fa1afb2e87978a93a37b0b21e8b4288851c4"},
		{"test", test, 10000, []PlacedDigit{{Source: 9662, Class: 4, X: 39, Y: 31, Width: 21, Height: 21}},
			"60d77be8b9065de996057979b18b91be9ca133a8ced3e20e13029e4b362f8626", "df8608da7cea07c80a0056706011496eb1189ff30c15cafa7e489c639fdd50c0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const checked = 300
			counts := make([]int, 11)
			digits := 0
			for i := range checked {
				for k, n := range checkCanvas(t, tc.d, i) {
					counts[k] += n
				}
				layout, _ := tc.d.Layout(i)
				digits += len(layout)
				for _, p := range layout {
					if p.Source >= tc.sources || p.Class != int(tc.d.digits.labels[p.Source])+1 {
						t.Errorf("canvas %d: digit %+v: source beyond the split's %d digits or class not its label + 1", i, p, tc.sources)
					}
				}
			}
			for k, n := range counts {
				if n == 0 {
					t.Errorf("class %d is absent from the first %d canvases", k, checked)
				}
			}
			t.Logf("%s: %d digits on %d canvases; labelled pixels by class %v (%.1f%% digit)", tc.name, digits, checked, counts,
				100*(1-float64(counts[0])/float64(checked*64*64)))
			layout0, _ := tc.d.Layout(0)
			if !slices.Equal(layout0, tc.layout0) {
				t.Errorf("canvas 0 layout %+v, want %+v", layout0, tc.layout0)
			}
			if got := canvasHash(t, tc.d, 8); got != tc.hash {
				t.Errorf("first 8 canvases hash to %s, want %s", got, tc.hash)
			}
			if got := objectsHash(t, tc.d, 1000); got != tc.objects {
				t.Errorf("the objects of the first 1000 canvases hash to %s, want %s", got, tc.objects)
			}
		})
	}
}

// BenchmarkDigitCanvas measures making one 64×64 canvas.
func BenchmarkDigitCanvas(b *testing.B) {
	d, err := newDigitCanvases(blockDigits(b, 5), 1000, 64, 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	img, labels := make([]float32, 64*64), make([]int32, 64*64)
	for i := 0; b.Loop(); i++ {
		if err := d.Example(i%1000, img, labels); err != nil {
			b.Fatal(err)
		}
	}
}
