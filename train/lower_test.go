package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// tinyModel is a ResNet small enough for finite differences over its
// parameters: width 2, 3 classes, one input channel of size×size,
// optionally tweaked (D adds average pools before the projections).
func tinyModel(t *testing.T, model string, variant string, size int) *graph.Model {
	t.Helper()
	m, err := models.Build(models.Config{Model: model, BaseWidth: 2, InChannels: 1, Height: size, Width: size, Classes: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	passes, _ := tweaks.ForVariant(variant)
	m, _, err = tweaks.Apply(m, passes, tweaks.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGradientsMatchFiniteDifferences lowers whole tiny ResNets in float64
// and checks the gradient of the loss with respect to every parameter
// tensor against central finite differences: relative error ≤ 1e-5, or
// absolute ≤ 1e-7 where rounding dominates. (Each kernel's own gradient
// is checked to 1e-6 in package kernel; this checks the lowering: every
// op wired to the right inputs, gradients summed where a value is used
// twice, the backward ops run after their forward ones.)
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	// ImageNet layouts get 64×64 inputs: at 8×8 their last stages would be
	// 1×1, where BatchNorm over 3 values makes the loss too curved for any
	// finite difference.
	for _, tc := range []struct {
		model, variant string
		size           int
	}{{"resnet20", "A", 8}, {"resnet20", "D", 9}, {"resnet18", "D", 64}, {"resnet50", "B", 64}} {
		t.Run(tc.model+tc.variant, func(t *testing.T) {
			m := tinyModel(t, tc.model, tc.variant, tc.size)
			w, err := LoadWeights[float64](m)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			// Random γ, β so that no gradient is trivially symmetric.
			for name, v := range w.Params {
				if len(w.Shapes[name]) == 1 {
					for i := range v {
						v[i] = 0.5 + rng.Float64()
					}
				}
			}
			const batch = 4
			net, err := Lower(m, w, batch, LowerOptions{Training: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := range net.Input() {
				net.Input()[i] = rng.NormFloat64()
			}
			net.SetLabels([]int32{0, 2, 1, 1})
			loss := func() float64 {
				if err := net.Run(); err != nil {
					t.Fatal(err)
				}
				return net.Loss()
			}
			loss()
			// The gradient buffers are refilled by every run: copy them first.
			var grads [][]float64
			for _, g := range net.Grads() {
				grads = append(grads, append([]float64(nil), g...))
			}
			worst := 0.0
			for p, name := range w.Order {
				v, analytic := w.Params[name], grads[p]
				numeric := make([]float64, len(v))
				// Check up to 6 elements of each tensor.
				for _, i := range rng.Perm(len(v))[:min(6, len(v))] {
					// The step is small enough that both evaluations stay on one
					// side of every ReLU and max-pool switch (a 3×3 max pool
					// over thousands of windows has near-ties at 1e-5).
					const h = 1e-7
					orig := v[i]
					v[i] = orig + h
					plus := loss()
					v[i] = orig - h
					minus := loss()
					v[i] = orig
					numeric[i] = (plus - minus) / (2 * h)
					diff := math.Abs(numeric[i] - analytic[i])
					rel := diff / math.Max(math.Max(math.Abs(numeric[i]), math.Abs(analytic[i])), 1e-6)
					worst = math.Max(worst, rel)
					// Rounding in the loss (about 1e-16·loss) divided by 2h
					// gives an absolute floor near 1e-8: gradients that are 0
					// in exact arithmetic (a bias before a BatchNorm) land there.
					if rel > 1e-5 && diff > 1e-7 {
						t.Errorf("%s[%d]: analytic %g, numeric %g", name, i, analytic[i], numeric[i])
					}
				}
			}
			t.Logf("%d parameter tensors, worst relative error %.2g", len(w.Order), worst)
		})
	}
}

// TestSharedInitializersAreUntied: two BatchNorms reading one γ tensor
// (through Identity, as PyTorch exports equal tensors) train separate
// copies, and the model is rewired to them.
func TestSharedInitializersAreUntied(t *testing.T) {
	m := tinyModel(t, "resnet20", "A", 8)
	g := m.GetGraph()
	var bns []*onnx.NodeProto
	for _, n := range g.GetNode() {
		if n.GetOpType() == "BatchNormalization" && len(bns) < 2 {
			bns = append(bns, n)
		}
	}
	shared := bns[0].GetInput()[1]
	graph.InsertBefore(g, g.Node[0], &onnx.NodeProto{Name: "id", OpType: "Identity", Input: []string{shared}, Output: []string{"shared_gamma"}})
	bns[1].Input[1] = "shared_gamma"
	w, err := LoadWeights[float64](m)
	if err != nil {
		t.Fatal(err)
	}
	if bns[1].GetInput()[1] == "shared_gamma" || bns[1].GetInput()[1] == shared || w.Params[bns[1].GetInput()[1]] == nil {
		t.Fatalf("second BatchNorm reads %q", bns[1].GetInput()[1])
	}
	if err := graph.Validate(m); err != nil {
		t.Fatal(err)
	}
	w.Params[shared][0] = 42
	if w.Params[bns[1].GetInput()[1]][0] == 42 {
		t.Error("the copies share storage")
	}
}
