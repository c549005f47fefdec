package augment

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
)

// Image is a float32 image of C planes of H×W values, row-major, one plane
// after the other (C×H×W order), with values in [0, 255] until normalised.
type Image struct {
	C, H, W int
	Pix     []float32 // len C·H·W
}

// NewImage returns a zeroed c×h×w image.
func NewImage(c, h, w int) *Image {
	return &Image{C: c, H: h, W: w, Pix: make([]float32, c*h*w)}
}

// Plane returns channel k's H×W values.
func (m *Image) Plane(k int) []float32 {
	n := m.H * m.W
	return m.Pix[k*n : (k+1)*n]
}

// Grey weights of ITU-R BT.601, the luma of JPEG's YCbCr: PIL's "L"
// conversion and GluonCV's contrast and saturation use them (torchvision
// uses 0.2989 for red).
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// FromImage converts src to a float32 image of channels channels (3: red,
// green, blue; 1: grey) with values in [0, 255]. Alpha is dropped, not
// composited (the colour of a transparent pixel is kept, as PIL's
// convert("RGB") does); a grey source gives three equal channels; a colour
// source made grey gets luma 0.299R + 0.587G + 0.114B of its 8-bit RGB
// values, as PIL's convert("L") (for a JPEG that is not its Y plane, which
// differs where RGB clips). 16-bit sources are scaled by 1/257.
// The common decoder outputs (YCbCr, Gray, RGBA, NRGBA) have fast paths;
// any other type goes through its colour model.
func FromImage(src image.Image, channels int) (*Image, error) {
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("augment: converting to %d channels: expected 1 (grey) or 3 (RGB)", channels)
	}
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("augment: converting an empty %d×%d image", w, h)
	}
	m := NewImage(channels, h, w)
	n := h * w
	var tr, tg, tb []float32 // the RGB of one row, for grey output
	if channels == 1 {
		tr, tg, tb = make([]float32, w), make([]float32, w), make([]float32, w)
	}
	for y := range h {
		r, g, bl := tr, tg, tb
		if channels == 3 {
			r, g, bl = m.Pix[y*w:(y+1)*w], m.Pix[n+y*w:n+(y+1)*w], m.Pix[2*n+y*w:2*n+(y+1)*w]
		}
		rgbRow(src, b.Min.X, b.Min.Y+y, r, g, bl)
		if channels == 1 {
			out := m.Pix[y*w : (y+1)*w]
			for x := range out {
				out[x] = lumaR*r[x] + lumaG*g[x] + lumaB*bl[x]
			}
		}
	}
	return m, nil
}

// rgbRow writes the red, green and blue values of the len(r) pixels of
// src's row y from column x0 on into r, g and b.
func rgbRow(src image.Image, x0, y int, r, g, b []float32) {
	g, b = g[:len(r)], b[:len(r)]
	switch s := src.(type) {
	case *image.YCbCr:
		if x0 < 0 {
			break // chroma indices below assume columns ≥ 0
		}
		// Chroma is shared by 1, 2 or 4 consecutive columns.
		shift := 0
		switch s.SubsampleRatio {
		case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
			shift = 1
		case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
			shift = 2
		}
		ys := s.Y[s.YOffset(x0, y):][:len(r)]
		c0 := s.COffset(x0, y) - x0>>shift
		for x := range r {
			ci := c0 + (x0+x)>>shift
			rr, gg, bb := color.YCbCrToRGB(ys[x], s.Cb[ci], s.Cr[ci])
			r[x], g[x], b[x] = float32(rr), float32(gg), float32(bb)
		}
		return
	case *image.Gray:
		row := s.Pix[s.PixOffset(x0, y):][:len(r)]
		for x, v := range row {
			r[x], g[x], b[x] = float32(v), float32(v), float32(v)
		}
		return
	case *image.NRGBA:
		row := s.Pix[s.PixOffset(x0, y):][:4*len(r)]
		for x := range r {
			p := row[4*x : 4*x+3 : 4*x+3]
			r[x], g[x], b[x] = float32(p[0]), float32(p[1]), float32(p[2])
		}
		return
	case *image.RGBA:
		row := s.Pix[s.PixOffset(x0, y):][:4*len(r)]
		for x := range r {
			p := row[4*x : 4*x+4 : 4*x+4]
			k := float32(1)
			if a := p[3]; a != 255 && a != 0 { // premultiplied: undo it
				k = 255 / float32(a)
			}
			r[x], g[x], b[x] = float32(p[0])*k, float32(p[1])*k, float32(p[2])*k
		}
		return
	}
	for x := range r {
		switch c := src.At(x0+x, y).(type) {
		case color.NRGBA: // its RGBA() would lose a transparent pixel's colour
			r[x], g[x], b[x] = float32(c.R), float32(c.G), float32(c.B)
		default:
			n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
			r[x], g[x], b[x] = float32(n.R)/257, float32(n.G)/257, float32(n.B)/257
		}
	}
}

// Rand returns the random generator of example index of epoch epoch under
// seed: a PCG whose two state words are seed and epoch mixed, and index
// mixed, by SplitMix64. Examples thus draw independent streams that depend
// only on (seed, epoch, index), whichever goroutine decodes them and in
// whatever order.
func Rand(seed uint64, epoch, index int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(seed^splitmix64(uint64(epoch))), splitmix64(uint64(index))))
}

// splitmix64 is SplitMix64's output function (Steele, Lea and Flood 2014):
// a bijection of uint64 that scatters nearby inputs.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
