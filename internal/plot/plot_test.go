package plot

import (
	"bytes"
	"image/png"
	"math"
	"slices"
	"testing"
)

func TestPNG(t *testing.T) {
	b, err := PNG(Chart{Title: "loss", XLabel: "step", YLabel: "loss", Series: []Series{
		{Name: "baseline", X: []float64{0, 1, 2}, Y: []float64{2.3, 1.1, 0.4}},
		{Name: "cosine", X: []float64{0, 1, 2}, Y: []float64{2.3, 0.9, 0.3}},
	}}, Chart{Title: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != width || img.Bounds().Dy() != 2*height {
		t.Errorf("size %v", img.Bounds())
	}
	// The first series' colour appears on the chart.
	found := false
	for y := 0; y < height && !found; y++ {
		for x := left; x < width-right; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 == 31 && g>>8 == 119 && b>>8 == 180 {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("the first series is not drawn")
	}
	if _, err := PNG(Chart{Series: []Series{{X: []float64{1}, Y: nil}}}); err == nil {
		t.Error("mismatched series accepted")
	}
}

// TestTicks: ticks fall on 1, 2 or 5 times a power of ten, worked by hand
// for the ranges the reports show (steps 0–8999, loss 0.9–46.25, an
// accuracy 0.93–0.99), and their labels carry no more decimals than the
// step.
func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		step   float64
		ticks  []float64
		labels []string
	}{
		{0, 8999, 6, 2000, []float64{0, 2000, 4000, 6000, 8000}, []string{"0", "2000", "4000", "6000", "8000"}},
		{0, 50, 5, 20, []float64{0, 20, 40}, []string{"0", "20", "40"}},
		{3e-9, 0.1, 5, 0.05, []float64{0.05, 0.1}, []string{"0.05", "0.10"}},
		{0, 0.1, 5, 0.05, []float64{0, 0.05, 0.1}, []string{"0.00", "0.05", "0.10"}},
		{0.93, 0.99, 5, 0.02, []float64{0.94, 0.96, 0.98}, []string{"0.94", "0.96", "0.98"}},
		{-1, 1, 5, 0.5, []float64{-1, -0.5, 0, 0.5, 1}, []string{"-1.0", "-0.5", "0.0", "0.5", "1.0"}},
	} {
		step := niceStep(tc.lo, tc.hi, tc.n)
		if math.Abs(step-tc.step) > 1e-12 {
			t.Errorf("niceStep(%g, %g, %d) = %g, want %g", tc.lo, tc.hi, tc.n, step, tc.step)
			continue
		}
		got := ticks(tc.lo, tc.hi, step)
		var labels []string
		for _, v := range got {
			labels = append(labels, tickLabel(v, step))
		}
		if len(got) != len(tc.ticks) || !slices.Equal(labels, tc.labels) {
			t.Errorf("ticks(%g, %g) = %v %q, want %v %q", tc.lo, tc.hi, got, labels, tc.ticks, tc.labels)
		}
	}
}

// TestBand: a band fills the pixels between its bottom and top in a light
// shade of its line's colour, widens the y axis to hold it, and a band of
// the wrong length is refused.
func TestBand(t *testing.T) {
	s := Series{Name: "seeds", X: []float64{0, 10}, Y: []float64{5, 5}, Lo: []float64{0, 0}, Hi: []float64{10, 10}}
	b, err := PNG(Chart{Title: "band", Series: []Series{s}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	shade := tint(palette[0])
	// A quarter of the way up the plot area, in the middle: inside the
	// band (0–10 fills the axis) and away from the line at 5.
	x, y := (left+width-right)/2, top+(height-bottom-top)*3/4
	r, g, bl, _ := img.At(x, y).RGBA()
	if uint8(r>>8) != shade.R || uint8(g>>8) != shade.G || uint8(bl>>8) != shade.B {
		t.Errorf("pixel (%d, %d) is %d,%d,%d, want the band's %v", x, y, r>>8, g>>8, bl>>8, shade)
	}
	s.Hi = s.Hi[:1]
	if _, err := PNG(Chart{Series: []Series{s}}); err == nil {
		t.Error("a band shorter than its series accepted")
	}
}
