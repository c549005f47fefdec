package export

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/structure"
)

// setInputShape declares the input's batch (symbolic "batch", or
// opts.Batch) and spatial size (the source's, opts.InputSize, or symbolic
// "height" and "width" with opts.DynamicSize), and checks with shape
// inference that the network fits that size.
func setInputShape(m *graph.Model, opts Options) error {
	g := m.GetGraph()
	in, err := dataInput(g)
	if err != nil {
		return err
	}
	s, _, _ := graph.ShapeOf(in)
	s[0] = graph.Dim{Param: "batch"}
	if opts.Batch > 0 {
		s[0] = graph.Dim{Size: opts.Batch}
	}
	switch {
	case opts.DynamicSize:
		s[2], s[3] = graph.Dim{Param: "height"}, graph.Dim{Param: "width"}
	case opts.InputSize != nil:
		s[2], s[3] = graph.Dim{Size: opts.InputSize[0]}, graph.Dim{Size: opts.InputSize[1]}
	}
	if opts.DynamicSize || opts.InputSize != nil {
		padShortcutPools(g)
	}
	g.Input[0] = graph.ValueInfo(in.GetName(), graph.Float, s)
	if _, err := graph.InferShapes(m); err != nil {
		return fmt.Errorf("input shape %v does not fit the network: %w", s, err)
	}
	return nil
}

// padShortcutPools gives each ResNet-D shortcut pool without padding an
// end padding of stride−1, excluded from its count: ceil_mode's result.
// A model tweaked at a size whose stages are all even (224) may have been
// written without it, and at another size an odd stage would make the
// shortcut one row shorter than the main path's strided conv, so that the
// block's Add fails. At sizes that divide by the stride no window reaches
// the padding, so the model's outputs there do not change. A graph that is
// not a ResNet has no such pools and is left as it is.
func padShortcutPools(g *onnx.GraphProto) {
	r, err := structure.Find(g)
	if err != nil {
		return
	}
	for _, b := range r.Blocks {
		p := b.Pool
		if p == nil || graph.StringAttr(p, "auto_pad", "NOTSET") != "NOTSET" || graph.IntAttr(p, "ceil_mode", 0) != 0 || graph.IntAttr(p, "count_include_pad", 0) != 0 {
			continue
		}
		k, stride := graph.IntsAttr(p, "kernel_shape", nil), graph.IntsAttr(p, "strides", nil)
		pads := graph.IntsAttr(p, "pads", []int64{0, 0, 0, 0})
		if len(k) != 2 || !slices.Equal(k, stride) || !slices.Equal(pads, []int64{0, 0, 0, 0}) {
			continue
		}
		graph.SetAttr(p, graph.AttrInts("pads", 0, 0, stride[0]-1, stride[1]-1))
	}
}

// minIRVersion is the IR version that came with each opset newer than
// those graph.IRVersion covers (ONNX's docs/Versioning.md).
var minIRVersion = map[int64]int64{19: 9, 20: 9, 21: 10}

// setOpset declares the default-domain opset, raising the IR version where
// the opset needs a newer one. It changes nothing for opset 0, and refuses
// an opset at which some node is not known to be valid: each operator must
// be one graph.Validate describes at that opset, and the model must pass
// Validate there.
func setOpset(m *graph.Model, opset int64) error {
	if opset == 0 {
		return nil
	}
	for _, n := range m.GetGraph().GetNode() {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			continue
		}
		if !graph.KnowsOp(n.GetOpType(), opset) {
			return fmt.Errorf("opset %d: cannot check node %s at that opset (bot-onnx's validator does not describe %s there); keep the model's opset %d", opset, label(n), n.GetOpType(), m.Opset())
		}
	}
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			o.Version = opset
		}
	}
	m.IrVersion = max(m.GetIrVersion(), minIRVersion[opset])
	if err := graph.Validate(m); err != nil {
		return fmt.Errorf("opset %d: %w", opset, err)
	}
	return nil
}

// declareOutputs writes each graph output's shape as inferred, keeping its
// element type. Where inference cannot tell (an operator it does not know
// on the way), the source's own declaration of that output is kept, with
// its first dimension set to the input's batch; an output with neither is
// declared without a shape. Feature outputs get a doc string with their
// stride.
func declareOutputs(m *graph.Model, features []Stage) error {
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return err
	}
	doc := map[string]string{}
	for _, f := range features {
		doc[f.Name] = fmt.Sprintf("feature map of stage %s: stride %d, %d channels", f.Name, f.Stride, f.Channels)
	}
	g := m.GetGraph()
	in, _, _ := graph.ShapeOf(g.GetInput()[0])
	for i, o := range g.GetOutput() {
		elem := o.GetType().GetTensorType().GetElemType()
		s, ok := shapes[o.GetName()]
		if declared, _, has := graph.ShapeOf(o); !ok && has && len(declared) > 0 {
			s, ok = declared, true
			s[0] = in[0]
		}
		g.Output[i] = tensorInfo(o.GetName(), elem)
		if ok {
			g.Output[i] = graph.ValueInfo(o.GetName(), elem, s)
		}
		g.Output[i].DocString = doc[o.GetName()]
	}
	return nil
}

// tensorInfo declares a tensor value of the given element type without a
// shape.
func tensorInfo(name string, elem int32) *onnx.ValueInfoProto {
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{
		Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: elem}}}}
}
