package graph

import (
	"errors"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// TensorInfo is a graph input or output as Inspect reports it: dims are
// numbers, or strings for symbolic ones ("batch"), or nil when unknown;
// Shape is nil when the value carries no shape at all.
type TensorInfo struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape []any  `json:"shape"`
}

// Summary is what a model is, as `bot-onnx inspect` shows it: its
// versions, inputs and outputs, counts, operators, metadata and whether
// it passes Validate.
type Summary struct {
	IRVersion int64        `json:"ir_version"`
	Opset     int64        `json:"opset"`
	Producer  string       `json:"producer"`
	Inputs    []TensorInfo `json:"inputs"`
	Outputs   []TensorInfo `json:"outputs"`
	Params    int64        `json:"params"`
	// MACs and FLOPs (2 × MACs) per image are nil when Count cannot count
	// them; MACsError says why.
	MACs      *int64            `json:"macs"`
	FLOPs     *int64            `json:"flops"`
	MACsError string            `json:"macs_error,omitempty"`
	Nodes     int               `json:"nodes"`
	Ops       map[string]int    `json:"ops"`
	Metadata  map[string]string `json:"metadata"`
	Valid     bool              `json:"valid"`
	Problems  []string          `json:"problems,omitempty"`
}

// Inspect summarises m: its data inputs (initializers left out), outputs,
// parameter and MAC counts, operators, metadata and validation problems.
func Inspect(m *Model) Summary {
	g := m.GetGraph()
	s := Summary{
		IRVersion: m.GetIrVersion(), Opset: m.Opset(),
		Producer: strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion()),
		Ops:      OpCounts(g), Metadata: map[string]string{},
		Nodes: len(g.GetNode()),
		Valid: true,
	}
	for _, v := range DataInputs(g) {
		s.Inputs = append(s.Inputs, Describe(v))
	}
	for _, v := range g.GetOutput() {
		s.Outputs = append(s.Outputs, Describe(v))
	}
	for _, p := range m.GetMetadataProps() {
		s.Metadata[p.GetKey()] = p.GetValue()
	}
	counts, err := Count(m)
	s.Params = counts.Params
	if err != nil {
		s.MACsError = err.Error()
	} else {
		flops := 2 * counts.MACs
		s.MACs, s.FLOPs = &counts.MACs, &flops
	}
	if err := Validate(m); err != nil {
		s.Valid = false
		var verr *ValidationError
		if errors.As(err, &verr) {
			s.Problems = verr.Problems
		} else {
			s.Problems = []string{err.Error()}
		}
	}
	return s
}

// Describe gives a value's name, element type and shape as a TensorInfo.
func Describe(v *onnx.ValueInfoProto) TensorInfo {
	ti := TensorInfo{Name: v.GetName(), Shape: []any{}}
	s, elem, ok := ShapeOf(v)
	ti.Type = onnx.TensorProto_DataType(elem).String()
	if !ok {
		ti.Shape = nil
	}
	for _, d := range s {
		switch {
		case d.Param != "":
			ti.Shape = append(ti.Shape, d.Param)
		case d.Known():
			ti.Shape = append(ti.Shape, d.Size)
		default:
			ti.Shape = append(ti.Shape, nil)
		}
	}
	return ti
}
