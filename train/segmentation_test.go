package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
)

// segClasses is the class count of tinySegModel.
const segClasses = 3

// tinySegModel is an FCN in miniature: a 1×4×4 input, conv 3×3 + BN +
// ReLU, conv 1×1 to 3 classes, and a bilinear Resize ×2 back up to 8×8
// with the given coordinate mode: per-pixel logits [batch, 3, 8, 8].
// With sizes the Resize takes sizes [8, 8] on axes [2, 3] (opset 18)
// instead of scales.
func tinySegModel(t *testing.T, coordMode string, sizes bool) *graph.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.7)
		}
		return v
	}
	opset := int64(graph.DefaultOpset)
	if sizes {
		opset = 18
	}
	b := graph.NewBuilder("seg", opset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 1}, {Size: 4}, {Size: 4}})
	y := b.Conv("conv", x, b.Param("conv.weight", []int64{3, 1, 3, 3}, randn(27)), b.Param("conv.bias", []int64{3}, randn(3)),
		graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	y = b.BatchNorm("bn", y, b.Param("bn.weight", []int64{3}, []float32{0.8, 1.3, 1.1}), b.Param("bn.bias", []int64{3}, []float32{0.1, -0.2, 0.3}),
		b.Param("bn.running_mean", []int64{3}, []float32{0.2, -0.1, 0}), b.Param("bn.running_var", []int64{3}, []float32{1.5, 0.7, 1}), 1e-5, 0.9)
	y = b.Relu("relu", y)
	y = b.Conv("cls", y, b.Param("cls.weight", []int64{segClasses, 3, 1, 1}, randn(9)), b.Param("cls.bias", []int64{segClasses}, randn(3)),
		graph.ConvAttrs{Kernel: [2]int64{1, 1}})
	b.Output(b.Resize("up", y, []float32{1, 1, 2, 2}, "linear", coordMode), "logits")
	m, err := b.Finish("test", "0")
	if err != nil {
		t.Fatal(err)
	}
	if sizes {
		g := m.GetGraph()
		n := g.GetNode()[len(g.GetNode())-1]
		n.Input = []string{n.GetInput()[0], "", "", "up.sizes"}
		graph.SetAttr(n, graph.AttrInts("axes", 2, 3))
		g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnx.TensorProto) bool { return t.GetName() == "up.scales" })
		g.Initializer = append(g.Initializer, graph.Int64Tensor("up.sizes", []int64{2}, []int64{8, 8}))
		if err := graph.Validate(m); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// randomLabels fills a label map with classes and about one pixel in
// eight left out.
func randomLabels(rng *rand.Rand, labels []int32) {
	for i := range labels {
		labels[i] = int32(rng.IntN(segClasses))
		if rng.IntN(8) == 0 {
			labels[i] = IgnoreLabel
		}
	}
}

// TestPixelLossGradientsMatchFiniteDifferences lowers the tiny FCN in
// float64 and checks the per-pixel loss against a direct computation from
// the logits, and its gradient with respect to every parameter element
// against central finite differences: through the Resize in several
// coordinate modes, with scales and with sizes, and through a frozen
// BatchNorm (running statistics) as well as a training one.
func TestPixelLossGradientsMatchFiniteDifferences(t *testing.T) {
	for _, tc := range []struct {
		name      string
		coordMode string
		sizes     bool
		freezeBN  bool
	}{
		{"half_pixel", "half_pixel", false, false},
		{"align_corners", "align_corners", false, false},
		{"asymmetric", "asymmetric", false, false},
		{"pytorch_half_pixel sizes", "pytorch_half_pixel", true, false},
		{"half_pixel frozen BN", "half_pixel", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinySegModel(t, tc.coordMode, tc.sizes)
			w, err := LoadWeights[float64](m)
			if err != nil {
				t.Fatal(err)
			}
			if tc.freezeBN {
				if err := w.SetLRMult(map[string]float64{"bn.weight": 0, "bn.bias": 0}); err != nil {
					t.Fatal(err)
				}
			}
			const batch = 2
			net, err := Lower(m, w, batch, LowerOptions{Training: true, UpdateStats: true})
			if err != nil {
				t.Fatal(err)
			}
			if net.Targets() != nil || len(net.PixelLabels()) != batch*8*8 {
				t.Fatalf("a per-pixel net has %d targets and %d pixel labels", len(net.Targets()), len(net.PixelLabels()))
			}
			rng := rand.New(rand.NewPCG(5, 6))
			for i := range net.Input() {
				net.Input()[i] = rng.NormFloat64()
			}
			randomLabels(rng, net.PixelLabels())
			loss := func() float64 {
				if err := net.Run(); err != nil {
					t.Fatal(err)
				}
				return net.Loss()
			}
			l := loss()
			if want, count := directPixelLoss(net.Logits(), net.PixelLabels(), batch, 64); math.Abs(l-want) > 1e-12 || net.PixelCount() != count {
				t.Errorf("loss %.15g over %d pixels, direct computation %.15g over %d", l, net.PixelCount(), want, count)
			}
			// Every element; gradients that are 0 in exact arithmetic (the
			// conv bias before a training BatchNorm) pass on the absolute bound.
			worst, kinks := checkFiniteDifferences(t, w, net.Grads, loss, rng, 0, 1e-7, 1e-5, 1e-7)
			t.Logf("%d parameter tensors, every element: worst relative error %.2g", len(w.Order), worst)
			if kinks > 0 {
				t.Errorf("%d points at ReLU kinks; the step of 1e-7 should meet none in so small a net", kinks)
			}
		})
	}
}

// directPixelLoss computes the mean −log softmax at each labelled pixel
// straight from its definition, pixel by pixel over NCHW logits.
func directPixelLoss(logits []float64, labels []int32, n, hw int) (float64, int) {
	sum, count := 0.0, 0
	for i := range n {
		for p := range hw {
			l := labels[i*hw+p]
			if l == IgnoreLabel {
				continue
			}
			z := func(k int) float64 { return logits[(i*segClasses+k)*hw+p] }
			var e float64
			for k := range segClasses {
				e += math.Exp(z(k))
			}
			sum += math.Log(e) - z(int(l))
			count++
		}
	}
	return sum / float64(count), count
}

// TestSegmentationEvalMatchesONNXRuntime runs the tiny FCN's evaluation
// net and ONNX Runtime on the same images: the [batch, classes, H, W]
// logits agree, Resize included.
func TestSegmentationEvalMatchesONNXRuntime(t *testing.T) {
	for _, mode := range []string{"half_pixel", "align_corners", "asymmetric"} {
		t.Run(mode, func(t *testing.T) {
			m := tinySegModel(t, mode, false)
			data, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			w, err := LoadWeights[float32](m)
			if err != nil {
				t.Fatal(err)
			}
			const batch = 3
			net, err := Lower(m, w, batch, LowerOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 8))
			for i := range net.Input() {
				net.Input()[i] = float32(rng.NormFloat64())
			}
			if err := net.Run(); err != nil {
				t.Fatal(err)
			}
			s, err := ort.NewSessionFromBytes(data, ort.Options{Provider: ort.ProviderCPU})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			y, err := s.Run(ort.Tensor{Shape: []int64{batch, 1, 4, 4}, Data: net.Input()})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(y[0].Shape, []int64{batch, segClasses, 8, 8}) || len(net.Logits()) != len(y[0].Data) {
				t.Fatalf("ONNX Runtime gives %v, the net %d values", y[0].Shape, len(net.Logits()))
			}
			worst := 0.0
			for i, v := range y[0].Data {
				worst = math.Max(worst, math.Abs(float64(v-net.Logits()[i])))
			}
			t.Logf("max |engine − ONNX Runtime| = %.2g", worst)
			if worst > 1e-5 {
				t.Errorf("max |engine − ONNX Runtime| = %g", worst)
			}
		})
	}
}

// TestLowerRefusesUnsupportedResize: a Resize the engine cannot train is
// an error naming the node and the reason.
func TestLowerRefusesUnsupportedResize(t *testing.T) {
	up := func(m *graph.Model) *onnx.NodeProto {
		nodes := m.GetGraph().GetNode()
		return nodes[len(nodes)-1]
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *graph.Model)
		want   string
	}{
		{"nearest", func(m *graph.Model) { graph.SetAttr(up(m), graph.AttrString("mode", "nearest")) }, `mode "nearest"`},
		{"cubic", func(m *graph.Model) { graph.SetAttr(up(m), graph.AttrString("mode", "cubic")) }, `mode "cubic"`},
		{"tf_crop_and_resize", func(m *graph.Model) {
			graph.SetAttr(up(m), graph.AttrString("coordinate_transformation_mode", "tf_crop_and_resize"))
			m.SetInitializer(graph.Int64Tensor("up.sizes", []int64{4}, []int64{2, 3, 8, 8}))
			up(m).Input = []string{up(m).GetInput()[0], "", "", "up.sizes"}
		}, `"tf_crop_and_resize" is not supported`},
		{"channels resized", func(m *graph.Model) {
			m.SetInitializer(graph.FloatTensor("up.scales", []int64{4}, []float32{1, 1.2, 2, 2}))
		}, "expected 1 on the batch and channel axes"},
		{"antialias", func(m *graph.Model) {
			m.OpsetImport[0].Version = 18
			graph.SetAttr(up(m), graph.AttrInt("antialias", 1))
		}, "antialias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tinySegModel(t, "half_pixel", false)
			tc.mutate(m)
			w, err := LoadWeights[float32](m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Lower(m, w, 2, LowerOptions{Training: true})
			if err == nil || !strings.Contains(err.Error(), `node "up" (Resize)`) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming node \"up\" (Resize) and containing %q", err, tc.want)
			}
		})
	}
}

// TestFrozenBatchNormKeepsStatistics: in a training net that updates the
// running statistics, a BatchNorm whose γ and β have multiplier 0 leaves
// its statistics as they were, while the others update theirs.
func TestFrozenBatchNormKeepsStatistics(t *testing.T) {
	m := tinyModel(t, "resnet20", "A", 8)
	w, err := LoadWeights[float32](m)
	if err != nil {
		t.Fatal(err)
	}
	var bns []*onnx.NodeProto
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "BatchNormalization" {
			bns = append(bns, n)
		}
	}
	frozen, live := bns[0], bns[1]
	if err := w.SetLRMult(map[string]float64{frozen.GetInput()[1]: 0, frozen.GetInput()[2]: 0}); err != nil {
		t.Fatal(err)
	}
	stats := func(n *onnx.NodeProto) []float32 {
		return slices.Concat(w.Stats[n.GetInput()[3]], w.Stats[n.GetInput()[4]])
	}
	frozenBefore, liveBefore := stats(frozen), stats(live)
	net, err := Lower(m, w, 4, LowerOptions{Training: true, UpdateStats: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range net.Input() {
		net.Input()[i] = float32(rng.NormFloat64())
	}
	net.SetLabels([]int32{0, 1, 2, 1})
	if err := net.Run(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stats(frozen), frozenBefore) {
		t.Errorf("frozen BatchNorm %q: statistics %v changed from %v", frozen.GetName(), stats(frozen), frozenBefore)
	}
	if slices.Equal(stats(live), liveBefore) {
		t.Errorf("BatchNorm %q: statistics did not change", live.GetName())
	}
}

func TestSetLRMultErrors(t *testing.T) {
	w, err := LoadWeights[float32](tinySegModel(t, "half_pixel", false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mult map[string]float64
		want string
	}{
		{map[string]float64{"backbone.conv": 0.1}, `"backbone.conv": the model has no trainable parameter`},
		{map[string]float64{"bn.running_mean": 0}, `"bn.running_mean": the model has no trainable parameter`},
		{map[string]float64{"conv.weight": -1}, "finite value ≥ 0, found -1"},
		{map[string]float64{"conv.weight": math.NaN()}, "found NaN"},
	} {
		if err := w.SetLRMult(tc.mult); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.mult, err, tc.want)
		}
	}
	if err := w.SetLRMult(map[string]float64{"conv.weight": 0.1}); err != nil {
		t.Fatal(err)
	}
	if w.LRMult("conv.weight") != 0.1 || w.LRMult("cls.weight") != 1 {
		t.Errorf("LRMult: conv.weight %g, cls.weight %g; want 0.1 and 1", w.LRMult("conv.weight"), w.LRMult("cls.weight"))
	}
}
