package graph

import (
	"fmt"
	"math"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Shapes maps value names to their shapes.
type Shapes map[string]Shape

// InferShapes computes the static shape of every value it can: graph inputs
// from their declarations, initializers from their dims, and node outputs
// for the operators ResNets use (Conv, BatchNormalization, Relu, MaxPool,
// AveragePool, GlobalAveragePool, Add, Flatten, Gemm, Identity and the other
// shape-preserving activations, and Resize whose scales or sizes are a
// constant: an initializer or a Constant node's tensor). Outputs of other
// operators, and of a Resize with computed scales or sizes, are left out of
// the map, so later shapes that depend on them are unknown too. Shapes that
// cannot fit together (a conv whose weight has the wrong number of input
// channels, an Add of mismatched sizes) are errors naming the node.
// Symbolic dimensions such as a dynamic batch pass through unchanged.
func InferShapes(m *Model) (Shapes, error) {
	g := m.GetGraph()
	shapes := Shapes{}
	// consts holds the values that are fixed in the file, for operators
	// whose output shape depends on an input's value (Resize).
	consts := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		shapes[t.GetName()] = Static(t.GetDims()...)
		consts[t.GetName()] = t
	}
	for _, in := range g.GetInput() {
		if _, isInit := shapes[in.GetName()]; isInit {
			continue
		}
		if s, _, ok := ShapeOf(in); ok {
			shapes[in.GetName()] = s
		}
	}
	for _, n := range g.GetNode() {
		ins := make([]Shape, len(n.GetInput()))
		complete := true
		for i, name := range n.GetInput() {
			if name == "" {
				continue
			}
			s, ok := shapes[name]
			if !ok {
				complete = false
				break
			}
			ins[i] = s
		}
		if !complete || len(n.GetOutput()) == 0 {
			continue
		}

		if t := Attr(n, "value").GetT(); n.GetOpType() == "Constant" && t != nil {
			consts[n.GetOutput()[0]] = t
			shapes[n.GetOutput()[0]] = Static(t.GetDims()...)
			continue
		}
		out, err := inferNode(n, ins, consts)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", nodeLabel(n), err)
		}
		if out != nil {
			shapes[n.GetOutput()[0]] = out
		}
	}
	return shapes, nil
}

// shapePreserving lists the operators whose single output has the shape of
// their first input.
var shapePreserving = map[string]bool{
	"Relu": true, "Identity": true, "Sigmoid": true, "Tanh": true, "LeakyRelu": true,
	"Softmax": true, "LogSoftmax": true, "Dropout": true, "Clip": true, "HardSwish": true,
	"HardSigmoid": true, "Cast": true,
}

// minInputs is the number of inputs inferNode reads by position for an
// operator; 0 for the operators it does not infer.
func minInputs(op string) int {
	switch op {
	case "BatchNormalization":
		return 5
	case "Conv", "Gemm", "Add", "Sub", "Mul", "Div":
		return 2
	case "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Resize", "Concat":
		return 1
	}
	if shapePreserving[op] {
		return 1
	}
	return 0
}

func inferNode(n *onnx.NodeProto, ins []Shape, consts map[string]*onnx.TensorProto) (Shape, error) {
	op := n.GetOpType()
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
		return nil, nil
	}
	if need := minInputs(op); len(ins) < need || (need > 0 && ins[0] == nil) {
		return nil, fmt.Errorf("expected at least %d inputs, found %d", need, len(ins))
	}
	switch {
	case shapePreserving[op]:
		return append(Shape(nil), ins[0]...), nil
	case op == "BatchNormalization":
		if err := wantRank(ins[0], 2, -1, "input"); err != nil {
			return nil, err
		}
		c := ins[0][1]
		for i, what := range []string{"scale", "bias", "mean", "var"} {
			s := ins[i+1]
			if len(s) != 1 || (c.Known() && s[0].Known() && s[0].Size != c.Size) {
				return nil, fmt.Errorf("%s: expected shape [%v] to match the input's channels, found [%v]", what, c, s)
			}
		}
		return append(Shape(nil), ins[0]...), nil
	case op == "Conv":
		return inferConv(n, ins)
	case op == "MaxPool" || op == "AveragePool":
		if err := wantRank(ins[0], 3, -1, "input"); err != nil {
			return nil, err
		}
		kernel := IntsAttr(n, "kernel_shape", nil)
		if len(kernel) != len(ins[0])-2 {
			return nil, fmt.Errorf("expected kernel_shape with %d values, found %v", len(ins[0])-2, kernel)
		}
		return poolShape(n, ins[0], ins[0][1], kernel)
	case op == "GlobalAveragePool" || op == "GlobalMaxPool":
		if err := wantRank(ins[0], 3, -1, "input"); err != nil {
			return nil, err
		}
		out := append(Shape(nil), ins[0][:2]...)
		for range ins[0][2:] {
			out = append(out, Dim{Size: 1})
		}
		return out, nil
	case op == "Add" || op == "Sub" || op == "Mul" || op == "Div":
		return broadcast(ins[0], ins[1])
	case op == "Flatten":
		return inferFlatten(n, ins[0])
	case op == "Gemm":
		return inferGemm(n, ins)
	case op == "Resize":
		return inferResize(n, ins, consts)
	case op == "Concat":
		return inferConcat(n, ins)
	}
	return nil, nil
}

// inferConcat joins the inputs' shapes along the axis attribute: the
// axis's sizes add up (unknown if one is), the other axes must agree. It
// returns nil, an unknown shape, when an input's shape is unknown.
func inferConcat(n *onnx.NodeProto, ins []Shape) (Shape, error) {
	rank := len(ins[0])
	axis := IntAttr(n, "axis", 0)
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return nil, fmt.Errorf("axis %d: expected it within the inputs' rank %d", IntAttr(n, "axis", 0), rank)
	}
	out := append(Shape(nil), ins[0]...)
	for i, s := range ins[1:] {
		if s == nil {
			return nil, nil
		}
		if len(s) != rank {
			return nil, fmt.Errorf("input %d: expected rank %d as input 0's, found [%v]", i+1, rank, s)
		}
		for a, d := range s {
			switch {
			case int64(a) == axis && out[a].Known() && d.Known():
				out[a] = Dim{Size: out[a].Size + d.Size}
			case int64(a) == axis:
				out[a] = Unknown
			case !out[a].Known():
				out[a] = d
			case d.Known() && d.Size != out[a].Size:
				return nil, fmt.Errorf("input %d: shape [%v] differs from input 0's [%v] off the axis %d", i+1, s, ins[0], axis)
			}
		}
	}
	return out, nil
}

// inferResize computes a Resize output from constant scales (output size
// floor(input·scale), as ONNX defines it) or sizes (taken as given, or
// scaled to keep the aspect ratio under opset 18's keep_aspect_ratio_policy),
// on the axes attribute's axes (all by default). It returns nil, an unknown
// shape, when the values are computed at run time, and for
// tf_crop_and_resize with scales, whose size depends on the region of
// interest too.
func inferResize(n *onnx.NodeProto, ins []Shape, consts map[string]*onnx.TensorProto) (Shape, error) {
	x := ins[0]
	input := func(i int) string {
		if i < len(n.GetInput()) {
			return n.GetInput()[i]
		}
		return ""
	}
	// An input is given when named and not an empty tensor: exporters for
	// opset 11 wrote an empty scales tensor beside sizes.
	given := func(i int) bool { return input(i) != "" && !(len(ins[i]) == 1 && ins[i][0].Size == 0) }
	scales, sizes := given(2), given(3)
	switch {
	case scales && sizes:
		return nil, fmt.Errorf("expected scales or sizes, found both (%q and %q)", input(2), input(3))
	case !scales && !sizes:
		return nil, fmt.Errorf("expected scales or sizes, found neither")
	}
	axes, err := resizeAxes(n, len(x))
	if err != nil {
		return nil, err
	}
	out := append(Shape(nil), x...)
	if scales {
		t := consts[input(2)]
		if t == nil || StringAttr(n, "coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize" {
			return nil, nil
		}
		v, err := Floats(t)
		if err != nil {
			return nil, fmt.Errorf("scales: %w", err)
		}
		if len(v) != len(axes) {
			return nil, fmt.Errorf("scales: expected %d values (one per resized axis of [%v]), found %d", len(axes), x, len(v))
		}
		for i, a := range axes {
			switch {
			case !(v[i] > 0):
				return nil, fmt.Errorf("scales: expected positive values, found %v", v)
			case x[a].Known():
				out[a] = Dim{Size: int64(math.Floor(float64(x[a].Size) * float64(v[i])))}
			case v[i] != 1:
				// A symbolic dimension such as the batch keeps its name at scale 1.
				out[a] = Unknown
			}
		}
		return out, nil
	}
	t := consts[input(3)]
	if t == nil {
		return nil, nil
	}
	v, err := Int64s(t)
	if err != nil {
		return nil, fmt.Errorf("sizes: %w", err)
	}
	if len(v) != len(axes) {
		return nil, fmt.Errorf("sizes: expected %d values (one per resized axis of [%v]), found %d", len(axes), x, len(v))
	}
	for _, s := range v {
		if s <= 0 {
			return nil, fmt.Errorf("sizes: expected positive values, found %v", v)
		}
	}
	policy := StringAttr(n, "keep_aspect_ratio_policy", "stretch")
	if policy == "stretch" {
		for i, a := range axes {
			out[a] = Dim{Size: v[i]}
		}
		return out, nil
	}
	// The policies scale every resized axis by the one factor that makes the
	// output fit inside (not_larger) or cover (not_smaller) sizes.
	scale := 0.0
	for i, a := range axes {
		if !x[a].Known() {
			for _, a := range axes {
				out[a] = Unknown
			}
			return out, nil
		}
		s := float64(v[i]) / float64(x[a].Size)
		if i == 0 || (policy == "not_larger" && s < scale) || (policy == "not_smaller" && s > scale) {
			scale = s
		}
	}
	for _, a := range axes {
		out[a] = Dim{Size: int64(math.Floor(scale*float64(x[a].Size) + 0.5))}
	}
	return out, nil
}

// resizeAxes returns the axes a Resize node scales: its axes attribute
// (opset 18), negative values counted from the end, or every axis.
func resizeAxes(n *onnx.NodeProto, rank int) ([]int, error) {
	attr := Attr(n, "axes")
	if attr == nil {
		axes := make([]int, rank)
		for i := range axes {
			axes[i] = i
		}
		return axes, nil
	}
	var axes []int
	for _, a := range attr.GetInts() {
		if a < -int64(rank) || a >= int64(rank) {
			return nil, fmt.Errorf("axes %v out of range for an input of rank %d", attr.GetInts(), rank)
		}
		if a < 0 {
			a += int64(rank)
		}
		if slices.Contains(axes, int(a)) {
			return nil, fmt.Errorf("axes %v name an axis twice", attr.GetInts())
		}
		axes = append(axes, int(a))
	}
	return axes, nil
}

func wantRank(s Shape, min, max int, what string) error {
	if len(s) < min || (max >= 0 && len(s) > max) {
		return fmt.Errorf("%s: expected rank ≥ %d, found shape [%v]", what, min, s)
	}
	return nil
}

func inferConv(n *onnx.NodeProto, ins []Shape) (Shape, error) {
	x, w := ins[0], ins[1]
	if err := wantRank(x, 3, -1, "input"); err != nil {
		return nil, err
	}
	if len(w) != len(x) || !w.Known() {
		return nil, fmt.Errorf("weight: expected a known shape of rank %d, found [%v]", len(x), w)
	}
	group := IntAttr(n, "group", 1)
	if x[1].Known() && x[1].Size != w[1].Size*group {
		return nil, fmt.Errorf("input has %d channels but weight [%v] with group %d expects %d", x[1].Size, w, group, w[1].Size*group)
	}
	if len(ins) > 2 && ins[2] != nil && (len(ins[2]) != 1 || ins[2][0].Size != w[0].Size) {
		return nil, fmt.Errorf("bias: expected shape [%d], found [%v]", w[0].Size, ins[2])
	}
	kernel := IntsAttr(n, "kernel_shape", w.Sizes()[2:])
	if len(kernel) != len(w)-2 {
		return nil, fmt.Errorf("kernel_shape %v does not match weight [%v]", kernel, w)
	}
	for i, k := range kernel {
		if k != w[i+2].Size {
			return nil, fmt.Errorf("kernel_shape %v does not match weight [%v]", kernel, w)
		}
	}
	return poolShape(n, x, w[0], kernel)
}

// poolShape computes the output shape of a sliding-window operator (Conv,
// MaxPool, AveragePool) with the given output channels and kernel, from the
// node's strides, pads, dilations, auto_pad and ceil_mode.
func poolShape(n *onnx.NodeProto, x Shape, channels Dim, kernel []int64) (Shape, error) {
	rank := len(x) - 2
	strides := IntsAttr(n, "strides", ones(rank))
	dilations := IntsAttr(n, "dilations", ones(rank))
	pads := IntsAttr(n, "pads", make([]int64, 2*rank))
	if len(strides) != rank || len(dilations) != rank || len(pads) != 2*rank {
		return nil, fmt.Errorf("expected %d strides, %d dilations and %d pads, found %v, %v, %v", rank, rank, 2*rank, strides, dilations, pads)
	}
	autoPad := StringAttr(n, "auto_pad", "NOTSET")
	ceil := IntAttr(n, "ceil_mode", 0) == 1
	out := Shape{x[0], channels}
	for i := 0; i < rank; i++ {
		in := x[i+2]
		if !in.Known() {
			out = append(out, Unknown)
			continue
		}
		s, k := strides[i], (kernel[i]-1)*dilations[i]+1
		if s <= 0 {
			return nil, fmt.Errorf("expected positive strides, found %v", strides)
		}
		var size int64
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			size = (in.Size + s - 1) / s
		case "VALID":
			size = (in.Size-k)/s + 1
		case "NOTSET", "":
			span := in.Size + pads[i] + pads[i+rank] - k
			if span < 0 {
				return nil, fmt.Errorf("window %d is larger than padded input %d in spatial axis %d", k, in.Size+pads[i]+pads[i+rank], i)
			}
			size = span/s + 1
			if ceil {
				size = (span+s-1)/s + 1
				// A last window that would start inside the end padding is dropped,
				// as ONNX Runtime and PyTorch do.
				if (size-1)*s >= in.Size+pads[i] {
					size--
				}
			}
		default:
			return nil, fmt.Errorf("unknown auto_pad %q", autoPad)
		}
		if size <= 0 {
			return nil, fmt.Errorf("empty output in spatial axis %d (input %d)", i, in.Size)
		}
		out = append(out, Dim{Size: size})
	}
	return out, nil
}

func ones(n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// broadcast applies numpy's multidirectional broadcasting.
func broadcast(a, b Shape) (Shape, error) {
	n := max(len(a), len(b))
	out := make(Shape, n)
	for i := 0; i < n; i++ {
		da, db := Dim{Size: 1}, Dim{Size: 1}
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da.Known() && da.Size == 1:
			out[i] = db
		case db.Known() && db.Size == 1:
			out[i] = da
		case da.Known() && db.Known():
			return nil, fmt.Errorf("cannot broadcast shapes [%v] and [%v]", a, b)
		case da.Known():
			out[i] = da
		default:
			out[i] = db
		}
	}
	return out, nil
}

func inferFlatten(n *onnx.NodeProto, x Shape) (Shape, error) {
	axis := IntAttr(n, "axis", 1)
	if axis < 0 {
		axis += int64(len(x))
	}
	if axis < 0 || axis > int64(len(x)) {
		return nil, fmt.Errorf("axis %d out of range for shape [%v]", IntAttr(n, "axis", 1), x)
	}
	return Shape{product(x[:axis]), product(x[axis:])}, nil
}

// product multiplies dimensions; a single symbolic one passes through.
func product(ds Shape) Dim {
	if len(ds) == 1 {
		return ds[0]
	}
	p := int64(1)
	for _, d := range ds {
		if !d.Known() {
			return Unknown
		}
		p *= d.Size
	}
	return Dim{Size: p}
}

func inferGemm(n *onnx.NodeProto, ins []Shape) (Shape, error) {
	a, b := ins[0], ins[1]
	if len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("expected rank-2 inputs, found [%v] and [%v]", a, b)
	}
	if IntAttr(n, "transA", 0) == 1 {
		a = Shape{a[1], a[0]}
	}
	if IntAttr(n, "transB", 0) == 1 {
		b = Shape{b[1], b[0]}
	}
	if a[1].Known() && b[0].Known() && a[1].Size != b[0].Size {
		return nil, fmt.Errorf("inner dimensions differ: A is [%v], B is [%v] (after transposition)", a, b)
	}
	out := Shape{a[0], b[1]}
	if len(ins) > 2 && ins[2] != nil {
		if _, err := broadcast(out, ins[2]); err != nil {
			return nil, fmt.Errorf("C: %w", err)
		}
	}
	return out, nil
}
