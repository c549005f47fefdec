package ort

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// probeModel is y = Relu(x), x and y float [1, 4]: a model every provider
// runs.
func probeModel() []byte {
	value := func(name string) *onnx.ValueInfoProto {
		dims := []*onnx.TensorShapeProto_Dimension{
			{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 1}},
			{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 4}},
		}
		return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: &onnx.TensorShapeProto{Dim: dims}}}}}
	}
	m := &onnx.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph: &onnx.GraphProto{Name: "probe", Node: []*onnx.NodeProto{{Name: "relu", OpType: "Relu", Input: []string{"x"}, Output: []string{"y"}}},
			Input: []*onnx.ValueInfoProto{value("x")}, Output: []*onnx.ValueInfoProto{value("y")}},
	}
	b, _ := proto.Marshal(m) // a model of plain fields always marshals
	return b
}

// Probe starts and closes a session of a one-node model with opts: whether
// a provider starts here, before a long job counts on it. It returns the
// closed session, whose Provider, Fallback and Skipped say what started
// (for ProviderAuto, which provider auto took), or why none could.
func Probe(opts Options) (*Session, error) {
	s, err := NewSessionFromBytes(probeModel(), opts)
	if err != nil {
		return nil, err
	}
	return s, s.Close()
}
