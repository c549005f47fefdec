package segment

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestColor checks PASCAL VOC's colour map at labels whose colours VOC's
// devkit lists.
func TestColor(t *testing.T) {
	for _, tc := range []struct {
		label int32
		want  color.RGBA
	}{
		{0, color.RGBA{0, 0, 0, 255}},
		{1, color.RGBA{128, 0, 0, 255}},
		{2, color.RGBA{0, 128, 0, 255}},
		{3, color.RGBA{128, 128, 0, 255}},
		{4, color.RGBA{0, 0, 128, 255}},
		{7, color.RGBA{128, 128, 128, 255}},
		{8, color.RGBA{64, 0, 0, 255}},
		{9, color.RGBA{192, 0, 0, 255}},
		{10, color.RGBA{64, 128, 0, 255}},
		{15, color.RGBA{192, 128, 128, 255}},
		{20, color.RGBA{0, 64, 128, 255}},
		{255, color.RGBA{224, 224, 192, 255}},
		{-1, color.RGBA{224, 224, 192, 255}},
		{1000, color.RGBA{224, 224, 192, 255}},
	} {
		if got := Color(tc.label); got != tc.want {
			t.Errorf("Color(%d) = %v, want %v", tc.label, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	// Two examples of 2×3 pixels at zoom 2: 6×4 pictures.
	panels := []Panel{
		{Image: []float32{-1, 0, 1, 1, 1, 1}, Channels: 1, Truth: []int32{0, 1, 2, 0, 0, 0}, Pred: []int32{0, 1, 1, 0, 0, -1}},
		{Image: []float32{
			0, 0, 0, 0, 0, 2, // red
			2, 0, 0, 0, 0, 0, // green
			0, 0, 0, 0, 0, 0, // blue
		}, Channels: 3, Truth: []int32{3, 3, 3, 3, 3, 3}, Pred: []int32{4, 4, 4, 4, 4, 4}},
	}
	img, err := Render(panels, 2, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Three pictures of 6 wide and four lines of 2; two rows of 4 high and three lines.
	if b := img.Bounds(); b.Dx() != 3*6+4*gap || b.Dy() != 2*4+3*gap {
		t.Fatalf("size %v, want %d×%d", b.Size(), 3*6+4*gap, 2*4+3*gap)
	}
	grey, black, white := color.RGBA{128, 128, 128, 255}, color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	for _, tc := range []struct {
		name string
		x, y int
		want color.RGBA
	}{
		{"corner line", 0, 0, grey},
		{"input minimum", gap, gap, black},
		{"input middle", gap + 2, gap + 1, color.RGBA{128, 128, 128, 255}},
		{"input maximum, zoomed", gap + 5, gap + 3, white},
		{"truth class 2", gap + 8 + 4, gap, Color(2)},
		{"prediction ignore label", gap + 2*8 + 5, gap + 3, Color(-1)},
		{"line between rows", gap + 1, gap + 4, grey},
		{"RGB input, green pixel", gap, 2*gap + 4, color.RGBA{0, 255, 0, 255}},
		{"RGB input, red pixel", gap + 5, 2*gap + 4 + 3, color.RGBA{255, 0, 0, 255}},
		{"RGB input, black pixel", gap + 2, 2*gap + 4, black},
		{"second truth", gap + 8, 2*gap + 4, Color(3)},
		{"second prediction", gap + 16 + 5, 2*gap + 4 + 3, Color(4)},
	} {
		if got := img.RGBAAt(tc.x, tc.y); got != tc.want {
			t.Errorf("%s at (%d, %d): %v, want %v", tc.name, tc.x, tc.y, got, tc.want)
		}
	}

	path := filepath.Join(t.TempDir(), "examples.png")
	if err := WritePNG(path, panels, 2, 3, 2); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	decoded, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if !samePixels(decoded, img) {
		t.Error("the PNG file differs from Render's image")
	}
}

// samePixels reports whether two images have the same size and colours.
func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if color.RGBAModel.Convert(a.At(x, y)) != color.RGBAModel.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func TestRenderErrors(t *testing.T) {
	good := Panel{Image: make([]float32, 4), Channels: 1, Truth: make([]int32, 4), Pred: make([]int32, 4)}
	for _, tc := range []struct {
		name   string
		panels []Panel
		zoom   int
		want   string
	}{
		{"no panels", nil, 1, "rendering 0 panels of 2×2 at zoom 1"},
		{"zoom", []Panel{good}, 0, "at zoom 0"},
		{"channels", []Panel{good, {Image: make([]float32, 8), Channels: 2, Truth: good.Truth, Pred: good.Pred}}, 1, "panel 1: an image of 2 channels: expected 1 or 3"},
		{"image size", []Panel{{Image: make([]float32, 3), Channels: 1, Truth: good.Truth, Pred: good.Pred}}, 1, "panel 0: 3 image values: expected 1×2×2 = 4"},
		{"label size", []Panel{{Image: good.Image, Channels: 1, Truth: good.Truth, Pred: nil}}, 1, "label maps of 4 and 0 values: expected 2×2 = 4"},
	} {
		if _, err := Render(tc.panels, 2, 2, tc.zoom); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.png")
	if err := WritePNG(path, nil, 2, 2, 1); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("WritePNG of nothing: got %v, want an error naming %s", err, path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed WritePNG left %d files", len(entries))
	}
}
