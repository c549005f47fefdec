package augment

import (
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// The real photographs the tests run on: scikit-image's sample data
// (Debian python3-skimage) and matplotlib's Grace Hopper portrait (Debian
// python-matplotlib-data).
const (
	skimageData = "/usr/lib/python3/dist-packages/skimage/data"
	graceHopper = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
)

// photo is a test photograph and its size.
type photo struct {
	path string
	h, w int
}

var photos = []photo{
	{filepath.Join(skimageData, "astronaut.png"), 512, 512},
	{filepath.Join(skimageData, "chelsea.png"), 300, 451},
	{filepath.Join(skimageData, "coffee.png"), 400, 600},
	{filepath.Join(skimageData, "rocket.jpg"), 427, 640},
	{graceHopper, 600, 512},
}

// decodeFile decodes the image file at path, skipping the test (failing
// it under CI) when the file is missing.
func decodeFile(t testing.TB, path string) image.Image {
	t.Helper()
	installedBy := "Debian's python3-skimage"
	if path == graceHopper {
		installedBy = "Debian's python-matplotlib-data"
	}
	testenv.RequireFile(t, path, installedBy)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return src
}

// loadPhoto returns p as an RGB Image, checking its size.
func loadPhoto(t testing.TB, p photo) *Image {
	t.Helper()
	img, err := FromImage(decodeFile(t, p.path), 3)
	if err != nil {
		t.Fatal(err)
	}
	if img.H != p.h || img.W != p.w {
		t.Fatalf("%s: decoded %d×%d, expected %d×%d", p.path, img.W, img.H, p.w, p.h)
	}
	return img
}

// clone returns a deep copy of img.
func clone(img *Image) *Image {
	c := *img
	c.Pix = append([]float32(nil), img.Pix...)
	return &c
}
