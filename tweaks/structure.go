package tweaks

import (
	"fmt"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
)

// block is one residual block as found in the graph's structure: an Add
// whose two inputs both lead back, through convolutions and their
// BatchNorm/ReLU/Identity companions, to the same value — the block input.
type block struct {
	label    string            // torchvision-style position, e.g. "layer2.0"
	input    string            // the value both paths start from
	add      *onnx.NodeProto   // where the paths meet
	main     []*onnx.NodeProto // the main path's convs, in order
	shortcut *onnx.NodeProto   // the projection conv, or nil for an identity shortcut
	pool     *onnx.NodeProto   // an AveragePool before the projection (ResNet-D), or nil
}

// stem is the part of the graph from its input to the first block.
type stem struct {
	convs   []*onnx.NodeProto // in order
	nodes   []*onnx.NodeProto // every node of the stem, in order
	maxPool *onnx.NodeProto   // nil in the CIFAR layout
}

// resnet is the structure of a ResNet graph.
type resnet struct {
	ix     *graph.Index
	stem   stem
	blocks []*block
	// stemErr says why no stem was recognised. Only pass C needs one: B and
	// D also apply to a stem-less piece of a ResNet, such as a single block.
	stemErr error
}

// pathOps are the operators a residual path may pass through.
var pathOps = map[string]bool{"Conv": true, "BatchNormalization": true, "Relu": true, "Identity": true, "AveragePool": true}

// isONNX reports whether n is an operator of ONNX's default domain. The
// passes match and rewrite only those: a node of another domain may share
// an ONNX operator's name but not its rules, and Validate does not check
// its inputs and attributes.
func isONNX(n *onnx.NodeProto) bool {
	return n.GetDomain() == "" || n.GetDomain() == "ai.onnx"
}

// walkBack follows value v backwards through pathOps nodes (by their first
// input) until it reaches a value read by more than one node — a fork,
// where a block's two paths split — or a node outside pathOps. It returns
// the value where it stopped and the nodes passed, last first.
func walkBack(ix *graph.Index, v string) (string, []*onnx.NodeProto) {
	var nodes []*onnx.NodeProto
	for len(ix.Consumers[v]) <= 1 {
		p := ix.Producer[v]
		if p == nil || !pathOps[p.GetOpType()] || !isONNX(p) || len(p.GetInput()) == 0 {
			break
		}
		nodes = append(nodes, p)
		v = p.GetInput()[0]
	}
	return v, nodes
}

func convsOf(nodes []*onnx.NodeProto) []*onnx.NodeProto {
	var convs []*onnx.NodeProto
	for i := len(nodes) - 1; i >= 0; i-- {
		if nodes[i].GetOpType() == "Conv" {
			convs = append(convs, nodes[i])
		}
	}
	return convs
}

// analyze finds the stem and the residual blocks of a ResNet graph, by the
// graph's structure alone (never by names). g must be topologically sorted.
func analyze(g *onnx.GraphProto) (*resnet, error) {
	r := &resnet{ix: graph.NewIndex(g)}
	for _, n := range g.GetNode() {
		// BlockOutputs may get a graph Validate has not seen, with an Add
		// that lacks an output: it hands nothing on, so it ends no block.
		if n.GetOpType() != "Add" || !isONNX(n) || len(n.GetInput()) != 2 || len(n.GetOutput()) == 0 {
			continue
		}
		forkA, pathA := walkBack(r.ix, n.GetInput()[0])
		forkB, pathB := walkBack(r.ix, n.GetInput()[1])
		if forkA != forkB {
			continue
		}
		convsA, convsB := convsOf(pathA), convsOf(pathB)
		if len(convsA) < len(convsB) {
			pathA, pathB = pathB, pathA
			convsA, convsB = convsB, convsA
		}
		if len(convsA) < 2 || len(convsB) > 1 {
			continue
		}
		b := &block{input: forkA, add: n, main: convsA}
		if len(convsB) == 1 {
			b.shortcut = convsB[0]
			for _, p := range pathB {
				if p.GetOpType() == "AveragePool" {
					b.pool = p
				}
			}
		}
		r.blocks = append(r.blocks, b)
	}
	if len(r.blocks) == 0 {
		return nil, fmt.Errorf("not a ResNet: expected residual blocks (an Add whose two inputs come from one value through convolutions), found none among %d nodes (%s)", len(g.GetNode()), opSummary(g))
	}
	r.label()
	r.stemErr = r.findStem(g)
	return r, nil
}

// label names blocks as torchvision does: a stage starts at the first
// block and at every later block with a projection shortcut.
func (r *resnet) label() {
	stage, index := 0, 0
	for i, b := range r.blocks {
		if i == 0 || b.shortcut != nil {
			stage, index = stage+1, 0
		} else {
			index++
		}
		b.label = fmt.Sprintf("layer%d.%d", stage, index)
	}
}

// findStem walks back from the first block's input to the graph input; the
// way must hold only Conv, BatchNormalization, Relu, Identity and MaxPool.
func (r *resnet) findStem(g *onnx.GraphProto) error {
	inputs := map[string]bool{}
	for _, in := range g.GetInput() {
		inputs[in.GetName()] = true
	}
	v := r.blocks[0].input
	var nodes []*onnx.NodeProto
	for !inputs[v] {
		p := r.ix.Producer[v]
		if p == nil {
			return fmt.Errorf("unexpected stem: value %q before the first block has no producer", v)
		}
		switch p.GetOpType() {
		case "Conv", "BatchNormalization", "Relu", "Identity", "MaxPool":
		default:
			return fmt.Errorf("unexpected stem: expected Conv, BatchNormalization, Relu and MaxPool from the input to the first block, found %s node %q", p.GetOpType(), p.GetName())
		}
		if !isONNX(p) {
			return fmt.Errorf("unexpected stem: %s node %q is of domain %q, not ONNX's", p.GetOpType(), p.GetName(), p.GetDomain())
		}
		// LastBlockNorms and BlockOutputs may get a graph Validate has not seen.
		if len(p.GetInput()) == 0 {
			return fmt.Errorf("unexpected stem: %s node %q has no input", p.GetOpType(), p.GetName())
		}
		nodes = append([]*onnx.NodeProto{p}, nodes...)
		v = p.GetInput()[0]
	}
	r.stem.nodes = nodes
	for _, n := range nodes {
		switch n.GetOpType() {
		case "Conv":
			r.stem.convs = append(r.stem.convs, n)
		case "MaxPool":
			r.stem.maxPool = n
		}
	}
	if len(r.stem.convs) == 0 {
		return fmt.Errorf("unexpected stem: expected a convolution between the input and the first block, found %s", describe(nodes))
	}
	return nil
}

func describe(nodes []*onnx.NodeProto) string {
	if len(nodes) == 0 {
		return "nothing"
	}
	ops := make([]string, len(nodes))
	for i, n := range nodes {
		ops[i] = n.GetOpType()
	}
	return strings.Join(ops, " → ")
}

// opSummary lists the distinct op types of a graph, for errors about
// graphs that are not ResNets.
func opSummary(g *onnx.GraphProto) string {
	seen := map[string]bool{}
	var ops []string
	for _, n := range g.GetNode() {
		if !seen[n.GetOpType()] {
			seen[n.GetOpType()] = true
			ops = append(ops, n.GetOpType())
		}
	}
	return "ops: " + strings.Join(ops, ", ")
}

// ints2 reads a 2-element INTS attribute with a default of [d, d].
func ints2(n *onnx.NodeProto, name string, d int64) [2]int64 {
	v := graph.IntsAttr(n, name, nil)
	if len(v) != 2 {
		return [2]int64{d, d}
	}
	return [2]int64{v[0], v[1]}
}

// kernelOf returns a conv's 2-D kernel size from kernel_shape or, when
// absent, from its weight.
func (r *resnet) kernelOf(conv *onnx.NodeProto) ([2]int64, error) {
	if k := graph.IntsAttr(conv, "kernel_shape", nil); len(k) == 2 {
		return [2]int64{k[0], k[1]}, nil
	}
	if len(conv.GetInput()) > 1 {
		if w := r.ix.Constant(conv.GetInput()[1]); w != nil && len(w.GetDims()) == 4 {
			return [2]int64{w.GetDims()[2], w.GetDims()[3]}, nil
		}
	}
	return [2]int64{}, fmt.Errorf("conv %q: expected a 2-D kernel_shape or a constant 4-D weight", conv.GetName())
}

// LastBlockNorms returns the BatchNormalization node that ends the main
// path of every residual block (the one whose output the block's Add
// reads), found by structure: zero γ starts exactly these at 0 so that
// each block begins as the identity.
func LastBlockNorms(m *graph.Model) ([]*onnx.NodeProto, error) {
	g := m.GetGraph()
	if err := graph.TopoSort(g); err != nil {
		return nil, err
	}
	r, err := analyze(g)
	if err != nil {
		return nil, err
	}
	var out []*onnx.NodeProto
	for _, b := range r.blocks {
		last := b.main[len(b.main)-1]
		bn := r.ix.SoleConsumer(last.GetOutput()[0])
		if bn == nil || bn.GetOpType() != "BatchNormalization" {
			return nil, fmt.Errorf("block %s: expected a BatchNormalization after its last conv %q", b.label, last.GetName())
		}
		out = append(out, bn)
	}
	return out, nil
}

// BlockOutputs returns, in graph order, the value each residual block hands
// on: the output of the ReLU that is the sole consumer of the block's Add,
// or the Add's own output where none follows. Found by structure alone, it
// lets export cut a backbone at stage ends in any ResNet, tweaked or made
// elsewhere.
func BlockOutputs(m *graph.Model) ([]string, error) {
	// A sorted copy of the node list; the model keeps its order.
	src := m.GetGraph()
	g := &onnx.GraphProto{Node: slices.Clone(src.GetNode()), Input: src.GetInput(), Output: src.GetOutput(), Initializer: src.GetInitializer()}
	if err := graph.TopoSort(g); err != nil {
		return nil, err
	}
	r, err := analyze(g)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(r.blocks))
	for i, b := range r.blocks {
		out[i] = b.add.GetOutput()[0]
		if relu := r.ix.Chain(out[i], "Relu"); relu != nil {
			out[i] = relu[0].GetOutput()[0]
		}
	}
	return out, nil
}
