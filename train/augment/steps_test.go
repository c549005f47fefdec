package augment

import (
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// paperCrop is the paper's random crop to 224.
var paperCrop = RandomResizedCrop{Size: 224, MinArea: 0.08, MaxArea: 1, MinRatio: 3.0 / 4, MaxRatio: 4.0 / 3}

// TestRandomResizedCropBoxes draws many boxes for each photograph's size and
// checks each against the ranges: inside the image; an area and a ratio
// that rounding each side by at most half a pixel reconciles with a drawn
// area in [8%, 100%] and a drawn ratio in [3/4, 4/3]; and, over all draws,
// areas and log-ratios that spread over the ranges a box that fits can
// have, the log-ratio centred on 0 (log-uniform, not uniform, in the
// ratio).
func TestRandomResizedCropBoxes(t *testing.T) {
	const draws = 4000
	for _, p := range photos {
		t.Run(filepath.Base(p.path), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			area := float64(p.h * p.w)
			minArea, maxArea, minLog, maxLog := 2.0, 0.0, 1.0, -1.0
			sumLog, smallBoxes, fallbacks := 0.0, 0, 0
			for range draws {
				box, fallback := paperCrop.Box(p.h, p.w, rng)
				if !box.In(image.Rect(0, 0, p.w, p.h)) || box.Empty() {
					t.Fatalf("box %v is not a non-empty part of the %d×%d image", box, p.w, p.h)
				}
				if fallback {
					fallbacks++
					continue
				}
				w, h := float64(box.Dx()), float64(box.Dy())
				if (w+0.5)*(h+0.5) < 0.08*area || (w-0.5)*(h-0.5) > area {
					t.Fatalf("box %v: area %g of %g is outside [8%%, 100%%] even allowing for rounding", box, w*h, area)
				}
				if (w+0.5)/(h-0.5) < 3.0/4 || (w-0.5)/(h+0.5) > 4.0/3 {
					t.Fatalf("box %v: aspect ratio %g is outside [3/4, 4/3] even allowing for rounding", box, w/h)
				}
				frac, lr := w*h/area, math.Log(w/h)
				minArea, maxArea = min(minArea, frac), max(maxArea, frac)
				minLog, maxLog = min(minLog, lr), max(maxLog, lr)
				if frac < 0.45 { // no box this small is rejected, whatever its ratio
					sumLog += lr
					smallBoxes++
				}
			}
			// The largest box that fits: the whole image if its ratio is in
			// range, else its full height or width at the nearest ratio.
			r := min(max(float64(p.w)/float64(p.h), 3.0/4), 4.0/3)
			largest := min(r*float64(p.h), float64(p.w)) * min(float64(p.h), float64(p.w)/r) / area
			if minArea > 0.1 || maxArea < largest-0.1 {
				t.Errorf("area fractions seen span [%.3f, %.3f], expected them to reach near 0.08 and %.3f", minArea, maxArea, largest)
			}
			if minLog > math.Log(3.0/4)+0.03 || maxLog < math.Log(4.0/3)-0.03 {
				t.Errorf("log aspect ratios seen span [%.3f, %.3f], expected them to reach near ±%.3f", minLog, maxLog, math.Log(4.0/3))
			}
			// Larger boxes are rejected more often in one orientation than in
			// the other on a non-square image, so only small ones show the
			// symmetry of the log-uniform draw.
			if mean := sumLog / float64(smallBoxes); math.Abs(mean) > 0.015 {
				t.Errorf("mean log aspect ratio of %d boxes below 45%% of the area %.4f, expected about 0", smallBoxes, mean)
			}
			// A box fails to fit only when a tall or wide draw is larger
			// than the image: rare for these near-square photographs.
			if fallbacks > draws/100 {
				t.Errorf("%d of %d draws fell back to the centre crop", fallbacks, draws)
			}
		})
	}
}

// TestRandomResizedCropFallback checks the centre crop taken when no draw
// fits: every image below is too flat or too tall for any box of 8% of
// its area with a ratio in [3/4, 4/3].
func TestRandomResizedCropFallback(t *testing.T) {
	for _, tc := range []struct {
		h, w int
		want image.Rectangle
	}{
		{10, 1000, image.Rect(493, 0, 506, 10)},   // width ⌊10·4/3⌉ = 13 at the centre
		{1000, 10, image.Rect(0, 493, 10, 506)},   // height ⌊10/(3/4)⌉ = 13
		{20, 3000, image.Rect(1486, 0, 1513, 20)}, // width ⌊26.67⌉ = 27, left ⌊2973/2⌋
	} {
		rng := rand.New(rand.NewPCG(3, 4))
		for range 50 {
			box, fallback := paperCrop.Box(tc.h, tc.w, rng)
			if !fallback || box != tc.want {
				t.Fatalf("%d×%d: box %v (fallback %v), expected the fallback %v", tc.w, tc.h, box, fallback, tc.want)
			}
		}
	}
}

// TestRandomResizedCropApply checks that Apply crops the box Box draws with
// the same generator and resizes it to the output size.
func TestRandomResizedCropApply(t *testing.T) {
	img := loadPhoto(t, photos[1])
	for seed := range uint64(5) {
		box, _ := paperCrop.Box(img.H, img.W, rand.New(rand.NewPCG(seed, 0)))
		want := resizeBox(img, box, 224, 224)
		got, err := paperCrop.Apply(clone(img), rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if got.C != 3 || got.H != 224 || got.W != 224 || !slices.Equal(got.Pix, want.Pix) {
			t.Fatalf("seed %d: Apply differs from resizing Box's %v", seed, box)
		}
	}
}

func TestResizeConstantAndIdentity(t *testing.T) {
	img := loadPhoto(t, photos[0])
	same := resizeBox(img, image.Rect(0, 0, img.W, img.H), img.H, img.W)
	if !slices.Equal(same.Pix, img.Pix) {
		t.Error("resizing to the same size changed the image")
	}
	flat := NewImage(3, 37, 53)
	for i := range flat.Pix {
		flat.Pix[i] = 77
	}
	for _, out := range [][2]int{{224, 224}, {5, 300}, {1, 1}, {37, 53}} {
		r := resizeBox(flat, image.Rect(3, 4, 50, 30), out[0], out[1])
		for i, v := range r.Pix {
			if math.Abs(float64(v)-77) > 1e-4 {
				t.Fatalf("constant image resized to %v: value %d = %g, expected 77", out, i, v)
			}
		}
	}
}

func TestHorizontalFlip(t *testing.T) {
	for _, p := range photos[:2] {
		orig := loadPhoto(t, p)
		img := clone(orig)
		rng := rand.New(rand.NewPCG(0, 0))
		if _, err := (HorizontalFlip{P: 1}).Apply(img, rng); err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			for y := range img.H {
				for x := range img.W {
					if img.Pix[(k*img.H+y)*img.W+x] != orig.Pix[(k*img.H+y)*img.W+img.W-1-x] {
						t.Fatalf("%s: value (%d, %d, %d) is not the mirror's", p.path, k, y, x)
					}
				}
			}
		}
		if _, err := (HorizontalFlip{P: 1}).Apply(img, rng); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(img.Pix, orig.Pix) {
			t.Errorf("%s: flipping twice is not the identity", p.path)
		}
		if _, err := (HorizontalFlip{P: 0}).Apply(img, rng); err != nil || !slices.Equal(img.Pix, orig.Pix) {
			t.Errorf("%s: p = 0 changed the image (error %v)", p.path, err)
		}
	}
	// With p = 0.5, about half of the images are flipped.
	row := &Image{C: 1, H: 1, W: 2, Pix: []float32{0, 1}}
	flips := 0
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		if _, err := (HorizontalFlip{P: 0.5}).Apply(row, rng); err != nil {
			t.Fatal(err)
		}
		if row.Pix[0] == 1 {
			flips++
			mirror(row)
		}
	}
	if flips < 900 || flips > 1100 {
		t.Errorf("%d flips in 2000 with p = 0.5", flips)
	}
}

// TestColourStepsInRange runs jitter and lighting, at the paper's strengths
// and at extreme ones, on every photograph with many seeds: every value
// stays finite and within [0, 255].
func TestColourStepsInRange(t *testing.T) {
	steps := []struct {
		name string
		step Step
	}{
		{"paper jitter", ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4}},
		{"strong jitter", ColorJitter{Brightness: 3, Contrast: 3, Saturation: 3}},
		{"paper lighting", Lighting{Std: 0.1}},
		{"strong lighting", Lighting{Std: 10}},
	}
	for _, p := range photos {
		orig := loadPhoto(t, p)
		small := resizeBox(orig, image.Rect(0, 0, orig.W, orig.H), 64, 64)
		for _, s := range steps {
			for seed := range uint64(20) {
				img, err := s.step.Apply(clone(small), rand.New(rand.NewPCG(seed, 9)))
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range img.Pix {
					if !(v >= 0 && v <= 255) {
						t.Fatalf("%s, %s, seed %d: value %d = %g, outside [0, 255]", filepath.Base(p.path), s.name, seed, i, v)
					}
				}
			}
		}
	}
}

// constant returns an h×w image whose channel k is values[k] everywhere.
func constant(h, w int, values ...float32) *Image {
	img := NewImage(len(values), h, w)
	for k, v := range values {
		for i := range img.Plane(k) {
			img.Plane(k)[i] = v
		}
	}
	return img
}

// TestColorJitterFactors checks each jitter operation's factors on images
// where its effect is known: brightness scales a constant image by a factor
// in [0.6, 1.4] that spreads over the range; contrast leaves a constant
// image alone (it is its own mean); saturation leaves a grey image alone.
func TestColorJitterFactors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		jitter     ColorJitter
		img        *Image
		lo, hi     float32 // range of the output's first value
		unchanged  bool
		spreadOver float32 // the least range of outputs over the draws
	}{
		{"brightness", ColorJitter{Brightness: 0.4}, constant(4, 4, 100, 50, 20), 60, 140, false, 70},
		{"contrast of a constant grey", ColorJitter{Contrast: 0.4}, constant(4, 4, 100, 100, 100), 100, 100, true, 0},
		{"saturation of grey", ColorJitter{Saturation: 0.4}, constant(4, 4, 90, 90, 90), 90, 90, true, 0},
		{"all on grey", ColorJitter{Contrast: 0.4, Saturation: 0.4}, constant(4, 4, 90, 90, 90), 90, 90, true, 0},
		{"one channel", ColorJitter{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4}, constant(4, 4, 100), 60, 140, false, 70},
	} {
		lo, hi := float32(255), float32(0)
		for seed := range uint64(500) {
			img, err := tc.jitter.Apply(clone(tc.img), rand.New(rand.NewPCG(seed, 1)))
			if err != nil {
				t.Fatal(err)
			}
			v := img.Pix[0]
			if v < tc.lo-1e-3 || v > tc.hi+1e-3 {
				t.Fatalf("%s, seed %d: %g, expected %g to %g", tc.name, seed, v, tc.lo, tc.hi)
			}
			for i, v := range img.Pix {
				if tc.unchanged && math.Abs(float64(v-tc.img.Pix[i])) > 1e-3 {
					t.Fatalf("%s, seed %d: value %d changed from %g to %g", tc.name, seed, i, tc.img.Pix[i], v)
				}
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		if hi-lo < tc.spreadOver {
			t.Errorf("%s: outputs span [%g, %g], expected a spread of at least %g", tc.name, lo, hi, tc.spreadOver)
		}
	}
}

// TestLightingShift checks the colour shift for chosen coefficients against
// the eigenvectors and eigenvalues worked by hand (MXNet's table:
// 55.46·(−0.5675, −0.5808, −0.5836) for the first component, …), with
// clipping at both ends.
func TestLightingShift(t *testing.T) {
	for _, tc := range []struct {
		name  string
		alpha [3]float64
		in    [3]float32
		want  [3]float32
	}{
		{"first component", [3]float64{1, 0, 0}, [3]float32{128, 128, 128}, [3]float32{128 - 31.473550, 128 - 32.211168, 128 - 32.366456}},
		{"second component", [3]float64{0, 1, 0}, [3]float32{128, 128, 128}, [3]float32{128 + 3.4478448, 128 - 0.021573, 128 - 3.3308712}},
		{"third component", [3]float64{0, 0, -2}, [3]float32{128, 128, 128}, [3]float32{128 - 0.9204664, 128 + 1.868944, 128 - 0.9650088}},
		{"clipped high", [3]float64{-10, 0, 0}, [3]float32{255, 0, 10}, [3]float32{255, 255, 255}},
		{"clipped low", [3]float64{10, 0, 0}, [3]float32{255, 0, 10}, [3]float32{0, 0, 0}},
	} {
		img := constant(2, 3, tc.in[:]...)
		addLighting(img, tc.alpha)
		for k := range 3 {
			for _, v := range img.Plane(k) {
				if math.Abs(float64(v-tc.want[k])) > 1e-3 {
					t.Errorf("%s: channel %d = %g, expected %g", tc.name, k, v, tc.want[k])
					break
				}
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        []float32
		mean, std []float64
		want      []float32
	}{
		{"imagenet mean gives 0", []float32{123.68, 116.779, 103.939}, ImageNetMean[:], ImageNetStd[:], []float32{0, 0, 0}},
		{"white", []float32{255, 255, 255}, ImageNetMean[:], ImageNetStd[:],
			[]float32{(255 - 123.68) / 58.393, (255 - 116.779) / 57.12, (255 - 103.939) / 57.375}},
		{"black", []float32{0, 0, 0}, ImageNetMean[:], ImageNetStd[:],
			[]float32{-123.68 / 58.393, -116.779 / 57.12, -103.939 / 57.375}},
		{"one channel", []float32{50}, []float64{30}, []float64{4}, []float32{5}},
	} {
		img, err := Normalize{Mean: tc.mean, Std: tc.std}.Apply(constant(3, 2, tc.in...), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range tc.want {
			for _, v := range img.Plane(k) {
				if math.Abs(float64(v-w)) > 1e-5 {
					t.Fatalf("%s: channel %d = %g, expected %g", tc.name, k, v, w)
				}
			}
		}
	}
}

func TestStepErrors(t *testing.T) {
	rgb, grey := constant(8, 8, 1, 2, 3), constant(8, 8, 1)
	for _, tc := range []struct {
		name string
		step Step
		img  *Image
		want string
	}{
		{"crop size", RandomResizedCrop{Size: 0, MinArea: 0.08, MaxArea: 1, MinRatio: 0.75, MaxRatio: 1.3}, rgb, "size of at least 1"},
		{"crop area", RandomResizedCrop{Size: 4, MinArea: 0, MaxArea: 1, MinRatio: 0.75, MaxRatio: 1.3}, rgb, "area fractions"},
		{"crop area above 1", RandomResizedCrop{Size: 4, MinArea: 0.5, MaxArea: 1.5, MinRatio: 0.75, MaxRatio: 1.3}, rgb, "area fractions"},
		{"crop ratio", RandomResizedCrop{Size: 4, MinArea: 0.08, MaxArea: 1, MinRatio: 2, MaxRatio: 1}, rgb, "aspect ratios"},
		{"flip p", HorizontalFlip{P: 1.5}, rgb, "flip probability"},
		{"jitter", ColorJitter{Contrast: -1}, rgb, "contrast jitter"},
		{"jitter NaN", ColorJitter{Saturation: math.NaN()}, rgb, "saturation jitter"},
		{"jitter channels", ColorJitter{Brightness: 0.1}, constant(2, 2, 1, 2), "2-channel"},
		{"lighting std", Lighting{Std: math.Inf(1)}, rgb, "lighting noise std"},
		{"lighting grey", Lighting{Std: 0.1}, grey, "needs RGB"},
		{"normalise lengths", Normalize{Mean: []float64{1, 2, 3}, Std: []float64{1}}, rgb, "3 means and 1 stds"},
		{"normalise std", Normalize{Mean: []float64{1}, Std: []float64{0}}, grey, "finite positive std"},
		{"normalise channels", Normalize{Mean: []float64{1}, Std: []float64{1}}, rgb, "3-channel image with 1 means"},
		{"resize", ResizeShorter{Size: 0}, rgb, "at least 1"},
		{"centre crop too big", CenterCrop{Size: 9}, rgb, "centre crop of 9×9 from a 8×8"},
	} {
		_, err := tc.step.Apply(clone(tc.img), rand.New(rand.NewPCG(0, 0)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, expected one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestValidationGeometry checks the sizes of the validation steps: the
// shorter side to 256 with the longer one truncated (torchvision's rule),
// then the centre 224×224 at offsets rounded half to even.
func TestValidationGeometry(t *testing.T) {
	for _, tc := range []struct {
		h, w      int
		rh, rw    int // after ResizeShorter(256)
		top, left int // of the centre crop
	}{
		{512, 512, 256, 256, 16, 16}, // astronaut.png's size
		{300, 451, 256, 384, 16, 80}, // chelsea.png's; 256·451/300 = 384.85
		{600, 512, 300, 256, 38, 16}, // grace_hopper.jpg's
		{427, 640, 256, 383, 16, 80}, // rocket.jpg's; 383.7; (383−224)/2 = 79.5 → 80
		{100, 101, 256, 258, 16, 17}, // 258.56; 17 exactly
		{225, 224, 257, 256, 16, 16}, // 257.14; (257−224)/2 = 16.5 → 16
		{224, 224, 256, 256, 16, 16},
	} {
		img := NewImage(1, tc.h, tc.w)
		for i := range img.Pix {
			img.Pix[i] = float32(i % 251)
		}
		r, err := ResizeShorter{Size: 256}.Apply(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.H != tc.rh || r.W != tc.rw {
			t.Errorf("%d×%d resized to %d×%d, expected %d×%d", tc.w, tc.h, r.W, r.H, tc.rw, tc.rh)
			continue
		}
		for i := range r.Pix {
			r.Pix[i] = float32(i) // each value names its position
		}
		c, err := CenterCrop{Size: 224}.Apply(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.H != 224 || c.W != 224 || c.Pix[0] != float32(tc.top*r.W+tc.left) {
			t.Errorf("%d×%d: centre crop starts at value %g, expected row %d column %d (%d)",
				tc.w, tc.h, c.Pix[0], tc.top, tc.left, tc.top*r.W+tc.left)
		}
	}
}
