// Package plot draws line charts as PNG with the standard library and
// x/image's fixed bitmap font: enough to look at learning curves and
// schedules without Python.
package plot

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one named line, with an optional band around it: Lo and Hi,
// when set, hold the band's bottom and top at each X (e.g. the spread of
// runs with different seeds whose mean is Y), drawn beneath the lines in
// a light shade of the line's colour.
type Series struct {
	Name   string
	X, Y   []float64
	Lo, Hi []float64
}

// Chart is one panel: a title, axis labels and its lines.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
}

const (
	width, height = 720, 420
	left, right   = 70, 190 // right margin holds the legend
	top, bottom   = 30, 45
)

// PNG renders the charts stacked vertically.
func PNG(charts ...Chart) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, width, height*len(charts)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, c := range charts {
		if err := c.draw(img, i*height); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}

func (c Chart) draw(img *image.RGBA, y0 int) error {
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot %q: series %q has %d x and %d y values", c.Title, s.Name, len(s.X), len(s.Y))
		}
		if (s.Lo != nil || s.Hi != nil) && (len(s.Lo) != len(s.X) || len(s.Hi) != len(s.X)) {
			return fmt.Errorf("plot %q: series %q has %d x values and a band of %d and %d", c.Title, s.Name, len(s.X), len(s.Lo), len(s.Hi))
		}
		for i := range s.X {
			for _, y := range []float64{s.Y[i], at(s.Lo, i), at(s.Hi, i)} {
				if !finite(y) {
					continue
				}
				minX, maxX = math.Min(minX, s.X[i]), math.Max(maxX, s.X[i])
				minY, maxY = math.Min(minY, y), math.Max(maxY, y)
			}
		}
	}
	if math.IsInf(minX, 1) {
		minX, maxX, minY, maxY = 0, 1, 0, 1
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		maxY = minY + 1
	}
	// The y axis runs between the nice ticks around the data (so it goes
	// below 0 only when the data does); the x axis spans the data exactly,
	// with nice ticks inside it.
	yStep := niceStep(minY, maxY, 5)
	minY, maxY = math.Floor(minY/yStep)*yStep, math.Ceil(maxY/yStep)*yStep
	xStep := niceStep(minX, maxX, 6)
	x0, x1 := left, width-right
	yTop, yBot := y0+top, y0+height-bottom
	px := func(x float64) int { return x0 + int(float64(x1-x0)*(x-minX)/(maxX-minX)) }
	py := func(y float64) int { return yBot - int(float64(yBot-yTop)*(y-minY)/(maxY-minY)) }
	gray, black := color.RGBA{220, 220, 220, 255}, color.RGBA{0, 0, 0, 255}
	for _, y := range ticks(minY, maxY, yStep) {
		line(img, x0, py(y), x1, py(y), gray)
		text(img, 4, py(y)+4, tickLabel(y, yStep), black)
	}
	for _, x := range ticks(minX, maxX, xStep) {
		label := tickLabel(x, xStep)
		text(img, px(x)-3*len(label), yBot+15, label, black)
	}
	line(img, x0, yTop, x0, yBot, black)
	line(img, x0, yBot, x1, yBot, black)
	title := c.Title
	if c.YLabel != "" {
		title += " (y: " + c.YLabel + ")"
	}
	text(img, x0, y0+18, title, black)
	text(img, (x0+x1)/2-len(c.XLabel)*3, yBot+32, c.XLabel, black)
	for i, s := range c.Series {
		band(img, s, px, py, tint(palette[i%len(palette)]))
	}
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		for j := 1; j < len(s.X); j++ {
			if finite(s.Y[j-1]) && finite(s.Y[j]) {
				line(img, px(s.X[j-1]), py(s.Y[j-1]), px(s.X[j]), py(s.Y[j]), col)
			}
		}
		ly := yTop + 10 + 16*i
		for k := 0; k < 3; k++ {
			line(img, x1+10, ly-4+k, x1+30, ly-4+k, col)
		}
		text(img, x1+36, ly, s.Name, black)
	}
	return nil
}

// at is v[i], or NaN when v is nil.
func at(v []float64, i int) float64 {
	if v == nil {
		return math.NaN()
	}
	return v[i]
}

// tint is c mixed with 3 parts of white: a band's shade.
func tint(c color.RGBA) color.RGBA {
	mix := func(v uint8) uint8 { return uint8((int(v) + 3*255) / 4) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 255}
}

// band fills s's band, column by column between consecutive points, with
// its bottom and top interpolated linearly; where bands overlap the later
// series' shade wins.
func band(img *image.RGBA, s Series, px func(float64) int, py func(float64) int, col color.RGBA) {
	if s.Lo == nil {
		return
	}
	for j := 1; j < len(s.X); j++ {
		if !finite(s.Lo[j-1]) || !finite(s.Lo[j]) || !finite(s.Hi[j-1]) || !finite(s.Hi[j]) {
			continue
		}
		xa, xb := px(s.X[j-1]), px(s.X[j])
		for x := xa; x <= xb; x++ {
			f := 0.0
			if xb > xa {
				f = float64(x-xa) / float64(xb-xa)
			}
			lo := s.Lo[j-1] + f*(s.Lo[j]-s.Lo[j-1])
			hi := s.Hi[j-1] + f*(s.Hi[j]-s.Hi[j-1])
			for y := py(hi); y <= py(lo); y++ {
				img.SetRGBA(x, y, col)
			}
		}
	}
}

// niceStep is the distance between about n ticks over [lo, hi]: 1, 2 or 5
// times a power of ten, so that the ticks read 0, 2000, 4000 rather than
// 0, 2249.75, 4499.5 (Heckbert's "nice numbers", Graphics Gems 1990).
func niceStep(lo, hi float64, n int) float64 {
	raw := (hi - lo) / float64(max(n-1, 1))
	power := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*power {
			return m * power
		}
	}
	return 10 * power
}

// ticks are the multiples of step in [lo, hi].
func ticks(lo, hi, step float64) []float64 {
	var out []float64
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		out = append(out, k*step)
	}
	return out
}

// tickLabel writes v with as many decimals as step needs, and no more.
func tickLabel(v, step float64) string {
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if v == 0 {
		v = 0 // not −0
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// line draws a segment with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
