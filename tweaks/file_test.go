package tweaks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// TestWriteText writes hand-made reports and a file's result as build and
// tweak print them: a pass's changes block by block, or its note, then the
// file with its variant and counts.
func TestWriteText(t *testing.T) {
	res := &tweaks.FileResult{Input: "a.onnx", Output: "d.onnx", Variant: "D",
		Reports: []tweaks.Report{
			{Pass: tweaks.B, Note: "no downsampling bottleneck"},
			{Pass: tweaks.C, Changes: []tweaks.Change{{Block: "stem", What: "7×7 conv → three 3×3 convs"}}},
			{Pass: tweaks.D, Changes: []tweaks.Change{{Block: "layer2.0", What: "avg pool"}, {Block: "layer3.0", What: "avg pool"}}},
		},
		Before: graph.Counts{Params: 25557032, MACs: 4089184256}, After: graph.Counts{Params: 25576264, MACs: 4345425920}}
	want := "pass B: no downsampling bottleneck\n" +
		"pass C: 1 change\n" +
		"  stem      7×7 conv → three 3×3 convs\n" +
		"pass D: 2 changes\n" +
		"  layer2.0  avg pool\n" +
		"  layer3.0  avg pool\n" +
		"wrote d.onnx: variant D, 25,557,032 → 25,576,264 parameters, 4.089 → 4.345 G MACs per image\n"
	var b strings.Builder
	if err := res.WriteText(&b); err != nil || b.String() != want {
		t.Errorf("WriteText: %v\n%s\nwant\n%s", err, b.String(), want)
	}
	res.Before.MACs, res.After.MACs, res.MACsError = 0, 0, "dynamic height"
	b.Reset()
	want = strings.Replace(want, "4.089 → 4.345 G MACs per image", "MACs unknown (dynamic height)", 1)
	if err := res.WriteText(&b); err != nil || b.String() != want {
		t.Errorf("WriteText without MACs: %v\n%s\nwant\n%s", err, b.String(), want)
	}
	b.Reset()
	if err := tweaks.WriteReports(&b, nil); err != nil || b.Len() != 0 {
		t.Errorf("no reports: %v, %q", err, b.String())
	}
}

// TestRewriteFile rewrites a saved ResNet-20-A into D (whose pools add no
// parameter) and counts both; a file the passes refuse is named in the
// error, and nothing is written.
func TestRewriteFile(t *testing.T) {
	dir := t.TempDir()
	m, err := models.Build(models.Config{Model: "resnet20", BaseWidth: 4})
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "d.onnx")
	if err := m.Save(in); err != nil {
		t.Fatal(err)
	}
	res, err := tweaks.RewriteFile(in, out, []tweaks.Pass{tweaks.B, tweaks.C, tweaks.D}, tweaks.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Input != in || res.Output != out || res.Variant != "D" || len(res.Reports) != 3 || res.Before.Params == 0 || res.After.Params != res.Before.Params {
		t.Errorf("result %+v", res)
	}
	if _, err := graph.Load(out); err != nil {
		t.Errorf("the rewritten model: %v", err)
	}
	// A model whose height and width are dynamic is rewritten all the same;
	// its MACs are unknown (no sizes to count them at), its parameters not.
	dims := m.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	dims[2].Reset()
	dims[3].Reset()
	dynamic, dynamicOut := filepath.Join(dir, "dynamic.onnx"), filepath.Join(dir, "dynamic-d.onnx")
	if err := m.Save(dynamic); err != nil {
		t.Fatal(err)
	}
	res, err = tweaks.RewriteFile(dynamic, dynamicOut, []tweaks.Pass{tweaks.B, tweaks.C, tweaks.D}, tweaks.Options{Seed: 1})
	if err != nil {
		t.Fatalf("a model of dynamic height and width: %v", err)
	}
	if res.Variant != "D" || res.MACsError == "" || res.Before.MACs != 0 || res.After.Params != res.Before.Params || res.After.Params == 0 {
		t.Errorf("dynamic size: result %+v", res)
	}
	b := graph.NewBuilder("mlp", graph.DefaultOpset)
	x := b.Flatten("flatten", b.Input("input", graph.Shape{{Param: "batch"}, {Size: 1}, {Size: 4}, {Size: 4}}), 1)
	b.Output(b.Gemm("fc", x, b.Param("fc.weight", []int64{2, 16}, make([]float32, 32)), ""), "logits")
	mlp, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	bad, none := filepath.Join(dir, "mlp.onnx"), filepath.Join(dir, "none.onnx")
	if err := mlp.Save(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := tweaks.RewriteFile(bad, none, []tweaks.Pass{tweaks.D}, tweaks.Options{}); err == nil || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("an MLP: %v, want an error naming %s", err, bad)
	}
	if _, err := os.Stat(none); err == nil {
		t.Errorf("%s was written", none)
	}
}
