package tweaks

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/structure"
)

func build(t *testing.T, cfg models.Config) *graph.Model {
	t.Helper()
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func apply(t *testing.T, m *graph.Model, passes ...Pass) (*graph.Model, []Report) {
	t.Helper()
	out, reports, err := Apply(m, passes, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return out, reports
}

// TestPassesKeepWeights: B and D change no weight and add none; C removes
// only the 7×7 stem weight. Every kept weight is byte-identical.
func TestPassesKeepWeights(t *testing.T) {
	for _, model := range []string{"resnet50", "resnet18", "resnet20"} {
		a := build(t, models.Config{Model: model})
		// The CIFAR stem is a 3×3 conv already: C leaves it.
		cRemoves := []string{"conv1.weight"}
		if model == "resnet20" {
			cRemoves = nil
		}
		for _, tc := range []struct {
			passes  []Pass
			removed []string
			added   bool
		}{
			{[]Pass{B}, nil, false},
			{[]Pass{D}, nil, false},
			{[]Pass{B, D}, nil, false},
			{[]Pass{B, C, D}, cRemoves, cRemoves != nil},
		} {
			out, _ := apply(t, a, tc.passes...)
			after := graph.NewIndex(out.GetGraph()).Initializers
			for _, w := range a.GetGraph().GetInitializer() {
				kept := after[w.GetName()]
				switch {
				case slices.Contains(tc.removed, w.GetName()):
					if kept != nil {
						t.Errorf("%s %v: %s kept", model, tc.passes, w.GetName())
					}
				case kept == nil:
					t.Errorf("%s %v: %s removed", model, tc.passes, w.GetName())
				case !bytes.Equal(kept.GetRawData(), w.GetRawData()) || !slices.Equal(kept.GetDims(), w.GetDims()):
					t.Errorf("%s %v: %s changed", model, tc.passes, w.GetName())
				}
			}
			if grew := len(after) > len(a.GetGraph().GetInitializer())-len(tc.removed); grew != tc.added {
				t.Errorf("%s %v: initializers %d → %d", model, tc.passes, len(a.GetGraph().GetInitializer()), len(after))
			}
		}
	}
}

// TestIdempotent: each pass run twice changes nothing the second time,
// says so, and returns an equal model.
func TestIdempotent(t *testing.T) {
	for _, model := range []string{"resnet50", "resnet20"} {
		for _, p := range []Pass{B, C, D} {
			once, _ := apply(t, build(t, models.Config{Model: model}), p)
			twice, reports := apply(t, once, p)
			if len(reports) != 1 || len(reports[0].Changes) != 0 || reports[0].Note == "" {
				t.Errorf("%s: pass %s again: %+v", model, p, reports)
			}
			if !graph.Equal(once, twice) {
				t.Errorf("%s: pass %s again changed the model", model, p)
			}
		}
	}
}

func TestReportsAndVariantNames(t *testing.T) {
	tests := []struct {
		model   string
		passes  []Pass
		changes map[Pass]int
		variant string
	}{
		{"resnet50", []Pass{B, C, D}, map[Pass]int{B: 3, C: 1, D: 3}, "D"},
		{"resnet50", []Pass{D, B}, map[Pass]int{B: 3, D: 3}, "A+BD"},
		{"resnet50", []Pass{C}, map[Pass]int{C: 1}, "A+C"},
		{"resnet50", []Pass{B}, map[Pass]int{B: 3}, "B"},
		{"resnet101", []Pass{B, C, D}, map[Pass]int{B: 3, C: 1, D: 3}, "D"},
		{"resnet18", []Pass{B}, map[Pass]int{B: 0}, "B"},
		{"resnet20", []Pass{B, C, D}, map[Pass]int{B: 0, C: 0, D: 2}, "D"},
		{"resnet20", []Pass{D}, map[Pass]int{D: 2}, "D"},
		// B and C do not exist for ResNet-20 (basic blocks, a 3×3 stem):
		// the model is what was asked for, not C.
		{"resnet20", []Pass{B}, map[Pass]int{B: 0}, "B"},
		{"resnet20", []Pass{B, C}, map[Pass]int{B: 0, C: 0}, "C"},
		{"resnet18", []Pass{D}, map[Pass]int{D: 3}, "A+BD"},
	}
	for _, tc := range tests {
		out, reports := apply(t, build(t, models.Config{Model: tc.model}), tc.passes...)
		var order []Pass
		for _, r := range reports {
			order = append(order, r.Pass)
			if len(r.Changes) != tc.changes[r.Pass] {
				t.Errorf("%s %v: pass %s made %d changes, want %d: %+v", tc.model, tc.passes, r.Pass, len(r.Changes), tc.changes[r.Pass], r.Changes)
			}
			if (len(r.Changes) == 0) == (r.Note == "") {
				t.Errorf("%s: pass %s has %d changes and note %q", tc.model, r.Pass, len(r.Changes), r.Note)
			}
			for _, c := range r.Changes {
				if c.Block == "" || c.What == "" {
					t.Errorf("empty change %+v", c)
				}
			}
		}
		if !slices.IsSorted(order) {
			t.Errorf("passes ran in order %v, want B, C, D order", order)
		}
		if v, _ := out.Metadata(models.MetaVariant); v != tc.variant {
			t.Errorf("%s %v: variant %q, want %q", tc.model, tc.passes, v, tc.variant)
		}
	}
}

// TestDPoolPadding: every pool D inserts has end padding 1 excluded from
// the count, which is ceil_mode=1's result at odd sizes and no change at
// even ones, whether the model's sizes are odd, even or unknown, so that
// the shortcut keeps the main path's size at any input size.
func TestDPoolPadding(t *testing.T) {
	dynamic := build(t, models.Config{Model: "resnet18"})
	dims := dynamic.GetGraph().GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	dims[2].Reset()
	dims[3].Reset()
	for _, tc := range []struct {
		name  string
		model *graph.Model
	}{
		// Height 200 → stem 100 → max pool 50: layer2 input 50, layer3 25, layer4 13.
		{"odd", build(t, models.Config{Model: "resnet50", Height: 200, Width: 224})},
		{"even", build(t, models.Config{Model: "resnet50"})},
		{"unknown", dynamic},
	} {
		out, _ := apply(t, tc.model, D)
		pools := 0
		for _, n := range out.GetGraph().GetNode() {
			if n.GetOpType() != "AveragePool" {
				continue
			}
			pools++
			if got := graph.IntsAttr(n, "pads", nil); !slices.Equal(got, []int64{0, 0, 1, 1}) {
				t.Errorf("%s: %s pads %v, want [0 0 1 1]", tc.name, n.GetName(), got)
			}
			if graph.IntAttr(n, "count_include_pad", 1) != 0 || graph.IntAttr(n, "ceil_mode", 1) != 0 {
				t.Errorf("%s: %s must exclude padding and use ceil_mode=0", tc.name, n.GetName())
			}
		}
		if pools != 3 {
			t.Errorf("%s: %d pools, want 3 (layer2.0, layer3.0, layer4.0)", tc.name, pools)
		}
	}
}

func TestCStemStructure(t *testing.T) {
	for _, width := range []int{64, 24} {
		out, _ := apply(t, build(t, models.Config{Model: "resnet50", BaseWidth: width}), C)
		r, err := structure.Find(out.GetGraph())
		if err != nil {
			t.Fatal(err)
		}
		var desc []string
		for _, n := range r.Stem.Nodes {
			desc = append(desc, n.GetOpType())
		}
		want := "Conv BatchNormalization Relu Conv BatchNormalization Relu Conv BatchNormalization Relu MaxPool"
		if got := strings.Join(desc, " "); got != want {
			t.Errorf("width %d: stem %s, want %s", width, got, want)
		}
		half := int64(width / 2)
		for i, wantDims := range [][]int64{{half, 3, 3, 3}, {half, half, 3, 3}, {int64(width), half, 3, 3}} {
			w := r.Index.Constant(r.Stem.Convs[i].GetInput()[1])
			if !slices.Equal(w.GetDims(), wantDims) {
				t.Errorf("width %d: stem conv %d weight %v, want %v", width, i, w.GetDims(), wantDims)
			}
			if s := ints2(r.Stem.Convs[i], "strides", 1); s[0] != map[bool]int64{true: 2, false: 1}[i == 0] {
				t.Errorf("stem conv %d stride %v", i, s)
			}
		}
	}
}

func TestParsePassesAndVariants(t *testing.T) {
	for in, want := range map[string][]Pass{"b,d": {B, D}, " D , b ": {D, B}, "c": {C}, "d,d": {D}} {
		got, err := ParsePasses(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParsePasses(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "e", "b,,d"} {
		if _, err := ParsePasses(bad); err == nil {
			t.Errorf("ParsePasses(%q) accepted", bad)
		}
	}
	for v, want := range map[string][]Pass{"a": nil, "B": {B}, "c": {B, C}, "D": {B, C, D}} {
		got, err := ForVariant(v)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ForVariant(%q) = %v, %v", v, got, err)
		}
	}
	if _, err := ForVariant("E"); err == nil {
		t.Error("variant E accepted")
	}
}
