package detection

import (
	"math"
	"math/rand/v2"
	"testing"
)

// cnE2 and cnE4 are exp(−2) and exp(−4), the Gaussian of radius 1 (σ = 3/6)
// one cell and one diagonal step from its centre: exp(−d²/(2·0.25)).
const (
	cnE2 = 0.1353352832366127
	cnE4 = 0.01831563888873418
)

func TestCenterNetGaussianRadius(t *testing.T) {
	// Values from the reference formulas evaluated by hand (Python math,
	// float64); the minimum is the second quadratic's root each time.
	for _, tc := range []struct {
		height, width, want float64
	}{
		{3, 4, 0.2794558830147258},
		{12, 13, 1.019082298487196},
		{12, 12.25, 0.9901330722235802},
	} {
		if got := gaussianRadius(tc.height, tc.width, 0.7); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("gaussianRadius(%v, %v) = %v, want %v", tc.height, tc.width, got, tc.want)
		}
	}
}

func TestCenterNetTargets(t *testing.T) {
	// cells lists a plane's non-zero values by flattened index y·w + x.
	type cells map[int]float64
	for _, tc := range []struct {
		name                  string
		objects               []Object
		classes, h, w, stride int
		heat                  []cells // per class
		sizeW, sizeH          cells
		offX, offY, mask      cells
		objectsDrawn          int
	}{
		{
			// Stride 2 on a 5×5 map. Box in cells: x −5.875..6.375 (width
			// 12.25, centre 0.25), y −4.625..7.375 (height 12, centre
			// 1.375): centre cell (0, 1), offset (0.25, 0.375).
			// gaussian_radius(ceil 12, ceil 13) = 1.019 → radius 1, σ = 0.5
			// (without the ceil it would be 0.990 → 0). The window
			// x −1..1, y 0..2 is clipped at the left edge to x 0..1:
			// row 0: (0,0) = e2 (one step up),  (1,0) = e4 (diagonal)
			// row 1: (0,1) = 1  (centre),       (1,1) = e2
			// row 2: (0,2) = e2,                (1,2) = e4
			name:    "one object at the left edge, 5×5",
			objects: []Object{{X1: -11.75, Y1: -9.25, X2: 12.75, Y2: 14.75, Class: 1}},
			classes: 2, h: 5, w: 5, stride: 2,
			heat:  []cells{{}, {0: cnE2, 1: cnE4, 5: 1, 6: cnE2, 10: cnE2, 11: cnE4}},
			sizeW: cells{5: 12.25}, sizeH: cells{5: 12},
			offX: cells{5: 0.25}, offY: cells{5: 0.375},
			mask: cells{5: 1}, objectsDrawn: 1,
		},
		{
			// A 3×4-cell box: radius 0.279 → 0, only the centre cell.
			// Centre (2.5, 1.5) cells, stride 1.
			name:    "radius 0",
			objects: []Object{{X1: 0.5, Y1: 0, X2: 4.5, Y2: 3, Class: 0}},
			classes: 1, h: 4, w: 5, stride: 1,
			heat:  []cells{{7: 1}},
			sizeW: cells{7: 4}, sizeH: cells{7: 3},
			offX: cells{7: 0.5}, offY: cells{7: 0.5},
			mask: cells{7: 1}, objectsDrawn: 1,
		},
		{
			// Two 13×13-cell boxes of one class (gaussian_radius 1.062 →
			// radius 1), centres (1.5, 1.5) and (2.5, 1.5), cells (1, 1)
			// and (2, 1) of a 3×4 map: their windows overlap on x 1..2,
			// where the maximum is kept: at (1,1) and (2,1) 1 beats e2,
			// at (1,0) and (2,0) e2 beats e4.
			name: "overlapping Gaussians keep the maximum",
			objects: []Object{
				{X1: -5, Y1: -5, X2: 8, Y2: 8, Class: 0},
				{X1: -4, Y1: -5, X2: 9, Y2: 8, Class: 0},
			},
			classes: 1, h: 3, w: 4, stride: 1,
			heat: []cells{{
				0: cnE4, 1: cnE2, 2: cnE2, 3: cnE4,
				4: cnE2, 5: 1, 6: 1, 7: cnE2,
				8: cnE4, 9: cnE2, 10: cnE2, 11: cnE4,
			}},
			sizeW: cells{5: 13, 6: 13}, sizeH: cells{5: 13, 6: 13},
			offX: cells{5: 0.5, 6: 0.5}, offY: cells{5: 0.5, 6: 0.5},
			mask: cells{5: 1, 6: 1}, objectsDrawn: 2,
		},
		{
			// Two small boxes (radius 0) of one class centred in the same
			// cell (1, 1) of a 3×3 map, at (1.5, 1.5) and (1.25, 1.75): one
			// peak, the later box's size (0.5, 1.5) and offset
			// (0.25, 0.75).
			name: "same cell: the later object overwrites",
			objects: []Object{
				{X1: 1, Y1: 1, X2: 2, Y2: 2, Class: 0},
				{X1: 1, Y1: 1, X2: 1.5, Y2: 2.5, Class: 0},
			},
			classes: 1, h: 3, w: 3, stride: 1,
			heat:  []cells{{4: 1}},
			sizeW: cells{4: 0.5}, sizeH: cells{4: 1.5},
			offX: cells{4: 0.25}, offY: cells{4: 0.75},
			mask: cells{4: 1}, objectsDrawn: 2,
		},
		{
			// Dropped: zero width, negative height, centre left of the map,
			// centre below it.
			name: "degenerate and outside objects are skipped",
			objects: []Object{
				{X1: 2, Y1: 0, X2: 2, Y2: 4, Class: 0},
				{X1: 0, Y1: 4, X2: 4, Y2: 0, Class: 0},
				{X1: -6, Y1: 0, X2: -2, Y2: 4, Class: 0},
				{X1: 0, Y1: 10, X2: 4, Y2: 14, Class: 0},
			},
			classes: 1, h: 3, w: 3, stride: 4,
			heat: []cells{{}}, sizeW: cells{}, sizeH: cells{},
			offX: cells{}, offY: cells{}, mask: cells{}, objectsDrawn: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MakeTargets(tc.objects, tc.classes, tc.h, tc.w, tc.stride)
			plane := tc.h * tc.w
			check := func(what string, values []float32, want cells) {
				t.Helper()
				if len(values) != plane {
					t.Fatalf("%s has %d values, want %d", what, len(values), plane)
				}
				for i, v := range values {
					if w := want[i]; math.Abs(float64(v)-w) > 1e-6 {
						t.Errorf("%s at (x %d, y %d) = %v, want %v", what, i%tc.w, i/tc.w, v, w)
					}
				}
			}
			if len(got.Heatmap) != tc.classes*plane {
				t.Fatalf("heatmap has %d values, want %d", len(got.Heatmap), tc.classes*plane)
			}
			for c := range tc.classes {
				check("heatmap", got.Heatmap[c*plane:(c+1)*plane], tc.heat[c])
			}
			check("size w", got.Size[:plane], tc.sizeW)
			check("size h", got.Size[plane:], tc.sizeH)
			check("offset x", got.Offset[:plane], tc.offX)
			check("offset y", got.Offset[plane:], tc.offY)
			check("mask", got.Mask, tc.mask)
			if got.Objects != tc.objectsDrawn {
				t.Errorf("Objects = %d, want %d", got.Objects, tc.objectsDrawn)
			}
		})
	}
}

func TestCenterNetTargetsDrawReuses(t *testing.T) {
	// A batch of two 1-class 3×3 images in one heatmap tensor; each image's
	// window is drawn in place and the previous content is cleared.
	batch := make([]float32, 2*9)
	for i := range batch {
		batch[i] = 7
	}
	img := Targets{Heatmap: batch[9:18:18], Mask: make([]float32, 4)}
	img.Draw([]Object{{X1: 0, Y1: 0, X2: 1, Y2: 1, Class: 0}}, 1, 3, 3, 1)
	if &img.Heatmap[0] != &batch[9] {
		t.Fatal("Draw replaced a heatmap of the right length")
	}
	for i, v := range batch {
		want := float32(7)
		if i >= 9 {
			want = 0
		}
		if i == 9 {
			want = 1
		}
		if v != want {
			t.Errorf("batch[%d] = %v, want %v", i, v, want)
		}
	}
	if len(img.Mask) != 9 || len(img.Size) != 18 || len(img.Offset) != 18 || img.Mask[0] != 1 {
		t.Errorf("mask %v, size %d, offset %d: want a new 9-cell mask set at 0 and 18 sizes and offsets", img.Mask, len(img.Size), len(img.Offset))
	}
}

// cnFocalLoss64 is the float64 reference of FocalLoss, written from the
// formula with math.Pow: clamp(sigmoid), positives at y = 1, negatives
// weighted (1−y)⁴, normalised by max(positives, 1).
func cnFocalLoss64(logits, target []float64) float64 {
	var pos, neg, num float64
	for i, z := range logits {
		p := math.Min(math.Max(1/(1+math.Exp(-z)), 1e-4), 1-1e-4)
		if target[i] == 1 {
			pos += math.Log(p) * math.Pow(1-p, 2)
			num++
		} else if target[i] < 1 {
			neg += math.Log(1-p) * math.Pow(p, 2) * math.Pow(1-target[i], 4)
		}
	}
	return -(pos + neg) / math.Max(num, 1)
}

// cnRegL1Loss64 is the float64 reference of RegL1Loss over n images of
// channels × plane values: the masked absolute errors summed, divided by
// the mask summed over the channels.
func cnRegL1Loss64(pred, target, mask []float64, channels, n int) float64 {
	plane := len(mask) / n
	var sum, count float64
	for b := range n {
		for c := range channels {
			for i := range plane {
				m := mask[b*plane+i]
				j := (b*channels+c)*plane + i
				sum += math.Abs(pred[j]*m - target[j]*m)
				count += m
			}
		}
	}
	if count == 0 {
		return 0
	}
	return sum / count
}

func cnFloat64s(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// cnCheckGradient compares grad with central finite differences of loss at
// x (step 1e-5), to a relative 1e-3.
func cnCheckGradient(t *testing.T, x []float32, grad []float32, loss func([]float64) float64) {
	t.Helper()
	at := cnFloat64s(x)
	const step = 1e-5
	for i := range at {
		v := at[i]
		at[i] = v + step
		up := loss(at)
		at[i] = v - step
		down := loss(at)
		at[i] = v
		fd := (up - down) / (2 * step)
		if math.Abs(float64(grad[i])-fd) > 1e-3*math.Abs(fd)+1e-9 {
			t.Errorf("gradient %d = %v, finite difference %v", i, grad[i], fd)
		}
	}
}

func TestCenterNetFocalLossByHand(t *testing.T) {
	ln3 := float32(math.Log(3))
	for _, tc := range []struct {
		name           string
		logits, target []float32
		want           float64
		wantGrad0      float64
	}{
		{
			// 2×2 map: a positive with p = 1/2, a negative y = 1/2 with
			// p = 1/2, negatives y = 0 with p = 3/4 and 1/4:
			//   (1/4)ln2 + (1/16)(1/4)ln2 + (9/16)ln4 + (1/16)ln(4/3)
			//   = 1.515625 ln2 − 0.0625 ln3 = 0.98188792749441
			// and at the positive d/dz = −(1/4)(1/2 + ln2) = −0.298286795.
			name:   "2×2, one positive",
			logits: []float32{0, 0, ln3, -ln3},
			target: []float32{1, 0.5, 0, 0},
			want:   1.515625*math.Ln2 - 0.0625*math.Log(3), wantGrad0: -0.25 * (0.5 + math.Ln2),
		},
		{
			// No positive: normalised by 1. p = 1/2 at y = 0 gives
			// (1/4)ln2 with d/dz = −(1/4)(2·(1/2)·ln(1/2) − 1/2) = (ln2+1/2)/4;
			// y = 2 contributes nothing.
			name:   "no positive",
			logits: []float32{0, 5},
			target: []float32{0, 2},
			want:   0.25 * math.Ln2, wantGrad0: 0.25 * (math.Ln2 + 0.5),
		},
		{
			// Two positives at p = 1/2 and a negative y = 0, p = 1/2:
			// ((1/4)ln2·2 + (1/4)ln2)/2 = (3/8)ln2.
			name:   "normalised by the positives",
			logits: []float32{0, 0, 0},
			target: []float32{1, 1, 0},
			want:   0.375 * math.Ln2, wantGrad0: -0.125 * (0.5 + math.Ln2),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grad := make([]float32, len(tc.logits))
			got := FocalLoss(tc.logits, tc.target, grad)
			if math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("loss %v, want %v", got, tc.want)
			}
			if math.Abs(float64(grad[0])-tc.wantGrad0) > 1e-6 {
				t.Errorf("gradient at 0 %v, want %v", grad[0], tc.wantGrad0)
			}
			if again := FocalLoss(tc.logits, tc.target, nil); again != got {
				t.Errorf("without gradient %v, with %v", again, got)
			}
		})
	}
}

func TestCenterNetFocalLossGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// A batch of 2 images × 3 classes × 4×5 cells: positives, Gaussian
	// tails, zeros, and a few targets above 1 (ignored).
	const n = 2 * 3 * 4 * 5
	for _, tc := range []struct {
		name   string
		logits func(i int) float32
		zero   bool // the gradient must vanish: every sigmoid is clamped
	}{
		{"unclamped", func(int) float32 { return float32(rng.Float64()*8 - 4) }, false},
		{"clamped", func(i int) float32 { return float32(12 - 24*float64(i%2)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logits := make([]float32, n)
			target := make([]float32, n)
			for i := range n {
				logits[i] = tc.logits(i)
				switch i % 7 {
				case 0:
					target[i] = 1
				case 1, 2:
					target[i] = float32(rng.Float64())
				case 3:
					target[i] = 1.5
				}
			}
			grad := make([]float32, n)
			loss := FocalLoss(logits, target, grad)
			target64 := cnFloat64s(target)
			want := cnFocalLoss64(cnFloat64s(logits), target64)
			if math.Abs(loss-want) > 1e-9*math.Abs(want) {
				t.Errorf("loss %v, float64 reference %v", loss, want)
			}
			cnCheckGradient(t, logits, grad, func(z []float64) float64 { return cnFocalLoss64(z, target64) })
			for i, g := range grad {
				if tc.zero && g != 0 {
					t.Errorf("clamped gradient %d = %v, want 0", i, g)
				}
			}
		})
	}
}

func TestCenterNetRegL1Loss(t *testing.T) {
	// By hand: 2 images, 2 channels, 1×2 cells, objects at image 0 cell 1
	// and image 1 cell 0: |2−1|+|−1−1| + |0.5−0.5|+|3−1| = 5 over
	// 2 channels × 2 objects = 1.25; gradients ±1/4 at the objects, 0 at
	// equality and off the mask.
	pred := []float32{9, 2, 9, -1, 0.5, 9, 3, 9}
	target := []float32{0, 1, 0, 1, 0.5, 0, 1, 0}
	mask := []float32{0, 1, 1, 0}
	grad := make([]float32, len(pred))
	if got := RegL1Loss(pred, target, mask, 2, 2, grad); math.Abs(got-1.25) > 1e-7 {
		t.Errorf("loss %v, want 1.25", got)
	}
	wantGrad := []float32{0, 0.25, 0, -0.25, 0, 0, 0.25, 0}
	for i := range grad {
		if grad[i] != wantGrad[i] {
			t.Errorf("gradient %d = %v, want %v", i, grad[i], wantGrad[i])
		}
	}
	// No object: loss 0, gradient cleared.
	if got := RegL1Loss(pred, target, make([]float32, 4), 2, 2, grad); got != 0 || grad[1] != 0 {
		t.Errorf("without objects: loss %v, gradient %v, want 0", got, grad)
	}

	// Finite differences: 3 images, 2 channels, 3×4 cells, a few centres,
	// |pred − target| ≥ 0.1 so that no step crosses the kink.
	rng := rand.New(rand.NewPCG(3, 4))
	const channels, images, plane = 2, 3, 12
	mask = make([]float32, images*plane)
	for _, i := range []int{0, 5, 13, 30, 35} {
		mask[i] = 1
	}
	pred = make([]float32, channels*len(mask))
	target = make([]float32, len(pred))
	for i := range pred {
		target[i] = float32(rng.Float64() * 4)
		d := float32(0.1 + rng.Float64())
		if rng.IntN(2) == 0 {
			d = -d
		}
		pred[i] = target[i] + d
	}
	grad = make([]float32, len(pred))
	loss := RegL1Loss(pred, target, mask, channels, images, grad)
	target64, mask64 := cnFloat64s(target), cnFloat64s(mask)
	if want := cnRegL1Loss64(cnFloat64s(pred), target64, mask64, channels, images); math.Abs(loss-want) > 1e-12 {
		t.Errorf("loss %v, float64 reference %v", loss, want)
	}
	cnCheckGradient(t, pred, grad, func(p []float64) float64 {
		return cnRegL1Loss64(p, target64, mask64, channels, images)
	})
}
