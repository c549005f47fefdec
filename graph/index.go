package graph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Index maps each value name to the node that produces it and the nodes that
// consume it. It is a snapshot: rebuild it after changing the graph.
type Index struct {
	Producer  map[string]*onnx.NodeProto
	Consumers map[string][]*onnx.NodeProto
	// Initializers maps an initializer's name to it.
	Initializers map[string]*onnx.TensorProto
	// Outputs holds the names of the graph outputs.
	Outputs map[string]bool
}

// NewIndex builds the index of a graph.
func NewIndex(g *onnx.GraphProto) *Index {
	ix := &Index{
		Producer:     map[string]*onnx.NodeProto{},
		Consumers:    map[string][]*onnx.NodeProto{},
		Initializers: map[string]*onnx.TensorProto{},
		Outputs:      map[string]bool{},
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				ix.Producer[o] = n
			}
		}
		for _, in := range n.GetInput() {
			if in != "" {
				ix.Consumers[in] = append(ix.Consumers[in], n)
			}
		}
	}
	for _, t := range g.GetInitializer() {
		ix.Initializers[t.GetName()] = t
	}
	for _, o := range g.GetOutput() {
		ix.Outputs[o.GetName()] = true
	}
	return ix
}

// SoleConsumer returns the only node consuming value v, or nil if v has
// several consumers, none, or is a graph output.
func (ix *Index) SoleConsumer(v string) *onnx.NodeProto {
	if c := ix.Consumers[v]; len(c) == 1 && !ix.Outputs[v] {
		return c[0]
	}
	return nil
}

// TopoSort orders the graph's nodes so that every node comes after the
// producers of its inputs. Among nodes that are ready at the same time it
// keeps their existing order, so an already sorted graph is left unchanged.
// It fails on a cycle, naming the nodes on it.
func TopoSort(g *onnx.GraphProto) error {
	nodes := g.GetNode()
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o != "" {
				producer[o] = i
			}
		}
	}
	indegree := make([]int, len(nodes))
	users := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, in := range n.GetInput() {
			if p, ok := producer[in]; ok && in != "" {
				indegree[i]++
				users[p] = append(users[p], i)
			}
		}
	}
	// ready is kept sorted by original position, so ties keep the input order.
	var ready []int
	for i := range nodes {
		if indegree[i] == 0 {
			ready = append(ready, i)
		}
	}
	order := make([]*onnx.NodeProto, 0, len(nodes))
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, nodes[i])
		for _, u := range users[i] {
			indegree[u]--
			if indegree[u] == 0 {
				at := sort.SearchInts(ready, u)
				ready = append(ready, 0)
				copy(ready[at+1:], ready[at:])
				ready[at] = u
			}
		}
	}
	if len(order) != len(nodes) {
		var stuck []string
		for i, n := range nodes {
			if indegree[i] > 0 {
				stuck = append(stuck, nodeLabel(n))
			}
		}
		return fmt.Errorf("graph has a cycle through nodes %s", strings.Join(stuck, ", "))
	}
	g.Node = order
	return nil
}

// nodeLabel names a node for error messages: its name, or its op type and
// first output when it has no name.
func nodeLabel(n *onnx.NodeProto) string {
	if n.GetName() != "" {
		return fmt.Sprintf("%q (%s)", n.GetName(), n.GetOpType())
	}
	if len(n.GetOutput()) > 0 {
		return fmt.Sprintf("%s producing %q", n.GetOpType(), n.GetOutput()[0])
	}
	return n.GetOpType()
}

// Constant returns the initializer that value v holds, looking through
// Identity nodes (eval-mode PyTorch exports route shared weights through
// them), or nil if v is computed.
func (ix *Index) Constant(v string) *onnx.TensorProto {
	for {
		if t := ix.Initializers[v]; t != nil {
			return t
		}
		p := ix.Producer[v]
		if p == nil || p.GetOpType() != "Identity" || len(p.GetInput()) != 1 {
			return nil
		}
		v = p.GetInput()[0]
	}
}

// Chain follows value v forward through sole consumers of the given op
// types, in order (each reading the previous output as its first input),
// and returns the matched nodes, or nil when the graph does not continue
// that way.
func (ix *Index) Chain(v string, ops ...string) []*onnx.NodeProto {
	var nodes []*onnx.NodeProto
	for _, op := range ops {
		n := ix.SoleConsumer(v)
		if n == nil || n.GetOpType() != op || len(n.GetInput()) == 0 || n.GetInput()[0] != v || len(n.GetOutput()) == 0 {
			return nil
		}
		nodes = append(nodes, n)
		v = n.GetOutput()[0]
	}
	return nodes
}

// DataInputs returns the graph inputs that are not initializers: the
// values a caller feeds (older exporters also list weights as inputs).
func DataInputs(g *onnx.GraphProto) []*onnx.ValueInfoProto {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	var out []*onnx.ValueInfoProto
	for _, in := range g.GetInput() {
		if !inits[in.GetName()] {
			out = append(out, in)
		}
	}
	return out
}
