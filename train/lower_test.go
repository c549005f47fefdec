package train

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
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
			for _, name := range w.Order {
				if v := w.Params[name]; len(w.Shapes[name]) == 1 {
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
			worst, kinks := checkFiniteDifferences(t, w, net.Grads, loss, rng, 6, 1e-7, 1e-5, 1e-7)
			t.Logf("%d parameter tensors, worst relative error %.2g, %d points at kinks", len(w.Order), worst, kinks)
			if kinks > 3 {
				t.Errorf("%d of the points checked were at kinks; expected a few at most", kinks)
			}
		})
	}
}

// checkFiniteDifferences compares the gradients of loss with respect to
// up to elements elements (0: all) of every parameter tensor of w, drawn
// with rng, as grads gives them after a run of loss, against central differences of step h: an element fails
// when its relative error is above rel and its absolute error above abs,
// unless the loss has a kink there (a ReLU or max-pool switching within
// ±h: the one-sided slopes differ by more than the error). It returns the
// worst relative error and the number of kinks met.
func checkFiniteDifferences(t *testing.T, w *Weights[float64], grads func() [][]float64, loss func() float64, rng *rand.Rand, elements int, h, rel, abs float64) (worst float64, kinks int) {
	t.Helper()
	base := loss()
	// The gradient buffers are refilled by every run: copy them first.
	var analytics [][]float64
	for _, g := range grads() {
		analytics = append(analytics, append([]float64(nil), g...))
	}
	for p, name := range w.Order {
		v, analytic := w.Params[name], analytics[p]
		picked := rng.Perm(len(v))
		if elements > 0 {
			picked = picked[:min(elements, len(v))]
		}
		for _, i := range picked {
			orig := v[i]
			v[i] = orig + h
			plus := loss()
			v[i] = orig - h
			minus := loss()
			v[i] = orig
			numeric := (plus - minus) / (2 * h)
			diff := math.Abs(numeric - analytic[i])
			r := diff / math.Max(math.Max(math.Abs(numeric), math.Abs(analytic[i])), 1e-6)
			worst = math.Max(worst, r)
			if r > rel && diff > abs {
				if right, left := (plus-base)/h, (base-minus)/h; math.Abs(right-left) > diff {
					kinks++
					t.Logf("%s[%d]: at a kink (one-sided slopes %g and %g), analytic %g", name, i, left, right, analytic[i])
					continue
				}
				t.Errorf("%s[%d]: analytic %g, numeric %g", name, i, analytic[i], numeric)
			}
		}
	}
	return worst, kinks
}

// TestLowerRefusesUnsupportedOps: an operator outside the engine's table
// is refused by name, with the list of the ones it lowers: those the
// project's models, tweaks and heads emit, and Identity, which PyTorch's
// exports route shared weights through.
func TestLowerRefusesUnsupportedOps(t *testing.T) {
	for _, op := range []string{"Sigmoid", "Mul"} {
		b := graph.NewBuilder("unsupported", graph.DefaultOpset)
		x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 1}, {Size: 4}, {Size: 4}})
		x = b.Conv("conv", x, b.Param("conv.weight", []int64{2, 1, 3, 3}, make([]float32, 18)), "", graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
		inputs := []string{x}
		if op == "Mul" {
			inputs = append(inputs, x)
		}
		x = b.Node(op, "odd", inputs)
		b.Output(b.Flatten("flatten", b.GlobalAveragePool("pool", x), 1), "logits")
		m, err := b.Finish("test", "")
		if err != nil {
			t.Fatal(err)
		}
		w, err := LoadWeights[float32](m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Lower(m, w, 2, LowerOptions{})
		want := `node "odd": operator ` + op + ` is not supported by the training engine (supported: Add, AveragePool, BatchNormalization, Concat, Conv, Flatten, Gemm, GlobalAveragePool, Identity, MaxPool, Relu, Resize)`
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", op, err, want)
		}
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

// TestChannelsLastMatchesChannelsFirst runs float32 training nets that
// keep their activations NHWC (the default) against ones that keep them
// NCHW, on the same weights and batch: ResNets with the max-pool stem,
// D's average-pool shortcuts and a bottleneck, and the FCN with its
// Resize, so that every op that asks for NCHW gets its input relaid and
// its gradient relaid back. The logits, loss, parameter gradients and
// running statistics must agree to float32 rounding.
func TestChannelsLastMatchesChannelsFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		model func(t *testing.T) *graph.Model
	}{
		{"resnet20-D", func(t *testing.T) *graph.Model { return tinyModel(t, "resnet20", "D", 9) }},
		{"resnet18-D", func(t *testing.T) *graph.Model { return tinyModel(t, "resnet18", "D", 64) }},
		{"resnet50-B", func(t *testing.T) *graph.Model { return tinyModel(t, "resnet50", "B", 64) }},
		{"fcn", func(t *testing.T) *graph.Model { return tinySegModel(t, "half_pixel", false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.model(t)
			type result struct {
				logits, stats []float32
				grads         [][]float32
				loss          float64
			}
			run := func(first bool) result {
				w, err := LoadWeights[float32](m)
				if err != nil {
					t.Fatal(err)
				}
				const batch = 3
				net, err := Lower(m, w, batch, LowerOptions{Training: true, UpdateStats: true, ChannelsFirst: first})
				if err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(8, 9))
				for i := range net.Input() {
					net.Input()[i] = float32(rng.NormFloat64())
				}
				if net.PixelLabels() != nil {
					randomLabels(rng, net.PixelLabels())
				} else {
					net.SetLabels([]int32{0, 2, 1})
				}
				if err := net.Run(); err != nil {
					t.Fatal(err)
				}
				r := result{logits: slices.Clone(net.Logits()), loss: net.Loss()}
				for _, g := range net.Grads() {
					r.grads = append(r.grads, slices.Clone(g))
				}
				for _, name := range slices.Sorted(maps.Keys(w.Stats)) {
					r.stats = append(r.stats, w.Stats[name]...)
				}
				return r
			}
			last, first := run(false), run(true)
			const tol = 1e-4
			if e := relErr32(last.logits, first.logits); !(e <= tol) {
				t.Errorf("logits: rel err %.3g", e)
			}
			if math.Abs(last.loss-first.loss) > tol*math.Abs(first.loss) {
				t.Errorf("loss %v channels-last, %v channels-first", last.loss, first.loss)
			}
			if e := relErr32(last.stats, first.stats); !(e <= tol) {
				t.Errorf("running statistics: rel err %.3g", e)
			}
			// Gradients that are 0 in exact arithmetic (a bias before a
			// BatchNorm) are float32 noise in both: each tensor's error is
			// measured against the largest gradient's norm at least.
			var largest float64
			for _, g := range first.grads {
				largest = max(largest, norm32(g))
			}
			for i, g := range first.grads {
				diff := make([]float32, len(g))
				for j := range g {
					diff[j] = last.grads[i][j] - g[j]
				}
				if e := norm32(diff) / max(norm32(g), 1e-2*largest); !(e <= tol) {
					t.Errorf("gradient %d (norm %.3g, largest %.3g): rel err %.3g", i, norm32(g), largest, e)
				}
			}
		})
	}
}

func norm32(a []float32) float64 {
	var s float64
	for _, v := range a {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

// relErr32 is the norm-wise relative error of a against b.
func relErr32(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]-b[i]) * float64(a[i]-b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(d) / max(math.Sqrt(na), math.Sqrt(nb), 1e-30)
}

// TestEvaluationNetLoss: a net built without the loss (Training false)
// runs its forward pass and reports a loss of 0 instead of failing.
func TestEvaluationNetLoss(t *testing.T) {
	m := tinyModel(t, "resnet20", "A", 8)
	w, err := LoadWeights[float32](m)
	if err != nil {
		t.Fatal(err)
	}
	n, err := Lower(m, w, 2, LowerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	if got := n.Loss(); got != 0 {
		t.Errorf("evaluation net's loss %v, expected 0", got)
	}
}
