package export_test

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
)

// foldNet is a small graph with every case folding meets:
//
//	a: Conv with a bias → BatchNorm                      folds (bias folded too)
//	b: Relu → BatchNorm                                  kept: not after a Conv
//	c: Conv whose output is also read by an Add → BN     kept: the Conv output is shared
//	d, e: two Convs sharing one weight, each → BN        fold, each into a weight of its own
func foldNet(t *testing.T) *graph.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	b := graph.NewBuilder("fold", graph.DefaultOpset)
	param := func(name string, lo, hi float64, dims ...int64) string {
		v := make([]float32, graph.NumElements(dims))
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return b.Param(name, dims, v)
	}
	bn := func(name, x string) string {
		return b.BatchNorm(name, x, param(name+".weight", 0.5, 1.5, 4), param(name+".bias", -0.3, 0.3, 4),
			param(name+".running_mean", -0.3, 0.3, 4), param(name+".running_var", 0.3, 2, 4), 1e-3, 0.9)
	}
	k3 := graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}}
	x := b.Input("image", graph.Shape{{Param: "n"}, {Size: 4}, {Size: 8}, {Size: 8}})
	a := bn("a.bn", b.Conv("a.conv", x, param("a.conv.weight", -0.3, 0.3, 4, 4, 3, 3), param("a.conv.bias", -0.5, 0.5, 4), k3))
	y := bn("b.bn", b.Relu("b.relu", a))
	c := b.Conv("c.conv", y, param("c.conv.weight", -0.3, 0.3, 4, 4, 3, 3), "", k3)
	y = b.Add("c.add", bn("c.bn", c), c)
	shared := param("shared.weight", -0.3, 0.3, 4, 4, 3, 3)
	y = bn("d.bn", b.Conv("d.conv", y, shared, "", k3))
	y = bn("e.bn", b.Conv("e.conv", y, shared, "", k3))
	y = b.Flatten("flatten", b.GlobalAveragePool("pool", y), 1)
	b.Output(b.Gemm("fc", y, param("fc.weight", -1, 1, 3, 4), param("fc.bias", -1, 1, 3)), "scores")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFoldBatchNorm(t *testing.T) {
	m := foldNet(t)
	rep, err := export.FoldBatchNorm(m)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Folded != 3 || len(rep.Kept) != 2 ||
		!strings.Contains(rep.Kept[0], `"b.bn": its input "b.relu" is not a Conv's output`) ||
		!strings.Contains(rep.Kept[1], `"c.bn": the Conv output "c.conv" is also read elsewhere`) {
		t.Fatalf("report %+v", rep)
	}
	conv := map[string][]string{}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" {
			conv[n.GetName()] = n.GetInput()
		}
	}
	// a keeps its own tensors' names; d and e get new weights; c is untouched.
	for name, want := range map[string]string{
		"a.conv": "image a.conv.weight a.conv.bias",
		"c.conv": "b.bn c.conv.weight",
		"d.conv": "c.add shared.weight.folded shared.bias",
		"e.conv": "d.bn shared.weight.folded_1 shared.bias_1",
	} {
		if got := strings.Join(conv[name], " "); got != want {
			t.Errorf("%s reads %s, want %s", name, got, want)
		}
	}
	if m.Initializer("shared.weight") != nil || m.Initializer("a.bn.running_var") != nil || m.Initializer("b.bn.running_var") == nil {
		t.Error("the folded BatchNorms' tensors and the replaced shared weight should be gone, the kept ones' stay")
	}
	if err := graph.Validate(m); err != nil {
		t.Fatal(err)
	}
}

// TestFoldedExportMatches checks the arithmetic of folding (a Conv bias
// included) in ONNX Runtime through File's verification, with the
// classifier renamed to the export's names.
func TestFoldedExportMatches(t *testing.T) {
	requireORT(t)
	res, err := export.File(foldNet(t), filepath.Join(t.TempDir(), "folded.onnx"), export.Options{FoldBN: true, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Verified.Outputs[0]
	t.Logf("%s: max |diff| %.3g, max |source| %.3g", p.Output, p.MaxAbsDiff, p.MaxAbsRef)
	if res.Fold.Folded != 3 || res.Inputs[0].Name != "input" || res.Inputs[0].Shape != "2×4×8×8" || p.Output != "logits" || p.MaxAbsDiff > 1e-5 {
		t.Errorf("result %+v %+v", res, p)
	}
}
