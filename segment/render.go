package segment

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"github.com/bot-onnx/bot-onnx/graph"
)

// Color is label's colour in PASCAL VOC's colour map, the palette
// segmentation tools share: the bits of the label, read three at a time
// from the lowest, fill red, green and blue from their highest bit down.
// Class 0 (background) is black, 1 dark red, 2 dark green, 3 olive, 4 navy,
// …; a label outside 0 to 254 (an ignore label such as −1) gets VOC's
// colour for its void label 255, a pale beige.
func Color(label int32) color.RGBA {
	if label < 0 || label > 254 {
		label = 255
	}
	var r, g, b uint8
	for bit := 7; bit >= 0 && label > 0; bit-- {
		r |= uint8(label&1) << bit
		g |= uint8(label>>1&1) << bit
		b |= uint8(label>>2&1) << bit
		label >>= 3
	}
	return color.RGBA{r, g, b, 255}
}

// Panel is one example to draw: the input image beside its true and its
// predicted label maps.
type Panel struct {
	// Image holds Channels (1 or 3) planes of H×W. It is shown stretched
	// from its smallest value (black) to its largest (white), so a
	// normalised model input needs no undoing.
	Image    []float32
	Channels int
	// Truth and Pred are H×W label maps.
	Truth, Pred []int32
}

// gap is the width in pixels of the grey lines between pictures.
const gap = 2

// Render draws panels as rows of three pictures of h×w, each magnified zoom
// times: the input, the ground truth and the prediction, label maps in
// Color's palette, with grey lines between.
func Render(panels []Panel, h, w, zoom int) (*image.RGBA, error) {
	if len(panels) == 0 || h < 1 || w < 1 || zoom < 1 {
		return nil, fmt.Errorf("segment: rendering %d panels of %d×%d at zoom %d: expected at least one panel, a positive size and zoom",
			len(panels), h, w, zoom)
	}
	ph, pw := h*zoom, w*zoom
	out := image.NewRGBA(image.Rect(0, 0, 3*pw+4*gap, len(panels)*(ph+gap)+gap))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	for row, p := range panels {
		if err := p.check(h, w); err != nil {
			return nil, fmt.Errorf("segment: panel %d: %w", row, err)
		}
		y0 := gap + row*(ph+gap)
		for col, pixel := range []func(i int) color.RGBA{p.imageColor(), labelColor(p.Truth), labelColor(p.Pred)} {
			x0 := gap + col*(pw+gap)
			for y := range ph {
				for x := range pw {
					out.SetRGBA(x0+x, y0+y, pixel(y/zoom*w+x/zoom))
				}
			}
		}
	}
	return out, nil
}

// check checks the panel's sizes for pictures of h×w.
func (p Panel) check(h, w int) error {
	switch {
	case p.Channels != 1 && p.Channels != 3:
		return fmt.Errorf("an image of %d channels: expected 1 or 3", p.Channels)
	case len(p.Image) != p.Channels*h*w:
		return fmt.Errorf("%d image values: expected %d×%d×%d = %d", len(p.Image), p.Channels, h, w, p.Channels*h*w)
	case len(p.Truth) != h*w || len(p.Pred) != h*w:
		return fmt.Errorf("label maps of %d and %d values: expected %d×%d = %d", len(p.Truth), len(p.Pred), h, w, h*w)
	}
	return nil
}

// imageColor returns the colour of pixel i of the stretched image.
func (p Panel) imageColor() func(i int) color.RGBA {
	lo, hi := p.Image[0], p.Image[0]
	for _, v := range p.Image {
		lo, hi = min(lo, v), max(hi, v)
	}
	scale := float32(0)
	if hi > lo {
		scale = 255 / (hi - lo)
	}
	plane := len(p.Image) / p.Channels
	level := func(v float32) uint8 { return uint8((v-lo)*scale + 0.5) }
	return func(i int) color.RGBA {
		if p.Channels == 1 {
			v := level(p.Image[i])
			return color.RGBA{v, v, v, 255}
		}
		return color.RGBA{level(p.Image[i]), level(p.Image[plane+i]), level(p.Image[2*plane+i]), 255}
	}
}

// labelColor returns the colour of pixel i of a label map.
func labelColor(labels []int32) func(i int) color.RGBA {
	return func(i int) color.RGBA { return Color(labels[i]) }
}

// WritePNG renders panels (see Render) into a PNG file at path, written to
// a temporary file and renamed into place.
func WritePNG(path string, panels []Panel, h, w, zoom int) error {
	img, err := Render(panels, h, w, zoom)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writePNG(path, img)
}

// writePNG encodes img into a PNG file at path, written to a temporary
// file and renamed into place.
func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return graph.WriteFileAtomic(path, buf.Bytes())
}
