package detection

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// cnNear reports whether got is within tol of want.
func cnNear(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol
}

func TestCenterNetDecodeByHand(t *testing.T) {
	// 2 classes on a 2×4 map, stride 4. Class 0 has two peaks, logit 3 at
	// (1, 0) and logit 2 at (3, 1); its other cells each see a larger
	// neighbour. Class 1 is a plateau of logit 0: every cell is kept with
	// sigmoid(0) = 0.5, in index order 8, 9, ... after the two peaks.
	// Size at position p = (p+1, 2(p+1)), offset (0.1p, 0.5), so
	//   position 1 (x 1, y 0): centre (1.1, 0.5), half size (1, 2):
	//     box (0.1, −1.5, 2.1, 2.5)·4 = (0.4, −6, 8.4, 10);
	//   position 7 (x 3, y 1): centre (3.7, 1.5), half size (4, 8):
	//     box (−0.3, −6.5, 7.7, 9.5)·4 = (−1.2, −26, 30.8, 38);
	//   position 0 (x 0, y 0): centre (0, 0.5), half size (0.5, 1):
	//     box (−0.5, −0.5, 0.5, 1.5)·4 = (−2, −2, 2, 6).
	logits := []float32{
		0, 3, 0, -2,
		1, 0, 0, 2,

		0, 0, 0, 0,
		0, 0, 0, 0,
	}
	size := make([]float32, 16)
	offset := make([]float32, 16)
	for p := range 8 {
		size[p], size[8+p] = float32(p+1), float32(2*(p+1))
		offset[p], offset[8+p] = 0.1*float32(p), 0.5
	}
	got := Decode(logits, size, offset, 2, 2, 4, 4, 4)
	// sigmoid(3) = 0.9525741268, sigmoid(2) = 0.8807970780.
	want := []struct {
		x1, y1, x2, y2, score float64
		class                 int
	}{
		{0.4, -6, 8.4, 10, 0.9525741268224334, 0},
		{-1.2, -26, 30.8, 38, 0.8807970779778823, 0},
		{-2, -2, 2, 6, 0.5, 1},
		{0.4, -6, 8.4, 10, 0.5, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d detections, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !cnNear(g.X1, w.x1, 1e-5) || !cnNear(g.Y1, w.y1, 1e-5) || !cnNear(g.X2, w.x2, 1e-5) || !cnNear(g.Y2, w.y2, 1e-5) || !cnNear(g.Score, w.score, 1e-7) || g.Class != w.class {
			t.Errorf("detection %d = %+v, want %+v", i, g, w)
		}
	}
}

// cnDecodeOrder is Decode's ranking written independently: sigmoid, a
// cell kept unless one of its up to 8 in-map neighbours is larger, then a
// stable sort by descending score of the indices in ascending order.
func cnDecodeOrder(logits []float32, classes, h, w int) (order []int, scores []float32) {
	plane := h * w
	sig := make([]float32, len(logits))
	for i, z := range logits {
		sig[i] = float32(1 / (1 + math.Exp(-float64(z))))
	}
	scores = make([]float32, len(logits))
	for i, v := range sig {
		c, y, x := i/plane, i%plane/w, i%w
		scores[i] = v
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				yy, xx := y+dy, x+dx
				if yy >= 0 && yy < h && xx >= 0 && xx < w && sig[c*plane+yy*w+xx] > v {
					scores[i] = 0
				}
			}
		}
	}
	order = make([]int, len(logits))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })
	return order, scores
}

func TestCenterNetDecodeOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// Integer logits in −2..2 make many plateaus and equal scores.
	quantised := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.IntN(5) - 2)
		}
		return s
	}
	for _, tc := range []struct {
		name             string
		logits           []float32
		classes, h, w, k int
		wantLen          int
	}{
		{
			// Class 1 at (0, 0) and class 0 at (2, 2) of 3×3, equal
			// logits: class 0's index 8 comes before class 1's index 9.
			// Then the zeroed non-peaks, in index order.
			name: "equal peaks in two classes",
			logits: []float32{
				-5, -5, -5, -5, -5, -5, -5, -5, 1,
				1, -5, -5, -5, -5, -5, -5, -5, -5,
			},
			classes: 2, h: 3, w: 3, k: 5, wantLen: 5,
		},
		{
			// A plateau of two equal cells: both are peaks, the left one
			// first; the right-hand cell next to them is lower.
			name:    "plateau",
			logits:  []float32{0, 2, 2, 1},
			classes: 1, h: 1, w: 4, k: 3, wantLen: 3,
		},
		{
			name:    "k larger than the positions",
			logits:  []float32{3, -1, -1, 0, -1, -1, 4, -1},
			classes: 2, h: 2, w: 2, k: 20, wantLen: 8,
		},
		{name: "k zero", logits: quantised(6), classes: 1, h: 2, w: 3, k: 0, wantLen: 0},
		{name: "random, k 1", logits: quantised(90), classes: 3, h: 5, w: 6, k: 1, wantLen: 1},
		{name: "random, k 7", logits: quantised(90), classes: 3, h: 5, w: 6, k: 7, wantLen: 7},
		{name: "random, k all", logits: quantised(90), classes: 3, h: 5, w: 6, k: 90, wantLen: 90},
		{name: "random, k 100 of 1×1", logits: quantised(4), classes: 4, h: 1, w: 1, k: 100, wantLen: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plane := tc.h * tc.w
			size := make([]float32, 2*plane)
			offset := make([]float32, 2*plane)
			for i := range size {
				size[i] = float32(rng.Float64() * 10)
				offset[i] = float32(rng.Float64())
			}
			const stride = 8
			got := Decode(tc.logits, size, offset, tc.classes, tc.h, tc.w, stride, tc.k)
			if len(got) != tc.wantLen {
				t.Fatalf("%d detections, want %d", len(got), tc.wantLen)
			}
			order, scores := cnDecodeOrder(tc.logits, tc.classes, tc.h, tc.w)
			for i, g := range got {
				at := order[i]
				pos := at % plane
				x, y := float64(pos%tc.w), float64(pos/tc.w)
				cx, cy := x+float64(offset[pos]), y+float64(offset[plane+pos])
				hw, hh := float64(size[pos])/2, float64(size[plane+pos])/2
				if g.Class != at/plane || g.Score != scores[at] ||
					!cnNear(g.X1, (cx-hw)*stride, 1e-5) || !cnNear(g.Y1, (cy-hh)*stride, 1e-5) ||
					!cnNear(g.X2, (cx+hw)*stride, 1e-5) || !cnNear(g.Y2, (cy+hh)*stride, 1e-5) {
					t.Errorf("detection %d = %+v, want index %d (class %d, x %v, y %v), score %v, box (%v, %v, %v, %v)", i, g, at, at/plane, x, y, scores[at], (cx-hw)*stride, (cy-hh)*stride, (cx+hw)*stride, (cy+hh)*stride)
				}
			}
		})
	}
}

func TestCenterNetDecodeRoundTrip(t *testing.T) {
	// Objects of 3 classes on a 32×40 map of stride 2 (64×80 pixels),
	// centres in distinct cells (the corners (0, 0) and (39, 31) among
	// them), the two class-1 Gaussians (radius 2) overlapping. Heatmap
	// logits are logit(target) with the target clamped to [1e-6, 1−1e-6]:
	// every centre is a peak of the same score, so Decode returns them in
	// flattened index order, and the size and offset targets give back
	// each box.
	objects := []Object{
		{X1: 10.5, Y1: 3.25, X2: 30.75, Y2: 40.5, Class: 2},
		{X1: 0, Y1: 0, X2: 3.3, Y2: 2.9, Class: 0},
		{X1: 40.2, Y1: 22.1, X2: 79.9, Y2: 63.7, Class: 0},
		{X1: 4, Y1: 4, X2: 60, Y2: 56, Class: 1},
		{X1: 10, Y1: 6, X2: 64, Y2: 60, Class: 1},
		{X1: 77, Y1: 60.5, X2: 79.8, Y2: 63.9, Class: 2},
	}
	const classes, h, w, stride = 3, 32, 40, 2
	tg := MakeTargets(objects, classes, h, w, stride)
	if tg.Objects != len(objects) {
		t.Fatalf("%d objects drawn, want %d", tg.Objects, len(objects))
	}
	logits := make([]float32, len(tg.Heatmap))
	for i, y := range tg.Heatmap {
		p := math.Min(math.Max(float64(y), 1e-6), 1-1e-6)
		logits[i] = float32(math.Log(p / (1 - p)))
	}
	got := Decode(logits, tg.Size, tg.Offset, classes, h, w, stride, len(objects))

	index := func(o Object) int {
		cx := int(math.Floor((o.X1 + o.X2) / 2 / stride))
		cy := int(math.Floor((o.Y1 + o.Y2) / 2 / stride))
		return o.Class*h*w + cy*w + cx
	}
	want := slices.Clone(objects)
	slices.SortFunc(want, func(a, b Object) int { return index(a) - index(b) })
	if len(got) != len(want) {
		t.Fatalf("%d detections, want %d", len(got), len(want))
	}
	for i, o := range want {
		g := got[i]
		if g.Class != o.Class || !cnNear(g.X1, o.X1, 1e-4) || !cnNear(g.Y1, o.Y1, 1e-4) || !cnNear(g.X2, o.X2, 1e-4) || !cnNear(g.Y2, o.Y2, 1e-4) || !cnNear(g.Score, 1-1e-6, 1e-6) {
			t.Errorf("detection %d = %+v, want %+v", i, g, o)
		}
	}
}
