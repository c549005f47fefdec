package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// Smoothing says how label smoothing spreads its ε over the classes.
type Smoothing string

const (
	// SmoothUniform gives every class ε/K and the true class 1−ε+ε/K, as
	// GluonCV, timm and torchvision do.
	SmoothUniform Smoothing = "uniform"
	// SmoothPaper gives each wrong class ε/(K−1) and the true class 1−ε,
	// as the paper writes it.
	SmoothPaper Smoothing = "paper"
)

// ParseSmoothing reads a smoothing form name.
func ParseSmoothing(s string) (Smoothing, error) {
	switch Smoothing(s) {
	case SmoothUniform, SmoothPaper:
		return Smoothing(s), nil
	}
	return "", fmt.Errorf("label smoothing form %q: expected uniform (ε/K on every class) or paper (ε/(K−1) on each wrong class)", s)
}

// SmoothedTarget writes into dst (one row of K classes) the smoothed
// target of label with smoothing eps (0 gives one-hot).
func SmoothedTarget(dst []float32, label int, eps float64, form Smoothing) {
	k := float64(len(dst))
	off, on := eps/k, 1-eps+eps/k
	if form == SmoothPaper && k > 1 {
		off, on = eps/(k-1), 1-eps
	}
	for i := range dst {
		dst[i] = float32(off)
	}
	dst[label] = float32(on)
}

// Mixup mixes a batch with itself reversed, as GluonCV does: image and
// target i become λ·(i) + (1−λ)·(n−1−i). images holds n images of per
// values; targets n rows of K; both are mixed in place.
func Mixup(images []float32, per int, targets []float32, classes int, lambda float64) {
	n := len(targets) / classes
	mix := func(data []float32, width int) {
		l, r := float32(lambda), float32(1-lambda)
		// Pairs (i, n−1−i) mix into each other: keep the originals of both.
		for i := 0; i < n/2; i++ {
			j := n - 1 - i
			a, b := data[i*width:(i+1)*width], data[j*width:(j+1)*width]
			for k := range a {
				x, y := a[k], b[k]
				a[k], b[k] = l*x+r*y, l*y+r*x
			}
		}
	}
	mix(images[:n*per], per)
	mix(targets[:n*classes], classes)
}

// Beta draws from Beta(a, a) (mixup's λ) as X/(X+Y) with X, Y ~ Gamma(a).
func Beta(rng *rand.Rand, a float64) float64 {
	x, y := gamma(rng, a), gamma(rng, a)
	if x+y == 0 {
		return 0.5
	}
	return x / (x + y)
}

// gamma draws from Gamma(a, 1) by Marsaglia and Tsang's method, boosted
// by U^(1/a) for a < 1.
func gamma(rng *rand.Rand, a float64) float64 {
	if a < 1 {
		return gamma(rng, a+1) * math.Pow(rng.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// Distillation is the knowledge-distillation term of the loss (paper,
// section 5.3): with teacher logits r, temperature T and the student's
// logits z, the loss is
//
//	Hard·CE(q, z) + Soft·T²·CE(softmax(r/T), softmax(z/T))
//
// q the (smoothed, mixed) targets. The paper's form is Hard = Soft = 1;
// GluonCV's uses Hard = Soft = 0.5. (CE against the teacher's softened
// distribution differs from the KL divergence by the teacher's entropy,
// which does not depend on z: the gradients are the same.)
type Distillation struct {
	T, Hard, Soft float64
}

// Loss returns the combined mean loss of logits against targets and the
// teacher's softened distribution softTargets (rows of softmax(r/T)), and
// writes its gradient into dlogits; scaled and grad are scratch buffers of
// the logits' size.
func (d Distillation) Loss(logits, targets, softTargets []float32, classes int, dlogits, scaled, grad []float32) float64 {
	hard := kernel.SoftTargetCrossEntropy(logits, targets, classes, dlogits)
	inv := float32(1 / d.T)
	for i, v := range logits {
		scaled[i] = v * inv
	}
	soft := kernel.SoftTargetCrossEntropy(scaled, softTargets, classes, grad)
	// d(T²·CE(z/T))/dz = T²·(1/T)·grad = T·grad.
	a, b := float32(d.Hard), float32(d.Soft*d.T)
	for i := range dlogits {
		dlogits[i] = a*dlogits[i] + b*grad[i]
	}
	return d.Hard*hard + d.Soft*d.T*d.T*soft
}

// SoftenedTargets writes softmax(r/T) of each row of teacher logits r.
func SoftenedTargets(teacher []float32, classes int, t float64, dst []float32) {
	for i := 0; i+classes <= len(teacher); i += classes {
		row, out := teacher[i:i+classes], dst[i:i+classes]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		var sum float64
		for k, v := range row {
			e := math.Exp(float64(v-m) / t)
			out[k] = float32(e)
			sum += e
		}
		for k := range out {
			out[k] = float32(float64(out[k]) / sum)
		}
	}
}
