package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSmoothedTarget(t *testing.T) {
	row := make([]float32, 4)
	SmoothedTarget(row, 2, 0.1, SmoothUniform)
	// ε/K = 0.025 everywhere, 1 − ε + ε/K = 0.925 on the label.
	if want := []float32{0.025, 0.025, 0.925, 0.025}; !near32(row, want) {
		t.Errorf("uniform: %v, want %v", row, want)
	}
	SmoothedTarget(row, 0, 0.1, SmoothPaper)
	// ε/(K−1) = 0.0333… on wrong classes, 1 − ε = 0.9 on the label.
	if want := []float32{0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3}; !near32(row, want) {
		t.Errorf("paper: %v, want %v", row, want)
	}
	SmoothedTarget(row, 3, 0, SmoothUniform)
	if want := []float32{0, 0, 0, 1}; !slices.Equal(row, want) {
		t.Errorf("ε = 0: %v, want one-hot", row)
	}
}

// TestMixup mixes two known 2-pixel images and their one-hot labels with
// λ = 0.7: each becomes 0.7 of itself and 0.3 of its partner.
func TestMixup(t *testing.T) {
	images := []float32{1, 2, 10, 20}
	targets := []float32{1, 0, 0, 0, 0, 1}
	Mixup(images, 2, targets, 3, 0.7)
	if want := []float32{0.7 + 3, 1.4 + 6, 7 + 0.3, 14 + 0.6}; !near32(images, want) {
		t.Errorf("images %v, want %v", images, want)
	}
	if want := []float32{0.7, 0, 0.3, 0.3, 0, 0.7}; !near32(targets, want) {
		t.Errorf("targets %v, want %v", targets, want)
	}
	odd := []float32{1, 2, 3}
	oddT := []float32{1, 0, 0, 1, 1, 0}
	Mixup(odd, 1, oddT, 2, 0.5)
	if odd[1] != 2 {
		t.Errorf("the middle of an odd batch pairs with itself and stays, found %v", odd)
	}
}

// TestBeta checks Beta(a, a)'s mean ½ and variance 1/(4(2a+1)) over many
// draws, for mixup's α = 0.2 and for a = 2.
func TestBeta(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, a := range []float64{0.2, 2} {
		const n = 200000
		var sum, sq float64
		for i := 0; i < n; i++ {
			x := Beta(rng, a)
			if x < 0 || x > 1 {
				t.Fatalf("Beta(%g) drew %g", a, x)
			}
			sum += x
			sq += x * x
		}
		mean, v := sum/n, sq/n-(sum/n)*(sum/n)
		if math.Abs(mean-0.5) > 0.005 || math.Abs(v-1/(4*(2*a+1))) > 0.005 {
			t.Errorf("Beta(%g): mean %.4f variance %.4f, want 0.5 and %.4f", a, mean, v, 1/(4*(2*a+1)))
		}
	}
}

func near32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return true
}

// TestDistillationLoss against a hand computation: one sample, two
// classes, student logits z = (2, 0), hard target (1, 0), teacher logits
// r = (0, 2·ln 3) at T = 2, so softmax(r/T) = (1/4, 3/4).
//
//	CE hard = ln(1 + e⁻²)
//	softmax(z/T) = softmax(1, 0) = (e/(e+1), 1/(e+1))
//	CE soft = −¼·ln(e/(e+1)) − ¾·ln(1/(e+1)) = ln(e+1) − ¼
//	loss = CE hard + T²·CE soft (paper form)
//	∂/∂z₀ = (σ(2) − 1) + T·(e/(e+1) − ¼)
func TestDistillationLoss(t *testing.T) {
	e := math.E
	z := []float32{2, 0}
	soft := make([]float32, 2)
	SoftenedTargets([]float32{0, float32(2 * math.Log(3))}, 2, 2, soft)
	if !near32(soft, []float32{0.25, 0.75}) {
		t.Fatalf("softened teacher %v, want (1/4, 3/4)", soft)
	}
	d := Distillation{T: 2, Hard: 1, Soft: 1}
	grad := make([]float32, 2)
	loss := d.Loss(z, []float32{1, 0}, soft, 2, grad, make([]float32, 2), make([]float32, 2))
	want := math.Log(1+math.Exp(-2)) + 4*(math.Log(e+1)-0.25)
	if math.Abs(loss-want) > 1e-5 {
		t.Errorf("loss %g, want %g", loss, want)
	}
	sigma := 1 / (1 + math.Exp(-2))
	g0 := (sigma - 1) + 2*(e/(e+1)-0.25)
	if math.Abs(float64(grad[0])-g0) > 1e-5 || math.Abs(float64(grad[0]+grad[1])) > 1e-6 {
		t.Errorf("gradient %v, want (%g, %g)", grad, g0, -g0)
	}
}
