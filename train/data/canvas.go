package data

import (
	"errors"
	"fmt"
	"image"
	"math/rand/v2"

	"github.com/bot-onnx/bot-onnx/detection"
)

// The digit-canvas segmentation set (`--data mnist-seg`): square canvases
// holding a few real MNIST digits at seeded random positions and sizes,
// labelled per pixel. It is the downstream task on which a backbone
// trained on MNIST is fine-tuned for segmentation (FCN head), as the
// paper's section 6 moves ImageNet backbones to ADE20K.
const (
	// DefaultCanvasSize is the side of a canvas in pixels.
	DefaultCanvasSize = 64
	// DefaultTrainCanvases and DefaultTestCanvases are the sizes of the
	// two splits.
	DefaultTrainCanvases = 10000
	DefaultTestCanvases  = 1000
	// CanvasBackground is the class of every pixel that no digit's ink
	// covers; digit d has class d+1, so a canvas set of MNIST has 11
	// classes.
	CanvasBackground = 0
	// CanvasInk is the lowest resized pixel value (of 255) that labels a
	// pixel with its digit's class: intensity at least 0.5, the stroke as
	// a reader sees it. Fainter anti-aliased edges are drawn but labelled
	// background, so a pixel is labelled a digit exactly when its value is
	// CanvasInk/255 or more.
	CanvasInk = 128
	// MaxCanvasDigits is the most digits a canvas holds; each canvas draws
	// 1 to MaxCanvasDigits.
	MaxCanvasDigits = 4
)

// Digit sizes, in thousandths of the source digit's side (28 px for
// MNIST): 0.7 to 1.6, i.e. 20 to 45 px.
const (
	minDigitScale = 700
	maxDigitScale = 1600
	// placeTries is how many positions a digit may try before it is left
	// out of a crowded canvas.
	placeTries = 10
	// canvasStream mixes into every canvas's PCG seed, so that a data seed
	// equal to a training seed draws unrelated numbers.
	canvasStream = 0x6d6e6973742d7367 // "mnist-sg"
)

// CanvasOptions choose a canvas set. Zero values take the defaults.
type CanvasOptions struct {
	// Seed determines every canvas: the same seed gives the same canvases.
	Seed uint64
	// Size is the side of a canvas in pixels (at least the source digits'
	// side, 28 for MNIST).
	Size int
	// Train and Test are the numbers of canvases in each split.
	Train, Test int
}

// withDefaults fills zero fields with the defaults.
func (o CanvasOptions) withDefaults() CanvasOptions {
	if o.Size == 0 {
		o.Size = DefaultCanvasSize
	}
	if o.Train == 0 {
		o.Train = DefaultTrainCanvases
	}
	if o.Test == 0 {
		o.Test = DefaultTestCanvases
	}
	return o
}

// MNISTCanvases reads MNIST from dir (as [MNIST] does) and makes the two
// splits of the digit-canvas set: training canvases from MNIST's training
// digits, test canvases from its test digits, with independent random
// streams. Images are 1×Size×Size with values in [0,1], as MNIST's, so
// they are normalised with MNIST's [MNISTMean] and [MNISTStd] (through
// [NormalizeDense]), as the backbone being transferred was trained.
//
// Canvases are generated on the fly from (seed, split, index) when asked
// for, not stored: 10,000 canvases of 64×64 bytes would take 41 MB, 60,000
// 245 MB per split, against none here, and making one costs about 20 µs
// (BenchmarkDigitCanvas: up to four small bilinear resizes), beside
// milliseconds per image for a training step.
func MNISTCanvases(dir string, opts CanvasOptions) (train, test *DigitCanvases, err error) {
	opts = opts.withDefaults()
	if err := opts.check(mnistSide); err != nil {
		return nil, nil, err
	}
	for _, split := range []struct {
		prefix string
		n      int
		stream uint64
		dst    **DigitCanvases
	}{{"train", opts.Train, 0, &train}, {"t10k", opts.Test, 1, &test}} {
		digits, err := mnistIDXFiles.readSplit(dir, split.prefix)
		if err != nil {
			return nil, nil, err
		}
		if *split.dst, err = newDigitCanvases(digits, split.n, opts.Size, opts.Seed, split.stream); err != nil {
			return nil, nil, err
		}
	}
	return train, test, nil
}

// check checks the options for source digits of side side.
func (o CanvasOptions) check(side int) error {
	switch {
	case o.Size < side:
		return fmt.Errorf("data: canvas size %d: expected at least the digits' %d pixels", o.Size, side)
	case o.Train < 1 || o.Test < 1:
		return fmt.Errorf("data: %d training and %d test canvases: expected at least 1 of each", o.Train, o.Test)
	}
	return nil
}

// DigitCanvases is one split of the digit-canvas set: a DenseDataset of n
// canvases, each made on demand from a seeded random layout of digits
// taken from a one-channel classification set.
//
// Canvas i draws, from PCG seeded by (seed, split stream, i): a number of
// digits, 1 to MaxCanvasDigits; then for each digit an example of the
// source set (uniformly, with replacement), a size (0.7 to 1.6 times the
// source's side, capped at the canvas) and up to 10 positions inside the
// canvas, keeping the first at which its ink's bounding box (pixels of
// CanvasInk or more) overlaps no earlier digit's; a digit that fits nowhere
// is left out. Digits are resized bilinearly with half-pixel centres
// (OpenCV's and torchvision's align_corners=False), in 8-bit fixed point,
// so canvases are the same bytes on every machine. Pixels take the
// largest value drawn there; since ink boxes do not overlap, each labelled
// pixel belongs to exactly one digit.
type DigitCanvases struct {
	digits       *Images
	n, size      int
	seed, stream uint64
}

// newDigitCanvases makes n canvases of size×size from digits.
func newDigitCanvases(digits *Images, n, size int, seed, stream uint64) (*DigitCanvases, error) {
	c, h, w := digits.Shape()
	switch {
	case c != 1:
		return nil, fmt.Errorf("data: canvases need one-channel digits, found %d channels", c)
	case size < max(h, w):
		return nil, fmt.Errorf("data: canvas size %d: expected at least the digits' %d×%d pixels", size, h, w)
	case n < 1:
		return nil, errors.New("data: a canvas set needs at least 1 canvas")
	}
	return &DigitCanvases{digits: digits, n: n, size: size, seed: seed, stream: stream}, nil
}

var _ DenseDataset = (*DigitCanvases)(nil)

// Len returns the number of canvases.
func (d *DigitCanvases) Len() int { return d.n }

// Shape returns the shape of a canvas: one channel, Size × Size.
func (d *DigitCanvases) Shape() (c, h, w int) { return 1, d.size, d.size }

// Classes returns the source's classes plus background: 11 for MNIST.
func (d *DigitCanvases) Classes() int { return d.digits.Classes() + 1 }

// PlacedDigit is one digit on a canvas.
type PlacedDigit struct {
	// Source is the digit's index in the source set; Class its class on
	// the canvas (its source label + 1).
	Source, Class int
	// X and Y are the canvas column and row of the resized digit's
	// top-left pixel; Width and Height its size.
	X, Y, Width, Height int
}

// Layout returns the digits of canvas i, in drawing order.
func (d *DigitCanvases) Layout(i int) ([]PlacedDigit, error) {
	if i < 0 || i >= d.n {
		return nil, fmt.Errorf("data: canvas %d out of range [0, %d)", i, d.n)
	}
	placed := d.layout(i)
	out := make([]PlacedDigit, len(placed))
	for k, p := range placed {
		out[k] = p.PlacedDigit
	}
	return out, nil
}

// Example draws canvas i into img (its values in the source's units, [0,1]
// for MNIST) and its label map into labels.
func (d *DigitCanvases) Example(i int, img []float32, labels []int32) error {
	if err := checkDense(d, i, img, labels); err != nil {
		return err
	}
	clear(img)
	for j := range labels {
		labels[j] = CanvasBackground
	}
	for _, p := range d.layout(i) {
		for r := range p.Height {
			at := (p.Y+r)*d.size + p.X
			for c, b := range p.pix[r*p.Width : (r+1)*p.Width] {
				// lut is increasing, so this is the larger byte's value.
				if v := d.digits.lut[b]; v > img[at+c] {
					img[at+c] = v
				}
				if b >= CanvasInk {
					labels[at+c] = int32(p.Class)
				}
			}
		}
	}
	return nil
}

// CanvasObject is a digit on a canvas as a detector sees it: the
// digit's class (its source label, 0 to 9 for MNIST, not the canvas's
// label map class) and the tight box of the pixels the label map gives
// it, those of CanvasInk or more, in canvas pixels with Max exclusive.
type CanvasObject struct {
	Class int
	Box   image.Rectangle
}

// Object returns o as package detection takes it: the pixels [Min, Max)
// of its box are the box from Min to Max in continuous coordinates.
func (o CanvasObject) Object() detection.Object {
	b := o.Box
	return detection.Object{X1: float64(b.Min.X), Y1: float64(b.Min.Y), X2: float64(b.Max.X), Y2: float64(b.Max.Y), Class: o.Class}
}

// ObjectSet is a data set whose examples hold objects, a box and a class
// each: the truth of a detection set. ObjectClasses is the number of the
// objects' classes (0 to ObjectClasses−1).
type ObjectSet interface {
	Objects(i int) ([]CanvasObject, error)
	ObjectClasses() int
}

var _ ObjectSet = (*DigitCanvases)(nil)

// ObjectClasses returns the source's classes, those of the canvases'
// objects: 10 for MNIST (the label map's background is no object).
func (d *DigitCanvases) ObjectClasses() int { return d.digits.Classes() }

// Objects returns the objects of canvas i, in drawing order: the
// detection set (`--data mnist-det`) is the canvases of mnist-seg with
// these as their truth. A digit drawn with no pixel of CanvasInk or more
// is unlabelled on the map and is no object either.
func (d *DigitCanvases) Objects(i int) ([]CanvasObject, error) {
	if i < 0 || i >= d.n {
		return nil, fmt.Errorf("data: canvas %d out of range [0, %d)", i, d.n)
	}
	var out []CanvasObject
	for _, p := range d.layout(i) {
		if !p.ink.Empty() {
			out = append(out, CanvasObject{Class: p.Class - 1, Box: p.ink})
		}
	}
	return out, nil
}

// placed is a digit on a canvas with its resized pixels and the box of its
// ink on the canvas.
type placed struct {
	PlacedDigit
	pix []uint8 // Height × Width
	ink image.Rectangle
}

// layout draws canvas i's digits and resizes them.
func (d *DigitCanvases) layout(i int) []placed {
	rng := rand.New(rand.NewPCG(d.seed, canvasStream^(uint64(i)<<1|d.stream)))
	_, sh, sw := d.digits.Shape()
	var (
		out []placed
		ink []image.Rectangle // the placed digits' ink boxes, on the canvas
	)
	for range 1 + rng.IntN(MaxCanvasDigits) {
		src := rng.IntN(d.digits.Len())
		scale := minDigitScale + rng.IntN(maxDigitScale-minDigitScale+1)
		h := min((sh*scale+500)/1000, d.size)
		w := min((sw*scale+500)/1000, d.size)
		pix := make([]uint8, h*w)
		box := resizeBilinear(d.digits.pixels[src*sh*sw:(src+1)*sh*sw], sh, sw, pix, h, w)
		for range placeTries {
			x, y := rng.IntN(d.size-w+1), rng.IntN(d.size-h+1)
			at := box.Add(image.Pt(x, y))
			if overlapsAny(at, ink) {
				continue
			}
			ink = append(ink, at)
			out = append(out, placed{PlacedDigit{Source: src, Class: int(d.digits.labels[src]) + 1, X: x, Y: y, Width: w, Height: h}, pix, at})
			break
		}
	}
	return out
}

// overlapsAny reports whether r shares a pixel with any of boxes. An empty
// r (a digit without ink) overlaps nothing.
func overlapsAny(r image.Rectangle, boxes []image.Rectangle) bool {
	for _, b := range boxes {
		if r.Overlaps(b) {
			return true
		}
	}
	return false
}
