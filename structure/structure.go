// Package structure finds the parts of a ResNet in an ONNX graph — the stem
// and the residual blocks, each with its main path, shortcut and
// shortcut pool — by the graph's structure alone (which conv feeds which
// Add), never by node names. The tweak passes rewrite what it finds, the
// trainer's zero γ starts the last BatchNorm of each block at 0, and
// export cuts backbones at the stage ends: one finder, so that all three
// agree on what a block is in any ResNet, built here or exported from
// torchvision or timm.
//
// Nothing here changes the graph it is given, not even its node order.
package structure

import (
	"fmt"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
)

// Block is one residual block: an Add whose two inputs both lead back,
// through convolutions and their BatchNorm/ReLU/Identity companions, to
// the same value, the block input.
type Block struct {
	// Label is the block's torchvision-style position, e.g. "layer2.0",
	// counted from the structure: reports name blocks by it.
	Label string
	// Input is the value both paths start from.
	Input string
	// Add is where the paths meet.
	Add *onnx.NodeProto
	// Main holds the main path's convs in order: 2 in a basic block, 3 in
	// a bottleneck.
	Main []*onnx.NodeProto
	// Shortcut is the projection conv, or nil for an identity shortcut.
	Shortcut *onnx.NodeProto
	// Pool is an AveragePool before the projection (ResNet-D), or nil.
	Pool *onnx.NodeProto
}

// Stem is the part of the graph from its input to the first block.
type Stem struct {
	// Convs holds the stem's convs in order.
	Convs []*onnx.NodeProto
	// Nodes holds every node of the stem in order.
	Nodes []*onnx.NodeProto
	// MaxPool is the stem's max pool, nil in the CIFAR layout.
	MaxPool *onnx.NodeProto
}

// String lists the stem's operators in order, "Conv → BatchNormalization →
// Relu → MaxPool", for messages about stems a caller does not expect.
func (s Stem) String() string { return opChain(s.Nodes) }

// ResNet is the structure of a ResNet graph. Its nodes are the graph's own,
// so a rewrite can change them in place.
type ResNet struct {
	// Index is the graph's producer/consumer index, as Find saw it.
	Index  *graph.Index
	Stem   Stem
	Blocks []*Block
	// StemErr says why no stem was recognised (Stem is then empty). A
	// missing stem is no error of Find: the blocks alone serve the passes
	// that rewrite blocks, and queries on a piece of a ResNet, such as a
	// single block.
	StemErr error
}

// pathOps are the operators a residual path may pass through.
var pathOps = map[string]bool{"Conv": true, "BatchNormalization": true, "Relu": true, "Identity": true, "AveragePool": true}

// isONNX reports whether n is an operator of ONNX's default domain. Only
// those are matched: a node of another domain may share an ONNX
// operator's name but not its rules, and graph.Validate does not check
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

// convsOf returns the convs among nodes listed last first, in graph order.
func convsOf(nodes []*onnx.NodeProto) []*onnx.NodeProto {
	var convs []*onnx.NodeProto
	for i := len(nodes) - 1; i >= 0; i-- {
		if nodes[i].GetOpType() == "Conv" {
			convs = append(convs, nodes[i])
		}
	}
	return convs
}

// Find finds the stem and the residual blocks of a ResNet graph. The
// graph's nodes may be in any order (blocks are found and labelled in
// topological order); g itself is not changed.
func Find(g *onnx.GraphProto) (*ResNet, error) {
	nodes, err := sortedNodes(g)
	if err != nil {
		return nil, err
	}
	r := &ResNet{Index: graph.NewIndex(g)}
	for _, n := range nodes {
		// Export and the trainer query graphs Validate has not seen: an
		// Add that lacks an output hands nothing on, so it ends no block.
		if n.GetOpType() != "Add" || !isONNX(n) || len(n.GetInput()) != 2 || len(n.GetOutput()) == 0 {
			continue
		}
		forkA, pathA := walkBack(r.Index, n.GetInput()[0])
		forkB, pathB := walkBack(r.Index, n.GetInput()[1])
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
		b := &Block{Input: forkA, Add: n, Main: convsA}
		if len(convsB) == 1 {
			b.Shortcut = convsB[0]
			for _, p := range pathB {
				if p.GetOpType() == "AveragePool" {
					b.Pool = p
				}
			}
		}
		r.Blocks = append(r.Blocks, b)
	}
	if len(r.Blocks) == 0 {
		return nil, fmt.Errorf("not a ResNet: expected residual blocks (an Add whose two inputs come from one value through convolutions), found none among %d nodes (%s)", len(nodes), opSummary(nodes))
	}
	r.label()
	r.StemErr = r.findStem(g)
	return r, nil
}

// sortedNodes returns g's nodes in topological order, leaving g's own
// order as it is.
func sortedNodes(g *onnx.GraphProto) ([]*onnx.NodeProto, error) {
	sorted := &onnx.GraphProto{Node: slices.Clone(g.GetNode())}
	if err := graph.TopoSort(sorted); err != nil {
		return nil, err
	}
	return sorted.GetNode(), nil
}

// label names blocks as torchvision does: a stage starts at the first
// block and at every later block with a projection shortcut.
func (r *ResNet) label() {
	stage, index := 0, 0
	for i, b := range r.Blocks {
		if i == 0 || b.Shortcut != nil {
			stage, index = stage+1, 0
		} else {
			index++
		}
		b.Label = fmt.Sprintf("layer%d.%d", stage, index)
	}
}

// findStem walks back from the first block's input to the graph input; the
// way must hold only Conv, BatchNormalization, Relu, Identity and MaxPool.
func (r *ResNet) findStem(g *onnx.GraphProto) error {
	inputs := map[string]bool{}
	for _, in := range g.GetInput() {
		inputs[in.GetName()] = true
	}
	v := r.Blocks[0].Input
	var nodes []*onnx.NodeProto
	for !inputs[v] {
		p := r.Index.Producer[v]
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
	var s Stem
	s.Nodes = nodes
	for _, n := range nodes {
		switch n.GetOpType() {
		case "Conv":
			s.Convs = append(s.Convs, n)
		case "MaxPool":
			s.MaxPool = n
		}
	}
	if len(s.Convs) == 0 {
		return fmt.Errorf("unexpected stem: expected a convolution between the input and the first block, found %s", s)
	}
	r.Stem = s
	return nil
}

// opChain lists the nodes' operators joined by arrows, or "nothing".
func opChain(nodes []*onnx.NodeProto) string {
	if len(nodes) == 0 {
		return "nothing"
	}
	ops := make([]string, len(nodes))
	for i, n := range nodes {
		ops[i] = n.GetOpType()
	}
	return strings.Join(ops, " → ")
}

// opSummary lists the distinct op types among nodes, for errors about
// graphs that are not ResNets.
func opSummary(nodes []*onnx.NodeProto) string {
	seen := map[string]bool{}
	var ops []string
	for _, n := range nodes {
		if !seen[n.GetOpType()] {
			seen[n.GetOpType()] = true
			ops = append(ops, n.GetOpType())
		}
	}
	return "ops: " + strings.Join(ops, ", ")
}

// Kernel returns a conv's 2-D kernel size from its kernel_shape or, when
// that is absent (ONNX lets the weight imply it), from its constant
// weight.
func (r *ResNet) Kernel(conv *onnx.NodeProto) ([2]int64, error) {
	if k := graph.IntsAttr(conv, "kernel_shape", nil); len(k) == 2 {
		return [2]int64{k[0], k[1]}, nil
	}
	if len(conv.GetInput()) > 1 {
		if w := r.Index.Constant(conv.GetInput()[1]); w != nil && len(w.GetDims()) == 4 {
			return [2]int64{w.GetDims()[2], w.GetDims()[3]}, nil
		}
	}
	return [2]int64{}, fmt.Errorf("conv %q: expected a 2-D kernel_shape or a constant 4-D weight", conv.GetName())
}

// LastBlockNorms returns the BatchNormalization node that ends the main
// path of every residual block (the one whose output the block's Add
// reads), in graph order: zero γ starts exactly these at 0 so that each
// block begins as the identity. The nodes are m's own; m is not changed.
func LastBlockNorms(m *graph.Model) ([]*onnx.NodeProto, error) {
	r, err := Find(m.GetGraph())
	if err != nil {
		return nil, err
	}
	var out []*onnx.NodeProto
	for _, b := range r.Blocks {
		last := b.Main[len(b.Main)-1]
		bn := r.Index.SoleConsumer(last.GetOutput()[0])
		if bn == nil || bn.GetOpType() != "BatchNormalization" {
			return nil, fmt.Errorf("block %s: expected a BatchNormalization after its last conv %q", b.Label, last.GetName())
		}
		out = append(out, bn)
	}
	return out, nil
}

// BlockOutputs returns, in graph order, the value each residual block hands
// on: the output of the ReLU that is the sole consumer of the block's Add,
// or the Add's own output where none follows. It lets export cut a
// backbone at stage ends in any ResNet, tweaked or made elsewhere. m is
// not changed.
func BlockOutputs(m *graph.Model) ([]string, error) {
	r, err := Find(m.GetGraph())
	if err != nil {
		return nil, err
	}
	out := make([]string, len(r.Blocks))
	for i, b := range r.Blocks {
		out[i] = b.Add.GetOutput()[0]
		if relu := r.Index.Chain(out[i], "Relu"); relu != nil {
			out[i] = relu[0].GetOutput()[0]
		}
	}
	return out, nil
}
