package graph

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// The helpers in this file are the small graph-surgery API that rewrite
// passes (the B, C, D tweaks, BatchNorm folding, cutting a backbone) are
// written in: match a pattern on the Index, then insert nodes (made by a
// Builder from Edit), remove and rewire nodes, then Clean. A pass never edits the caller's model in place until
// it has succeeded: it works on a Clone.

// Namer hands out names that collide with nothing in a graph: node names,
// value names and initializer names share one space, so a fresh name is
// safe for any of them.
type Namer struct {
	used map[string]bool
}

// NewNamer collects every name already used in g.
func NewNamer(g *onnx.GraphProto) *Namer {
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		used[n.GetName()] = true
		for _, v := range slices.Concat(n.GetInput(), n.GetOutput()) {
			used[v] = true
		}
	}
	for _, t := range g.GetInitializer() {
		used[t.GetName()] = true
	}
	for _, v := range slices.Concat(g.GetInput(), g.GetOutput(), g.GetValueInfo()) {
		used[v.GetName()] = true
	}
	return &Namer{used: used}
}

// Fresh returns base if it is unused, else base_1, base_2, …, and reserves it.
func (nm *Namer) Fresh(base string) string {
	name := base
	for i := 1; nm.used[name] || name == ""; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	nm.used[name] = true
	return name
}

// InsertBefore puts nodes into g just before node at (or at the end when
// at is nil or not in g), keeping the graph readable in file order; Clean
// restores a full topological order afterwards.
func InsertBefore(g *onnx.GraphProto, at *onnx.NodeProto, nodes ...*onnx.NodeProto) {
	i := slices.Index(g.Node, at)
	if i < 0 {
		i = len(g.Node)
	}
	g.Node = slices.Insert(g.Node, i, nodes...)
}

// RemoveNodes deletes the given nodes from g. Values they produced become
// undefined: rewire their consumers first.
func RemoveNodes(g *onnx.GraphProto, nodes ...*onnx.NodeProto) {
	g.Node = slices.DeleteFunc(g.Node, func(n *onnx.NodeProto) bool { return slices.Contains(nodes, n) })
}

// ReplaceInput makes node n read value new wherever it read old.
func ReplaceInput(n *onnx.NodeProto, old, new string) {
	for i, v := range n.Input {
		if v == old {
			n.Input[i] = new
		}
	}
}

// Clean prunes what no output depends on and sorts the nodes topologically:
// the last step of every rewrite.
func Clean(g *onnx.GraphProto) error {
	Prune(g)
	return TopoSort(g)
}

// Prune removes what no graph output depends on: nodes whose outputs are
// never used, initializers no node reads (and their entries in the graph's
// input list, where older exporters repeat them), and value_info of values
// that no longer exist. It returns how many nodes and initializers went.
func Prune(g *onnx.GraphProto) (nodes, initializers int) {
	live := map[string]bool{}
	for _, o := range g.GetOutput() {
		live[o.GetName()] = true
	}
	keep := make([]bool, len(g.Node))
	// Walk backwards so that one pass suffices for a topologically sorted
	// graph; repeat until nothing changes for one that is not.
	for changed := true; changed; {
		changed = false
		for i := len(g.Node) - 1; i >= 0; i-- {
			if keep[i] {
				continue
			}
			for _, o := range g.Node[i].GetOutput() {
				if live[o] {
					keep[i], changed = true, true
					for _, in := range g.Node[i].GetInput() {
						live[in] = true
					}
					break
				}
			}
		}
	}
	before := len(g.Node)
	kept := g.Node[:0]
	for i, n := range g.Node {
		if keep[i] {
			kept = append(kept, n)
		}
	}
	g.Node = kept
	nodes = before - len(kept)

	removed := map[string]bool{}
	g.Initializer = slices.DeleteFunc(g.Initializer, func(t *onnx.TensorProto) bool {
		removed[t.GetName()] = !live[t.GetName()]
		return removed[t.GetName()]
	})
	for _, dead := range removed {
		if dead {
			initializers++
		}
	}
	g.Input = slices.DeleteFunc(g.Input, func(v *onnx.ValueInfoProto) bool { return removed[v.GetName()] })
	defined := map[string]bool{}
	for _, n := range g.Node {
		for _, o := range n.GetOutput() {
			defined[o] = true
		}
	}
	g.ValueInfo = slices.DeleteFunc(g.ValueInfo, func(v *onnx.ValueInfoProto) bool { return !defined[v.GetName()] })
	return nodes, initializers
}
