package segment

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Box is a box to draw over an image, in its pixels (X1, Y1 the top-left
// corner, X2, Y2 the bottom-right, continuous coordinates), with a label
// printed above it ("" for none).
type Box struct {
	X1, Y1, X2, Y2 float64
	Label          string
}

// The colours of RenderBoxes: truth green, predictions red.
var (
	truthColor = color.RGBA{0, 200, 0, 255}
	predColor  = color.RGBA{230, 30, 30, 255}
)

// RenderBoxes draws an image (Channels planes of h×w, stretched as a
// Panel's) magnified zoom times, with the true boxes in green and the
// predicted ones in red, each prediction's label above its box: the
// pictures of a detector's predictions.
func RenderBoxes(img []float32, channels, h, w, zoom int, truth, pred []Box) (*image.RGBA, error) {
	p := Panel{Image: img, Channels: channels}
	switch {
	case h < 1 || w < 1 || zoom < 1:
		return nil, fmt.Errorf("segment: rendering %d×%d at zoom %d: expected a positive size and zoom", h, w, zoom)
	case channels != 1 && channels != 3 || len(img) != channels*h*w:
		return nil, fmt.Errorf("segment: an image of %d values in %d channels: expected 1 or 3 channels of %d×%d", len(img), channels, h, w)
	}
	out := image.NewRGBA(image.Rect(0, 0, w*zoom, h*zoom))
	pixel := p.imageColor()
	for y := range h * zoom {
		for x := range w * zoom {
			out.SetRGBA(x, y, pixel(y/zoom*w+x/zoom))
		}
	}
	for _, b := range truth {
		outline(out, b, zoom, truthColor)
	}
	face := basicfont.Face7x13
	for _, b := range pred {
		x0, y0 := outline(out, b, zoom, predColor)
		if b.Label != "" {
			d := font.Drawer{Dst: out, Src: image.NewUniform(predColor), Face: face,
				Dot: fixed.P(x0, max(y0-2, face.Ascent))}
			d.DrawString(b.Label)
		}
	}
	return out, nil
}

// outline draws b's edges at zoom and returns its top-left corner there.
func outline(img *image.RGBA, b Box, zoom int, c color.RGBA) (x0, y0 int) {
	z := float64(zoom)
	x0, y0 = int(math.Round(b.X1*z)), int(math.Round(b.Y1*z))
	x1, y1 := int(math.Round(b.X2*z))-1, int(math.Round(b.Y2*z))-1
	for x := x0; x <= x1; x++ {
		set(img, x, y0, c)
		set(img, x, y1, c)
	}
	for y := y0; y <= y1; y++ {
		set(img, x0, y, c)
		set(img, x1, y, c)
	}
	return x0, y0
}

// set colours a pixel if it lies in the image.
func set(img *image.RGBA, x, y int, c color.RGBA) {
	if image.Pt(x, y).In(img.Bounds()) {
		img.SetRGBA(x, y, c)
	}
}

// WriteBoxesPNG renders RenderBoxes into a PNG file at path, written to a
// temporary file and renamed into place.
func WriteBoxesPNG(path string, img []float32, channels, h, w, zoom int, truth, pred []Box) error {
	out, err := RenderBoxes(img, channels, h, w, zoom, truth, pred)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writePNG(path, out)
}
