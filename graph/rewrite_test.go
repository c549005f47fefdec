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

// TestEdit: a Builder over smallNet names what it adds freshly, also
// parameters, puts nodes before the node InsertBefore names in the order
// they are added (appending without one), and refuses to Finish a graph
// that is the caller's.
func TestEdit(t *testing.T) {
	m := smallNet(t)
	g := m.GetGraph()
	relu := NewIndex(g).Producer["relu"]
	b := Edit(g, nil)
	b.InsertBefore(relu)
	y := b.NewBatchNorm("bn", "bn", 4, 1e-3, 0.5)
	y = b.Relu("relu", y)
	b.InsertBefore(nil)
	last := b.Flatten("flatten", "logits", 1)
	ReplaceInput(relu, "bn", y)

	var order []string
	for _, n := range g.GetNode() {
		order = append(order, n.GetName())
	}
	want := []string{"conv", "bn", "bn_1", "relu_1", "relu", "pool", "avg", "add", "gap", "flatten", "fc", "flatten_1"}
	if !slices.Equal(order, want) || last != "flatten_1" {
		t.Errorf("nodes %v (last output %q), want %v", order, last, want)
	}
	bn := NewIndex(g).Producer["bn_1"]
	for i, tc := range []struct {
		name  string
		value float32
	}{{"bn.weight_1", 1}, {"bn.bias_1", 0}, {"bn.running_mean_1", 0}, {"bn.running_var_1", 1}} {
		v, err := Floats(m.Initializer(bn.GetInput()[i+1]))
		if bn.GetInput()[i+1] != tc.name || err != nil || !slices.Equal(v, []float32{tc.value, tc.value, tc.value, tc.value}) {
			t.Errorf("BatchNorm input %d: %q = %v (%v), want %q of four %g", i+1, bn.GetInput()[i+1], v, err, tc.name, tc.value)
		}
	}
	if FloatAttr(bn, "epsilon", 0) != 1e-3 || FloatAttr(bn, "momentum", 0) != 0.5 {
		t.Errorf("BatchNorm attributes %v", bn.GetAttribute())
	}
	if _, err := b.Finish("test", ""); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("Finish on an edited graph: %v, want a refusal", err)
	}
	if err := Clean(g); err != nil {
		t.Fatal(err)
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
