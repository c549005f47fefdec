package train

import (
	"math/rand/v2"
	"testing"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/graph"
)

// branchedModel is a small net whose output joins three conv branches of
// an 8×8 one-channel input with Concat, as a CenterNet head does: classes
// heatmap channels (3×3 conv, ReLU, 1×1 conv), then 2 size and 2 offset
// channels (3×3 convs). With pooled, the join is pooled into a classifier
// of classes outputs instead.
func branchedModel(t *testing.T, classes int, pooled bool) *graph.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	b := graph.NewBuilder("branched", 17)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 1}, {Size: 8}, {Size: 8}})
	param := func(name string, dims ...int64) string {
		v := make([]float32, graph.NumElements(dims))
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.5)
		}
		return b.Param(name, dims, v)
	}
	k := int64(classes)
	same := graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}}
	h := b.Relu("heat.relu", b.Conv("heat.0", x, param("heat.0.w", 4, 1, 3, 3), param("heat.0.b", 4), same))
	h = b.Conv("heat.1", h, param("heat.1.w", k, 4, 1, 1), param("heat.1.b", k), graph.ConvAttrs{Kernel: [2]int64{1, 1}})
	size := b.Conv("size", x, param("size.w", 2, 1, 3, 3), param("size.b", 2), same)
	offset := b.Conv("offset", x, param("offset.w", 2, 1, 3, 3), param("offset.b", 2), same)
	out := b.Node("Concat", "head", []string{h, size, offset}, graph.AttrInt("axis", 1))
	if pooled {
		out = b.Flatten("flatten", b.GlobalAveragePool("pool", out), 1)
		out = b.Gemm("fc", out, param("fc.w", k, k+4), param("fc.b", k))
	}
	b.Output(out, "logits")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConcatGradients checks the engine's Concat, forward and backward,
// through a classifier on a concatenation of branches, against float64
// finite differences as TestGradientsMatchFiniteDifferences does.
func TestConcatGradients(t *testing.T) {
	w, err := LoadWeights[float64](branchedModel(t, 3, true))
	if err != nil {
		t.Fatal(err)
	}
	m := branchedModel(t, 3, true)
	net, err := Lower(m, w, 2, LowerOptions{Training: true})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range net.Input() {
		net.Input()[i] = rng.NormFloat64()
	}
	net.SetLabels([]int32{2, 0})
	loss := func() float64 {
		if err := net.Run(); err != nil {
			t.Fatal(err)
		}
		return net.Loss()
	}
	worst, kinks := checkFiniteDifferences(t, w, net.Grads, loss, rng, 6, 1e-7, 1e-5, 1e-7)
	t.Logf("worst relative error %.2g, %d kinks", worst, kinks)
	if kinks > 2 {
		t.Errorf("%d kinks; expected a few at most", kinks)
	}
}

// TestCenterNetLossInTheNet checks a detection training net: its loss is
// detection.Loss of its output against the targets of the objects set,
// and the gradients of the whole net, through the loss, Concat and the
// branches, match finite differences. The loss runs in float32, so the
// differences take a larger step and a looser bound than the float64
// checks of the layers (detection's own tests check the losses' gradients
// in float64).
func TestCenterNetLossInTheNet(t *testing.T) {
	const classes = 2
	m := branchedModel(t, classes, false)
	w, err := LoadWeights[float64](m)
	if err != nil {
		t.Fatal(err)
	}
	net, err := Lower(m, w, 2, LowerOptions{Training: true, Detect: classes})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range net.Input() {
		net.Input()[i] = rng.NormFloat64()
	}
	objects := [][]detection.Object{
		{{X1: 1, Y1: 1.5, X2: 4, Y2: 5, Class: 1}, {X1: 5, Y1: 0, X2: 8, Y2: 3, Class: 0}},
		{{X1: 2.5, Y1: 3, X2: 7, Y2: 7.5, Class: 0}},
	}
	if err := net.SetObjects(objects); err != nil {
		t.Fatal(err)
	}
	if got := net.ObjectCount(); got != 3 {
		t.Errorf("ObjectCount %d, expected 3", got)
	}
	loss := func() float64 {
		if err := net.Run(); err != nil {
			t.Fatal(err)
		}
		return net.Loss()
	}
	got := loss()
	out := make([]float32, len(net.Logits()))
	for i, v := range net.Logits() {
		out[i] = float32(v)
	}
	l := detection.NewLoss(classes, 2, 8, 8, 1)
	if _, err := l.Draw(objects); err != nil {
		t.Fatal(err)
	}
	if want := l.Compute(out, nil); got != want {
		t.Errorf("the net's loss %.9g, detection.Loss of its output %.9g", got, want)
	}
	worst, kinks := checkFiniteDifferences(t, w, net.Grads, loss, rng, 6, 1e-3, 1e-2, 1e-4)
	t.Logf("loss %.6g, worst relative error %.2g, %d kinks", got, worst, kinks)
	if kinks > 3 {
		t.Errorf("%d kinks; expected a few at most", kinks)
	}
	if err := net.SetObjects(objects[:1]); err == nil {
		t.Error("objects of 1 image accepted for a net of batch 2")
	}
}
