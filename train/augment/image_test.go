package augment

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// opaque hides an image's concrete type, so FromImage takes its generic
// path.
type opaque struct{ image.Image }

func TestFromImage(t *testing.T) {
	ycc := image.NewYCbCr(image.Rect(0, 0, 2, 2), image.YCbCrSubsampleRatio420)
	copy(ycc.Y, []uint8{10, 200, 90, 255})
	ycc.Cb[0], ycc.Cr[0] = 100, 180 // one chroma sample for the four pixels
	yccWant := make([]float32, 12)
	for i, y := range ycc.Y {
		r, g, b := color.YCbCrToRGB(y, 100, 180)
		yccWant[i], yccWant[4+i], yccWant[8+i] = float32(r), float32(g), float32(b)
	}

	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	copy(gray.Pix, []uint8{7, 250})

	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	copy(nrgba.Pix, []uint8{200, 100, 50, 255, 200, 100, 50, 0}) // the second one transparent

	rgba := image.NewRGBA(image.Rect(0, 0, 1, 1))
	copy(rgba.Pix, []uint8{100, 50, 0, 128}) // premultiplied half alpha: (199.2, 99.6, 0)

	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{1, 2, 3, 255}, color.NRGBA{250, 251, 252, 255}})
	pal.Pix[1] = 1

	g16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 257 * 77})

	// A sub-image whose bounds do not start at (0, 0).
	big := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	big.SetNRGBA(2, 3, color.NRGBA{9, 8, 7, 255})
	sub := big.SubImage(image.Rect(2, 3, 3, 4))

	luma := func(r, g, b float64) float32 { return float32(lumaR*r + lumaG*g + lumaB*b) }
	for _, tc := range []struct {
		name     string
		src      image.Image
		channels int
		want     []float32
	}{
		{"ycbcr 4:2:0", ycc, 3, yccWant},
		{"ycbcr to grey", ycc, 1, []float32{
			luma(float64(yccWant[0]), float64(yccWant[4]), float64(yccWant[8])),
			luma(float64(yccWant[1]), float64(yccWant[5]), float64(yccWant[9])),
			luma(float64(yccWant[2]), float64(yccWant[6]), float64(yccWant[10])),
			luma(float64(yccWant[3]), float64(yccWant[7]), float64(yccWant[11]))}},
		{"grey to rgb", gray, 3, []float32{7, 250, 7, 250, 7, 250}},
		{"grey", gray, 1, []float32{7, 250}},
		{"nrgba drops alpha", nrgba, 3, []float32{200, 200, 100, 100, 50, 50}},
		{"nrgba to grey", nrgba, 1, []float32{luma(200, 100, 50), luma(200, 100, 50)}},
		{"rgba unpremultiplied", rgba, 3, []float32{100 * 255.0 / 128, 50 * 255.0 / 128, 0}},
		{"paletted", pal, 3, []float32{1, 250, 2, 251, 3, 252}},
		{"gray16", g16, 3, []float32{77, 77, 77}},
		{"sub-image", sub, 3, []float32{9, 8, 7}},
		{"generic nrgba", opaque{nrgba}, 3, []float32{200, 200, 100, 100, 50, 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := FromImage(tc.src, tc.channels)
			if err != nil {
				t.Fatal(err)
			}
			b := tc.src.Bounds()
			if img.C != tc.channels || img.H != b.Dy() || img.W != b.Dx() {
				t.Fatalf("shape %d×%d×%d, expected %d×%d×%d", img.C, img.H, img.W, tc.channels, b.Dy(), b.Dx())
			}
			for i, w := range tc.want {
				if math.Abs(float64(img.Pix[i]-w)) > 1e-4 {
					t.Errorf("value %d = %g, expected %g", i, img.Pix[i], w)
				}
			}
		})
	}
}

// TestFromImageYCbCrLayouts checks the YCbCr fast path's chroma indexing
// for every subsampling ratio, with bounds at, right of and left of 0 (the
// last takes the generic path), against the colour model's conversion.
func TestFromImageYCbCrLayouts(t *testing.T) {
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		for _, r := range []image.Rectangle{image.Rect(0, 0, 13, 5), image.Rect(3, 1, 14, 7), image.Rect(-5, -2, 6, 3)} {
			src := image.NewYCbCr(r, ratio)
			for i := range src.Y {
				src.Y[i] = uint8(37 * i)
			}
			for i := range src.Cb {
				src.Cb[i], src.Cr[i] = uint8(90+29*i), uint8(200-23*i)
			}
			// A sub-image that starts at an odd column.
			sub := src.SubImage(image.Rect(r.Min.X+1, r.Min.Y, r.Max.X, r.Max.Y))
			fast, err := FromImage(sub, 3)
			if err != nil {
				t.Fatal(err)
			}
			slow, err := FromImage(opaque{sub}, 3)
			if err != nil {
				t.Fatal(err)
			}
			for i := range fast.Pix {
				if math.Abs(float64(fast.Pix[i]-slow.Pix[i])) > 1 {
					t.Fatalf("%v, bounds %v: value %d = %g, the colour model gives %g", ratio, sub.Bounds(), i, fast.Pix[i], slow.Pix[i])
				}
			}
		}
	}
}

func TestFromImageErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src      image.Image
		channels int
		want     string
	}{
		{"two channels", image.NewGray(image.Rect(0, 0, 1, 1)), 2, "expected 1 (grey) or 3"},
		{"empty", image.NewGray(image.Rect(0, 0, 0, 3)), 3, "empty 0×3"},
	} {
		_, err := FromImage(tc.src, tc.channels)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, expected one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestFromImagePhotos checks the fast paths on real files against the
// generic path through each type's colour model: equal, but for YCbCr,
// whose colour model converts at 16 bits and may differ by one level.
func TestFromImagePhotos(t *testing.T) {
	for _, p := range photos {
		t.Run(filepath.Base(p.path), func(t *testing.T) {
			src := decodeFile(t, p.path)
			for _, c := range []int{3, 1} {
				fast, err := FromImage(src, c)
				if err != nil {
					t.Fatal(err)
				}
				slow, err := FromImage(opaque{src}, c)
				if err != nil {
					t.Fatal(err)
				}
				_, isYCC := src.(*image.YCbCr)
				var worst float64
				for i := range fast.Pix {
					worst = max(worst, math.Abs(float64(fast.Pix[i]-slow.Pix[i])))
					if v := fast.Pix[i]; !(v >= 0 && v <= 255) {
						t.Fatalf("%d channels: value %d = %g, outside [0, 255]", c, i, v)
					}
				}
				tol := 1e-4
				if isYCC {
					tol = 1.0001
				}
				if worst > tol {
					t.Errorf("%T, %d channels: fast and generic paths differ by up to %g, expected at most %g", src, c, worst, tol)
				}
			}
		})
	}
}

func TestRand(t *testing.T) {
	first := func(seed uint64, epoch, index int) uint64 { return Rand(seed, epoch, index).Uint64() }
	base := first(7, 3, 11)
	if first(7, 3, 11) != base {
		t.Error("the same (seed, epoch, index) gave different streams")
	}
	for _, tc := range []struct {
		name         string
		seed         uint64
		epoch, index int
	}{
		{"other seed", 8, 3, 11},
		{"other epoch", 7, 4, 11},
		{"other index", 7, 3, 12},
		{"epoch and index swapped", 7, 11, 3},
	} {
		if first(tc.seed, tc.epoch, tc.index) == base {
			t.Errorf("%s: the same first number as (7, 3, 11)", tc.name)
		}
	}
}
