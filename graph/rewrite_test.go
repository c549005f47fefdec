package graph

import (
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

func TestNamer(t *testing.T) {
	nm := NewNamer(smallNet(t).GetGraph())
	for _, tc := range []struct{ base, want string }{
		{"conv", "conv_1"},               // a node and value name
		{"conv.weight", "conv.weight_1"}, // an initializer
		{"input", "input_1"},             // a graph input
		{"fresh", "fresh"},
		{"fresh", "fresh_1"},
		{"", "_1"},
	} {
		if got := nm.Fresh(tc.base); got != tc.want {
			t.Errorf("Fresh(%q) = %q, want %q", tc.base, got, tc.want)
		}
	}
}

// TestSurgery rewires smallNet by hand the way a pass does — a new average
// pool in place of the max pool, then the classifier cut off — and checks
// that Clean leaves a valid, sorted graph without the dead parts.
func TestSurgery(t *testing.T) {
	m := smallNet(t)
	g := m.GetGraph()
	ix := NewIndex(g)
	if chain := ix.Chain("conv", "BatchNormalization", "Relu"); len(chain) != 2 || chain[1].GetName() != "relu" {
		t.Fatalf("Chain = %v", chain)
	}
	if ix.Chain("conv", "Relu") != nil || ix.Chain("relu", "MaxPool") != nil {
		t.Error("Chain matched a wrong op or a value with two consumers")
	}
	add := ix.Producer["add"]
	// Put the new node at the end: Clean must sort it into place.
	maxPool := ix.Producer["pool"]
	InsertBefore(g, nil, &onnx.NodeProto{Name: "copy", OpType: "AveragePool", Input: []string{"relu"}, Output: []string{"copy"}, Attribute: maxPool.GetAttribute()})
	ReplaceInput(add, "pool", "copy")
	if err := TopoSort(g); err != nil {
		t.Fatal(err)
	}
	nodes, inits := Prune(g)
	if nodes != 1 || inits != 0 {
		t.Errorf("Prune removed %d nodes and %d initializers, want the max pool only", nodes, inits)
	}
	if err := Validate(m); err != nil {
		t.Fatal(err)
	}
	if slices.IndexFunc(g.Node, func(n *onnx.NodeProto) bool { return n.GetName() == "copy" }) > slices.Index(g.Node, add) {
		t.Error("new pool sorted after its consumer")
	}

	RemoveNodes(g, NewIndex(g).Producer["logits"])
	g.Output[0].Name = "flatten"
	if err := Clean(g); err != nil {
		t.Fatal(err)
	}
	if NewIndex(g).Initializers["fc.weight"] != nil || len(g.Initializer) != 5 {
		t.Errorf("Clean kept %d initializers; fc's should be gone", len(g.Initializer))
	}
	if err := Validate(m); err != nil {
		t.Fatal(err)
	}
}

// TestPruneDropsStaleInitializerInputs: older exporters list initializers
// among the graph inputs too; pruning an initializer removes that entry,
// while real inputs stay even when unused.
func TestPruneDropsStaleInitializerInputs(t *testing.T) {
	m := smallNet(t)
	g := m.GetGraph()
	g.Input = append(g.Input, ValueInfo("fc.bias", Float, Static(5)), ValueInfo("unused", Float, Static(1)))
	fc := NewIndex(g).Producer["logits"]
	fc.Input = fc.Input[:2]
	Prune(g)
	var names []string
	for _, in := range g.Input {
		names = append(names, in.GetName())
	}
	if got := strings.Join(names, ","); got != "input,unused" {
		t.Errorf("inputs after Prune: %s, want input,unused", got)
	}
}

func TestConstantLooksThroughIdentity(t *testing.T) {
	m := smallNet(t)
	g := m.GetGraph()
	InsertBefore(g, g.Node[0], &onnx.NodeProto{Name: "id", OpType: "Identity", Input: []string{"conv.weight"}, Output: []string{"w2"}})
	ReplaceInput(g.Node[1], "conv.weight", "w2")
	ix := NewIndex(g)
	if c := ix.Constant("w2"); c == nil || c.GetName() != "conv.weight" {
		t.Errorf("Constant(w2) = %v", c)
	}
	if ix.Constant("relu") != nil {
		t.Error("Constant of a computed value")
	}
}
