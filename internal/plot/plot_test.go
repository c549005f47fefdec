package plot

import (
	"bytes"
	"image/png"
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
