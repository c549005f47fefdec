package graph

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// smallNet builds conv → BN → relu → max pool → residual add → global
// pool → flatten → gemm, enough to exercise every builder helper.
func smallNet(t testing.TB) *Model {
	t.Helper()
	b := NewBuilder("small", DefaultOpset)
	x := b.Input("input", Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	w := b.Param("conv.weight", []int64{4, 3, 3, 3}, make([]float32, 4*3*3*3))
	ones := []float32{1, 1, 1, 1}
	y := b.Conv("conv", x, w, "", ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	y = b.BatchNorm("bn", y, b.Param("bn.weight", []int64{4}, ones), b.Param("bn.bias", []int64{4}, make([]float32, 4)),
		b.Param("bn.running_mean", []int64{4}, make([]float32, 4)), b.Param("bn.running_var", []int64{4}, ones), 1e-5, 0.9)
	y = b.Relu("relu", y)
	p := b.MaxPool("pool", y, PoolAttrs{Kernel: [2]int64{2, 2}, Stride: [2]int64{2, 2}})
	a := b.AveragePool("avg", y, PoolAttrs{Kernel: [2]int64{2, 2}, Stride: [2]int64{2, 2}})
	y = b.Add("add", p, a)
	y = b.Flatten("flatten", b.GlobalAveragePool("gap", y), 1)
	y = b.Gemm("fc", y, b.Param("fc.weight", []int64{5, 4}, make([]float32, 20)), b.Param("fc.bias", []int64{5}, make([]float32, 5)))
	b.Output(y, "logits")
	m, err := b.Finish("test", "0")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBuilderShapesAndCounts(t *testing.T) {
	m := smallNet(t)
	shapes, err := InferShapes(m)
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{
		"conv": "batch×4×8×8", "pool": "batch×4×4×4", "add": "batch×4×4×4",
		"gap": "batch×4×1×1", "flatten": "batch×4", "logits": "batch×5",
	} {
		if got := shapes[value].String(); got != want {
			t.Errorf("shape of %s = %s, want %s", value, got, want)
		}
	}
	out, _, _ := ShapeOf(m.GetGraph().GetOutput()[0])
	if out.String() != "batch×5" {
		t.Errorf("declared output shape %s, want batch×5", out)
	}
	c, err := Count(m)
	if err != nil {
		t.Fatal(err)
	}
	// Hand count: conv 4·3·3·3 = 108 weights, BN γ and β 8, fc 5·4 + 5 = 25.
	// MACs: conv 8·8 outputs × 4 channels × 27 = 6912, fc 5 × 4 = 20.
	if c.Params != 141 || c.MACs != 6932 {
		t.Errorf("Count = %+v, want 141 params and 6932 MACs", c)
	}
}

// TestOpCounts: smallNet holds one node of each operator it is built from.
func TestOpCounts(t *testing.T) {
	want := map[string]int{"Conv": 1, "BatchNormalization": 1, "Relu": 1, "MaxPool": 1, "AveragePool": 1,
		"Add": 1, "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
	if got := OpCounts(smallNet(t).GetGraph()); !maps.Equal(got, want) {
		t.Errorf("OpCounts = %v, want %v", got, want)
	}
	if got := OpCounts(&onnx.GraphProto{}); got == nil || len(got) != 0 {
		t.Errorf("OpCounts of an empty graph = %#v, want an empty map", got)
	}
}

func TestBuilderRejectsDuplicateNames(t *testing.T) {
	b := NewBuilder("dup", DefaultOpset)
	x := b.Input("input", Static(1, 2))
	b.Relu("r", x)
	b.Output(b.Relu("r", x), "out")
	if _, err := b.Finish("test", ""); err == nil || !strings.Contains(err.Error(), `"r"`) {
		t.Errorf("Finish error %v, want one naming the duplicate \"r\"", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := smallNet(t)
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(m, loaded) {
		t.Error("loaded model differs from the saved one")
	}
	if err := loaded.Save(path); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) {
		t.Error("saving a loaded model changed its bytes")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after saving, want only the model", len(entries))
	}
}

// TestSaveOrMatch saves a model, accepts the same model again, and refuses
// a different one without touching the file.
func TestSaveOrMatch(t *testing.T) {
	m := smallNet(t)
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.SaveOrMatch(path); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if err := smallNet(t).SaveOrMatch(path); err != nil {
		t.Errorf("the same model again: %v", err)
	}
	other := smallNet(t)
	other.SetInitializer(FloatTensor("fc.bias", []int64{5}, []float32{1, 2, 3, 4, 5}))
	if err := other.SaveOrMatch(path); !errors.Is(err, ErrModelDiffers) {
		t.Errorf("a different model: %v, want ErrModelDiffers", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(first, after) {
		t.Error("the refused model changed the file")
	}
}

func TestSaveIntoMissingFolderLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	err := smallNet(t).Save(filepath.Join(dir, "no", "such", "m.onnx"))
	if err == nil || !strings.Contains(err.Error(), "m.onnx") {
		t.Errorf("error %v, want one naming m.onnx", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left %d entries behind", len(entries))
	}
}

func TestLoadRejectsNonModels(t *testing.T) {
	good, err := smallNet(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"truncated", good[:len(good)/2], "not an ONNX model"},
		{"text", []byte("hello, this is not a model\n"), "not an ONNX model"},
		{"png header", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "not an ONNX model"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".onnx")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load error %v, want one naming %s and containing %q", err, path, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "absent.onnx")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestTensorRoundTrip(t *testing.T) {
	data := []float32{0, -1.5, 3.25, 1e-8, 65504, -0}
	raw := FloatTensor("w", []int64{2, 3}, data)
	listed := &onnx.TensorProto{Name: "w", Dims: []int64{2, 3}, DataType: Float, FloatData: data}
	for _, tp := range []*onnx.TensorProto{raw, listed} {
		got, err := Floats(tp)
		if err != nil {
			t.Fatal(err)
		}
		for i := range data {
			if got[i] != data[i] {
				t.Fatalf("value %d = %g, want %g", i, got[i], data[i])
			}
		}
	}
	ints, err := Int64s(Int64Tensor("s", []int64{3}, []int64{-1, 0, 1 << 40}))
	if err != nil || ints[0] != -1 || ints[2] != 1<<40 {
		t.Errorf("Int64s = %v, %v", ints, err)
	}
	short := FloatTensor("w", []int64{2, 3}, data)
	short.RawData = short.RawData[:8]
	if _, err := Floats(short); err == nil || !strings.Contains(err.Error(), "expected 24 bytes") {
		t.Errorf("short raw data error %v", err)
	}
	if _, err := Floats(Int64Tensor("s", []int64{1}, []int64{1})); err == nil || !strings.Contains(err.Error(), "FLOAT") {
		t.Errorf("type mismatch error %v", err)
	}
}

func TestTopoSort(t *testing.T) {
	m := smallNet(t)
	want := nodeNames(m.GetGraph())
	if err := TopoSort(m.GetGraph()); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(m.GetGraph()); got != want {
		t.Errorf("sorting a sorted graph changed it:\n%s\n%s", got, want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		g := m.Clone().GetGraph()
		rng.Shuffle(len(g.Node), func(i, j int) { g.Node[i], g.Node[j] = g.Node[j], g.Node[i] })
		if err := TopoSort(g); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{"input": true}
		for _, init := range g.Initializer {
			seen[init.Name] = true
		}
		for _, n := range g.Node {
			for _, in := range n.Input {
				if !seen[in] {
					t.Fatalf("trial %d: node %s uses %s before it is produced", trial, n.Name, in)
				}
			}
			seen[n.Output[0]] = true
		}
	}
	g := m.Clone().GetGraph()
	g.Node[0].Input[0] = "logits" // conv now depends on the graph's last output
	if err := TopoSort(g); err == nil || !strings.Contains(err.Error(), "cycle") || !strings.Contains(err.Error(), `"conv"`) {
		t.Errorf("cycle error %v, want one naming conv", err)
	}
}

func nodeNames(g *onnx.GraphProto) string {
	var names []string
	for _, n := range g.Node {
		names = append(names, n.Name)
	}
	return strings.Join(names, ",")
}

func TestIndex(t *testing.T) {
	m := smallNet(t)
	ix := NewIndex(m.GetGraph())
	if p := ix.Producer["relu"]; p == nil || p.GetOpType() != "Relu" {
		t.Errorf("producer of relu = %v", p)
	}
	if n := len(ix.Consumers["relu"]); n != 2 {
		t.Errorf("relu has %d consumers, want 2 (max and average pool)", n)
	}
	if ix.SoleConsumer("relu") != nil || ix.SoleConsumer("conv").GetName() != "bn" || ix.SoleConsumer("logits") != nil {
		t.Error("SoleConsumer wrong")
	}
	if ix.Initializers["fc.weight"] == nil || !ix.Outputs["logits"] {
		t.Error("initializer or output missing from index")
	}
}

func TestInferShapesToleratesUnknownAndMalformedNodes(t *testing.T) {
	m := smallNet(t)
	g := m.GetGraph()
	g.Node = append([]*onnx.NodeProto{{Name: "const", OpType: "Constant", Output: []string{"c"}}}, g.Node...)
	if _, err := InferShapes(m); err != nil {
		t.Errorf("a Constant node without inputs: %v", err)
	}
	g.Node = append(g.Node, &onnx.NodeProto{Name: "lonely", OpType: "Tanh", Output: []string{"t"}})
	if _, err := InferShapes(m); err == nil || !strings.Contains(err.Error(), `"lonely"`) {
		t.Errorf("Tanh without input: error %v, want one naming lonely", err)
	}
	g.Node = g.Node[:len(g.Node)-1]
	SetAttr(g.Node[1], AttrInts("kernel_shape", 3))
	if _, err := InferShapes(m); err == nil || !strings.Contains(err.Error(), "kernel_shape [3]") {
		t.Errorf("short kernel_shape: error %v", err)
	}
}
