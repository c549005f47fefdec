package export

import (
	"fmt"
	"math"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
)

// FoldReport says what FoldBatchNorm did: how many BatchNormalization
// nodes it folded, and each one it kept with the reason.
type FoldReport struct {
	Folded int      `json:"folded"`
	Kept   []string `json:"kept,omitempty"`
}

// FoldBatchNorm folds every inference-mode BatchNormalization whose input
// is a Conv's output read by nothing else into that Conv: with
// s = γ/√(var + ε) per output channel, the weight becomes W·s and the bias
// (b − mean)·s + β, computed in float64. The Conv then produces the
// BatchNorm's output value, so the rest of the graph is unchanged. A
// weight or bias shared with other nodes gets a new initializer; one the
// Conv owns is replaced under its own name. BatchNorms that do not fit are
// kept and listed with the reason. m is changed in place and cleaned.
func FoldBatchNorm(m *graph.Model) (FoldReport, error) {
	g := m.GetGraph()
	ix := graph.NewIndex(g)
	nm := graph.NewNamer(g)
	var rep FoldReport
	var folded []*onnx.NodeProto
	for _, bn := range g.GetNode() {
		if bn.GetOpType() != "BatchNormalization" || (bn.GetDomain() != "" && bn.GetDomain() != "ai.onnx") {
			continue
		}
		conv, why := foldable(ix, bn)
		if why == "" {
			why = fold(m, ix, nm, conv, bn)
		}
		if why != "" {
			rep.Kept = append(rep.Kept, fmt.Sprintf("%s: %s", label(bn), why))
			continue
		}
		conv.Output[0] = bn.GetOutput()[0]
		folded = append(folded, bn)
	}
	graph.RemoveNodes(g, folded...)
	rep.Folded = len(folded)
	if err := graph.Clean(g); err != nil {
		return rep, fmt.Errorf("folding BatchNorm: %w", err)
	}
	return rep, nil
}

// foldable returns the Conv a BatchNorm can fold into, or why it cannot.
func foldable(ix *graph.Index, bn *onnx.NodeProto) (*onnx.NodeProto, string) {
	switch {
	case graph.IntAttr(bn, "training_mode", 0) != 0:
		return nil, "it is in training mode"
	case len(bn.GetInput()) != 5:
		return nil, fmt.Sprintf("expected 5 inputs, found %d", len(bn.GetInput()))
	}
	for _, o := range bn.GetOutput()[1:] {
		if o != "" {
			return nil, "its optional running-statistics outputs are used"
		}
	}
	x := bn.GetInput()[0]
	conv := ix.Producer[x]
	switch {
	case conv == nil || conv.GetOpType() != "Conv" || (conv.GetDomain() != "" && conv.GetDomain() != "ai.onnx"):
		return nil, fmt.Sprintf("its input %q is not a Conv's output", x)
	case ix.SoleConsumer(x) != bn:
		return nil, fmt.Sprintf("the Conv output %q is also read elsewhere (or is a graph output)", x)
	case len(conv.GetInput()) < 2 || ix.Constant(conv.GetInput()[1]) == nil:
		return nil, fmt.Sprintf("Conv %s has no constant weight", label(conv))
	case len(conv.GetInput()) > 2 && conv.GetInput()[2] != "" && ix.Constant(conv.GetInput()[2]) == nil:
		return nil, fmt.Sprintf("Conv %s has a bias that is not constant", label(conv))
	}
	for _, in := range bn.GetInput()[1:] {
		if ix.Constant(in) == nil {
			return nil, fmt.Sprintf("its parameter %q is not constant", in)
		}
	}
	return conv, ""
}

// fold computes the folded weight and bias and rewires conv to them; it
// returns why it could not ("" when it did).
func fold(m *graph.Model, ix *graph.Index, nm *graph.Namer, conv, bn *onnx.NodeProto) string {
	param := func(v string) ([]float32, []int64, error) {
		t := ix.Constant(v)
		data, err := graph.Floats(t)
		return data, t.GetDims(), err
	}
	w, wDims, err := param(conv.GetInput()[1])
	if err != nil {
		return err.Error()
	}
	if len(wDims) < 1 || wDims[0] < 1 {
		return fmt.Sprintf("Conv %s has a weight of shape %v", label(conv), wDims)
	}
	channels := int(wDims[0])
	var stats [4][]float32 // γ, β, mean, var
	for i, in := range bn.GetInput()[1:] {
		v, _, err := param(in)
		if err != nil {
			return err.Error()
		}
		if len(v) != channels {
			return fmt.Sprintf("parameter %q has %d values for the Conv's %d output channels", in, len(v), channels)
		}
		stats[i] = v
	}
	bias := make([]float32, channels)
	hasBias := len(conv.GetInput()) > 2 && conv.GetInput()[2] != ""
	if hasBias {
		b, _, err := param(conv.GetInput()[2])
		if err != nil {
			return err.Error()
		}
		if len(b) != channels {
			return fmt.Sprintf("Conv %s has %d bias values for %d output channels", label(conv), len(b), channels)
		}
		bias = b
	}
	eps := float64(graph.FloatAttr(bn, "epsilon", 1e-5))
	per := len(w) / channels
	newW, newB := make([]float32, len(w)), make([]float32, channels)
	for c := 0; c < channels; c++ {
		s := float64(stats[0][c]) / math.Sqrt(float64(stats[3][c])+eps)
		for i := c * per; i < (c+1)*per; i++ {
			newW[i] = float32(float64(w[i]) * s)
		}
		newB[c] = float32((float64(bias[c])-float64(stats[2][c]))*s + float64(stats[1][c]))
	}
	wName := ownName(ix, nm, conv.GetInput()[1], conv.GetInput()[1]+".folded")
	bName := nm.Fresh(strings.TrimSuffix(conv.GetInput()[1], ".weight") + ".bias")
	if hasBias {
		bName = ownName(ix, nm, conv.GetInput()[2], conv.GetInput()[2]+".folded")
	}
	m.SetInitializer(graph.FloatTensor(wName, wDims, newW))
	m.SetInitializer(graph.FloatTensor(bName, []int64{int64(channels)}, newB))
	conv.Input = append(conv.Input[:1], wName, bName)
	return ""
}

// ownName returns v when it is an initializer read by one node only (the
// Conv being folded), so it can be replaced in place, and a fresh name
// from base otherwise.
func ownName(ix *graph.Index, nm *graph.Namer, v, base string) string {
	if ix.Initializers[v] != nil && len(ix.Consumers[v]) == 1 && !ix.Outputs[v] {
		return v
	}
	return nm.Fresh(base)
}

// label names a node for messages: its name, or its op type and output.
func label(n *onnx.NodeProto) string {
	if n.GetName() != "" {
		return fmt.Sprintf("%s %q", n.GetOpType(), n.GetName())
	}
	return fmt.Sprintf("%s producing %q", n.GetOpType(), n.GetOutput()[0])
}
