package train

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds the engine's Gorgonia ops, one per ONNX operator, each
// over the kernels of package kernel. A forward op's SymDiff adds one
// backward op that computes every input gradient at once into buffers it
// owns, returns the first, and hands the others out through pick ops that
// take the backward node as input, so they run after it.

// pick returns a buffer another op has filled.
type pick[T Float] struct {
	opBase
	out *buffer[T]
}

func (o *pick[T]) Do(...G.Value) (G.Value, error) { return o.out.t, nil }

// addPick makes a node that yields buf once src has run.
func addPick[T Float](kind string, src *G.Node, buf *buffer[T]) (*G.Node, error) {
	return apply(&pick[T]{opBase: newBase(kind, src.Name(), buf.shape, len(src.Shape())), out: buf}, src)
}

// ---- Conv ----

type conv[T Float] struct {
	opBase
	k       *kernel.Conv2D[T]
	hasBias bool
	needDX  bool
	y       buffer[T]
}

type convGrad[T Float] struct {
	opBase
	fwd        *conv[T]
	dx, dw, db buffer[T]
}

// lowerConv lowers a Conv whose input is channels-last when xLast and
// whose output is to be when yLast.
func lowerConv[T Float](n *onnx.NodeProto, x, w, b *G.Node, out tensor.Shape, needDX bool, p kernel.Precision, xLast, yLast bool) (*kernel.Conv2D[T], *G.Node, error) {
	if g := graph.IntAttr(n, "group", 1); g != 1 {
		return nil, nil, fmt.Errorf("group %d: only group 1 is supported", g)
	}
	for _, d := range graph.IntsAttr(n, "dilations", []int64{1, 1}) {
		if d != 1 {
			return nil, nil, fmt.Errorf("dilations %v: only 1 is supported", graph.IntsAttr(n, "dilations", nil))
		}
	}
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 4 || len(ws) != 4 {
		return nil, nil, fmt.Errorf("expected a 2-D convolution, found input [%v] and weight [%v]", xs, ws)
	}
	strides := graph.IntsAttr(n, "strides", []int64{1, 1})
	pads, err := explicitPads(n, xs[2:], []int{ws[2], ws[3]}, strides)
	if err != nil {
		return nil, nil, err
	}
	k, err := kernel.NewConv2DPrecision[T](kernel.ConvShape{N: xs[0], C: xs[1], H: xs[2], W: xs[3], K: ws[0], KH: ws[2], KW: ws[3],
		StrideH: int(strides[0]), StrideW: int(strides[1]), Pads: pads, XChannelsLast: xLast, YChannelsLast: yLast}, p)
	if err != nil {
		return nil, nil, err
	}
	op := &conv[T]{opBase: newBase("Conv", n.GetName(), out, 4, 4), k: k, needDX: needDX, y: newOutput[T](out)}
	inputs := []*G.Node{x, w}
	if b != nil {
		op.hasBias = true
		op.inDims = append(op.inDims, 1)
		inputs = append(inputs, b)
	}
	y, err := apply(op, inputs...)
	return k, y, err
}

func (o *conv[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	var bias []T
	if o.hasBias {
		bias = v[2]
	}
	o.k.Forward(v[0], v[1], bias, o.y.data)
	return o.y.t, nil
}

func (o *conv[T]) CallsExtern() bool { return true }

func (o *conv[T]) DiffWRT(n int) []bool { return slices.Repeat([]bool{true}, n) }

func (o *conv[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g := &convGrad[T]{opBase: newBase("ConvGrad", o.name, inputs[0].Shape(), 4, 4, 4), fwd: o,
		dx: newOutput[T](inputs[0].Shape()), dw: newBuffer[T](inputs[1].Shape())}
	if o.hasBias {
		g.db = newBuffer[T](inputs[2].Shape())
	}
	return weightedGrads(g, "ConvGrad", inputs, grad, &g.dw, &g.db, o.hasBias)
}

// weightedGrads applies backward, a layer's backward op over (x, w, dy)
// that returns dx and fills dw and, with a bias, db; it returns the
// gradient nodes of x, w and b.
func weightedGrads[T Float](backward engineOp, kind string, inputs G.Nodes, grad *G.Node, dw, db *buffer[T], hasBias bool) (G.Nodes, error) {
	dx, err := apply(backward, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	dwNode, err := addPick(kind+"W", dx, dw)
	if err != nil {
		return nil, err
	}
	out := G.Nodes{dx, dwNode}
	if hasBias {
		dbNode, err := addPick(kind+"B", dx, db)
		if err != nil {
			return nil, err
		}
		out = append(out, dbNode)
	}
	return out, nil
}

func (o *convGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	var dx, db []T
	if o.fwd.needDX {
		dx = o.dx.data
	}
	if o.fwd.hasBias {
		db = o.db.data
	}
	o.fwd.k.Backward(v[0], v[1], v[2], dx, o.dw.data, db)
	return o.dx.t, nil
}

func (o *convGrad[T]) CallsExtern() bool { return true }

// explicitPads turns a node's pads or auto_pad into [top, left, bottom, right].
func explicitPads(n *onnx.NodeProto, in tensor.Shape, kernelSize []int, strides []int64) ([4]int, error) {
	var p [4]int
	switch mode := graph.StringAttr(n, "auto_pad", "NOTSET"); mode {
	case "NOTSET", "":
		pads := graph.IntsAttr(n, "pads", []int64{0, 0, 0, 0})
		if len(pads) != 4 {
			return p, fmt.Errorf("expected 4 pads, found %v", pads)
		}
		for i, v := range pads {
			p[i] = int(v)
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i := 0; i < 2; i++ {
			s := int(strides[i])
			total := max(0, ((in[i]+s-1)/s-1)*s+kernelSize[i]-in[i])
			small, big := total/2, total-total/2
			if mode == "SAME_UPPER" {
				p[i], p[i+2] = small, big
			} else {
				p[i], p[i+2] = big, small
			}
		}
	default:
		return p, fmt.Errorf("unknown auto_pad %q", mode)
	}
	return p, nil
}

// ---- BatchNormalization ----

// batchNorm normalises with batch statistics in a training net, updating
// the running statistics (when this replica is the one that updates
// them), and with the running statistics in an evaluation net and for a
// frozen BatchNorm in a training net, whose gradients then treat the
// running statistics as constants.
type batchNorm[T Float] struct {
	opBase
	k               *kernel.BatchNorm[T]
	training        bool
	runMean, runVar []T // shared with Weights.Stats, or private copies
	y               buffer[T]
}

type batchNormGrad[T Float] struct {
	opBase
	fwd           *batchNorm[T]
	dx, dg, dbeta buffer[T]
}

// lowerBatchNorm lowers a BatchNormalization of an NCHW input, or of an
// NHWC one when channelsLast; with relu it also applies the ReLU that
// follows it, fused into the same passes.
func lowerBatchNorm[T Float](n *onnx.NodeProto, x, scale, bias *G.Node, mean, variance []T, training, updateStats, relu, channelsLast bool) (*batchNorm[T], *G.Node, error) {
	if graph.IntAttr(n, "training_mode", 0) != 0 || len(n.GetOutput()) > 1 {
		return nil, nil, fmt.Errorf("expected an inference-form BatchNormalization (one output, training_mode 0)")
	}
	xs := x.Shape()
	if len(xs) < 2 || mean == nil || variance == nil || len(mean) != xs[1] || len(variance) != xs[1] {
		return nil, nil, fmt.Errorf("expected running mean and variance initializers of %d channels", xs[1])
	}
	hw := xs.TotalSize() / (xs[0] * xs[1])
	k, err := kernel.NewBatchNormLayout[T](xs[0], xs[1], hw, float64(graph.FloatAttr(n, "epsilon", 1e-5)), float64(graph.FloatAttr(n, "momentum", 0.9)), channelsLast)
	if err != nil {
		return nil, nil, err
	}
	k.ReLU = relu
	if training && !updateStats {
		mean, variance = slices.Clone(mean), slices.Clone(variance)
	}
	op := &batchNorm[T]{opBase: newBase("BatchNormalization", n.GetName(), xs, len(xs), 1, 1), k: k, training: training,
		runMean: mean, runVar: variance, y: newOutput[T](xs)}
	y, err := apply(op, x, scale, bias)
	return op, y, err
}

func (o *batchNorm[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	if o.training {
		o.k.ForwardTrain(v[0], v[1], v[2], o.runMean, o.runVar, o.y.data)
	} else {
		o.k.ForwardEval(v[0], v[1], v[2], o.runMean, o.runVar, o.y.data)
	}
	return o.y.t, nil
}

func (o *batchNorm[T]) DiffWRT(int) []bool { return []bool{true, true, true} }

func (o *batchNorm[T]) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dims := len(o.shape)
	g := &batchNormGrad[T]{opBase: newBase("BatchNormGrad", o.name, inputs[0].Shape(), dims, 1, dims, dims), fwd: o,
		dx: newOutput[T](inputs[0].Shape()), dg: newBuffer[T](inputs[1].Shape()), dbeta: newBuffer[T](inputs[2].Shape())}
	dx, err := apply(g, inputs[0], inputs[1], grad, output)
	if err != nil {
		return nil, err
	}
	dg, err := addPick("BatchNormGradScale", dx, &g.dg)
	if err != nil {
		return nil, err
	}
	db, err := addPick("BatchNormGradBias", dx, &g.dbeta)
	return G.Nodes{dx, dg, db}, err
}

func (o *batchNormGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	switch {
	case !o.fwd.training:
		o.fwd.k.BackwardEval(v[0], v[3], v[1], o.fwd.runMean, o.fwd.runVar, v[2], o.dx.data, o.dg.data, o.dbeta.data)
	case o.fwd.k.ReLU:
		o.fwd.k.BackwardReLU(v[0], v[3], v[1], v[2], o.dx.data, o.dg.data, o.dbeta.data)
	default:
		o.fwd.k.Backward(v[0], v[1], v[2], o.dx.data, o.dg.data, o.dbeta.data)
	}
	return o.dx.t, nil
}

// ---- layout ----

// relayout copies a 4-D activation between NCHW and NHWC: toLast turns
// NCHW into NHWC, otherwise NHWC into NCHW. The node keeps its logical
// NCHW shape; only the order of the values in its buffer changes. Its
// gradient is the opposite copy.
type relayout[T Float] struct {
	opBase
	toLast bool
	y      buffer[T]
}

func lowerRelayout[T Float](name string, x *G.Node, toLast bool) (*G.Node, error) {
	if len(x.Shape()) != 4 {
		return nil, fmt.Errorf("expected a 4-D activation to change the layout of, found [%v]", x.Shape())
	}
	return apply(&relayout[T]{opBase: newBase("Relayout", name, x.Shape(), 4), toLast: toLast, y: newOutput[T](x.Shape())}, x)
}

func (o *relayout[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	s := o.shape
	if o.toLast {
		kernel.ToChannelsLast(v[0], o.y.data, s[0], s[1], s[2]*s[3])
	} else {
		kernel.ToChannelsFirst(v[0], o.y.data, s[0], s[1], s[2]*s[3])
	}
	return o.y.t, nil
}

func (o *relayout[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *relayout[T]) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := lowerRelayout[T](o.name+" grad", grad, !o.toLast)
	return G.Nodes{dx}, err
}

// ---- Relu ----

type relu[T Float] struct {
	opBase
	y buffer[T]
}

type reluGrad[T Float] struct {
	opBase
	dx buffer[T]
}

func lowerRelu[T Float](n *onnx.NodeProto, x *G.Node) (*G.Node, error) {
	return apply(&relu[T]{opBase: newBase("Relu", n.GetName(), x.Shape(), len(x.Shape())), y: newOutput[T](x.Shape())}, x)
}

func (o *relu[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	kernel.ReLU(v[0], o.y.data)
	return o.y.t, nil
}

func (o *relu[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *relu[T]) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	dims := len(o.shape)
	dx, err := apply(&reluGrad[T]{opBase: newBase("ReluGrad", o.name, o.shape, dims, dims), dx: newOutput[T](o.shape)}, output, grad)
	return G.Nodes{dx}, err
}

func (o *reluGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	kernel.ReLUBackward(v[0], v[1], o.dx.data)
	return o.dx.t, nil
}

// ---- Add ----

// add is an elementwise sum, with relu the residual sum and the ReLU
// after it fused.
type add[T Float] struct {
	opBase
	relu bool
	y    buffer[T]
}

func lowerAdd[T Float](n *onnx.NodeProto, a, b *G.Node, relu bool) (*G.Node, error) {
	dims := len(a.Shape())
	return apply(&add[T]{opBase: newBase("Add", n.GetName(), a.Shape(), dims, dims), relu: relu, y: newOutput[T](a.Shape())}, a, b)
}

func (o *add[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	if o.relu {
		kernel.AddReLU(v[0], v[1], o.y.data)
	} else {
		kernel.Add(v[0], v[1], o.y.data)
	}
	return o.y.t, nil
}

func (o *add[T]) DiffWRT(int) []bool { return []bool{true, true} }

// SymDiff passes the gradient, masked by the ReLU when fused, to both inputs.
func (o *add[T]) SymDiff(_ G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if o.relu {
		dims := len(o.shape)
		masked, err := apply(&reluGrad[T]{opBase: newBase("ReluGrad", o.name, o.shape, dims, dims), dx: newOutput[T](o.shape)}, output, grad)
		return G.Nodes{masked, masked}, err
	}
	return G.Nodes{grad, grad}, nil
}

// ---- pooling ----

// pool is MaxPool, AveragePool or GlobalAveragePool.
type pool[T Float] struct {
	opBase
	forward  func(x, y []T)
	backward func(dy, dx []T)
	y        buffer[T]
	inShape  tensor.Shape
}

type poolGrad[T Float] struct {
	opBase
	fwd *pool[T]
	dx  buffer[T]
}

// lowerPool lowers a pool of an NCHW input, or an NHWC one when
// channelsLast, whose output is then NHWC too.
func lowerPool[T Float](n *onnx.NodeProto, x *G.Node, out tensor.Shape, channelsLast bool) (*G.Node, error) {
	xs := x.Shape()
	if len(xs) != 4 {
		return nil, fmt.Errorf("expected a 4-D input, found [%v]", xs)
	}
	op := &pool[T]{opBase: newBase(n.GetOpType(), n.GetName(), out, 4), y: newOutput[T](out), inShape: xs}
	if n.GetOpType() == "GlobalAveragePool" {
		nc, hw := xs[0]*xs[1], xs[2]*xs[3]
		op.forward = func(x, y []T) { kernel.GlobalAvgPool(x, y, nc, hw) }
		op.backward = func(dy, dx []T) { kernel.GlobalAvgPoolBackward(dy, dx, nc, hw) }
		if channelsLast {
			op.forward = func(x, y []T) { kernel.GlobalAvgPoolNHWC(x, y, xs[0], xs[1], hw) }
			op.backward = func(dy, dx []T) { kernel.GlobalAvgPoolNHWCBackward(dy, dx, xs[0], xs[1], hw) }
		}
		return apply(op, x)
	}
	for _, d := range graph.IntsAttr(n, "dilations", []int64{1, 1}) {
		if d != 1 {
			return nil, fmt.Errorf("dilations %v: only 1 is supported", graph.IntsAttr(n, "dilations", nil))
		}
	}
	k := graph.IntsAttr(n, "kernel_shape", nil)
	strides := graph.IntsAttr(n, "strides", []int64{1, 1})
	if len(k) != 2 || len(strides) != 2 {
		return nil, fmt.Errorf("expected a 2-D kernel_shape and strides, found %v and %v", k, strides)
	}
	pads, err := explicitPads(n, xs[2:], []int{int(k[0]), int(k[1])}, strides)
	if err != nil {
		return nil, err
	}
	s := kernel.PoolShape{N: xs[0], C: xs[1], H: xs[2], W: xs[3], KH: int(k[0]), KW: int(k[1]),
		StrideH: int(strides[0]), StrideW: int(strides[1]), Pads: pads, CeilMode: graph.IntAttr(n, "ceil_mode", 0) == 1, ChannelsLast: channelsLast}
	if n.GetOpType() == "MaxPool" {
		p, err := kernel.NewMaxPool2D[T](s)
		if err != nil {
			return nil, err
		}
		op.forward, op.backward = p.Forward, p.Backward
	} else {
		p, err := kernel.NewAvgPool2D[T](s, graph.IntAttr(n, "count_include_pad", 0) == 1)
		if err != nil {
			return nil, err
		}
		op.forward, op.backward = p.Forward, p.Backward
	}
	return apply(op, x)
}

func (o *pool[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	o.forward(v[0], o.y.data)
	return o.y.t, nil
}

func (o *pool[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *pool[T]) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&poolGrad[T]{opBase: newBase(o.kind+"Grad", o.name, o.inShape, 4), fwd: o, dx: newOutput[T](o.inShape)}, grad)
	return G.Nodes{dx}, err
}

func (o *poolGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	o.fwd.backward(v[0], o.dx.data)
	return o.dx.t, nil
}

// ---- Flatten ----

// reshape gives its input's values another shape; its output shares the
// input's buffer, which the producing op owns and keeps.
type reshape[T Float] struct {
	opBase
	y    *tensor.Dense
	from []T
}

func lowerReshape[T Float](n *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	if out.TotalSize() != x.Shape().TotalSize() {
		return nil, fmt.Errorf("cannot reshape [%v] to [%v]", x.Shape(), out)
	}
	return apply(&reshape[T]{opBase: newBase("Reshape", n.GetName(), out, len(x.Shape()))}, x)
}

func (o *reshape[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	if o.y == nil || &o.from[0] != &v[0][0] {
		o.from = v[0]
		o.y = tensor.New(tensor.WithBacking(v[0]), tensor.WithShape(o.shape.Clone()...))
	}
	return o.y, nil
}

func (o *reshape[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *reshape[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	in := inputs[0].Shape()
	dx, err := apply(&reshape[T]{opBase: newBase("Reshape", o.name+" grad", in, len(o.shape))}, grad)
	return G.Nodes{dx}, err
}

// ---- Gemm ----

// gemm is a fully connected layer: y = x·Wᵀ + b, W stored [out, in].
type gemm[T Float] struct {
	opBase
	n, in, out int
	hasBias    bool
	y          buffer[T]
}

type gemmGrad[T Float] struct {
	opBase
	fwd        *gemm[T]
	dx, dw, db buffer[T]
}

func lowerGemm[T Float](n *onnx.NodeProto, x, w, b *G.Node, out tensor.Shape) (*G.Node, error) {
	if graph.IntAttr(n, "transA", 0) != 0 || graph.IntAttr(n, "transB", 0) != 1 || graph.FloatAttr(n, "alpha", 1) != 1 || graph.FloatAttr(n, "beta", 1) != 1 {
		return nil, fmt.Errorf("expected a fully connected layer (transA 0, transB 1, alpha 1, beta 1)")
	}
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 2 || len(ws) != 2 || xs[1] != ws[1] {
		return nil, fmt.Errorf("expected input [N, in] and weight [out, in], found [%v] and [%v]", xs, ws)
	}
	op := &gemm[T]{opBase: newBase("Gemm", n.GetName(), out, 2, 2), n: xs[0], in: xs[1], out: ws[0], y: newOutput[T](out)}
	inputs := []*G.Node{x, w}
	if b != nil {
		op.hasBias = true
		op.inDims = append(op.inDims, 1)
		inputs = append(inputs, b)
	}
	return apply(op, inputs...)
}

func (o *gemm[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	var b []T
	if o.hasBias {
		b = v[2]
	}
	kernel.Linear(v[0], v[1], b, o.y.data, o.n, o.in, o.out)
	return o.y.t, nil
}

func (o *gemm[T]) CallsExtern() bool { return true }

func (o *gemm[T]) DiffWRT(n int) []bool { return slices.Repeat([]bool{true}, n) }

func (o *gemm[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	g := &gemmGrad[T]{opBase: newBase("GemmGrad", o.name, inputs[0].Shape(), 2, 2, 2), fwd: o,
		dx: newOutput[T](inputs[0].Shape()), dw: newBuffer[T](inputs[1].Shape())}
	if o.hasBias {
		g.db = newBuffer[T](inputs[2].Shape())
	}
	return weightedGrads(g, "GemmGrad", inputs, grad, &g.dw, &g.db, o.hasBias)
}

func (o *gemmGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	var db []T
	if o.fwd.hasBias {
		db = o.db.data
	}
	kernel.LinearBackward(v[0], v[1], v[2], o.dx.data, o.dw.data, db, o.fwd.n, o.fwd.in, o.fwd.out)
	return o.dx.t, nil
}

func (o *gemmGrad[T]) CallsExtern() bool { return true }

// ---- Resize ----

// resize is ONNX's Resize in mode linear on the spatial axes of an NCHW
// tensor (bilinear), with constant scales or sizes.
type resize[T Float] struct {
	opBase
	k       *kernel.Bilinear[T]
	inShape tensor.Shape
	y       buffer[T]
}

type resizeGrad[T Float] struct {
	opBase
	fwd *resize[T]
	dx  buffer[T]
}

// lowerResize lowers a Resize whose scales or sizes are initializers, in
// mode linear with a coordinate transform kernel.ParseCoordMode accepts,
// that resizes H and W only. inShape and outShape are the inferred shapes
// of its input and output, whose N and C must agree.
func lowerResize[T Float](n *onnx.NodeProto, x *G.Node, out tensor.Shape, inShape, outShape graph.Shape, ix *graph.Index) (*G.Node, error) {
	if m := graph.StringAttr(n, "mode", "nearest"); m != "linear" {
		return nil, fmt.Errorf("mode %q: only linear (bilinear) is supported", m)
	}
	mode, err := kernel.ParseCoordMode(graph.StringAttr(n, "coordinate_transformation_mode", "half_pixel"))
	if err != nil {
		return nil, err
	}
	if graph.IntAttr(n, "antialias", 0) != 0 {
		return nil, fmt.Errorf("antialias 1 is not supported")
	}
	if p := graph.StringAttr(n, "keep_aspect_ratio_policy", "stretch"); p != "stretch" {
		return nil, fmt.Errorf("keep_aspect_ratio_policy %q: only stretch is supported", p)
	}
	xs := x.Shape()
	if len(xs) != 4 || len(inShape) != 4 || len(outShape) != 4 || outShape[0] != inShape[0] || outShape[1] != inShape[1] {
		return nil, fmt.Errorf("expected a resize of the spatial axes of an NCHW tensor, found [%v] to [%v]", inShape, outShape)
	}
	s := kernel.ResizeShape{N: xs[0], C: xs[1], H: xs[2], W: xs[3], OutH: out[2], OutW: out[3], Mode: mode}
	// With scales, the coordinate transform divides by them as given (with
	// sizes, by out/in, the kernel's default).
	if in := n.GetInput(); len(in) > 2 && in[2] != "" {
		t := ix.Constant(in[2])
		if t == nil {
			return nil, fmt.Errorf("scales %q: expected an initializer", in[2])
		}
		scales, err := graph.Floats(t)
		if err != nil {
			return nil, fmt.Errorf("scales: %w", err)
		}
		if len(scales) > 0 {
			axes := graph.IntsAttr(n, "axes", []int64{0, 1, 2, 3})
			for i, a := range axes {
				switch (a + 4) % 4 {
				case 2:
					s.ScaleH = float64(scales[i])
				case 3:
					s.ScaleW = float64(scales[i])
				default:
					if scales[i] != 1 {
						return nil, fmt.Errorf("scales %v: expected 1 on the batch and channel axes", scales)
					}
				}
			}
		}
	}
	k, err := kernel.NewBilinear[T](s)
	if err != nil {
		return nil, err
	}
	return apply(&resize[T]{opBase: newBase("Resize", n.GetName(), out, 4), k: k, inShape: xs, y: newOutput[T](out)}, x)
}

func (o *resize[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	o.k.Forward(v[0], o.y.data)
	return o.y.t, nil
}

func (o *resize[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *resize[T]) SymDiff(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := apply(&resizeGrad[T]{opBase: newBase("ResizeGrad", o.name, o.inShape, 4), fwd: o, dx: newOutput[T](o.inShape)}, grad)
	return G.Nodes{dx}, err
}

func (o *resizeGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	o.fwd.k.Backward(v[0], o.dx.data)
	return o.dx.t, nil
}

// ---- loss ----

// crossEntropy is the mean softmax cross-entropy of the logits against
// target distributions set before each run (one-hot labels, smoothed, or
// mixed), computing the logits' gradient in the same pass.
type crossEntropy[T Float] struct {
	opBase
	targets buffer[T]
	classes int
	loss    float64
	dlogits buffer[T]
	// distill, when set, adds the distillation term against soft, the
	// teacher's softened distribution (float32 nets only).
	distill               *Distillation
	soft, scaled, scratch []float32
}

// crossEntropyGrad scales the logits' gradient that a loss op computed in
// its forward pass.
type crossEntropyGrad[T Float] struct {
	opBase
	dlogits *buffer[T]
	dx      buffer[T]
}

func lowerCrossEntropy[T Float](logits *G.Node) (*crossEntropy[T], *G.Node, error) {
	s := logits.Shape()
	op := &crossEntropy[T]{opBase: newBase("SoftmaxCrossEntropy", "loss", tensor.ScalarShape(), 2), targets: newBuffer[T](s), classes: s[1], dlogits: newBuffer[T](s)}
	loss, err := apply(op, logits)
	return op, loss, err
}

func (o *crossEntropy[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	if o.distill != nil {
		z, q, d := any(v[0]).([]float32), any(o.targets.data).([]float32), any(o.dlogits.data).([]float32)
		o.loss = o.distill.Loss(z, q, o.soft, o.classes, d, o.scaled, o.scratch)
	} else {
		o.loss = kernel.SoftTargetCrossEntropy(v[0], o.targets.data, o.classes, o.dlogits.data)
	}
	if dtypeOf[T]() == tensor.Float64 {
		return G.NewF64(o.loss), nil
	}
	return G.NewF32(float32(o.loss)), nil
}

func (o *crossEntropy[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *crossEntropy[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	s := inputs[0].Shape()
	dx, err := apply(&crossEntropyGrad[T]{opBase: newBase("SoftmaxCrossEntropyGrad", "loss", s, 0), dlogits: &o.dlogits, dx: newOutput[T](s)}, grad)
	return G.Nodes{dx}, err
}

// Do scales the logits' gradient by the incoming gradient of the loss
// (1 when the loss is the cost).
func (o *crossEntropyGrad[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	scale := v[0][0]
	for i, d := range o.dlogits.data {
		o.dx.data[i] = d * scale
	}
	return o.dx.t, nil
}

// pixelCrossEntropy is the mean per-pixel softmax cross-entropy of
// [N, K, H, W] logits against a label map [N, H, W] set before each run,
// pixels labelled kernel.IgnoreLabel left out; it computes the logits'
// gradient in the same pass.
type pixelCrossEntropy[T Float] struct {
	opBase
	k       *kernel.PixelCrossEntropy[T]
	labels  []int32
	loss    float64
	count   int
	dlogits buffer[T]
}

func lowerPixelCrossEntropy[T Float](logits *G.Node) (*pixelCrossEntropy[T], *G.Node, error) {
	s := logits.Shape()
	k, err := kernel.NewPixelCrossEntropy[T](s[0], s[1], s[2]*s[3])
	if err != nil {
		return nil, nil, err
	}
	op := &pixelCrossEntropy[T]{opBase: newBase("PixelSoftmaxCrossEntropy", "loss", tensor.ScalarShape(), 4), k: k,
		labels: make([]int32, s[0]*s[2]*s[3]), dlogits: newBuffer[T](s)}
	loss, err := apply(op, logits)
	return op, loss, err
}

func (o *pixelCrossEntropy[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	if o.loss, o.count, err = o.k.Forward(v[0], o.labels, o.dlogits.data); err != nil {
		return nil, err
	}
	if dtypeOf[T]() == tensor.Float64 {
		return G.NewF64(o.loss), nil
	}
	return G.NewF32(float32(o.loss)), nil
}

func (o *pixelCrossEntropy[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *pixelCrossEntropy[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	s := inputs[0].Shape()
	dx, err := apply(&crossEntropyGrad[T]{opBase: newBase("PixelSoftmaxCrossEntropyGrad", "loss", s, 0), dlogits: &o.dlogits, dx: newOutput[T](s)}, grad)
	return G.Nodes{dx}, err
}
