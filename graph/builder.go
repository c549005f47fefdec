package graph

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Builder adds nodes to a graph with typed helpers for the operators
// ResNets use, so that each operator's attributes and each layer's
// parameters are written in one place, for building a model (NewBuilder)
// and for rewriting one (Edit), as onnx-graphsurgeon's layer() and
// onnxscript's op.* serve both. Each helper names its node, and the
// node's single output value takes the same name, so a tensor can be
// traced to the layer that makes it.
//
// A new graph's names are the caller's: a name given twice is misuse,
// recorded and reported by Finish, so model code can chain calls without
// checking each one. In an existing graph every name given is a base that
// the graph's Namer turns into a fresh one, so nothing added collides
// with what is there.
type Builder struct {
	g     *onnx.GraphProto
	opset int64
	names *Namer
	// fresh makes names fresh (Edit) rather than taking them as given.
	fresh bool
	// at is the node new nodes go before; nil appends them.
	at      *onnx.NodeProto
	outputs []string
	err     error
}

// NewBuilder starts an empty graph with the given name and default-domain opset.
func NewBuilder(name string, opset int64) *Builder {
	return &Builder{
		g:     &onnx.GraphProto{Name: name},
		opset: opset,
		names: &Namer{used: map[string]bool{}},
	}
}

// Edit returns a Builder that adds to the existing graph g, for rewrites.
// names hands out its fresh names; pass the Namer the caller also draws
// from, or nil for a new one of g. New nodes are appended to g's nodes,
// or inserted where InsertBefore says; a rewrite then rewires the
// consumers and calls Clean. Finish is for new graphs only: it refuses.
func Edit(g *onnx.GraphProto, names *Namer) *Builder {
	if names == nil {
		names = NewNamer(g)
	}
	return &Builder{g: g, names: names, fresh: true}
}

// InsertBefore makes the nodes added from now on go just before node at,
// in the order they are added, keeping a rewritten graph readable in file
// order; nil (or a node not in the graph) appends them.
func (b *Builder) InsertBefore(at *onnx.NodeProto) { b.at = at }

// claim returns the name to use for name: name itself in a new graph
// (recording misuse when it is taken), a fresh one in an edited graph.
func (b *Builder) claim(name string) string {
	if b.fresh {
		return b.names.Fresh(name)
	}
	if b.names.used[name] && b.err == nil {
		b.err = fmt.Errorf("name %q given twice", name)
	}
	b.names.used[name] = true
	return name
}

// Input declares a float32 graph input.
func (b *Builder) Input(name string, s Shape) string {
	name = b.claim(name)
	b.g.Input = append(b.g.Input, ValueInfo(name, Float, s))
	return name
}

// Param adds a float32 initializer and returns its name.
func (b *Builder) Param(name string, dims []int64, data []float32) string {
	name = b.claim(name)
	b.g.Initializer = append(b.g.Initializer, FloatTensor(name, dims, data))
	return name
}

// ParamInt64 adds an int64 initializer, such as the shape of a Reshape or
// the K of a TopK, and returns its name.
func (b *Builder) ParamInt64(name string, dims []int64, data []int64) string {
	name = b.claim(name)
	b.g.Initializer = append(b.g.Initializer, Int64Tensor(name, dims, data))
	return name
}

// Node adds a node of the given op type whose single output is named like
// the node, and returns that output's name.
func (b *Builder) Node(opType, name string, inputs []string, attrs ...*onnx.AttributeProto) string {
	return b.NodeOutputs(opType, name, inputs, nil, attrs...)[0]
}

// NodeOutputs adds a node with more than one output, as TopK's values and
// indices: the first output is named like the node, the others name+"."+
// each of more ("indices"), and it returns all their names.
func (b *Builder) NodeOutputs(opType, name string, inputs, more []string, attrs ...*onnx.AttributeProto) []string {
	name = b.claim(name)
	outputs := []string{name}
	for _, o := range more {
		outputs = append(outputs, b.claim(name+"."+o))
	}
	n := &onnx.NodeProto{
		Name:      name,
		OpType:    opType,
		Input:     inputs,
		Output:    outputs,
		Attribute: attrs,
	}
	if i := slices.Index(b.g.Node, b.at); b.at != nil && i >= 0 {
		b.g.Node = slices.Insert(b.g.Node, i, n)
	} else {
		b.g.Node = append(b.g.Node, n)
	}
	return outputs
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

// NewBatchNorm adds a BatchNorm over the given channels with new
// parameters in the state training starts from (γ = 1, β = 0, running
// mean 0, running variance 1), named as PyTorch names them: name.weight,
// name.bias, name.running_mean and name.running_var.
func (b *Builder) NewBatchNorm(name, x string, channels int64, epsilon, momentum float32) string {
	ones := make([]float32, channels)
	for i := range ones {
		ones[i] = 1
	}
	dims := []int64{channels}
	return b.BatchNorm(name, x,
		b.Param(name+".weight", dims, ones),
		b.Param(name+".bias", dims, make([]float32, channels)),
		b.Param(name+".running_mean", dims, make([]float32, channels)),
		b.Param(name+".running_var", dims, ones),
		epsilon, momentum)
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

func (a PoolAttrs) window() []*onnx.AttributeProto {
	stride := orOne(a.Stride)
	return []*onnx.AttributeProto{
		AttrInts("kernel_shape", a.Kernel[:]...),
		AttrInts("pads", a.Pads[:]...),
		AttrInts("strides", stride[:]...),
	}
}

func boolInt(v bool) int64 {
	if v {
		return 1
	}
	return 0
}

// MaxPool adds a MaxPool node.
func (b *Builder) MaxPool(name, x string, a PoolAttrs) string {
	var attrs []*onnx.AttributeProto
	if a.CeilMode {
		attrs = append(attrs, AttrInt("ceil_mode", 1))
	}
	return b.Node("MaxPool", name, []string{x}, append(attrs, a.window()...)...)
}

// AveragePool adds an AveragePool node. ceil_mode and count_include_pad are
// always written, so that the file says which conventions it follows:
// runtimes have had bugs with both.
func (b *Builder) AveragePool(name, x string, a PoolAttrs) string {
	attrs := []*onnx.AttributeProto{AttrInt("ceil_mode", boolInt(a.CeilMode)), AttrInt("count_include_pad", boolInt(a.CountIncludePad))}
	return b.Node("AveragePool", name, []string{x}, append(attrs, a.window()...)...)
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
	s := b.Param(name+".scales", []int64{int64(len(scales))}, scales)
	return b.Node("Resize", name, []string{x, "", s},
		AttrString("mode", mode), AttrString("coordinate_transformation_mode", coordinateMode))
}

// Output marks value v as a graph output under the name as, renaming v
// where it is produced and consumed.
func (b *Builder) Output(v, as string) {
	if v != as {
		as = b.claim(as)
		RenameValue(b.g, v, as)
	}
	b.outputs = append(b.outputs, as)
}

// Finish completes the model: it infers every value's shape, declares the
// outputs with their inferred shapes, and validates the result.
func (b *Builder) Finish(producer, version string) (*Model, error) {
	if b.fresh {
		return nil, fmt.Errorf("finish: graph %q is an existing graph being edited; its model is the caller's", b.g.GetName())
	}
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
