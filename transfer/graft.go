package transfer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
)

// LogitsName is the output of every model a head makes.
const LogitsName = "logits"

// MetaHead is the metadata key under which a model made here records its
// head as JSON (HeadRecord). The backbone's own metadata (how it was
// trained, its mean and std, its features) is kept as it was.
const MetaHead = "bot-onnx.head"

// HeadRecord says which head a model ends in and how it was made.
type HeadRecord struct {
	Head    string `json:"head"`
	Feature string `json:"feature"`
	Classes int    `json:"classes"`
	Seed    uint64 `json:"seed"`
}

// graft is a head being grafted onto a copy of a backbone.
type graft struct {
	m     *graph.Model
	g     *onnx.GraphProto
	names *graph.Namer
	rng   *rand.Rand
	// input is the image input's shape and feature the chosen feature's.
	input, feature graph.Shape
	featureName    string
	record         HeadRecord
}

// startGraft checks the request, copies backbone, keeps only the feature
// output (pruning what only the other outputs needed) and infers the
// shapes the head needs.
func startGraft(backbone *graph.Model, head, feature string, classes int, seed uint64) (*graft, error) {
	if classes < 2 {
		return nil, fmt.Errorf("transfer: %s head with %d classes: expected at least 2", head, classes)
	}
	var names []string
	found := false
	for _, o := range backbone.GetGraph().GetOutput() {
		names = append(names, o.GetName())
		found = found || o.GetName() == feature
	}
	if !found {
		return nil, fmt.Errorf("transfer: the backbone has no output %q: expected one of its outputs %s",
			feature, strings.Join(names, ", "))
	}
	m := backbone.Clone()
	g := m.GetGraph()
	for _, o := range g.GetOutput() {
		if o.GetName() == feature {
			g.Output = []*onnx.ValueInfoProto{o}
			break
		}
	}
	if err := graph.Clean(g); err != nil {
		return nil, fmt.Errorf("transfer: the backbone: %w", err)
	}
	in, err := imageInput(g)
	if err != nil {
		return nil, err
	}
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return nil, fmt.Errorf("transfer: the backbone: %w", err)
	}
	f := shapes[feature]
	if _, elem, _ := graph.ShapeOf(g.GetOutput()[0]); elem != graph.Float || len(f) != 4 || !f[1].Known() {
		return nil, fmt.Errorf("transfer: feature %q: expected a float tensor [N C H W] with a known channel count, found %s of shape [%v]",
			feature, strings.ToLower(onnx.TensorProto_DataType(elem).String()), f)
	}
	s := &graft{
		m: m, g: g, names: graph.NewNamer(g),
		rng:   rand.New(rand.NewPCG(seed, 0x68656164)), // "head"
		input: in, feature: f, featureName: feature,
		record: HeadRecord{Head: head, Feature: feature, Classes: classes, Seed: seed},
	}
	// Free the name of the output for the head's last node.
	if fresh := s.names.Fresh(LogitsName); fresh != LogitsName {
		graph.RenameValue(g, LogitsName, fresh)
	}
	return s, nil
}

// imageInput returns the shape of the graph's one input that is not an
// initializer: the image batch, a float tensor of rank 4.
func imageInput(g *onnx.GraphProto) (graph.Shape, error) {
	found := graph.DataInputs(g)
	if len(found) != 1 {
		return nil, fmt.Errorf("transfer: the backbone: expected one graph input (the image batch), found %d", len(found))
	}
	s, elem, ok := graph.ShapeOf(found[0])
	if !ok || len(s) != 4 || elem != graph.Float {
		return nil, fmt.Errorf("transfer: the backbone's input %q: expected a float tensor [N C H W], found %s of shape [%v]",
			found[0].GetName(), strings.ToLower(onnx.TensorProto_DataType(elem).String()), s)
	}
	return s, nil
}

// param adds an initializer under a fresh name based on base.
func (s *graft) param(base string, dims []int64, data []float32) string {
	name := s.names.Fresh(base)
	s.g.Initializer = append(s.g.Initializer, graph.FloatTensor(name, dims, data))
	return name
}

// xavier draws a weight of the given dims (out, in, kernel…) Xavier-uniform,
// fans counted as channels × kernel area.
func (s *graft) xavier(base string, dims ...int64) string {
	area := graph.NumElements(dims[2:])
	n := graph.NumElements(dims)
	return s.param(base, dims, models.XavierUniform(s.rng, n, dims[1]*area, dims[0]*area))
}

// normal draws a weight of the given dims from N(0, std²).
func (s *graft) normal(base string, std float64, dims ...int64) string {
	v := make([]float32, graph.NumElements(dims))
	for i := range v {
		v[i] = float32(std * s.rng.NormFloat64())
	}
	return s.param(base, dims, v)
}

// finish declares LogitsName as the one output with its inferred shape,
// records the head, and checks the model.
func (s *graft) finish() (*graph.Model, error) {
	if err := graph.TopoSort(s.g); err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	shapes, err := graph.InferShapes(s.m)
	if err != nil {
		return nil, fmt.Errorf("transfer: %s head on %q: %w", s.record.Head, s.featureName, err)
	}
	out, ok := shapes[LogitsName]
	if !ok {
		return nil, fmt.Errorf("transfer: %s head on %q: the shape of %q cannot be inferred", s.record.Head, s.featureName, LogitsName)
	}
	s.g.Output = []*onnx.ValueInfoProto{graph.ValueInfo(LogitsName, graph.Float, out)}
	record, _ := json.Marshal(s.record) // a struct of plain fields always marshals
	s.m.SetMetadata(MetaHead, string(record))
	if err := graph.Validate(s.m); err != nil {
		return nil, fmt.Errorf("transfer: the model with the %s head is invalid (a bug in bot-onnx, please report it): %w", s.record.Head, err)
	}
	return s.m, nil
}
