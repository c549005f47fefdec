package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/augment"
)

// The images the folder tests write are folderH×folderW.
const folderH, folderW = 20, 24

// folderPixel is the colour of pixel (x, y) of the test's PNG number n.
func folderPixel(n, x, y int) color.NRGBA {
	return color.NRGBA{uint8(10*n + x), uint8(100 + y), uint8(7 * (x + y)), 255}
}

// folderPNG encodes test image n as an RGB PNG.
func folderPNG(t testing.TB, n int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, folderW, folderH))
	for y := range folderH {
		for x := range folderW {
			img.SetNRGBA(x, y, folderPixel(n, x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// folderJPEG encodes a grey gradient as a JPEG.
func folderJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, folderW, folderH))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// folderFiles is the tree writeFolder writes under a class root: two classes,
// with PNG and JPEG files (one at depth 2 and one with an upper-case
// extension), a truncated JPEG, a text file named .jpg, and files and a
// hidden folder that are not part of the data set. Examples are indexed in
// this order, leaving out the files marked skip.
var folderFiles = []struct {
	path string
	kind string // "png" (n is its number), "jpeg", "truncated", "text"
	n    int
	skip bool // not listed: not an image extension, or a hidden folder
}{
	{"README.md", "text", 0, true},
	{".cache/x.png", "png", 9, true},
	{"cat/a.png", "png", 1, false},
	{"cat/b.jpg", "jpeg", 0, false},
	{"cat/notes.txt", "text", 0, true},
	{"cat/sub/c.PNG", "png", 2, false},
	{"dog/d.jpeg", "jpeg", 0, false},
	{"dog/e_truncated.jpg", "truncated", 0, false},
	{"dog/f_text.jpg", "text", 0, false},
	{"dog/g.png", "png", 3, false},
}

// writeFolder writes folderFiles under dir.
func writeFolder(t testing.TB, dir string) {
	t.Helper()
	for _, f := range folderFiles {
		var content []byte
		switch f.kind {
		case "png":
			content = folderPNG(t, f.n)
		case "jpeg":
			content = folderJPEG(t)
		case "truncated":
			full := folderJPEG(t)
			content = full[:len(full)/2]
		case "text":
			content = []byte("not an image\n")
		}
		writeFolderFile(t, filepath.Join(dir, f.path), content)
	}
}

// copyTransform is an ImageTransform that writes the decoded image as it
// is: the tests see the decoder's values.
type copyTransform struct{ c int }

func (t copyTransform) Shape() (c, h, w int) { return t.c, folderH, folderW }

func (t copyTransform) Apply(img *augment.Image, _ *rand.Rand, dst []float32) error {
	copy(dst, img.Pix)
	return nil
}

// mustFolder lists dir with opts.
func mustFolder(t testing.TB, dir string, opts FolderOptions) *FolderSet {
	t.Helper()
	d, err := Folder(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// warnings collects the errors a FolderSet reports, from any goroutine.
type warnings struct {
	mu   sync.Mutex
	errs []error
}

func (w *warnings) add(err error) {
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
}

func TestFolderListing(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, dir)
	d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{3}})
	if got := d.ClassNames(); !slices.Equal(got, []string{"cat", "dog"}) {
		t.Errorf("classes %q, expected cat, dog", got)
	}
	if got := d.Counts(); !slices.Equal(got, []int{3, 4}) {
		t.Errorf("counts %v, expected [3 4]", got)
	}
	listed := 0
	for _, f := range folderFiles {
		if !f.skip {
			listed++
		}
	}
	if d.Len() != listed || d.Classes() != 2 {
		t.Errorf("%d examples of %d classes, expected %d of 2", d.Len(), d.Classes(), listed)
	}
	if c, h, w := d.Shape(); c != 3 || h != folderH || w != folderW {
		t.Errorf("shape %d×%d×%d", c, h, w)
	}
}

// TestFolderSymlinkedClass: a class folder that is a link to a folder
// elsewhere is a class like the others, its images listed under its name.
func TestFolderSymlinkedClass(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	writeFolderFile(t, filepath.Join(dir, "cat", "a.png"), folderPNG(t, 1))
	writeFolderFile(t, filepath.Join(elsewhere, "dogs", "b.png"), folderPNG(t, 2))
	writeFolderFile(t, filepath.Join(elsewhere, "dogs", "sub", "c.png"), folderPNG(t, 3))
	if err := os.Symlink(filepath.Join(elsewhere, "dogs"), filepath.Join(dir, "dog")); err != nil {
		t.Fatal(err)
	}
	d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{3}})
	if got := d.ClassNames(); !slices.Equal(got, []string{"cat", "dog"}) {
		t.Errorf("classes %q, expected cat and the linked dog", got)
	}
	if got := d.Counts(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("counts %v, expected [1 2]", got)
	}
	c, h, w := d.Shape()
	dst := make([]float32, c*h*w)
	for i := range d.Len() {
		if label, err := d.Example(i, dst); err != nil || label != min(i, 1) {
			t.Errorf("example %d: label %d, %v", i, label, err)
		}
	}
}

// TestFolderDecode checks the values decoded from the PNGs, in RGB and in
// grey, and the labels: example 0 is cat/a.png, 2 is cat/sub/c.PNG, 6 is
// dog/g.png.
func TestFolderDecode(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, dir)
	for _, tc := range []struct {
		index, n, label int
	}{{0, 1, 0}, {2, 2, 0}, {6, 3, 1}} {
		for _, c := range []int{3, 1} {
			d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{c}})
			dst := make([]float32, c*folderH*folderW)
			label, err := d.Example(tc.index, dst)
			if err != nil {
				t.Fatal(err)
			}
			if label != tc.label {
				t.Errorf("example %d: label %d, expected %d", tc.index, label, tc.label)
			}
			plane := folderH * folderW
			for y := range folderH {
				for x := range folderW {
					p := folderPixel(tc.n, x, y)
					want := []float64{float64(p.R), float64(p.G), float64(p.B)}
					if c == 1 {
						want = []float64{0.299*want[0] + 0.587*want[1] + 0.114*want[2]}
					}
					for k, w := range want {
						if got := dst[k*plane+y*folderW+x]; math.Abs(float64(got)-w) > 1e-3 {
							t.Fatalf("example %d, %d channel(s): value (%d, %d, %d) = %g, expected %g", tc.index, c, k, y, x, got, w)
						}
					}
				}
			}
		}
	}
	// The JPEG, a grey image, decodes to three equal channels.
	d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{3}})
	dst := make([]float32, 3*folderH*folderW)
	if _, err := d.Example(1, dst); err != nil {
		t.Fatal(err)
	}
	plane := folderH * folderW
	if !slices.Equal(dst[:plane], dst[plane:2*plane]) || !slices.Equal(dst[:plane], dst[2*plane:]) {
		t.Error("a grey JPEG's three channels differ")
	}
}

// TestFolderSkipBad reads every example with SkipBad, through a Loader
// with several workers: the truncated JPEG (4) and the text file (5) are
// replaced by the next good image, dog/g.png (6), and reported once each.
func TestFolderSkipBad(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, dir)
	var warned warnings
	d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{3}, SkipBad: true, Warn: warned.add})
	for _, workers := range []int{3, 0} {
		batches := epochBatches(t, mustLoader(t, d, LoaderConfig{BatchSize: 2, Workers: workers}), 0, 0)
		var labels []int32
		for _, b := range batches {
			labels = append(labels, b.labels...)
		}
		if want := []int32{0, 0, 0, 1, 1, 1, 1}; !slices.Equal(labels, want) {
			t.Errorf("%d workers: labels %v, expected %v", workers, labels, want)
		}
		size := 3 * folderH * folderW
		g := batches[3].images[:size] // example 6
		if !slices.Equal(batches[2].images[:size], g) || !slices.Equal(batches[2].images[size:], g) {
			t.Errorf("%d workers: examples 4 and 5 are not dog/g.png", workers)
		}
	}
	if d.Skipped() != 2 {
		t.Errorf("%d files skipped, expected 2", d.Skipped())
	}
	var msgs []string
	for _, err := range warned.errs {
		msgs = append(msgs, err.Error())
	}
	slices.Sort(msgs)
	if len(msgs) != 2 || !strings.Contains(msgs[0], "e_truncated.jpg") || !strings.Contains(msgs[1], "f_text.jpg") {
		t.Errorf("warnings %q, expected one naming e_truncated.jpg and one naming f_text.jpg", msgs)
	}
}

// TestFolderBadFileErrors checks that without SkipBad a bad file is an
// error that names it, and that nothing is counted as skipped.
func TestFolderBadFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, dir)
	d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{3}})
	dst := make([]float32, 3*folderH*folderW)
	for _, tc := range []struct {
		index int
		want  string
	}{
		{4, filepath.Join(dir, "dog", "e_truncated.jpg")},
		{5, filepath.Join(dir, "dog", "f_text.jpg")},
	} {
		_, err := d.Example(tc.index, dst)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("example %d: error %v, expected one naming %s", tc.index, err, tc.want)
		}
	}
	if d.Skipped() != 0 {
		t.Errorf("%d files counted as skipped without SkipBad", d.Skipped())
	}
	for _, tc := range []struct {
		name  string
		index int
		dst   []float32
		want  string
	}{
		{"index", 7, dst, "example 7 out of range [0, 7)"},
		{"buffer", 0, dst[:5], "holds 5 values"},
	} {
		if _, err := d.Example(tc.index, tc.dst); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, expected one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestFolderAllBad(t *testing.T) {
	dir := t.TempDir()
	for _, class := range []string{"junk", "waste"} {
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, class, "a.jpg"), []byte("text"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := mustFolder(t, dir, FolderOptions{Transform: copyTransform{3}, SkipBad: true, Warn: func(error) {}})
	_, err := d.Example(1, make([]float32, 3*folderH*folderW))
	if err == nil || !strings.Contains(err.Error(), "none of its 2 files could be decoded") {
		t.Errorf("error %v, expected that no file could be decoded", err)
	}
	if d.Skipped() != 2 {
		t.Errorf("%d files skipped, expected 2", d.Skipped())
	}
}

func TestFolderErrors(t *testing.T) {
	mk := func(t *testing.T, dirs ...string) string {
		root := t.TempDir()
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	for _, tc := range []struct {
		name string
		root func(t *testing.T) string
		opts FolderOptions
		want string
	}{
		{"empty class folder", func(t *testing.T) string {
			root := mk(t, "full", "zempty/sub")
			writeFolderFile(t, filepath.Join(root, "full", "a.png"), folderPNG(t, 1))
			writeFolderFile(t, filepath.Join(root, "zempty", "sub", "notes.txt"), []byte("x"))
			return root
		}, FolderOptions{Transform: copyTransform{3}}, `class folder "` + "%ROOT%" + `/zempty" holds no .jpg, .jpeg or .png file`},
		{"no classes", func(t *testing.T) string { return mk(t, ".hidden") }, FolderOptions{Transform: copyTransform{3}}, "has no class subfolders"},
		{"one class", func(t *testing.T) string {
			root := mk(t, "only")
			writeFolderFile(t, filepath.Join(root, "only", "a.png"), folderPNG(t, 1))
			return root
		}, FolderOptions{Transform: copyTransform{3}}, `has one class subfolder ("only"): a classifier needs at least 2`},
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nowhere") }, FolderOptions{Transform: copyTransform{3}}, "no such file"},
		{"no transform", func(t *testing.T) string { return mk(t, "a") }, FolderOptions{}, "no transform given"},
		{"two channels", func(t *testing.T) string { return mk(t, "a") }, FolderOptions{Transform: copyTransform{2}}, "expected 1 or 3 channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := tc.root(t)
			_, err := Folder(root, tc.opts)
			want := strings.ReplaceAll(tc.want, "%ROOT%", root)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, expected one containing %q", err, want)
			}
		})
	}
}

// writeFolderFile writes content to path, making its folder.
func writeFolderFile(t testing.TB, path string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFolderSplits(t *testing.T) {
	root := t.TempDir()
	writeFolder(t, filepath.Join(root, "train"))
	for _, f := range []string{"cat/v1.png", "dog/v2.png"} {
		writeFolderFile(t, filepath.Join(root, "val", f), folderPNG(t, 4))
	}
	opts := FolderOptions{Transform: copyTransform{3}}
	train, val, err := FolderSplits(root, opts, opts)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 7 || val.Len() != 2 || !slices.Equal(val.ClassNames(), train.ClassNames()) {
		t.Errorf("splits of %d and %d examples, classes %q and %q", train.Len(), val.Len(), train.ClassNames(), val.ClassNames())
	}
	writeFolderFile(t, filepath.Join(root, "val", "emu", "v3.png"), folderPNG(t, 5))
	if _, _, err := FolderSplits(root, opts, opts); err == nil || !strings.Contains(err.Error(), "different classes: 2 (cat, dog) and 3 (cat, dog, emu)") {
		t.Errorf("error %v, expected one saying the classes differ", err)
	}
	if _, _, err := FolderSplits(filepath.Join(root, "train"), opts, opts); err == nil || !strings.Contains(err.Error(), "train") {
		t.Errorf("a root without train/: error %v", err)
	}
}

// TestFolderAugmentReproducible runs the paper's training augmentation
// over the folder: an example depends on (seed, epoch, index) only — the
// same twice and through a Loader with any number of workers, different
// for another epoch or seed — and Example is epoch 0.
func TestFolderAugmentReproducible(t *testing.T) {
	dir := t.TempDir()
	writeFolder(t, dir)
	train, err := augment.NewTrain(augment.DefaultTrainOptions(16))
	if err != nil {
		t.Fatal(err)
	}
	opts := FolderOptions{Transform: train, Seed: 42, SkipBad: true, Warn: func(error) {}}
	d := mustFolder(t, dir, opts)
	example := func(d *FolderSet, epoch, i int) []float32 {
		dst := make([]float32, 3*16*16)
		if _, err := d.EpochExample(epoch, i, dst); err != nil {
			t.Fatal(err)
		}
		return dst
	}
	first := example(d, 3, 0)
	if !slices.Equal(example(d, 3, 0), first) {
		t.Error("the same epoch and index gave different examples")
	}
	if slices.Equal(example(d, 4, 0), first) {
		t.Error("another epoch gave the same example")
	}
	opts.Seed = 43
	if slices.Equal(example(mustFolder(t, dir, opts), 3, 0), first) {
		t.Error("another seed gave the same example")
	}
	zero := make([]float32, 3*16*16)
	if _, err := d.Example(2, zero); err != nil || !slices.Equal(zero, example(d, 0, 2)) {
		t.Errorf("Example differs from EpochExample at epoch 0 (error %v)", err)
	}
	cfg := LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 1}
	want := epochBatches(t, mustLoader(t, d, cfg), 0, 0)
	for _, workers := range []int{1, 4} {
		cfg.Workers = workers
		if got := epochBatches(t, mustLoader(t, d, cfg), 0, 0); !equalBatches(got, want) {
			t.Errorf("%d workers gave other batches than none", workers)
		}
	}
}
