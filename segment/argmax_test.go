package segment

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	// Two images of 3 classes over 1×3 pixels, as [N C H W].
	logits := []float32{
		// image 0: class planes
		1, 5, 0,
		2, 5, -1,
		0, 4, -1,
		// image 1
		nan, nan, 7,
		nan, 3, 7,
		nan, 2, 8,
	}
	dst := []int32{9, 9, 9, 9, 9, 9}
	if err := Argmax(logits, []int64{2, 3, 1, 3}, dst); err != nil {
		t.Fatal(err)
	}
	// Pixel 1 of image 0 ties classes 0 and 1: the lower wins. Image 1:
	// all NaN gives 0, a NaN never beats a number.
	if want := []int32{1, 0, 0, 0, 1, 2}; !slices.Equal(dst, want) {
		t.Errorf("got %v, want %v", dst, want)
	}
	for _, tc := range []struct {
		name   string
		logits []float32
		shape  []int64
		dst    []int32
		want   string
	}{
		{"rank", logits, []int64{2, 3, 3}, dst, "shape [2 3 3]: expected [N C H W]"},
		{"no class", nil, []int64{2, 0, 1, 3}, dst, "at least one class"},
		{"logit count", logits[1:], []int64{2, 3, 1, 3}, dst, "17 logits for shape [2 3 1 3]: expected 18"},
		{"label buffer", logits, []int64{2, 3, 1, 3}, dst[:5], "a label buffer of 5 for logits of shape [2 3 1 3]: expected 2×1×3 = 6"},
	} {
		if err := Argmax(tc.logits, tc.shape, tc.dst); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
