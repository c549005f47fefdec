package graph

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Builder assembles a graph node by node with typed helpers for the
// operators ResNets use. Each helper names its node, and the node's single
// output value takes the same name, so a tensor can be traced to the layer
// that makes it. Misuse (a name given twice) is recorded and reported by
// Finish, so model code can chain calls without checking each one.
type Builder struct {
	g       *onnx.GraphProto
	opset   int64
	values  map[string]bool
	nodes   map[string]bool
	outputs []string
	err     error
}

// NewBuilder starts an empty graph with the given name and default-domain opset.
func NewBuilder(name string, opset int64) *Builder {
	return &Builder{
		g:      &onnx.GraphProto{Name: name},
		opset:  opset,
		values: map[string]bool{},
		nodes:  map[string]bool{},
	}
}

func (b *Builder) claimValue(name string) {
	if b.values[name] && b.err == nil {
		b.err = fmt.Errorf("value name %q defined twice", name)
	}
	b.values[name] = true
}

// Input declares a float32 graph input.
func (b *Builder) Input(name string, s Shape) string {
	b.claimValue(name)
	b.g.Input = append(b.g.Input, ValueInfo(name, Float, s))
	return name
}

// Param adds a float32 initializer and returns its name.
func (b *Builder) Param(name string, dims []int64, data []float32) string {
	b.claimValue(name)
	b.g.Initializer = append(b.g.Initializer, FloatTensor(name, dims, data))
	return name
}

// Node appends a node of the given op type whose single output is named
// like the node, and returns that output's name.
func (b *Builder) Node(opType, name string, inputs []string, attrs ...*onnx.AttributeProto) string {
	if b.nodes[name] && b.err == nil {
		b.err = fmt.Errorf("node name %q used twice", name)
	}
	b.nodes[name] = true
	b.claimValue(name)
	b.g.Node = append(b.g.Node, &onnx.NodeProto{
		Name:      name,
		OpType:    opType,
		Input:     inputs,
		Output:    []string{name},
		Attribute: attrs,
	})
	return name
}

// ConvAttrs are a 2-D convolution's attributes. Zero values mean stride 1,
// no padding, dilation 1, group 1.
type ConvAttrs struct {
	Kernel [2]int64
	Stride [2]int64
	Pads   [4]int64 // top, left, bottom, right
	Group  int64
	Dilate [2]int64
}

func orOne(v [2]int64) [2]int64 {
	for i := range v {
		if v[i] == 0 {
			v[i] = 1
		}
	}
	return v
}

// Conv adds a Conv node. bias may be "" for none.
func (b *Builder) Conv(name, x, w, bias string, a ConvAttrs) string {
	stride, dil := orOne(a.Stride), orOne(a.Dilate)
	group := a.Group
	if group == 0 {
		group = 1
	}
	inputs := []string{x, w}
	if bias != "" {
		inputs = append(inputs, bias)
	}
	return b.Node("Conv", name, inputs,
		AttrInts("dilations", dil[:]...),
		AttrInt("group", group),
		AttrInts("kernel_shape", a.Kernel[:]...),
		AttrInts("pads", a.Pads[:]...),
		AttrInts("strides", stride[:]...))
}

// BatchNorm adds an inference-form BatchNormalization node. momentum follows
// ONNX's convention: running = running·momentum + batch·(1−momentum).
func (b *Builder) BatchNorm(name, x, scale, bias, mean, variance string, epsilon, momentum float32) string {
	return b.Node("BatchNormalization", name, []string{x, scale, bias, mean, variance},
		AttrFloat("epsilon", epsilon), AttrFloat("momentum", momentum))
}

// Relu adds a Relu node.
func (b *Builder) Relu(name, x string) string { return b.Node("Relu", name, []string{x}) }

// Add adds an elementwise Add node.
func (b *Builder) Add(name, x, y string) string { return b.Node("Add", name, []string{x, y}) }

// PoolAttrs are a 2-D pooling's attributes. Zero stride means 1.
type PoolAttrs struct {
	Kernel          [2]int64
	Stride          [2]int64
	Pads            [4]int64
	CeilMode        bool
	CountIncludePad bool // AveragePool only
}

func (a PoolAttrs) common() []*onnx.AttributeProto {
	stride := orOne(a.Stride)
	attrs := []*onnx.AttributeProto{
		AttrInts("kernel_shape", a.Kernel[:]...),
		AttrInts("pads", a.Pads[:]...),
		AttrInts("strides", stride[:]...),
	}
	if a.CeilMode {
		attrs = append(attrs, AttrInt("ceil_mode", 1))
	}
	return attrs
}

// MaxPool adds a MaxPool node.
func (b *Builder) MaxPool(name, x string, a PoolAttrs) string {
	return b.Node("MaxPool", name, []string{x}, a.common()...)
}

// AveragePool adds an AveragePool node; count_include_pad is always written
// so the file says which convention it follows.
func (b *Builder) AveragePool(name, x string, a PoolAttrs) string {
	include := int64(0)
	if a.CountIncludePad {
		include = 1
	}
	return b.Node("AveragePool", name, []string{x}, append(a.common(), AttrInt("count_include_pad", include))...)
}

// GlobalAveragePool adds a GlobalAveragePool node.
func (b *Builder) GlobalAveragePool(name, x string) string {
	return b.Node("GlobalAveragePool", name, []string{x})
}

// Flatten adds a Flatten node.
func (b *Builder) Flatten(name, x string, axis int64) string {
	return b.Node("Flatten", name, []string{x}, AttrInt("axis", axis))
}

// Gemm adds Y = A·Bᵀ + C (transB = 1, the layout of a fully connected
// layer's [out, in] weight). c may be "" for none.
func (b *Builder) Gemm(name, a, w, c string) string {
	inputs := []string{a, w}
	if c != "" {
		inputs = append(inputs, c)
	}
	return b.Node("Gemm", name, inputs,
		AttrFloat("alpha", 1), AttrFloat("beta", 1), AttrInt("transB", 1))
}

// Resize adds a Resize node that resamples x by the given per-axis scales
// (one per axis of x, 1 for the batch and channel axes) in mode "linear",
// "nearest" or "cubic" with the given coordinate_transformation_mode, such
// as "half_pixel" (PyTorch's align_corners=False). The scales become an
// initializer named name+".scales"; scales rather than sizes keep the batch
// dimension free at every opset.
func (b *Builder) Resize(name, x string, scales []float32, mode, coordinateMode string) string {
	s := name + ".scales"
	b.claimValue(s)
	b.g.Initializer = append(b.g.Initializer, FloatTensor(s, []int64{int64(len(scales))}, scales))
	return b.Node("Resize", name, []string{x, "", s},
		AttrString("mode", mode), AttrString("coordinate_transformation_mode", coordinateMode))
}

// Output marks value v as a graph output under the name as, renaming v
// where it is produced and consumed.
func (b *Builder) Output(v, as string) {
	if v != as {
		b.claimValue(as)
		RenameValue(b.g, v, as)
		delete(b.values, v)
	}
	b.outputs = append(b.outputs, as)
}

// Finish completes the model: it infers every value's shape, declares the
// outputs with their inferred shapes, and validates the result.
func (b *Builder) Finish(producer, version string) (*Model, error) {
	if b.err != nil {
		return nil, b.err
	}
	m := &Model{&onnx.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*onnx.OperatorSetIdProto{{Domain: "", Version: b.opset}},
		ProducerName:    producer,
		ProducerVersion: version,
		Graph:           b.g,
	}}
	shapes, err := InferShapes(m)
	if err != nil {
		return nil, err
	}
	for _, o := range b.outputs {
		b.g.Output = append(b.g.Output, ValueInfo(o, Float, shapes[o]))
	}
	if err := Validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// RenameValue renames value old to new wherever it appears in the graph:
// node inputs and outputs, graph inputs and outputs, initializers and
// value_info.
func RenameValue(g *onnx.GraphProto, old, new string) {
	for _, n := range g.GetNode() {
		for i, v := range n.Input {
			if v == old {
				n.Input[i] = new
			}
		}
		for i, v := range n.Output {
			if v == old {
				n.Output[i] = new
			}
		}
	}
	for _, lists := range [][]*onnx.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
		for _, vi := range lists {
			if vi.Name == old {
				vi.Name = new
			}
		}
	}
	for _, t := range g.Initializer {
		if t.Name == old {
			t.Name = new
		}
	}
}
