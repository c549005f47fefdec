package train

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// concat joins NCHW tensors along the channel axis (ONNX Concat, axis 1):
// a head whose branches end in one output (CenterNet's heatmap, size and
// offset) needs it. Its gradient is the output's gradient cut back into
// the inputs' channel ranges, one concatSlice per input.
type concat[T Float] struct {
	opBase
	// channels are the inputs' channel counts; plane is H×W.
	channels []int
	plane    int
	y        buffer[T]
}

// concatSlice is the gradient of one input of a concat: channels [from,
// from+channels) of the output's gradient.
type concatSlice[T Float] struct {
	opBase
	from, channels, total, plane int
	dx                           buffer[T]
}

func (l *lowerer[T]) concat(node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	axis := graph.IntAttr(node, "axis", 0)
	if axis < 0 {
		axis += int64(len(out))
	}
	if len(out) != 4 || axis != 1 {
		return nil, fmt.Errorf("expected a channel concatenation of [N C H W] tensors (axis 1), found axis %d of rank %d", graph.IntAttr(node, "axis", 0), len(out))
	}
	ins := []*G.Node{x}
	for _, name := range node.GetInput()[1:] {
		in := l.env[name]
		if in == nil {
			return nil, fmt.Errorf("input %q is not computed by the lowered graph", name)
		}
		in, err := l.as(in, false)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	return lowerConcat[T](node.GetName(), ins, out)
}

func lowerConcat[T Float](name string, ins []*G.Node, out tensor.Shape) (*G.Node, error) {
	op := &concat[T]{opBase: newBase("Concat", name, out, repeatDims(4, len(ins))...), plane: out[2] * out[3], y: newOutput[T](out)}
	total := 0
	for _, in := range ins {
		s := in.Shape()
		if len(s) != 4 || s[0] != out[0] || s[2] != out[2] || s[3] != out[3] {
			return nil, fmt.Errorf("input [%v]: expected [%d C %d %d] to concatenate into [%v]", s, out[0], out[2], out[3], out)
		}
		op.channels = append(op.channels, s[1])
		total += s[1]
	}
	if total != out[1] {
		return nil, fmt.Errorf("inputs of %d channels in all: expected %d", total, out[1])
	}
	return apply(op, ins...)
}

func (o *concat[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	total := o.shape[1]
	for n := range o.shape[0] {
		at := n * total * o.plane
		for i, c := range o.channels {
			size := c * o.plane
			at += copy(o.y.data[at:at+size], v[i][n*size:(n+1)*size])
		}
	}
	return o.y.t, nil
}

func (o *concat[T]) DiffWRT(inputs int) []bool {
	d := make([]bool, inputs)
	for i := range d {
		d[i] = true
	}
	return d
}

func (o *concat[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx := make(G.Nodes, len(inputs))
	from := 0
	for i, c := range o.channels {
		s := inputs[i].Shape()
		var err error
		dx[i], err = apply(&concatSlice[T]{opBase: newBase("ConcatGrad", fmt.Sprintf("%s input %d", o.name, i), s, 4),
			from: from, channels: c, total: o.shape[1], plane: o.plane, dx: newOutput[T](s)}, grad)
		if err != nil {
			return nil, err
		}
		from += c
	}
	return dx, nil
}

func (o *concatSlice[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	size := o.channels * o.plane
	for n := range o.shape[0] {
		at := (n*o.total + o.from) * o.plane
		copy(o.dx.data[n*size:(n+1)*size], v[0][at:at+size])
	}
	return o.dx.t, nil
}

func (o *concat[T]) output() *buffer[T]      { return &o.y }
func (o *concatSlice[T]) output() *buffer[T] { return &o.dx }
