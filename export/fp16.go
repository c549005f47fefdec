package export

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
)

// fp16Ops are the operators ToFloat16 converts: every float input and
// output of each is of the one type T that float16 can take, and ONNX
// Runtime's CPU provider runs each in float16 (with a float16 kernel, or
// through the float kernel with casts it inserts itself). Operators with
// float inputs of a fixed type (Resize's scales, for one) or without such
// support are refused rather than guessed at.
var fp16Ops = map[string]bool{
	"Conv": true, "BatchNormalization": true, "Relu": true, "MaxPool": true, "AveragePool": true,
	"GlobalAveragePool": true, "Add": true, "Sub": true, "Mul": true, "Div": true, "Flatten": true,
	"Gemm": true, "Identity": true, "Softmax": true, "Sigmoid": true, "Reshape": true, "Concat": true,
	"Cast": true,
}

// ToFloat16 converts a float32 model to float16 throughout: float
// initializers are rounded to float16 (ties to even), the graph's float
// inputs and outputs become float16, and a Cast to float becomes a Cast to
// float16. It refuses a node whose operator is not in fp16Ops, or of
// another domain, and a weight that float16 cannot hold (beyond ±65504).
// m is changed in place only when it succeeds.
func ToFloat16(m *graph.Model) error {
	g := m.GetGraph()
	var refused []string
	for _, n := range g.GetNode() {
		if (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") || !fp16Ops[n.GetOpType()] {
			refused = append(refused, label(n))
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("fp16: no float16 conversion for %s (%d %s): the float16 export handles %s",
			strings.Join(refused[:min(3, len(refused))], ", "), len(refused), report.Plural(len(refused), "node", "nodes"), opList(fp16Ops))
	}
	inits := make([]*onnx.TensorProto, len(g.GetInitializer()))
	for i, t := range g.GetInitializer() {
		inits[i] = t
		if t.GetDataType() != graph.Float {
			continue
		}
		v, err := graph.Floats(t)
		if err != nil {
			return fmt.Errorf("fp16: %w", err)
		}
		for _, x := range v {
			if math.Abs(float64(x)) > 65504 {
				return fmt.Errorf("fp16: initializer %q holds %g, beyond float16's largest value 65504", t.GetName(), x)
			}
		}
		inits[i] = graph.Float16Tensor(t.GetName(), t.GetDims(), v)
	}
	g.Initializer = inits
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Cast" && graph.IntAttr(n, "to", 0) == int64(graph.Float) {
			graph.SetAttr(n, graph.AttrInt("to", int64(graph.Float16)))
		}
	}
	for _, v := range slices.Concat(g.GetInput(), g.GetOutput()) {
		if tt := v.GetType().GetTensorType(); tt != nil && tt.GetElemType() == graph.Float {
			tt.ElemType = graph.Float16
		}
	}
	return nil
}

// float32Borders gives a float16 model float32 inputs and outputs: a Cast
// to float16 after each float16 input and a Cast to float before each
// float16 output, so callers feed and read float32 under the same names.
func float32Borders(m *graph.Model) {
	g := m.GetGraph()
	nm := graph.NewNamer(g)
	var casts []*onnx.NodeProto
	for _, in := range g.GetInput() {
		tt := in.GetType().GetTensorType()
		if tt.GetElemType() != graph.Float16 {
			continue
		}
		half := nm.Fresh(in.GetName() + "_fp16")
		for _, n := range g.GetNode() {
			graph.ReplaceInput(n, in.GetName(), half)
		}
		casts = append(casts, castNode(nm, in.GetName(), half, graph.Float16))
		tt.ElemType = graph.Float
	}
	g.Node = append(casts, g.Node...)
	for _, out := range g.GetOutput() {
		tt := out.GetType().GetTensorType()
		if tt.GetElemType() != graph.Float16 {
			continue
		}
		name, half := out.GetName(), nm.Fresh(out.GetName()+"_fp16")
		graph.RenameValue(g, name, half)
		out.Name = name
		g.Node = append(g.Node, castNode(nm, half, name, graph.Float))
		tt.ElemType = graph.Float
	}
}

func castNode(nm *graph.Namer, from, to string, elem int32) *onnx.NodeProto {
	return &onnx.NodeProto{
		Name: nm.Fresh("cast_" + to), OpType: "Cast", Input: []string{from}, Output: []string{to},
		Attribute: []*onnx.AttributeProto{graph.AttrInt("to", int64(elem))},
	}
}

// opList lists a set's operators in order, for messages.
func opList(ops map[string]bool) string {
	names := make([]string, 0, len(ops))
	for op := range ops {
		names = append(names, op)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
