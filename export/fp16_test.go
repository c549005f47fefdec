package export_test

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
)

// everyFP16Op is a classifier using every operator the float16 conversion
// takes (Softmax comes with the export's --softmax), with an int64 shape
// for Reshape, which must stay int64, and a Cast to float, which must
// become a Cast to float16.
func everyFP16Op(t *testing.T) *graph.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	b := graph.NewBuilder("ops", graph.DefaultOpset)
	param := func(name string, lo, hi float64, dims ...int64) string {
		v := make([]float32, graph.NumElements(dims))
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return b.Param(name, dims, v)
	}
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	y := b.Conv("conv", x, param("conv.weight", -0.5, 0.5, 4, 3, 3, 3), param("conv.bias", -0.1, 0.1, 4), graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	y = b.BatchNorm("bn", y, param("bn.weight", 0.5, 1.5, 4), param("bn.bias", -0.2, 0.2, 4), param("bn.mean", -0.2, 0.2, 4), param("bn.var", 0.5, 2, 4), 1e-5, 0.9)
	r := b.Relu("relu", y)
	y = b.MaxPool("maxpool", r, graph.PoolAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	y = b.AveragePool("avgpool", y, graph.PoolAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	y = b.Add("add", b.Node("Identity", "identity", []string{b.Node("Sigmoid", "sigmoid", []string{y})}), r)
	y = b.Node("Concat", "concat", []string{y, r}, graph.AttrInt("axis", 1))
	y = b.Node("Mul", "mul", []string{y, param("scale", 0.5, 2, 1)})
	y = b.Node("Sub", "sub", []string{y, param("shift", -1, 1, 8, 1, 1)})
	y = b.Node("Div", "div", []string{y, param("divisor", 1, 2, 1)})
	y = b.Node("Cast", "cast", []string{y}, graph.AttrInt("to", int64(graph.Float)))
	y = b.Flatten("flatten", b.GlobalAveragePool("pool", y), 1)
	b.Output(b.Gemm("fc", y, param("fc.weight", -1, 1, 5, 8), param("fc.bias", -1, 1, 5)), "logits")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	// The builder validates as it finishes; the int64 shape comes after.
	// Shape inference stops at Concat, so the logits are declared as an
	// exporter that knows them would.
	g := m.GetGraph()
	g.Output[0] = graph.ValueInfo("logits", graph.Float, graph.Shape{{Param: "batch"}, {Size: 5}})
	fc := graph.NewIndex(g).Producer["logits"]
	graph.ReplaceInput(fc, "flatten", "reshape")
	graph.InsertBefore(g, fc, &onnx.NodeProto{Name: "reshape", OpType: "Reshape", Input: []string{"flatten", "shape"}, Output: []string{"reshape"}})
	g.Initializer = append(g.Initializer, graph.Int64Tensor("shape", []int64{2}, []int64{0, -1}))
	return m
}

// TestFP16EveryOp: a model with each converted operator exports to float16
// (with float32 and with float16 input and outputs), runs in ONNX Runtime,
// meets the float16 bound and passes the checker, its outputs declared
// from the source where shape inference cannot follow; the int64 shape
// stays int64.
func TestFP16EveryOp(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	var paths []string
	for _, io := range []bool{false, true} {
		path := filepath.Join(dir, map[bool]string{false: "fp16.onnx", true: "fp16-io.onnx"}[io])
		res, err := export.File(everyFP16Op(t), path, export.Options{FP16: true, FP16IO: io, Softmax: true})
		if err != nil {
			t.Fatalf("fp16-io %v: %v", io, err)
		}
		if res.Outputs[0].Shape != "batch×5" || res.Outputs[1].Shape != "batch×5" {
			t.Errorf("outputs declared %+v, want batch×5 from the source's declaration", res.Outputs)
		}
		for _, p := range res.Verified.Outputs {
			t.Logf("fp16-io %v: %s max |diff| %.3g (bound %.3g)", io, p.Output, p.MaxAbsDiff, p.Bound)
		}
		m, err := graph.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]int32{}
		for _, init := range m.GetGraph().GetInitializer() {
			types[init.GetName()] = init.GetDataType()
		}
		if types["shape"] != graph.Int64 || types["fc.weight"] != graph.Float16 || types["bn.var"] != graph.Float16 {
			t.Errorf("initializer types %v", types)
		}
		for _, n := range m.GetGraph().GetNode() {
			if n.GetName() == "cast" && graph.IntAttr(n, "to", 0) != int64(graph.Float16) {
				t.Errorf("the model's own Cast now casts to %d, want float16", graph.IntAttr(n, "to", 0))
			}
		}
		paths = append(paths, path)
	}
	checkONNX(t, paths...)
}

func TestFP16RefusesWhatFloat16CannotHold(t *testing.T) {
	m := everyFP16Op(t)
	w, dims, _ := m.InitializerFloats("fc.weight")
	w[3] = 70000
	m.SetInitializer(graph.FloatTensor("fc.weight", dims, w))
	err := export.ToFloat16(m)
	if err == nil || !strings.Contains(err.Error(), `fp16: initializer "fc.weight" holds 70000, beyond float16's largest value 65504`) {
		t.Errorf("error %v", err)
	}
	if m.Initializer("conv.weight").GetDataType() != int32(onnx.TensorProto_FLOAT) {
		t.Error("a refused conversion changed the model")
	}
}
