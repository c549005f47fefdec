package detection

import (
	"fmt"
	"math"
	"slices"
)

// DefaultTopK is how many detections a detector keeps per image, COCO's
// limit of detections per image.
const DefaultTopK = 100

// Det is one decoded CenterNet detection: a box in input pixels, its score
// (the sigmoid of its heatmap logit, in [0, 1]) and its class.
type Det struct {
	X1, Y1, X2, Y2, Score float32
	Class                 int
}

// Decode turns one image's CenterNet head outputs into its k best
// detections, the reference's ctdet_decode written as the ONNX graph that
// exports it computes, so that the two agree to 1e-5:
//
//  1. scores = Sigmoid(heatmapLogits), [classes, h, w];
//  2. peaks = MaxPool(scores, 3×3, stride 1, pads 1) — padding counts as
//     −inf, so a border cell is compared with its in-map neighbours only —
//     and scores = Where(Equal(peaks, scores), scores, 0): a cell keeps its
//     score if no neighbour is larger (equal neighbours on a plateau are
//     all kept), else scores 0;
//  3. TopK(Reshape(scores, [classes·h·w]), min(k, classes·h·w), largest=1,
//     sorted=1): the scores in descending order, equal scores in ascending
//     flattened index class·h·w + y·w + x (ONNX TopK's rule for equal
//     values, and what a stable sort gives), so in particular the zeroed
//     non-peaks come last in index order;
//  4. class = index Div h·w, position = index Mod h·w, y = position Div w,
//     x = position Mod w; GatherElements of size ([2, h, w]: width, height
//     in output cells) and offset ([2, h, w]: x, y in output cells) at the
//     position;
//  5. box = (x + offset_x ∓ size_w/2, y + offset_y ∓ size_h/2) · stride,
//     in float32, the inverse of Targets.Draw's size and offset.
//
// The result has exactly min(k, classes·h·w) detections, non-peaks and low
// scores included, as the graph's fixed-size outputs do; a caller keeps
// those above its score threshold. k larger than the number of positions is
// clamped to it (the graph must clamp too: ONNX TopK refuses a k larger
// than its axis). The sigmoid is float64 rounded to float32; a runtime's
// float32 sigmoid may differ by an ulp, which moves scores by far less
// than 1e-5 but can, for two neighbouring logits closer than that, make
// one side see a plateau and the other a single peak. The logits must not
// be NaN, whose order ONNX leaves unspecified. Decode panics if the
// lengths do not fit the shape.
func Decode(heatmapLogits, size, offset []float32, classes, h, w, stride, k int) []Det {
	plane := h * w
	if classes <= 0 || h <= 0 || w <= 0 || stride <= 0 || k < 0 || len(heatmapLogits) != classes*plane || len(size) != 2*plane || len(offset) != 2*plane {
		panic(fmt.Sprintf("detection: Decode of %d logits, %d sizes, %d offsets for %d classes on %d×%d cells, stride %d, k %d: expected classes·h·w logits, 2·h·w sizes and offsets, positive shape and stride, k ≥ 0", len(heatmapLogits), len(size), len(offset), classes, h, w, stride, k))
	}
	scores := make([]float32, len(heatmapLogits))
	for i, z := range heatmapLogits {
		scores[i] = float32(1 / (1 + math.Exp(-float64(z))))
	}
	top := make(worstFirst, 0, min(k, len(scores)))
	for c := range classes {
		s := scores[c*plane : (c+1)*plane]
		for y := range h {
			for x := range w {
				v := s[y*w+x]
				if maxAround(s, h, w, x, y) != v {
					v = 0
				}
				top.offer(scored{v, c*plane + y*w + x})
			}
		}
	}
	slices.SortFunc(top, func(a, b scored) int {
		if a.ranksBefore(b) {
			return -1
		}
		return 1
	})
	dets := make([]Det, len(top))
	st := float32(stride)
	for i, t := range top {
		pos := t.index % plane
		x, y := pos%w, pos/w
		cx := float32(x) + offset[pos]
		cy := float32(y) + offset[plane+pos]
		hw, hh := size[pos]/2, size[plane+pos]/2
		dets[i] = Det{
			X1: (cx - hw) * st, Y1: (cy - hh) * st,
			X2: (cx + hw) * st, Y2: (cy + hh) * st,
			Score: t.score, Class: t.index / plane,
		}
	}
	return dets
}

// maxAround is the 3×3 max pool of the h×w plane at (x, y), over the cells
// inside the plane (the −inf padding of the graph's MaxPool).
func maxAround(plane []float32, h, w, x, y int) float32 {
	m := float32(math.Inf(-1))
	for yy := max(y-1, 0); yy <= min(y+1, h-1); yy++ {
		for xx := max(x-1, 0); xx <= min(x+1, w-1); xx++ {
			m = max(m, plane[yy*w+xx])
		}
	}
	return m
}

// scored is a candidate detection: its score and flattened heatmap index.
type scored struct {
	score float32
	index int
}

// ranksBefore reports whether a comes before b in TopK's order: the higher
// score first, the lower index among equal scores.
func (a scored) ranksBefore(b scored) bool {
	return a.score > b.score || a.score == b.score && a.index < b.index
}

// worstFirst is a binary heap of at most cap(h) candidates whose root is
// the one ranked last, so that a better candidate replaces it in O(log k):
// the top k of classes·h·w positions without sorting them all.
type worstFirst []scored

// offer keeps s if the heap is not full or s ranks before its worst.
func (h *worstFirst) offer(s scored) {
	q := *h
	switch {
	case len(q) < cap(q):
		q = append(q, s)
		for i := len(q) - 1; i > 0; {
			parent := (i - 1) / 2
			if !q[parent].ranksBefore(q[i]) {
				break
			}
			q[parent], q[i] = q[i], q[parent]
			i = parent
		}
		*h = q
	case len(q) > 0 && s.ranksBefore(q[0]):
		q[0] = s
		for i := 0; ; {
			worst := i
			for _, child := range []int{2*i + 1, 2*i + 2} {
				if child < len(q) && q[worst].ranksBefore(q[child]) {
					worst = child
				}
			}
			if worst == i {
				break
			}
			q[worst], q[i] = q[i], q[worst]
			i = worst
		}
	}
}
