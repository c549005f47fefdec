package detection

// CenterNet ("Objects as Points", Zhou et al. 2019) training side: the
// dense targets of one image and the two losses, as plain functions on
// float32 slices in NCHW layout. The decoder lives in centernet_decode.go.
//
// Conventions shared with Decode:
//   - a cell (x, y) of an output map of stride s covers the input pixels
//     [x·s, (x+1)·s) × [y·s, (y+1)·s); a box centre c (in input pixels)
//     lies in the cell floor(c/s);
//   - Offset holds c/s − floor(c/s), in [0, 1), in output cells;
//   - Size holds the box width and height divided by the stride, in output
//     cells (not pixels, not log-scaled), so that a box is recovered as
//     (x + offset_x ± size_w/2, y + offset_y ± size_h/2) · s.

import (
	"fmt"
	"math"
)

// gaussianMinOverlap is the IoU that a box displaced by the Gaussian radius
// must keep with the ground truth, the reference's gaussian_radius default.
const gaussianMinOverlap = 0.7

// sigmoidFloor is the clamp of the predicted probability in the focal loss,
// 1e-4 ≤ p ≤ 1−1e-4, the reference's _sigmoid: it keeps log p and
// log(1−p) finite.
const sigmoidFloor = 1e-4

// Object is one ground-truth box for MakeTargets: its corners in input
// pixels (X1 < X2, Y1 < Y2) and its class, 0 ≤ Class < classes.
type Object struct {
	X1, Y1, X2, Y2 float64
	Class          int
}

// Targets are the dense training targets of one image for a CenterNet head
// with an output map of h×w cells, the shapes the network's three heads
// produce, so that the losses compare them element by element.
type Targets struct {
	// Heatmap is [classes, h, w]: per class, the element-wise maximum of
	// the Gaussians splatted at the centres of the class's objects; it is
	// exactly 1 at each centre cell, the positives of FocalLoss.
	Heatmap []float32
	// Size is [2, h, w]: the box width (channel 0) and height (channel 1)
	// in output cells (pixels / stride), set at centre cells only.
	Size []float32
	// Offset is [2, h, w]: the centre's sub-cell offset c/stride −
	// floor(c/stride) in x (channel 0) and y (channel 1), in [0, 1), set at
	// centre cells only.
	Offset []float32
	// Mask is [h, w]: 1 at the centre cells, 0 elsewhere; RegL1Loss counts
	// Size and Offset only where it is set.
	Mask []float32
	// Objects counts the objects drawn (those not skipped by Draw). Two
	// objects sharing a centre cell count twice but set Mask once.
	Objects int
}

// MakeTargets returns newly allocated targets for objects on an output map
// of h×w cells and stride pixels per cell, with classes heatmap planes; see
// Targets.Draw for the rules. A trainer that keeps its batch in one tensor
// uses Draw on windows of it instead, to avoid an allocation and a copy per
// image.
func MakeTargets(objects []Object, classes, h, w, stride int) Targets {
	var t Targets
	t.Draw(objects, classes, h, w, stride)
	return t
}

// Draw fills t with the targets of objects, reusing each of t's slices
// whose length is already the needed one (classes·h·w for Heatmap, 2·h·w
// for Size and Offset, h·w for Mask) and replacing the others, so that a
// trainer can point the fields at one image's windows of its batch tensors
// (with a full slice expression batch[lo:hi:hi]) and draw in place. All
// four slices are cleared first.
//
// For each object, as the reference (xingyizhou/CenterNet,
// datasets/sample/ctdet.py) does on its output-map boxes:
//   - the box in cells is (X1, Y1, X2, Y2)/stride, of size
//     (X2−X1, Y2−Y1)/stride; an object whose width or height is not
//     positive is skipped;
//   - its centre c = ((X1+X2)/2, (Y1+Y2)/2)/stride lies in the cell
//     p = floor(c); an object whose centre falls outside the map is skipped
//     (the reference clips boxes to the map first; a caller wanting that
//     clips its boxes to the image before calling);
//   - a Gaussian of radius r = max(0, int(gaussian_radius(ceil(height),
//     ceil(width), 0.7))) and σ = (2r+1)/6 is splatted on the class's plane
//     over the (2r+1)² cells around p that lie inside the map, keeping the
//     element-wise maximum with what is there;
//   - Size, Offset and Mask are set at p.
//
// Two objects whose centres share a cell: the heatmap keeps the maximum
// (1 at the cell either way), and the later object's size and offset
// overwrite the earlier's. The reference instead keeps one regression slot
// per object, both reading the same cell's prediction; a dense target can
// hold only one.
//
// Draw panics if classes, h, w or stride is not positive or an object's
// class is out of range.
func (t *Targets) Draw(objects []Object, classes, h, w, stride int) {
	if classes <= 0 || h <= 0 || w <= 0 || stride <= 0 {
		panic(fmt.Sprintf("detection: CenterNet targets of %d classes on %d×%d cells, stride %d: expected positive values", classes, h, w, stride))
	}
	plane := h * w
	t.Heatmap = clearedLen(t.Heatmap, classes*plane)
	t.Size = clearedLen(t.Size, 2*plane)
	t.Offset = clearedLen(t.Offset, 2*plane)
	t.Mask = clearedLen(t.Mask, plane)
	t.Objects = 0
	s := float64(stride)
	for i, o := range objects {
		if o.Class < 0 || o.Class >= classes {
			panic(fmt.Sprintf("detection: CenterNet object %d has class %d: expected 0 to %d", i, o.Class, classes-1))
		}
		bw, bh := (o.X2-o.X1)/s, (o.Y2-o.Y1)/s
		if !(bw > 0 && bh > 0) {
			continue
		}
		cx, cy := (o.X1+o.X2)/2/s, (o.Y1+o.Y2)/2/s
		fx, fy := math.Floor(cx), math.Floor(cy)
		if !(fx >= 0 && fx < float64(w) && fy >= 0 && fy < float64(h)) {
			continue
		}
		x, y := int(fx), int(fy)
		radius := max(0, int(gaussianRadius(math.Ceil(bh), math.Ceil(bw), gaussianMinOverlap)))
		drawGaussian(t.Heatmap[o.Class*plane:(o.Class+1)*plane], h, w, x, y, radius)
		at := y*w + x
		t.Size[at], t.Size[plane+at] = float32(bw), float32(bh)
		t.Offset[at], t.Offset[plane+at] = float32(cx-fx), float32(cy-fy)
		t.Mask[at] = 1
		t.Objects++
	}
}

// clearedLen returns s cleared if its length is n, else a new zeroed slice
// of length n.
func clearedLen(s []float32, n int) []float32 {
	if len(s) != n {
		return make([]float32, n)
	}
	clear(s)
	return s
}

// gaussianRadius is the reference's gaussian_radius (from CornerNet): the
// smallest of the three radii solving, for a box of the given height and
// width, the quadratics for a corner shift that keeps IoU minOverlap (both
// corners inward, both outward, one each). The formulas are the
// reference's, including its known deviations from the exact solutions, so
// that the heatmaps match the published training.
func gaussianRadius(height, width, minOverlap float64) float64 {
	b1 := height + width
	c1 := width * height * (1 - minOverlap) / (1 + minOverlap)
	r1 := (b1 - math.Sqrt(b1*b1-4*c1)) / 2

	b2 := 2 * (height + width)
	c2 := (1 - minOverlap) * width * height
	r2 := (b2 - math.Sqrt(b2*b2-4*4*c2)) / (2 * 4)

	a3 := 4 * minOverlap
	b3 := -2 * minOverlap * (height + width)
	c3 := (minOverlap - 1) * width * height
	r3 := (b3 + math.Sqrt(b3*b3-4*a3*c3)) / (2 * a3)
	return min(r1, r2, r3)
}

// drawGaussian splats exp(−(dx²+dy²)/(2σ²)), σ = (2·radius+1)/6, on the
// h×w plane around (x, y), for |dx|, |dy| ≤ radius inside the plane, keeping
// the element-wise maximum: the reference's draw_umich_gaussian. The
// reference also zeroes values below float64 epsilon times the peak; inside
// the window the smallest value is exp(−36r²/(2r+1)²) > exp(−9), so that
// rule never applies and is left out.
func drawGaussian(plane []float32, h, w, x, y, radius int) {
	sigma := float64(2*radius+1) / 6
	inv := 1 / (2 * sigma * sigma)
	for dy := -min(y, radius); dy <= min(h-1-y, radius); dy++ {
		row := plane[(y+dy)*w : (y+dy+1)*w]
		for dx := -min(x, radius); dx <= min(w-1-x, radius); dx++ {
			g := float32(math.Exp(-float64(dx*dx+dy*dy) * inv))
			row[x+dx] = max(row[x+dx], g)
		}
	}
}

// FocalLoss is CenterNet's penalty-reduced pixel-wise focal loss (the
// reference's _neg_loss, α = 2, β = 4) of heatmap logits against a target
// heatmap of the same length, in any layout: a batch of N images [N, K, h, w]
// is one call, normalised over the whole batch as the reference does. With
// p = clamp(sigmoid(logit), 1e-4, 1−1e-4) and y the target:
//
//	loss = −1/P · Σ { (1−p)² log p            where y = 1
//	                { (1−y)⁴ p² log(1−p)      where y < 1
//
// where P is the number of elements with y exactly 1, or 1 if there are
// none (then the sum holds only negatives); elements with y > 1 contribute
// nothing, as in the reference.
//
// If grad is not nil (it must then be as long as logits), FocalLoss writes
// d loss / d logit there, through the sigmoid and the clamp:
//
//	y = 1:  −(1−p)² · ((1−p) − 2p log p) / P
//	y < 1:  −(1−y)⁴ p² · (2(1−p) log(1−p) − p) / P
//
// and 0 where the sigmoid lies outside [1e-4, 1−1e-4]: there the clamped
// loss does not depend on the logit, which is also what PyTorch's clamp
// backward gives (it passes the gradient on the closed interval). The
// gradient is therefore that of the clamped loss itself, the one the
// reference trains with, and finite differences away from the two clamp
// points agree with it.
//
// The sums run in float64 from the float32 inputs, so values differ from a
// float32 PyTorch run only by its rounding. FocalLoss panics if the lengths
// differ.
func FocalLoss(logits, target []float32, grad []float32) float64 {
	if len(target) != len(logits) || grad != nil && len(grad) != len(logits) {
		panic(fmt.Sprintf("detection: FocalLoss of %d logits, %d targets, %d gradients: expected equal lengths (or no gradient)", len(logits), len(target), len(grad)))
	}
	positives := 0
	for _, y := range target {
		if y == 1 {
			positives++
		}
	}
	norm := 1 / float64(max(positives, 1))
	var sum float64
	for i, z := range logits {
		p := 1 / (1 + math.Exp(-float64(z)))
		clamped := p < sigmoidFloor || p > 1-sigmoidFloor
		p = min(max(p, sigmoidFloor), 1-sigmoidFloor)
		y := float64(target[i])
		var loss, d float64
		switch {
		case y == 1:
			q := 1 - p
			loss = -q * q * math.Log(p)
			d = -q * q * (q - 2*p*math.Log(p))
		case y < 1:
			u := (1 - y) * (1 - y)
			wp := u * u * p * p
			loss = -wp * math.Log(1-p)
			d = -wp * (2*(1-p)*math.Log(1-p) - p)
		}
		sum += loss
		if grad != nil {
			if clamped {
				d = 0
			}
			grad[i] = float32(d * norm)
		}
	}
	return sum * norm
}

// RegL1Loss is CenterNet's L1 loss of the size and offset heads (the
// reference's RegL1Loss) for n images: pred and target are
// [n, channels, h·w], mask is [n, h·w] (Targets.Mask per image, 0 or 1, or
// any non-negative weight). It is
//
//	loss = Σ mask·|pred − target| / (channels · Σ mask)
//
// over the whole batch, that is the mean absolute error over the regressed
// numbers at object centres. This is the reference's normalisation
// (mask.sum() there runs over the mask expanded to the channels), half the
// paper's 1/N per object for two channels; the loss weights published with
// the code (0.1 for size, 1 for offset) were tuned with it. Unlike the
// reference it does not add 1e-4 to the denominator, which only guards the
// empty batch: with no objects the loss and gradient are 0 here as there,
// and otherwise the two differ by a relative 1e-4/(channels·Σ mask).
//
// If grad is not nil (as long as pred), RegL1Loss writes d loss / d pred
// there: mask·sign(pred − target)/(channels·Σ mask), with the subgradient
// 0 where pred equals target (torch.sign's, the reference's), and 0 off
// the mask. RegL1Loss panics if the lengths do not fit.
func RegL1Loss(pred, target, mask []float32, channels, n int, grad []float32) float64 {
	if channels <= 0 || n <= 0 || len(mask)%n != 0 || len(pred) != channels*len(mask) || len(target) != len(pred) || grad != nil && len(grad) != len(pred) {
		panic(fmt.Sprintf("detection: RegL1Loss of %d predictions, %d targets, %d mask values, %d gradients for %d images of %d channels: expected predictions, targets (and gradients) of channels × mask values, mask values a multiple of images", len(pred), len(target), len(mask), len(grad), n, channels))
	}
	plane := len(mask) / n
	var weight float64
	for _, m := range mask {
		weight += float64(m)
	}
	if weight == 0 {
		clear(grad)
		return 0
	}
	norm := 1 / (float64(channels) * weight)
	var sum float64
	for i := range pred {
		m := float64(mask[i/(channels*plane)*plane+i%plane])
		diff := float64(pred[i]) - float64(target[i])
		sum += m * math.Abs(diff)
		if grad != nil {
			var sign float64
			switch {
			case diff > 0:
				sign = 1
			case diff < 0:
				sign = -1
			}
			grad[i] = float32(m * sign * norm)
		}
	}
	return sum * norm
}
