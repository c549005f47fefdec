package graph

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// nodeNamed returns the node of m with the given name.
func nodeNamed(t testing.TB, m *Model, name string) *onnx.NodeProto {
	t.Helper()
	for _, n := range m.GetGraph().GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	t.Fatalf("no node %q", name)
	return nil
}

func setOpset(m *Model, v int64) { m.OpsetImport = []*onnx.OperatorSetIdProto{{Version: v}} }

// toAveragePool turns the global pool into an AveragePool with the given
// attributes, which covers the whole 4×4 map after the pools.
func toAveragePool(t testing.TB, m *Model, attrs ...*onnx.AttributeProto) {
	t.Helper()
	n := nodeNamed(t, m, "gap")
	n.OpType, n.Attribute = "AveragePool", attrs
}

func addNode(m *Model, n *onnx.NodeProto) { m.Graph.Node = append(m.Graph.Node, n) }

func TestValidateAcceptsValidVariants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, m *Model)
	}{
		{"as built", func(*testing.T, *Model) {}},
		{"AveragePool dilations at opset 19", func(t *testing.T, m *Model) {
			setOpset(m, 19)
			toAveragePool(t, m, AttrInts("kernel_shape", 4, 4), AttrInts("dilations", 1, 1))
		}},
		{"BatchNormalization training_mode at opset 14", func(t *testing.T, m *Model) {
			setOpset(m, 14)
			SetAttr(nodeNamed(t, m, "bn"), AttrInt("training_mode", 0))
		}},
		{"absent optional input", func(t *testing.T, m *Model) {
			n := nodeNamed(t, m, "conv")
			n.Input = append(n.Input, "")
		}},
		{"operator outside the table", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "gelu", OpType: "Gelu", Input: []string{"relu"}, Output: []string{"gelu"}})
		}},
		{"node of another domain", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "fused", OpType: "Conv", Domain: "com.example", Input: []string{"relu"}, Output: []string{"fused"},
				Attribute: []*onnx.AttributeProto{AttrFloat("anything", 1)}})
		}},
		{"initializer listed as a graph input", func(t *testing.T, m *Model) {
			m.Graph.Input = append(m.Graph.Input, ValueInfo("fc.bias", Float, Static(5)))
		}},
		{"Softmax and Concat axes within rank", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "softmax", OpType: "Softmax", Input: []string{"logits"}, Output: []string{"probs"},
				Attribute: []*onnx.AttributeProto{AttrInt("axis", -1)}})
			addNode(m, &onnx.NodeProto{Name: "concat", OpType: "Concat", Input: []string{"logits", "probs"}, Output: []string{"both"},
				Attribute: []*onnx.AttributeProto{AttrInt("axis", 1)}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := smallNet(t).Clone()
			tc.mutate(t, m)
			if err := Validate(m); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidateReportsProblems(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, m *Model)
		// want are the fragments one problem must contain.
		want []string
	}{
		{"IR version too old", func(t *testing.T, m *Model) { m.IrVersion = 2 },
			[]string{"ir_version 2", "3..10"}},
		{"opset too old", func(t *testing.T, m *Model) { setOpset(m, 7) },
			[]string{"opset 7", "13..21"}},
		{"opset 11, as older exporters write", func(t *testing.T, m *Model) { setOpset(m, 11) },
			[]string{"opset 11 is older than the 13..21", "export the model again at opset 13 or later"}},
		{"opset too new", func(t *testing.T, m *Model) { setOpset(m, 22) },
			[]string{"opset 22 is outside the supported 13..21"}},
		{"no default-domain opset", func(t *testing.T, m *Model) { m.OpsetImport[0].Domain = "com.example" },
			[]string{"no opset import for the default domain"}},
		{"no graph", func(t *testing.T, m *Model) { m.Graph = nil },
			[]string{"no graph"}},
		{"duplicate node name", func(t *testing.T, m *Model) { nodeNamed(t, m, "relu").Name = "bn" },
			[]string{`node name "bn"`, "BatchNormalization", "Relu"}},
		{"value produced twice", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "again", OpType: "Identity", Input: []string{"input"}, Output: []string{"relu"}})
		}, []string{`value "relu"`, `"relu" (Relu)`, `"again" (Identity)`}},
		{"node output shadows a graph input", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "shadow", OpType: "Identity", Input: []string{"relu"}, Output: []string{"input"}})
		}, []string{`value "input"`, `"shadow" (Identity)`, "graph input"}},
		{"node output shadows an initializer", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "shadow", OpType: "Identity", Input: []string{"relu"}, Output: []string{"fc.weight"}})
		}, []string{`value "fc.weight"`, `"shadow" (Identity)`, "initializer"}},
		{"duplicate initializer", func(t *testing.T, m *Model) {
			m.Graph.Initializer = append(m.Graph.Initializer, m.Graph.Initializer[0])
		}, []string{`initializer "conv.weight"`, "twice"}},
		{"duplicate graph input", func(t *testing.T, m *Model) {
			m.Graph.Input = append(m.Graph.Input, m.Graph.Input[0])
		}, []string{`graph input "input"`, "twice"}},
		{"missing graph output", func(t *testing.T, m *Model) { m.Graph.Output[0].Name = "ghost" },
			[]string{`graph output "ghost"`, "not defined"}},
		{"undefined input", func(t *testing.T, m *Model) { nodeNamed(t, m, "relu").Input[0] = "nope" },
			[]string{`"relu" (Relu)`, `input "nope"`, "not defined"}},
		{"cycle", func(t *testing.T, m *Model) { nodeNamed(t, m, "conv").Input[0] = "relu" },
			[]string{"cycle", `"conv" (Conv)`, `"relu" (Relu)`}},
		{"unsorted nodes", func(t *testing.T, m *Model) {
			g := m.Graph
			g.Node[1], g.Node[2] = g.Node[2], g.Node[1]
		}, []string{"not topologically sorted", `"relu" (Relu) uses "bn"`}},
		{"too many inputs", func(t *testing.T, m *Model) {
			n := nodeNamed(t, m, "relu")
			n.Input = append(n.Input, "input")
		}, []string{`"relu" (Relu)`, "expected 1 input, found 2"}},
		{"empty required input", func(t *testing.T, m *Model) { nodeNamed(t, m, "conv").Input[1] = "" },
			[]string{`"conv" (Conv)`, "input 1 is required"}},
		{"unknown attribute", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrInt("foo", 1)) },
			[]string{`"conv" (Conv)`, `attribute "foo"`, "opset 17"}},
		{"wrong attribute type", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrFloat("group", 1)) },
			[]string{`"conv" (Conv)`, `attribute "group"`, "expected type INT, found FLOAT"}},
		{"attribute given twice", func(t *testing.T, m *Model) {
			n := nodeNamed(t, m, "conv")
			n.Attribute = append(n.Attribute, AttrInt("group", 1))
		}, []string{`"conv" (Conv)`, `attribute "group" is given twice`}},
		{"negative pad", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrInts("pads", -1, 0, 0, 0)) },
			[]string{`"conv" (Conv)`, `attribute "pads"`, "non-negative", "[-1 0 0 0]"}},
		{"pads of the wrong length", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrInts("pads", 1, 1)) },
			[]string{`"conv" (Conv)`, `attribute "pads"`, "expected 4 values", "found 2"}},
		{"strides of the wrong length", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrInts("strides", 1, 1, 1)) },
			[]string{`"conv" (Conv)`, `attribute "strides"`, "expected 2 values like kernel_shape", "found 3"}},
		{"zero stride", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrInts("strides", 1, 0)) },
			[]string{`"conv" (Conv)`, `attribute "strides"`, "positive"}},
		{"zero group", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrInt("group", 0)) },
			[]string{`"conv" (Conv)`, `attribute "group"`, "at least 1, found 0"}},
		{"unknown auto_pad", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "conv"), AttrString("auto_pad", "SAME")) },
			[]string{`"conv" (Conv)`, `attribute "auto_pad"`, `found "SAME"`}},
		{"transB not 0 or 1", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "fc"), AttrInt("transB", 2)) },
			[]string{`"fc" (Gemm)`, `attribute "transB"`, "0 or 1, found 2"}},
		{"zero epsilon", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "bn"), AttrFloat("epsilon", 0)) },
			[]string{`"bn" (BatchNormalization)`, `attribute "epsilon"`, "positive"}},
		{"BatchNormalization spatial", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "bn"), AttrInt("spatial", 1)) },
			[]string{`"bn" (BatchNormalization)`, `attribute "spatial" is not defined`}},
		{"BatchNormalization training_mode at opset 13", func(t *testing.T, m *Model) {
			setOpset(m, 13)
			SetAttr(nodeNamed(t, m, "bn"), AttrInt("training_mode", 0))
		}, []string{`"bn" (BatchNormalization)`, `attribute "training_mode" is not defined`, "opset 13"}},
		{"AveragePool dilations at opset 17", func(t *testing.T, m *Model) {
			toAveragePool(t, m, AttrInts("kernel_shape", 4, 4), AttrInts("dilations", 1, 1))
		}, []string{`"gap" (AveragePool)`, `attribute "dilations" is not defined for AveragePool at opset 17`}},
		{"AveragePool without kernel_shape", func(t *testing.T, m *Model) { toAveragePool(t, m) },
			[]string{`"gap" (AveragePool)`, `required attribute "kernel_shape" is missing`}},
		{"Constant with two values", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "const", OpType: "Constant", Output: []string{"c"},
				Attribute: []*onnx.AttributeProto{AttrFloat("value_float", 1), AttrInt("value_int", 1)}})
		}, []string{`"const" (Constant)`, "exactly one value attribute, found 2"}},
		{"Cast to no type", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "cast", OpType: "Cast", Input: []string{"logits"}, Output: []string{"c"},
				Attribute: []*onnx.AttributeProto{AttrInt("to", 0)}})
		}, []string{`"cast" (Cast)`, `attribute "to"`, "found 0"}},
		{"shapes that do not fit", func(t *testing.T, m *Model) { m.Initializer("fc.weight").Dims = []int64{5, 3} },
			[]string{"shape inference", `"fc" (Gemm)`}},
		{"Flatten axis beyond rank", func(t *testing.T, m *Model) { SetAttr(nodeNamed(t, m, "flatten"), AttrInt("axis", 5)) },
			[]string{"shape inference", `"flatten" (Flatten)`, "axis 5"}},
		{"Softmax axis beyond rank", func(t *testing.T, m *Model) {
			addNode(m, &onnx.NodeProto{Name: "softmax", OpType: "Softmax", Input: []string{"logits"}, Output: []string{"probs"},
				Attribute: []*onnx.AttributeProto{AttrInt("axis", 2)}})
		}, []string{`"softmax" (Softmax)`, `attribute "axis"`, "expected -2..1 for an input of rank 2, found 2"}},
		{"kernel_shape shorter than the input's spatial rank", func(t *testing.T, m *Model) {
			n := nodeNamed(t, m, "conv")
			n.Attribute = []*onnx.AttributeProto{AttrInts("kernel_shape", 3)}
		}, []string{"shape inference"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := smallNet(t).Clone()
			tc.mutate(t, m)
			before, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(m)
			if after, _ := m.Encode(); !bytes.Equal(before, after) {
				t.Error("Validate changed the model")
			}
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("expected a *ValidationError, found %T: %v", err, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			for _, p := range ve.Problems {
				if containsAll(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions all of %q; found:\n  %s", tc.want, strings.Join(ve.Problems, "\n  "))
		})
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestValidationErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		problems []string
		want     string
	}{
		{[]string{"a"}, "invalid model: a"},
		{[]string{"a", "b"}, "invalid model: 2 problems: a; b"},
		{[]string{"a", "b", "c"}, "invalid model: 3 problems: a; b; c"},
		{[]string{"a", "b", "c", "d", "e"}, "invalid model: 5 problems: a; b; c (and 2 more)"},
	} {
		if got := (&ValidationError{Problems: tc.problems}).Error(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.problems, got, tc.want)
		}
	}
}

// TestValidateAcceptsConformanceModels runs Validate over ONNX's own
// conformance models for the operators ResNets use. Those at an opset
// outside MinOpset..MaxOpset must fail on that alone, which still checks
// everything else about them.
func TestValidateAcceptsConformanceModels(t *testing.T) {
	testenv.RequireFile(t, conformanceDir, "Debian's libonnx-testdata")
	var paths []string
	for _, op := range []string{"conv", "batchnorm", "averagepool_2d", "maxpool_2d", "globalaveragepool", "gemm", "relu", "add", "flatten", "resize"} {
		found, err := filepath.Glob(filepath.Join(conformanceDir, "test_"+op+"*", "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, found...)
	}
	if len(paths) < 60 {
		t.Fatalf("found only %d conformance models", len(paths))
	}
	for _, path := range paths {
		t.Run(filepath.Base(filepath.Dir(path)), func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			err = Validate(m)
			if opset := m.Opset(); opset >= MinOpset && opset <= MaxOpset {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ve, ok := err.(*ValidationError)
			if !ok || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0], "opset") {
				t.Fatalf("opset %d: expected only the opset problem, found %v", m.Opset(), err)
			}
		})
	}
}

func TestKnowsOp(t *testing.T) {
	for _, tc := range []struct {
		op    string
		opset int64
		want  bool
	}{
		{"Conv", MinOpset, true},
		{"Softmax", MaxOpset, true},
		{"Cast", 13, true},
		{"Softmax", 12, false}, // the table starts Softmax at 13, whose semantics differ from 11's
		{"Gelu", 20, false},
		{"Einsum", DefaultOpset, false},
	} {
		if got := KnowsOp(tc.op, tc.opset); got != tc.want {
			t.Errorf("KnowsOp(%s, %d) = %v, want %v", tc.op, tc.opset, got, tc.want)
		}
	}
}
