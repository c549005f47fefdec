package graph

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Counts are a model's size and cost per input image.
type Counts struct {
	// Params counts the elements of float initializers except BatchNorm's
	// running mean and variance (also when reached through Identity nodes),
	// which frameworks keep as buffers, not parameters; this matches
	// PyTorch's sum of p.numel() over parameters(). An exporter that stores
	// equal tensors once makes the count smaller than the framework's.
	Params int64
	// MACs counts the multiply-accumulates of Conv and Gemm nodes for one
	// sample (batch dimension taken as 1). FLOPs are 2 × MACs.
	MACs int64
}

// Count returns the model's parameter and MAC counts. MACs need the static
// shapes of every Conv and Gemm output apart from the batch dimension.
func Count(m *Model) (Counts, error) {
	g := m.GetGraph()
	ix := NewIndex(g)
	buffers := map[string]bool{}
	for _, n := range g.GetNode() {
		if n.GetOpType() == "BatchNormalization" {
			for _, in := range n.GetInput()[min(3, len(n.GetInput())):] {
				if t := ix.Constant(in); t != nil {
					buffers[t.GetName()] = true
				}
			}
		}
	}
	var c Counts
	for _, t := range g.GetInitializer() {
		if (t.GetDataType() == Float || t.GetDataType() == Float16) && !buffers[t.GetName()] {
			c.Params += NumElements(t.GetDims())
		}
	}
	shapes, err := InferShapes(m)
	if err != nil {
		return c, err
	}
	for _, n := range g.GetNode() {
		if len(n.GetOutput()) == 0 {
			continue
		}
		var perOutput int64
		// Validate checks these arities, but Count may get a model it has
		// not seen, where unknown shapes kept inference from the node.
		if op := n.GetOpType(); (op == "Conv" || op == "Gemm") && len(n.GetInput()) < 2 {
			return c, fmt.Errorf("MACs of node %s: expected at least 2 inputs, found %d", nodeLabel(n), len(n.GetInput()))
		}
		switch n.GetOpType() {
		case "Conv":
			w, ok := shapes[n.GetInput()[1]]
			if !ok || len(w) < 3 || !w.Known() {
				return c, fmt.Errorf("MACs of node %s: expected a known weight shape of rank ≥ 3, found [%v]", nodeLabel(n), w)
			}
			perOutput = NumElements(w.Sizes()[1:])
		case "Gemm":
			a, ok := shapes[n.GetInput()[0]]
			if !ok || len(a) != 2 {
				return c, fmt.Errorf("MACs of node %s: input shape unknown", nodeLabel(n))
			}
			k := a[1]
			if IntAttr(n, "transA", 0) == 1 {
				k = a[0]
			}
			if !k.Known() {
				return c, fmt.Errorf("MACs of node %s: inner dimension unknown", nodeLabel(n))
			}
			perOutput = k.Size
		default:
			continue
		}
		out, ok := shapes[n.GetOutput()[0]]
		if !ok || len(out) < 2 || !out[1:].Known() {
			return c, fmt.Errorf("MACs of node %s: output shape unknown (found [%v])", nodeLabel(n), out)
		}
		c.MACs += perOutput * NumElements(out[1:].Sizes())
	}
	return c, nil
}

// OpCounts returns how many nodes of each operator type g holds.
func OpCounts(g *onnx.GraphProto) map[string]int {
	ops := map[string]int{}
	for _, n := range g.GetNode() {
		ops[n.GetOpType()]++
	}
	return ops
}
