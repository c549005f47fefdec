package tweaks_test

// Tests on ResNet graphs this project did not write: torchvision's resnet18,
// resnet50 and resnet101 exported by PyTorch's own ONNX exporter, with
// BatchNorm folded into the convs and with BatchNorm kept as nodes. The
// fixtures come from testdata/export_torchvision.py run with Debian's
// python3-torch 1.13 / torchvision 0.14 (random weights, opset 17, dynamic
// batch, traced at 1×3×224×224) into a temporary folder, once per run of
// TestTorchvisionResNets (about 10 s).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// tvModels are the torchvision exports tested, in both forms. resnet101
// is the slowest: about 180 MB per form, some 8 s per form under -race on
// 2 cores (decoding, Apply, checker, two ONNX Runtime runs); the whole test
// takes about 40 s there, so it keeps resnet101 in both forms.
var tvModels = []string{"resnet18", "resnet50", "resnet101"}

var tvForms = []string{"folded", "bn"}

const (
	tvSeed  = 1 // torch.manual_seed for the export's weights
	tvBatch = 2 // the batch of the reference input and logits
	tvSize  = 224
	tvClass = 1000
)

// tvFixtures exports the models into a temporary folder, removed when the
// calling test ends, and returns it. It skips the test in -short mode and
// when Debian's python cannot import torch, torchvision and onnx or ONNX
// Runtime is missing (failing it under CI). Only TestTorchvisionResNets
// calls it, once per run: the export (about 10 s, 650 MB) is shared by its
// subtests. There is no sync.Once across runs, because with -count=N each
// run's temporary folder is gone when the next starts.
func tvFixtures(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: exports three torchvision ResNets (about 650 MB) and runs them")
	}
	python := testenv.RequirePython(t, "torch", "torchvision", "onnx")
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	dir := t.TempDir()
	start := time.Now()
	out, err := exec.Command(python, filepath.Join("testdata", "export_torchvision.py"), dir,
		"--seed", fmt.Sprint(tvSeed), "--models", strings.Join(tvModels, ","), "--forms", strings.Join(tvForms, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("testdata/export_torchvision.py: %v\n%s", err, out)
	}
	t.Logf("exported %v in %v", tvModels, time.Since(start).Round(time.Millisecond))
	return dir
}

// tvReadF32 reads a raw little-endian float32 file.
func tvReadF32(t *testing.T, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)%4 != 0 {
		t.Fatalf("%s: %d bytes is not a whole number of float32s", path, len(raw))
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// tvInput is the export's reference input, batch 2 × 3 × 224 × 224.
func tvInput(t *testing.T, dir, model string) ort.Tensor {
	t.Helper()
	x := tvReadF32(t, filepath.Join(dir, model+".input.f32"))
	shape := []int64{tvBatch, 3, tvSize, tvSize}
	if int64(len(x)) != graph.NumElements(shape) {
		t.Fatalf("%s input: %d values, want %v", model, len(x), shape)
	}
	return ort.Tensor{Shape: shape, Data: x}
}

// tvRun runs the model file at path in ONNX Runtime on the CPU.
func tvRun(t *testing.T, path string, x ort.Tensor) ort.Tensor {
	t.Helper()
	s, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	y, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(y) != 1 {
		t.Fatalf("%s: %d outputs, want 1", path, len(y))
	}
	return y[0]
}

// tvRelErr is max |got − want| / max |want|.
func tvRelErr(got, want []float32) float64 {
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

func tvCountOps(m *graph.Model, op string) int {
	n := 0
	for _, node := range m.GetGraph().GetNode() {
		if node.GetOpType() == op {
			n++
		}
	}
	return n
}

// tvKernel reads a conv's kernel size from its weight initializer (the
// exports also write kernel_shape; the weight is the ground truth).
func tvKernel(t *testing.T, m *graph.Model, conv *onnx.NodeProto) []int64 {
	t.Helper()
	w := m.Initializer(conv.GetInput()[1])
	if w == nil || len(w.GetDims()) != 4 {
		t.Fatalf("conv %q: weight %q is not a 4-D initializer", conv.GetName(), conv.GetInput()[1])
	}
	k := w.GetDims()[2:]
	if ks := graph.IntsAttr(conv, "kernel_shape", nil); ks != nil && !slices.Equal(ks, k) {
		t.Fatalf("conv %q: kernel_shape %v but weight dims %v", conv.GetName(), ks, w.GetDims())
	}
	return k
}

// tvStem returns the nodes from the graph input to the (single) MaxPool,
// found by walking back from the MaxPool through first inputs, in graph
// order; the MaxPool itself is left out.
func tvStem(t *testing.T, m *graph.Model) []*onnx.NodeProto {
	t.Helper()
	g := m.GetGraph()
	ix := graph.NewIndex(g)
	var pool *onnx.NodeProto
	for _, n := range g.GetNode() {
		if n.GetOpType() == "MaxPool" {
			if pool != nil {
				t.Fatalf("more than one MaxPool: %q and %q", pool.GetName(), n.GetName())
			}
			pool = n
		}
	}
	if pool == nil {
		t.Fatal("no MaxPool")
	}
	var stem []*onnx.NodeProto
	for v := pool.GetInput()[0]; ix.Producer[v] != nil; {
		p := ix.Producer[v]
		stem = append([]*onnx.NodeProto{p}, stem...)
		v = p.GetInput()[0]
		if len(stem) > 20 {
			t.Fatal("stem longer than 20 nodes: a cycle?")
		}
	}
	if first := stem[0].GetInput()[0]; first != g.GetInput()[0].GetName() {
		t.Fatalf("stem starts at %q, not at the graph input %q", first, g.GetInput()[0].GetName())
	}
	return stem
}

func tvConvs(nodes []*onnx.NodeProto) []*onnx.NodeProto {
	var convs []*onnx.NodeProto
	for _, n := range nodes {
		if n.GetOpType() == "Conv" {
			convs = append(convs, n)
		}
	}
	return convs
}

func tvOps(nodes []*onnx.NodeProto) string {
	ops := make([]string, len(nodes))
	for i, n := range nodes {
		ops[i] = n.GetOpType()
	}
	return strings.Join(ops, " → ")
}

// tvCheckModel runs python3-onnx's full checker on a saved model.
func tvCheckModel(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command(testenv.Python, "-c",
		"import sys, onnx\nonnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Errorf("onnx.checker on %s: %v\n%s", filepath.Base(path), err, out)
	}
}

// tvStemDelta is the parameter count pass C adds to a torchvision ResNet's
// stem (64 channels, RGB input), by hand:
//
//	new 3×3 convs 3→32 stride 2, 32→32, 32→64:
//	  3·32·9 + 32·32·9 + 32·64·9 = 864 + 9,216 + 18,432 = 28,512
//	minus the old 7×7 weight 64·3·49 = 9,408                → +19,104
//	BN form: two new BatchNorms of 32 channels, γ and β
//	  counted (running mean and variance are buffers): 2·2·32 = 128
//	  → +19,232
//	folded form: the first two new convs get zero biases, 32 + 32 = 64;
//	  the last inherits the old conv's 64-element bias, already counted
//	  → +19,168
var tvStemDelta = map[string]int64{"bn": 19_232, "folded": 19_168}

func TestTorchvisionResNets(t *testing.T) {
	dir := tvFixtures(t)
	variantD, err := tweaks.ForVariant("D")
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range tvModels {
		x := tvInput(t, dir, model)
		want := tvReadF32(t, filepath.Join(dir, model+".logits.f32"))
		for _, form := range tvForms {
			t.Run(model+"-"+form, func(t *testing.T) {
				start := time.Now()
				path := filepath.Join(dir, model+"-"+form+".onnx")
				tvCheckExport(t, path, x, want)
				a, err := graph.Load(path)
				if err != nil {
					t.Fatal(err)
				}
				out, reports, err := tweaks.Apply(a, variantD, tweaks.Options{Seed: 1})
				if err != nil {
					t.Fatalf("Apply(%v): %v", variantD, err)
				}
				tvCheckReports(t, reports)
				tvCheckStructure(t, a, out, form)
				tvCheckWeights(t, a, out)

				if err := graph.Validate(out); err != nil {
					t.Errorf("Validate: %v", err)
				}
				tweaked := filepath.Join(t.TempDir(), model+"-"+form+"-D.onnx")
				if err := out.Save(tweaked); err != nil {
					t.Fatal(err)
				}
				tvCheckModel(t, tweaked)
				if y := tvRun(t, tweaked, x); !slices.Equal(y.Shape, []int64{tvBatch, tvClass}) {
					t.Errorf("tweaked model: output shape %v, want [%d %d]", y.Shape, tvBatch, tvClass)
				}

				again, reports, err := tweaks.Apply(out, variantD, tweaks.Options{Seed: 1})
				if err != nil {
					t.Fatalf("Apply(%v) again: %v", variantD, err)
				}
				for _, r := range reports {
					if len(r.Changes) != 0 || r.Note == "" {
						t.Errorf("Apply(%v) again: pass %s made %d changes (note %q): %+v", variantD, r.Pass, len(r.Changes), r.Note, r.Changes)
					}
				}
				if !graph.Equal(out, again) {
					t.Errorf("Apply(%v) again changed the model", variantD)
				}
				t.Logf("%v", time.Since(start).Round(time.Millisecond))
			})
		}
	}

	// D alone on a folded export: the shortcuts get their pools, the stem
	// stays the 7×7 conv, and since a 2×2 stride-2 pool then a stride-1 1×1
	// conv gives the strided conv's output size, the logits keep their shape.
	t.Run("resnet50-folded-D-only", func(t *testing.T) {
		passes, err := tweaks.ParsePasses("d")
		if err != nil {
			t.Fatal(err)
		}
		a, err := graph.Load(filepath.Join(dir, "resnet50-folded.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		out, reports, err := tweaks.Apply(a, passes, tweaks.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(reports) != 1 || reports[0].Pass != tweaks.D || len(reports[0].Changes) != 3 {
			t.Errorf("reports: %+v, want one for pass D with 3 changes", reports)
		}
		if n := tvCountOps(out, "AveragePool"); n != 3 {
			t.Errorf("%d AveragePool nodes, want 3", n)
		}
		stem := tvStem(t, out)
		if convs := tvConvs(stem); len(convs) != 1 || !slices.Equal(tvKernel(t, out, convs[0]), []int64{7, 7}) {
			t.Errorf("stem %s: want the untouched 7×7 conv", tvOps(stem))
		}
		if !graph.Equal(tvStemOnly(t, a), tvStemOnly(t, out)) {
			t.Error("pass D changed the stem")
		}
		tvCheckWeights(t, a, out)
		path := filepath.Join(t.TempDir(), "resnet50-folded-d.onnx")
		if err := out.Save(path); err != nil {
			t.Fatal(err)
		}
		if y := tvRun(t, path, tvInput(t, dir, "resnet50")); !slices.Equal(y.Shape, []int64{tvBatch, tvClass}) {
			t.Errorf("output shape %v, want [%d %d]", y.Shape, tvBatch, tvClass)
		}
	})
}

// tvStemOnly is a model holding only the stem's nodes and their
// initializers, for comparing two models' stems.
func tvStemOnly(t *testing.T, m *graph.Model) *graph.Model {
	t.Helper()
	g := &onnx.GraphProto{Node: tvStem(t, m)}
	for _, n := range g.Node {
		for _, in := range n.GetInput() {
			if w := m.Initializer(in); w != nil {
				g.Initializer = append(g.Initializer, w)
			}
		}
	}
	return &graph.Model{ModelProto: &onnx.ModelProto{Graph: g}}
}

// tvCheckExport: the untweaked export runs in ONNX Runtime and gives
// PyTorch's logits (a sanity check of the fixture, not of the passes).
func tvCheckExport(t *testing.T, path string, x ort.Tensor, want []float32) {
	t.Helper()
	y := tvRun(t, path, x)
	if !slices.Equal(y.Shape, []int64{tvBatch, tvClass}) || len(want) != len(y.Data) {
		t.Fatalf("export: output shape %v (reference has %d values), want [%d %d]", y.Shape, len(want), tvBatch, tvClass)
	}
	rel := tvRelErr(y.Data, want)
	if rel > 1e-4 || math.IsNaN(rel) {
		t.Errorf("export: ONNX Runtime's logits differ from PyTorch's by %.3g relative (max |Δ| / max |logit|), want ≤ 1e-4", rel)
	}
	t.Logf("export vs PyTorch: %.2g relative", rel)
}

// tvCheckReports: torchvision's ResNets are ResNet-B already (bottlenecks
// carry the stride on the 3×3 conv; basic blocks trivially), so B changes
// nothing and says why; C replaces the stem; D pools the three strided
// projection shortcuts (layer2.0, layer3.0, layer4.0) of every depth.
func tvCheckReports(t *testing.T, reports []tweaks.Report) {
	t.Helper()
	want := map[tweaks.Pass]int{tweaks.B: 0, tweaks.C: 1, tweaks.D: 3}
	if len(reports) != 3 {
		t.Fatalf("%d reports, want 3 (B, C, D): %+v", len(reports), reports)
	}
	for i, r := range reports {
		if p := []tweaks.Pass{tweaks.B, tweaks.C, tweaks.D}[i]; r.Pass != p {
			t.Errorf("report %d is for pass %s, want %s", i, r.Pass, p)
		}
		if len(r.Changes) != want[r.Pass] {
			t.Errorf("pass %s made %d changes, want %d: %+v", r.Pass, len(r.Changes), want[r.Pass], r.Changes)
		}
		if len(r.Changes) == 0 && r.Note == "" {
			t.Errorf("pass %s changed nothing and has no note", r.Pass)
		}
		for _, c := range r.Changes {
			switch {
			case r.Pass == tweaks.C && c.Block != "stem":
				t.Errorf("pass C changed block %q, want the stem", c.Block)
			case r.Pass == tweaks.D && !slices.Contains([]string{"layer2.0", "layer3.0", "layer4.0"}, c.Block):
				t.Errorf("pass D changed block %q, want layer2.0, layer3.0 and layer4.0", c.Block)
			}
		}
	}
}

// tvCheckStructure checks the tweaked graph's pools, stem and parameter
// count against the export it came from.
func tvCheckStructure(t *testing.T, a, out *graph.Model, form string) {
	t.Helper()
	if n := tvCountOps(out, "AveragePool"); n != 3 {
		t.Errorf("%d AveragePool nodes, want 3", n)
	}
	stem := tvStem(t, out)
	convs := tvConvs(stem)
	if len(convs) != 3 {
		t.Fatalf("stem %s: %d convs, want 3", tvOps(stem), len(convs))
	}
	ix := graph.NewIndex(out.GetGraph())
	for i, c := range convs {
		if k := tvKernel(t, out, c); !slices.Equal(k, []int64{3, 3}) {
			t.Errorf("stem conv %d %q: kernel %v, want 3×3", i, c.GetName(), k)
		}
		wantStride := []int64{1, 1}
		if i == 0 {
			wantStride = []int64{2, 2}
		}
		if stride := graph.IntsAttr(c, "strides", []int64{1, 1}); !slices.Equal(stride, wantStride) {
			t.Errorf("stem conv %d %q: strides %v, want %v", i, c.GetName(), stride, wantStride)
		}
		next := ix.SoleConsumer(c.GetOutput()[0])
		isBN := next != nil && next.GetOpType() == "BatchNormalization"
		if form == "bn" && !isBN || form == "folded" && isBN {
			t.Errorf("%s form: stem conv %d %q is followed by %v", form, i, c.GetName(), next)
		}
	}
	if form == "folded" {
		if n := tvCountOps(out, "BatchNormalization"); n != 0 {
			t.Errorf("folded form: %d BatchNormalization nodes after the tweaks", n)
		}
	}
	for _, n := range out.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" && slices.Equal(tvKernel(t, out, n), []int64{7, 7}) {
			t.Errorf("a 7×7 conv %q is left", n.GetName())
		}
	}

	before, err := graph.Count(a)
	if err != nil {
		t.Fatal(err)
	}
	after, err := graph.Count(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Params - before.Params; d != tvStemDelta[form] {
		t.Errorf("parameters %d → %d (%+d), want %+d for pass C's stem", before.Params, after.Params, d, tvStemDelta[form])
	}
	t.Logf("parameters %d → %d (%+d), MACs %d → %d", before.Params, after.Params, after.Params-before.Params, before.MACs, after.MACs)
}

// tvCheckWeights: every initializer of the export except the 7×7 stem
// weight is still there with the same dims and byte-identical data (B and D
// change no weight; C removes only the stem weight, and only when it
// replaced the 7×7 conv).
func tvCheckWeights(t *testing.T, a, out *graph.Model) {
	t.Helper()
	stemWeight := tvConvs(tvStem(t, a))[0].GetInput()[1]
	cApplied := len(tvConvs(tvStem(t, out))) == 3
	after := graph.NewIndex(out.GetGraph()).Initializers
	for _, w := range a.GetGraph().GetInitializer() {
		kept := after[w.GetName()]
		switch {
		case w.GetName() == stemWeight && cApplied:
			if kept != nil {
				t.Errorf("the 7×7 stem weight %q is still there", w.GetName())
			}
		case kept == nil:
			t.Errorf("initializer %q %v removed", w.GetName(), w.GetDims())
		case !slices.Equal(kept.GetDims(), w.GetDims()) || kept.GetDataType() != w.GetDataType() ||
			!bytes.Equal(kept.GetRawData(), w.GetRawData()) || !slices.Equal(kept.GetFloatData(), w.GetFloatData()):
			t.Errorf("initializer %q changed", w.GetName())
		}
	}
}
