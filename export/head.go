package export

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"google.golang.org/protobuf/proto"
)

// The names of the exported model's values.
const (
	InputName         = "input"
	LogitsName        = "logits"
	ProbabilitiesName = "probabilities"
)

// dataInput returns the graph's one input that is not an initializer: the
// image batch, of rank 4 and element type float.
func dataInput(g *onnx.GraphProto) (*onnx.ValueInfoProto, error) {
	found := graph.DataInputs(g)
	if len(found) != 1 {
		return nil, fmt.Errorf("expected one graph input (the image batch), found %d", len(found))
	}
	s, elem, ok := graph.ShapeOf(found[0])
	if !ok || len(s) != 4 || elem != graph.Float {
		return nil, fmt.Errorf("input %q: expected a float tensor of rank 4 (batch, channels, height, width), found %s of shape [%v]", found[0].GetName(), elemName(elem), s)
	}
	if !s[1].Known() {
		return nil, fmt.Errorf("input %q: expected a fixed channel count, found shape [%v]", found[0].GetName(), s)
	}
	return found[0], nil
}

// normalize prepares a copy of the source for export: the image input is
// named InputName, graph inputs that merely repeat initializers (as older
// exporters write them) are dropped so every weight is a constant,
// value_info is dropped because sizes and types are about to change (the
// outputs are declared afresh at the end), and the nodes are sorted.
func normalize(m *graph.Model) error {
	g := m.GetGraph()
	in, err := dataInput(g)
	if err != nil {
		return err
	}
	g.Input = []*onnx.ValueInfoProto{in}
	g.ValueInfo = nil
	rename(g, in.GetName(), InputName)
	return graph.TopoSort(g)
}

// moveAside renames the value named v, if there is one, to a fresh name,
// which it returns ("" when v is unused), so that v can name another value.
func moveAside(g *onnx.GraphProto, v string) string {
	ix := graph.NewIndex(g)
	taken := ix.Producer[v] != nil || ix.Initializers[v] != nil || ix.Outputs[v]
	for _, in := range g.GetInput() {
		taken = taken || in.GetName() == v
	}
	if !taken {
		return ""
	}
	fresh := graph.NewNamer(g).Fresh(v)
	graph.RenameValue(g, v, fresh)
	return fresh
}

// rename renames value old to new, moving aside a value already named new.
func rename(g *onnx.GraphProto, old, new string) {
	if old != new {
		moveAside(g, new)
		graph.RenameValue(g, old, new)
	}
}

// classifierHead names the one output LogitsName and, with softmax, adds
// ProbabilitiesName = Softmax(logits) over the class axis (1) as a second
// output.
func classifierHead(m *graph.Model, softmax bool) error {
	g := m.GetGraph()
	if len(g.GetOutput()) != 1 {
		return fmt.Errorf("classifier: expected one graph output (the logits), found %d", len(g.GetOutput()))
	}
	rename(g, g.Output[0].GetName(), LogitsName)
	if !softmax {
		return nil
	}
	moveAside(g, ProbabilitiesName)
	g.Node = append(g.Node, &onnx.NodeProto{
		Name: graph.NewNamer(g).Fresh("softmax"), OpType: "Softmax",
		Input: []string{LogitsName}, Output: []string{ProbabilitiesName},
		Attribute: []*onnx.AttributeProto{graph.AttrInt("axis", 1)},
	})
	probs := proto.Clone(g.Output[0]).(*onnx.ValueInfoProto)
	probs.Name = ProbabilitiesName
	g.Output = append(g.Output, probs)
	return nil
}

// cutBackbone replaces the graph's outputs with the named stage ends
// (all stages when names is empty), each renamed to its stage name; Clean
// then drops the pool and the classifier.
func cutBackbone(m *graph.Model, names []string) ([]Stage, error) {
	all, err := Stages(m)
	if err != nil {
		return nil, err
	}
	stages, err := selectStages(all, names)
	if err != nil {
		return nil, err
	}
	g := m.GetGraph()
	// current tracks where each stage's value is while names are moved aside.
	current := make([]string, len(stages))
	for i, s := range stages {
		current[i] = s.Value
	}
	g.Output = nil
	for i, s := range stages {
		if moved := moveAside(g, s.Name); moved != "" {
			for j := range current {
				if current[j] == s.Name {
					current[j] = moved
				}
			}
		}
		graph.RenameValue(g, current[i], s.Name)
		g.Output = append(g.Output, tensorInfo(s.Name, graph.Float))
	}
	return stages, nil
}
