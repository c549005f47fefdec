package augment

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
)

// Step is one transform of an image. Apply returns the transformed image:
// img itself, changed in place, or a new image where the size changes. Its
// randomness comes only from rng. The error reports invalid parameters or
// an image the step cannot take (such as a one-channel image for
// [Lighting]).
type Step interface {
	Apply(img *Image, rng *rand.Rand) (*Image, error)
}

// RandomResizedCrop crops a random part of the image and resizes it to
// Size×Size (Inception's crop, "scale augmentation"; torchvision's
// RandomResizedCrop, which GluonCV copies): the crop's area is a fraction
// of the image's drawn from U[MinArea, MaxArea] and its aspect ratio
// (width/height) is drawn log-uniformly from [MinRatio, MaxRatio]; up to 10
// draws are tried until the box fits in the image, then a centre crop of
// the whole image clamped to the ratio range is taken instead. The paper's
// values are [0.08, 1] and [3/4, 4/3]. Resizing is bilinear with PIL's
// antialiasing (the filter widens when shrinking), as torchvision resizes
// PIL images.
type RandomResizedCrop struct {
	Size               int
	MinArea, MaxArea   float64
	MinRatio, MaxRatio float64
}

// cropAttempts is how many boxes RandomResizedCrop draws before it falls
// back to a centre crop: torchvision's 10.
const cropAttempts = 10

func (c RandomResizedCrop) validate() error {
	switch {
	case c.Size < 1:
		return fmt.Errorf("augment: random crop to %d×%d: expected a size of at least 1", c.Size, c.Size)
	case !(c.MinArea > 0 && c.MinArea <= c.MaxArea && c.MaxArea <= 1):
		return fmt.Errorf("augment: random crop area fractions [%g, %g]: expected 0 < min ≤ max ≤ 1", c.MinArea, c.MaxArea)
	case !(c.MinRatio > 0 && c.MinRatio <= c.MaxRatio && !math.IsInf(c.MaxRatio, 0)):
		return fmt.Errorf("augment: random crop aspect ratios [%g, %g]: expected finite 0 < min ≤ max", c.MinRatio, c.MaxRatio)
	}
	return nil
}

// Box draws the crop box for an h×w image, exactly as Apply does with the
// same generator, and says whether it is the fallback centre crop. Within
// the 10 attempts the box's width and height are the rounded (half to even,
// as Python's round) square roots of area·ratio and area/ratio, so its own
// area and ratio lie within half a pixel of the drawn ones; its corner is
// uniform over the positions that keep it inside the image. The parameters
// must be valid: Apply and NewTrain report those that are not.
func (c RandomResizedCrop) Box(h, w int, rng *rand.Rand) (box image.Rectangle, fallback bool) {
	area := float64(h) * float64(w)
	logLo, logHi := math.Log(c.MinRatio), math.Log(c.MaxRatio)
	for range cropAttempts {
		target := area * (c.MinArea + (c.MaxArea-c.MinArea)*rng.Float64())
		ratio := math.Exp(logLo + (logHi-logLo)*rng.Float64())
		cw := int(math.RoundToEven(math.Sqrt(target * ratio)))
		ch := int(math.RoundToEven(math.Sqrt(target / ratio)))
		if 0 < cw && cw <= w && 0 < ch && ch <= h {
			y := rng.IntN(h - ch + 1)
			x := rng.IntN(w - cw + 1)
			return image.Rect(x, y, x+cw, y+ch), false
		}
	}
	cw, ch := w, h
	switch in := float64(w) / float64(h); {
	case in < c.MinRatio:
		ch = int(math.RoundToEven(float64(cw) / c.MinRatio))
	case in > c.MaxRatio:
		cw = int(math.RoundToEven(float64(ch) * c.MaxRatio))
	}
	y, x := (h-ch)/2, (w-cw)/2
	return image.Rect(x, y, x+cw, y+ch), true
}

// Apply crops a box drawn by Box and resizes it to Size×Size.
func (c RandomResizedCrop) Apply(img *Image, rng *rand.Rand) (*Image, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	box, _ := c.Box(img.H, img.W, rng)
	return resizeBox(img, box, c.Size, c.Size), nil
}

// HorizontalFlip mirrors the image left to right with probability P (the
// paper's 0.5). It draws one number whatever the outcome.
type HorizontalFlip struct {
	P float64
}

func (f HorizontalFlip) validate() error {
	if !(f.P >= 0 && f.P <= 1) {
		return fmt.Errorf("augment: flip probability %g: expected 0 to 1", f.P)
	}
	return nil
}

// Apply mirrors img in place with probability P.
func (f HorizontalFlip) Apply(img *Image, rng *rand.Rand) (*Image, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	if rng.Float64() < f.P {
		mirror(img)
	}
	return img, nil
}

// mirror reverses every row of img.
func mirror(img *Image) {
	for r := range img.C * img.H {
		slices.Reverse(img.Pix[r*img.W : (r+1)*img.W])
	}
}

// ColorJitter scales brightness, contrast and saturation, each by a factor
// drawn from U[max(0, 1−s), 1+s] for its strength s (the paper's 0.4 gives
// U[0.6, 1.4]; 0 leaves that property alone), in a random order drawn per
// image, as GluonCV's RandomColorJitter (MXNet's random_color_jitter) and
// torchvision's ColorJitter both do. With factor f and value x:
//
//   - brightness: f·x;
//   - contrast: f·x + (1−f)·m, where m is the mean luma of the whole image
//     (one number, luma 0.299R + 0.587G + 0.114B);
//   - saturation: f·x + (1−f)·l, where l is the pixel's own luma (a no-op
//     on one channel).
//
// These are torchvision's and PIL's ImageEnhance definitions (torchvision's
// luma weighs red 0.2989; MXNet's saturation, whose luma loop keeps only the
// blue term, is taken to be a bug and not followed). Each result is clipped
// to [0, 255], as on GluonCV's uint8 images and torchvision's float ones.
// The paper names hue where GluonCV's recipe uses contrast; this follows
// GluonCV.
type ColorJitter struct {
	Brightness, Contrast, Saturation float64
}

func (j ColorJitter) validate() error {
	for _, s := range []struct {
		name string
		v    float64
	}{{"brightness", j.Brightness}, {"contrast", j.Contrast}, {"saturation", j.Saturation}} {
		if !(s.v >= 0) || math.IsInf(s.v, 0) {
			return fmt.Errorf("augment: %s jitter %g: expected a finite strength of 0 or more", s.name, s.v)
		}
	}
	return nil
}

// Apply jitters img in place.
func (j ColorJitter) Apply(img *Image, rng *rand.Rand) (*Image, error) {
	if err := j.validate(); err != nil {
		return nil, err
	}
	if img.C != 1 && img.C != 3 {
		return nil, fmt.Errorf("augment: colour jitter of a %d-channel image: expected 1 or 3 channels", img.C)
	}
	order := [3]int{0, 1, 2}
	rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	for _, op := range order {
		s := [3]float64{j.Brightness, j.Contrast, j.Saturation}[op]
		if s == 0 {
			continue
		}
		f := float32(max(0, 1-s) + (1+s-max(0, 1-s))*rng.Float64())
		switch op {
		case 0:
			adjustBrightness(img, f)
		case 1:
			adjustContrast(img, f)
		case 2:
			adjustSaturation(img, f)
		}
	}
	return img, nil
}

// clip255 clamps v to [0, 255]. (Comparisons, not the min and max
// built-ins, whose handling of NaN and signed zeros costs twice the time.)
func clip255(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return v
}

// adjustBrightness scales every value by f, clipped.
func adjustBrightness(img *Image, f float32) {
	for i, v := range img.Pix {
		img.Pix[i] = clip255(f * v)
	}
}

// adjustContrast blends every value with the image's mean luma, clipped.
func adjustContrast(img *Image, f float32) {
	var sum float64
	if img.C == 1 {
		for _, v := range img.Pix {
			sum += float64(v)
		}
	} else {
		r, g, b := img.Plane(0), img.Plane(1), img.Plane(2)
		for i := range r {
			sum += float64(lumaR*r[i] + lumaG*g[i] + lumaB*b[i])
		}
	}
	bias := (1 - f) * float32(sum/float64(img.H*img.W))
	for i, v := range img.Pix {
		img.Pix[i] = clip255(f*v + bias)
	}
}

// adjustSaturation blends every pixel with its own luma, clipped.
func adjustSaturation(img *Image, f float32) {
	if img.C == 1 {
		return
	}
	r, g, b := img.Plane(0), img.Plane(1), img.Plane(2)
	for i := range r {
		l := (1 - f) * (lumaR*r[i] + lumaG*g[i] + lumaB*b[i])
		r[i] = clip255(f*r[i] + l)
		g[i] = clip255(f*g[i] + l)
		b[i] = clip255(f*b[i] + l)
	}
}

// ImageNet's RGB colour principal components on [0, 255]: eigenvalues and
// eigenvectors (the columns) of the pixels' covariance, as GluonCV uses
// them through MXNet's random_lighting (image_random-inl.h): fb.resnet.torch's
// eigenvalues (0.2175, 0.0188, 0.0045) on [0, 1] (datasets/imagenet.lua),
// times 255, with its eigenvectors, the figures AlexNet's lighting noise
// (Krizhevsky et al. 2012, section 4.1) is usually run with.
var (
	ImageNetEigVal = [3]float64{55.46, 4.794, 1.148}
	ImageNetEigVec = [3][3]float64{
		{-0.5675, 0.7192, 0.4009},
		{-0.5808, -0.0045, -0.8140},
		{-0.5836, -0.6948, 0.4203},
	}
)

// Lighting adds AlexNet's PCA colour noise: with α_j ~ N(0, Std) drawn per
// image for each principal component j (the paper's Std is 0.1), every
// pixel's channel c gets Σ_j ImageNetEigVec[c][j]·α_j·ImageNetEigVal[j]
// added, then is clipped to [0, 255]. It needs three channels.
type Lighting struct {
	Std float64
}

func (l Lighting) validate() error {
	if !(l.Std >= 0) || math.IsInf(l.Std, 0) {
		return fmt.Errorf("augment: lighting noise std %g: expected a finite number of 0 or more", l.Std)
	}
	return nil
}

// Apply adds the noise to img in place.
func (l Lighting) Apply(img *Image, rng *rand.Rand) (*Image, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	if img.C != 3 {
		return nil, fmt.Errorf("augment: lighting noise on a %d-channel image: it needs RGB (3 channels)", img.C)
	}
	var alpha [3]float64
	for j := range alpha {
		alpha[j] = rng.NormFloat64() * l.Std
	}
	addLighting(img, alpha)
	return img, nil
}

// addLighting adds the colour shift of coefficients alpha to every pixel,
// clipped.
func addLighting(img *Image, alpha [3]float64) {
	for c := range 3 {
		var d float64
		for j := range 3 {
			d += ImageNetEigVec[c][j] * alpha[j] * ImageNetEigVal[j]
		}
		p, delta := img.Plane(c), float32(d)
		for i, v := range p {
			p[i] = clip255(v + delta)
		}
	}
}

// ImageNet's per-channel (R, G, B) mean and standard deviation on [0, 255],
// the paper's (GluonCV's 0.485, 0.456, 0.406 and 0.229, 0.224, 0.225 times
// 255, to rounding).
var (
	ImageNetMean = [3]float64{123.68, 116.779, 103.939}
	ImageNetStd  = [3]float64{58.393, 57.12, 57.375}
)

// Normalize standardises each channel: (x − Mean[c]) / Std[c], with one
// mean and std a channel in the image's units.
type Normalize struct {
	Mean, Std []float64
}

func (n Normalize) validate() error {
	if len(n.Mean) != len(n.Std) || len(n.Mean) == 0 {
		return fmt.Errorf("augment: normalising with %d means and %d stds: expected one of each a channel", len(n.Mean), len(n.Std))
	}
	for k := range n.Mean {
		if math.IsNaN(n.Mean[k]) || math.IsInf(n.Mean[k], 0) || !(n.Std[k] > 0) || math.IsInf(n.Std[k], 0) {
			return fmt.Errorf("augment: normalising channel %d with mean %g and std %g: expected a finite mean and a finite positive std",
				k, n.Mean[k], n.Std[k])
		}
	}
	return nil
}

// Apply normalises img in place.
func (n Normalize) Apply(img *Image, _ *rand.Rand) (*Image, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	if len(n.Mean) != img.C {
		return nil, fmt.Errorf("augment: normalising a %d-channel image with %d means and stds", img.C, len(n.Mean))
	}
	for k := range img.C {
		m, inv := float32(n.Mean[k]), float32(1/n.Std[k])
		p := img.Plane(k)
		for i, v := range p {
			p[i] = (v - m) * inv
		}
	}
	return img, nil
}

// ResizeShorter resizes the image so that its shorter side is Size,
// keeping the aspect ratio: the longer side becomes
// ⌊Size·long/short⌋, torchvision's Resize(int) rule (and MXNet's
// keep_ratio). Resampling is RandomResizedCrop's.
type ResizeShorter struct {
	Size int
}

// Apply returns the resized image.
func (r ResizeShorter) Apply(img *Image, _ *rand.Rand) (*Image, error) {
	if r.Size < 1 {
		return nil, fmt.Errorf("augment: resizing the shorter side to %d: expected at least 1", r.Size)
	}
	h, w := r.Size, r.Size
	if img.W <= img.H {
		h = int(float64(r.Size) * float64(img.H) / float64(img.W))
	} else {
		w = int(float64(r.Size) * float64(img.W) / float64(img.H))
	}
	return resizeBox(img, image.Rect(0, 0, img.W, img.H), h, w), nil
}

// CenterCrop cuts the Size×Size centre out of the image, at offset
// (H−Size)/2, (W−Size)/2 rounded half to even: torchvision's CenterCrop
// (Python's round). The image must be at least Size on both sides.
type CenterCrop struct {
	Size int
}

// Apply returns the centre crop.
func (c CenterCrop) Apply(img *Image, _ *rand.Rand) (*Image, error) {
	if c.Size < 1 || c.Size > img.H || c.Size > img.W {
		return nil, fmt.Errorf("augment: centre crop of %d×%d from a %d×%d image: expected a size from 1 to the shorter side",
			c.Size, c.Size, img.W, img.H)
	}
	top := int(math.RoundToEven(float64(img.H-c.Size) / 2))
	left := int(math.RoundToEven(float64(img.W-c.Size) / 2))
	dst := NewImage(img.C, c.Size, c.Size)
	for k := range img.C {
		src, d := img.Plane(k), dst.Plane(k)
		for y := range c.Size {
			copy(d[y*c.Size:(y+1)*c.Size], src[(top+y)*img.W+left:])
		}
	}
	return dst, nil
}
