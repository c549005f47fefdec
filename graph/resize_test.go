package graph

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestInferResizeMatchesConformanceModels checks Resize shape inference
// against the output shapes declared in ONNX's conformance models. Those
// models feed scales or sizes as graph inputs; the test turns the recorded
// input values into initializers, the form a constant takes in a real model.
func TestInferResizeMatchesConformanceModels(t *testing.T) {
	testenv.RequireFile(t, conformanceDir, "Debian's libonnx-testdata")
	paths, err := filepath.Glob(filepath.Join(conformanceDir, "test_resize_*", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 20 {
		t.Fatalf("found only %d Resize conformance models", len(paths))
	}
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			g := m.GetGraph()
			var inputs []*onnx.ValueInfoProto
			for i, in := range g.GetInput() {
				if in.GetName() == "X" {
					inputs = append(inputs, in)
					continue
				}
				v, err := LoadTensor(filepath.Join(filepath.Dir(path), "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
				if err != nil {
					t.Fatal(err)
				}
				v.Name = in.GetName()
				g.Initializer = append(g.Initializer, v)
			}
			g.Input = inputs
			shapes, err := InferShapes(m)
			if err != nil {
				t.Fatal(err)
			}
			want, _, _ := ShapeOf(g.GetOutput()[0])
			got, ok := shapes[g.GetOutput()[0].GetName()]
			if !ok {
				t.Fatalf("no shape inferred; model declares [%v]", want)
			}
			if got.String() != want.String() {
				t.Errorf("inferred [%v], model declares [%v]", got, want)
			}
		})
	}
}

// resizeModel builds x [batch,3,4,6] → Resize with the given scales or
// sizes (nil for none) and attributes, at the given opset.
func resizeModel(opset int64, scales []float32, sizes []int64, attrs ...*onnx.AttributeProto) *Model {
	g := &onnx.GraphProto{
		Input:  []*onnx.ValueInfoProto{ValueInfo("x", Float, Shape{{Param: "batch"}, {Size: 3}, {Size: 4}, {Size: 6}})},
		Output: []*onnx.ValueInfoProto{{Name: "y"}},
	}
	in := []string{"x", ""}
	if scales != nil {
		g.Initializer = append(g.Initializer, FloatTensor("scales", []int64{int64(len(scales))}, scales))
		in = append(in, "scales")
	}
	if sizes != nil {
		if scales == nil {
			in = append(in, "")
		}
		g.Initializer = append(g.Initializer, Int64Tensor("sizes", []int64{int64(len(sizes))}, sizes))
		in = append(in, "sizes")
	}
	g.Node = []*onnx.NodeProto{{Name: "resize", OpType: "Resize", Input: in, Output: []string{"y"}, Attribute: attrs}}
	return &Model{&onnx.ModelProto{IrVersion: IRVersion, OpsetImport: []*onnx.OperatorSetIdProto{{Version: opset}}, Graph: g}}
}

func TestInferResize(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Model
		want string // "" for no shape
	}{
		{"scales", resizeModel(13, []float32{1, 1, 2, 2}, nil), "batch×3×8×12"},
		{"scales floor", resizeModel(13, []float32{1, 1, 0.6, 0.6}, nil), "batch×3×2×3"},
		{"sizes", resizeModel(13, nil, []int64{2, 3, 16, 16}), "2×3×16×16"},
		{"sizes on axes", resizeModel(18, nil, []int64{16, 16}, AttrInts("axes", 2, -1)), "batch×3×16×16"},
		{"scales on axes", resizeModel(18, []float32{0.5, 3}, nil, AttrInts("axes", -2, 3)), "batch×3×2×18"},
		{"not_larger", resizeModel(18, nil, []int64{8, 8}, AttrInts("axes", 2, 3), AttrString("keep_aspect_ratio_policy", "not_larger")), "batch×3×5×8"},
		{"not_smaller", resizeModel(18, nil, []int64{8, 8}, AttrInts("axes", 2, 3), AttrString("keep_aspect_ratio_policy", "not_smaller")), "batch×3×8×12"},
		{"scales with tf_crop_and_resize", resizeModel(13, []float32{1, 1, 2, 2}, nil, AttrString("coordinate_transformation_mode", "tf_crop_and_resize")), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shapes, err := InferShapes(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := shapes["y"]; tc.want == "" && ok {
				t.Errorf("inferred [%v], want no shape", got)
			} else if tc.want != "" && got.String() != tc.want {
				t.Errorf("inferred [%v], want %s", got, tc.want)
			}
			if err := Validate(tc.m); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestInferResizeFromConstantNode(t *testing.T) {
	m := resizeModel(13, nil, nil)
	g := m.GetGraph()
	g.Node = append([]*onnx.NodeProto{{Name: "k", OpType: "Constant", Output: []string{"k"},
		Attribute: []*onnx.AttributeProto{{Name: "value", Type: onnx.AttributeProto_TENSOR, T: FloatTensor("", []int64{4}, []float32{1, 1, 4, 4})}}}}, g.Node...)
	g.Node[1].Input = append(g.Node[1].Input, "k")
	shapes, err := InferShapes(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapes["y"].String(); got != "batch×3×16×24" {
		t.Errorf("inferred [%s], want batch×3×16×24", got)
	}
}

func TestInferResizeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Model
		want []string
	}{
		{"both", resizeModel(13, []float32{1, 1, 2, 2}, []int64{1, 3, 8, 8}), []string{`"resize" (Resize)`, "scales or sizes, found both"}},
		{"neither", resizeModel(13, nil, nil), []string{`"resize" (Resize)`, "found neither"}},
		{"scales count", resizeModel(13, []float32{2, 2}, nil), []string{"scales: expected 4 values", "found 2"}},
		{"sizes count", resizeModel(18, nil, []int64{8, 8, 8}, AttrInts("axes", 2, 3)), []string{"sizes: expected 2 values", "found 3"}},
		{"zero scale", resizeModel(13, []float32{1, 1, 0, 2}, nil), []string{"scales: expected positive values"}},
		{"negative size", resizeModel(13, nil, []int64{1, 3, -8, 8}), []string{"sizes: expected positive values"}},
		{"axis out of range", resizeModel(18, []float32{2}, nil, AttrInts("axes", 4)), []string{"axes [4] out of range", "rank 4"}},
		{"axis twice", resizeModel(18, []float32{2, 2}, nil, AttrInts("axes", 3, -1)), []string{"axes [3 -1] name an axis twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := InferShapes(tc.m)
			if err == nil || !containsAll(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestBuilderResize(t *testing.T) {
	b := NewBuilder("up", DefaultOpset)
	x := b.Input("x", Shape{{Param: "batch"}, {Size: 11}, {Size: 8}, {Size: 8}})
	b.Output(b.Resize("up", x, []float32{1, 1, 8, 8}, "linear", "half_pixel"), "logits")
	m, err := b.Finish("test", "0")
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := ShapeOf(m.GetGraph().GetOutput()[0])
	if out.String() != "batch×11×64×64" {
		t.Errorf("declared output [%v], want batch×11×64×64", out)
	}
	if s, err := Floats(m.Initializer("up.scales")); err != nil || len(s) != 4 || s[2] != 8 {
		t.Errorf("up.scales = %v, %v", s, err)
	}
}
