package train

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Weights are a model's trainable parameters and BatchNorm running
// statistics, keyed by their ONNX initializer names. Every replica and the
// evaluation net read the same slices, so an optimiser step is seen by all.
type Weights[T Float] struct {
	Params map[string][]T
	Shapes map[string][]int64
	// Stats holds BatchNorm running means and variances.
	Stats map[string][]T
	// Order lists the parameter names in the model's initializer order.
	Order []string
	// Decay says which parameters get weight decay: all of them by
	// default, as in the paper's baseline.
	Decay map[string]bool
	// lrMult holds the learning-rate multipliers set by SetLRMult.
	lrMult map[string]float64
}

// SetLRMult sets per-parameter learning-rate multipliers for fine-tuning,
// keyed by parameter name (a name of Order); a parameter not named keeps
// 1. The optimizers step parameter p with lr·mult[p], and a multiplier of 0
// freezes it: no update, no weight decay, no change of its velocity. Set
// them before Lower: a BatchNorm whose γ and β are both frozen runs on its
// running statistics in training nets too (BatchNorm in eval mode,
// statistics not updated), the usual practice for a frozen backbone,
// whose statistics a small fine-tuning batch would only disturb.
func (w *Weights[T]) SetLRMult(mult map[string]float64) error {
	for name, m := range mult {
		if _, ok := w.Params[name]; !ok {
			return fmt.Errorf("learning-rate multiplier for %q: the model has no trainable parameter of that name", name)
		}
		if !(m >= 0) || math.IsInf(m, 1) {
			return fmt.Errorf("learning-rate multiplier for %q: expected a finite value ≥ 0, found %g", name, m)
		}
	}
	w.lrMult = maps.Clone(mult)
	return nil
}

// LRMult returns the learning-rate multiplier of the named parameter: the
// one SetLRMult set, or 1.
func (w *Weights[T]) LRMult(name string) float64 {
	if m, ok := w.lrMult[name]; ok {
		return m
	}
	return 1
}

// IgnoreLabel in a training net's PixelLabels leaves that pixel out of the
// loss and its gradient.
const IgnoreLabel = kernel.IgnoreLabel

// LoadWeights reads the trainable tensors of m: every float initializer read
// by a lowered op, BatchNorm running statistics apart. Exporters store equal
// tensors once (PyTorch shares one all-ones tensor among BatchNorms of a
// width, through Identity nodes); training must not tie them, so a tensor
// read in a second place is copied under a fresh name and that place
// rewired to the copy — m changes accordingly.
func LoadWeights[T Float](m *graph.Model) (*Weights[T], error) {
	g := m.GetGraph()
	ix := graph.NewIndex(g)
	nm := graph.NewNamer(g)
	w := &Weights[T]{Params: map[string][]T{}, Shapes: map[string][]int64{}, Stats: map[string][]T{}, Decay: map[string]bool{}}
	claimed := map[string]bool{}
	take := func(n *onnx.NodeProto, input int, role string, into map[string][]T) (string, error) {
		if input >= len(n.GetInput()) || n.GetInput()[input] == "" {
			return "", nil
		}
		t := ix.Constant(n.GetInput()[input])
		if t == nil {
			return "", fmt.Errorf("node %q (%s): input %d (%q) must be an initializer to be trained", n.GetName(), n.GetOpType(), input, n.GetInput()[input])
		}
		v, err := graph.Floats(t)
		if err != nil {
			return "", err
		}
		name := t.GetName()
		if claimed[name] {
			name = nm.Fresh(n.GetName() + "." + role)
			m.SetInitializer(graph.FloatTensor(name, t.GetDims(), v))
			n.Input[input] = name
		}
		claimed[name] = true
		data := make([]T, len(v))
		for i, x := range v {
			data[i] = T(x)
		}
		into[name] = data
		w.Shapes[name] = slices.Clone(t.GetDims())
		return name, nil
	}
	roles := map[string][]string{
		"Conv": {"", "weight", "bias"}, "Gemm": {"", "weight", "bias"},
		"BatchNormalization": {"", "weight", "bias", "running_mean", "running_var"},
	}
	for _, n := range g.GetNode() {
		for i, role := range roles[n.GetOpType()] {
			if role == "" {
				continue
			}
			into := w.Params
			if strings.HasPrefix(role, "running") {
				into = w.Stats
			}
			name, err := take(n, i, role, into)
			if err != nil {
				return nil, err
			}
			if name != "" && !strings.HasPrefix(role, "running") {
				w.Order = append(w.Order, name)
				w.Decay[name] = true
			}
		}
	}
	graph.Prune(g)
	return w, nil
}

// Store writes the weights back into m's initializers, as float32.
func (w *Weights[T]) Store(m *graph.Model) {
	for _, src := range []map[string][]T{w.Params, w.Stats} {
		for name, v := range src {
			f := make([]float32, len(v))
			for i, x := range v {
				f[i] = float32(x)
			}
			m.SetInitializer(graph.FloatTensor(name, w.Shapes[name], f))
		}
	}
}

// Net is an ONNX graph lowered into a Gorgonia expression graph for one
// batch size: a training net (BatchNorm on batch statistics, except frozen
// ones, see Weights.SetLRMult; loss and gradients) or an evaluation net
// (running statistics, logits only). The model's output is either
// classification logits [batch, classes], trained with softmax
// cross-entropy against target distributions (Targets), or per-pixel
// logits [batch, classes, H, W], trained with per-pixel softmax
// cross-entropy against a label map (PixelLabels).
type Net[T Float] struct {
	g      *G.ExprGraph
	vm     G.VM
	Batch  int
	input  buffer[T]
	logits *G.Node
	loss   *G.Node
	// labels is the classification loss, pixels the per-pixel one,
	// detect the detection one; a training net has one of them.
	labels   *crossEntropy[T]
	pixels   *pixelCrossEntropy[T]
	detect   *centerNetLoss[T]
	paramsIn []*G.Node // parameter nodes, in Weights.Order
	grads    []*G.Node // their gradients, in the same order
	bns      []*batchNorm[T]
	convs    []*kernel.Conv2D[T]
	arena    *kernel.Arena // the convolutions' memory during a call, shared
	order    *runOrder     // the order the memory plan holds the ops to
	// shared is the storage the planned buffers share; allocated the
	// elements the plan allocated in all, buffered the elements of all
	// the buffers it placed.
	shared              []T
	allocated, buffered int
}

// LowerOptions say what kind of Net Lower builds.
type LowerOptions struct {
	// Training builds the backward pass and the loss; UpdateStats also
	// updates the BatchNorm running statistics (only one replica should).
	Training, UpdateStats bool
	// Precision is the convolutions' arithmetic; BF16 needs float32 T.
	Precision kernel.Precision
	// ChannelsFirst keeps every activation NCHW. Float32 nets otherwise
	// keep the activations of convolutions, BatchNorm, ReLU and Add
	// channels-last (NHWC), where oneDNN's convolutions need no reorder,
	// and turn them NCHW for the ops that only know that layout (pooling,
	// Resize, the head, the output). Float64 nets are always NCHW.
	ChannelsFirst bool
	// Detect, when above 0, says the output is a CenterNet head of that
	// many classes, [batch, Detect+4, H, W] (package detection's layout),
	// which a training net trains with CenterNet's loss against the
	// objects set by SetObjects.
	Detect int
}

// Lower builds a Net for m at the given batch size over the shared weights
// w.
func Lower[T Float](m *graph.Model, w *Weights[T], batch int, o LowerOptions) (*Net[T], error) {
	g0 := m.GetGraph()
	if err := graph.TopoSort(g0); err != nil {
		return nil, err
	}
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return nil, err
	}
	inputs := graph.DataInputs(g0)
	if len(inputs) != 1 || len(g0.GetOutput()) != 1 {
		return nil, fmt.Errorf("training needs a model with one input and one output, found %d and %d", len(inputs), len(g0.GetOutput()))
	}
	inShape, _, _ := graph.ShapeOf(inputs[0])
	if len(inShape) != 4 || !inShape[1:].Known() {
		return nil, fmt.Errorf("input %q: expected [batch, C, H, W] with known C, H, W, found [%v]", inputs[0].GetName(), inShape)
	}
	n := &Net[T]{g: G.NewGraph(), Batch: batch}
	dt := dtypeOf[T]()
	xShape := tensor.Shape{batch, int(inShape[1].Size), int(inShape[2].Size), int(inShape[3].Size)}
	n.input = newBuffer[T](xShape)
	inputNode := G.NewTensor(n.g, dt, 4, G.WithShape(xShape...), G.WithName("input"), G.WithValue(n.input.t))
	l := &lowerer[T]{
		net: n, w: w, o: o, ix: graph.NewIndex(g0), shapes: shapes, input: inputNode,
		env:       map[string]*G.Node{inputs[0].GetName(): inputNode},
		params:    map[string]*G.Node{},
		fusedReLU: map[*onnx.NodeProto]bool{},
		last:      dt == tensor.Float32 && !o.ChannelsFirst,
		isLast:    map[*G.Node]bool{},
		relaid:    map[*G.Node]*G.Node{},
	}
	table := opLowerings[T]()
	for _, node := range g0.GetNode() {
		if l.fusedReLU[node] {
			continue
		}
		op, supported := table[node.GetOpType()]
		if op.alias {
			if x, ok := l.env[node.GetInput()[0]]; ok {
				l.env[node.GetOutput()[0]] = x
			}
			continue
		}
		if l.constName(node.GetOutput()[0]) != "" {
			continue
		}
		outShape := shapes[node.GetOutput()[0]]
		if len(outShape) < 2 || !outShape[1:].Known() {
			return nil, fmt.Errorf("node %q (%s): output shape [%v] is not static", node.GetName(), node.GetOpType(), outShape)
		}
		out := tensor.Shape{batch}
		for _, d := range outShape[1:] {
			out = append(out, int(d.Size))
		}
		x := l.env[node.GetInput()[0]]
		if x == nil {
			return nil, fmt.Errorf("node %q (%s): input %q is not computed by the lowered graph", node.GetName(), node.GetOpType(), node.GetInput()[0])
		}
		if !supported {
			return nil, fmt.Errorf("node %q: operator %s is not supported by the training engine (supported: %s)", node.GetName(), node.GetOpType(), strings.Join(supportedOps(), ", "))
		}
		if !op.anyLayout {
			if x, err = l.as(x, false); err != nil {
				return nil, fmt.Errorf("node %q (%s): %w", node.GetName(), node.GetOpType(), err)
			}
		}
		y, err := op.lower(l, node, x, out)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", node.GetName(), node.GetOpType(), err)
		}
		l.env[node.GetOutput()[0]] = y
	}
	n.logits = l.env[g0.GetOutput()[0].GetName()]
	if n.logits != nil {
		if n.logits, err = l.as(n.logits, false); err != nil {
			return nil, fmt.Errorf("output %q: %w", g0.GetOutput()[0].GetName(), err)
		}
	}
	if n.logits == nil || (len(n.logits.Shape()) != 2 && len(n.logits.Shape()) != 4) {
		return nil, fmt.Errorf("output %q: expected [batch, classes] logits or per-pixel [batch, classes, H, W] logits", g0.GetOutput()[0].GetName())
	}
	for _, name := range w.Order {
		if p, ok := l.params[name]; ok {
			n.paramsIn = append(n.paramsIn, p)
		}
	}
	if !o.Training {
		return n, n.compile(n.logits)
	}
	switch {
	case o.Detect > 0:
		out := n.logits.Shape()
		if len(out) != 4 || xShape[2]%out[2] != 0 || xShape[3]%out[3] != 0 || xShape[2]/out[2] != xShape[3]/out[3] {
			return nil, fmt.Errorf("output %q: expected a CenterNet head's map [batch, %d, H, W] one stride below the input's %d×%d on both axes, found [%v]",
				g0.GetOutput()[0].GetName(), o.Detect+4, xShape[2], xShape[3], out)
		}
		n.detect, n.loss, err = lowerCenterNetLoss[T](n.logits, o.Detect, xShape[2]/out[2])
	case len(n.logits.Shape()) == 4:
		n.pixels, n.loss, err = lowerPixelCrossEntropy[T](n.logits)
	default:
		n.labels, n.loss, err = lowerCrossEntropy[T](n.logits)
	}
	if err != nil {
		return nil, err
	}
	one := G.NewScalar(n.g, dt, G.WithName("1"), G.WithValue(scalarOne[T]()))
	if n.grads, err = backprop[T](n.loss, n.paramsIn, one); err != nil {
		return nil, fmt.Errorf("building gradients: %w", err)
	}
	return n, n.compile(append([]*G.Node{n.logits, n.loss}, n.grads...)...)
}

// opLowering is one row of the table Lower dispatches on.
type opLowering[T Float] struct {
	// alias marks an op that hands its input on unchanged under a new
	// name (Identity): nothing is computed, and nothing is needed when
	// the input is a constant.
	alias bool
	// anyLayout marks an op that takes channels-last or NCHW input as it
	// comes (a Conv turns it channels-last); the others get NCHW.
	anyLayout bool
	// lower adds the op to the net: x is its first input, out its output
	// shape at the net's batch. It records the output's layout.
	lower func(l *lowerer[T], node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error)
}

// opLowerings is the table Lower dispatches on, by operator type.
func opLowerings[T Float]() map[string]opLowering[T] {
	return map[string]opLowering[T]{
		"Identity":           {alias: true},
		"Conv":               {anyLayout: true, lower: (*lowerer[T]).conv},
		"BatchNormalization": {anyLayout: true, lower: (*lowerer[T]).batchNorm},
		"Relu":               {anyLayout: true, lower: (*lowerer[T]).relu},
		"Add":                {anyLayout: true, lower: (*lowerer[T]).add},
		"MaxPool":            {anyLayout: true, lower: (*lowerer[T]).pool},
		"AveragePool":        {anyLayout: true, lower: (*lowerer[T]).pool},
		"GlobalAveragePool":  {anyLayout: true, lower: (*lowerer[T]).pool},
		"Flatten":            {lower: (*lowerer[T]).flatten},
		"Gemm":               {lower: (*lowerer[T]).gemm},
		"Resize":             {lower: (*lowerer[T]).resize},
		"Concat":             {lower: (*lowerer[T]).concat},
	}
}

// supportedOps lists the operators the engine lowers, read from the table
// Lower dispatches on so that the two cannot drift.
func supportedOps() []string { return slices.Sorted(maps.Keys(opLowerings[float32]())) }

// lowerer is the state the table's entries share while Lower lowers one
// model.
type lowerer[T Float] struct {
	net    *Net[T]
	w      *Weights[T]
	o      LowerOptions
	ix     *graph.Index
	shapes graph.Shapes
	input  *G.Node // the image batch
	// env maps each ONNX value computed so far to its node, params each
	// parameter's name to its node.
	env, params map[string]*G.Node
	// fusedReLU holds the ReLUs folded into the BatchNorm or Add before
	// them (their output's only reader).
	fusedReLU map[*onnx.NodeProto]bool
	// last says whether the net keeps activations channels-last; isLast
	// which activations are, and relaid the copy of each in the other
	// layout once an op has asked for it.
	last   bool
	isLast map[*G.Node]bool
	relaid map[*G.Node]*G.Node
}

// param returns the node of the named parameter, made on first use over
// the shared weights.
func (l *lowerer[T]) param(name string) *G.Node {
	if p, ok := l.params[name]; ok {
		return p
	}
	shape := make(tensor.Shape, len(l.w.Shapes[name]))
	for i, d := range l.w.Shapes[name] {
		shape[i] = int(d)
	}
	value := tensor.New(tensor.WithBacking(l.w.Params[name]), tensor.WithShape(shape...))
	p := G.NewTensor(l.net.g, dtypeOf[T](), len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(value))
	l.params[name] = p
	return p
}

// constName returns the name of the initializer value v holds, or "".
func (l *lowerer[T]) constName(v string) string {
	if t := l.ix.Constant(v); t != nil {
		return t.GetName()
	}
	return ""
}

// as returns x in the layout asked for, relaid once and then reused.
func (l *lowerer[T]) as(x *G.Node, wantLast bool) (*G.Node, error) {
	if l.isLast[x] == wantLast {
		return x, nil
	}
	if y, ok := l.relaid[x]; ok {
		return y, nil
	}
	y, err := lowerRelayout[T](x.Name(), x, wantLast)
	if err != nil {
		return nil, err
	}
	l.relaid[x], l.isLast[y] = y, wantLast
	return y, nil
}

// fuse records relu, when not nil, as folded into the op whose output y
// it read: its output is y.
func (l *lowerer[T]) fuse(relu *onnx.NodeProto, y *G.Node) {
	if relu != nil {
		l.fusedReLU[relu] = true
		l.env[relu.GetOutput()[0]] = y
	}
}

// bias returns the parameter node of a Conv's or Gemm's optional third
// input, or nil.
func (l *lowerer[T]) bias(node *onnx.NodeProto) *G.Node {
	if len(node.GetInput()) > 2 && node.GetInput()[2] != "" {
		return l.param(l.constName(node.GetInput()[2]))
	}
	return nil
}

func (l *lowerer[T]) conv(node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	b := l.bias(node)
	k, y, err := lowerConv[T](node, x, l.param(l.constName(node.GetInput()[1])), b, out, x != l.input, l.o.Precision, l.isLast[x], l.last)
	if k != nil {
		l.net.convs = append(l.net.convs, k)
	}
	if err != nil {
		return nil, err
	}
	l.isLast[y] = l.last
	return y, nil
}

func (l *lowerer[T]) batchNorm(node *onnx.NodeProto, x *G.Node, _ tensor.Shape) (*G.Node, error) {
	relu := followingReLU(l.ix, node)
	gamma, beta := l.constName(node.GetInput()[1]), l.constName(node.GetInput()[2])
	frozen := l.w.LRMult(gamma) == 0 && l.w.LRMult(beta) == 0
	bn, y, err := lowerBatchNorm[T](node, x, l.param(gamma), l.param(beta),
		l.w.Stats[l.constName(node.GetInput()[3])], l.w.Stats[l.constName(node.GetInput()[4])], l.o.Training && !frozen, l.o.UpdateStats, relu != nil, l.isLast[x])
	if err != nil {
		return nil, err
	}
	l.net.bns = append(l.net.bns, bn)
	l.isLast[y] = l.isLast[x]
	l.fuse(relu, y)
	return y, nil
}

func (l *lowerer[T]) relu(node *onnx.NodeProto, x *G.Node, _ tensor.Shape) (*G.Node, error) {
	y, err := lowerRelu[T](node, x)
	if err != nil {
		return nil, err
	}
	l.isLast[y] = l.isLast[x]
	return y, nil
}

func (l *lowerer[T]) pool(node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	y, err := lowerPool[T](node, x, out, l.isLast[x])
	if err != nil {
		return nil, err
	}
	// A global pool's N×C×1×1 output is the same in both layouts.
	l.isLast[y] = l.isLast[x] && node.GetOpType() != "GlobalAveragePool"
	return y, nil
}

func (l *lowerer[T]) add(node *onnx.NodeProto, x *G.Node, _ tensor.Shape) (*G.Node, error) {
	other := l.env[node.GetInput()[1]]
	if other == nil || !slices.Equal(other.Shape(), x.Shape()) {
		return nil, fmt.Errorf("expected two computed inputs of the same shape")
	}
	other, err := l.as(other, l.isLast[x])
	if err != nil {
		return nil, err
	}
	relu := followingReLU(l.ix, node)
	y, err := lowerAdd[T](node, x, other, relu != nil)
	if err != nil {
		return nil, err
	}
	l.isLast[y] = l.isLast[x]
	l.fuse(relu, y)
	return y, nil
}

func (l *lowerer[T]) flatten(node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	return lowerReshape[T](node, x, out)
}

func (l *lowerer[T]) gemm(node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	b := l.bias(node)
	return lowerGemm[T](node, x, l.param(l.constName(node.GetInput()[1])), b, out)
}

func (l *lowerer[T]) resize(node *onnx.NodeProto, x *G.Node, out tensor.Shape) (*G.Node, error) {
	return lowerResize[T](node, x, out, l.shapes[node.GetInput()[0]], l.shapes[node.GetOutput()[0]], l.ix)
}

// compile plans the net's memory, keeping the buffers of the nodes whose
// values are read after a run, and builds its tape machine.
func (n *Net[T]) compile(kept ...*G.Node) error {
	var err error
	if n.order, n.shared, n.allocated, n.buffered, err = planMemory[T](n.g, kept); err != nil {
		return fmt.Errorf("planning memory: %w", err)
	}
	need := 0
	for _, k := range n.convs {
		need = max(need, k.ArenaBytes())
	}
	if need > 0 {
		n.arena = kernel.NewArena(need)
		for _, k := range n.convs {
			k.UseArena(n.arena)
		}
	}
	n.vm = G.NewTapeMachine(n.g)
	return nil
}

// followingReLU returns the Relu that is the only reader of n's output,
// which the lowering fuses into n, or nil.
func followingReLU(ix *graph.Index, n *onnx.NodeProto) *onnx.NodeProto {
	relu := ix.SoleConsumer(n.GetOutput()[0])
	if relu == nil || relu.GetOpType() != "Relu" || relu.GetInput()[0] != n.GetOutput()[0] {
		return nil
	}
	return relu
}

// Close frees what the net's kernels hold outside Go's heap (oneDNN's
// primitives and buffers) now rather than at garbage collection. The net
// must not run afterwards.
func (n *Net[T]) Close() {
	for _, k := range n.convs {
		k.Close()
	}
	if n.arena != nil {
		n.arena.Close()
	}
}

// Input returns the buffer the next run reads its images from, NCHW.
func (n *Net[T]) Input() []T { return n.input.data }

// SetLabels sets one-hot targets for the next run's loss (classification
// nets).
func (n *Net[T]) SetLabels(labels []int32) {
	t := n.Targets()
	clear(t)
	for i, l := range labels {
		t[i*n.labels.classes+int(l)] = 1
	}
}

// SetDistillation adds the distillation term to a float32 training net's
// loss and returns the buffer for the teacher's softened distributions,
// [batch, classes], to fill before each run.
func (n *Net[T]) SetDistillation(d Distillation) ([]float32, error) {
	if dtypeOf[T]() != tensor.Float32 {
		return nil, fmt.Errorf("distillation needs a float32 net")
	}
	if n.labels == nil {
		return nil, fmt.Errorf("distillation needs a classification training net ([batch, classes] logits)")
	}
	size := len(n.labels.targets.data)
	ce := n.labels
	ce.distill = &d
	ce.soft, ce.scaled, ce.scratch = make([]float32, size), make([]float32, size), make([]float32, size)
	return ce.soft, nil
}

// Targets returns the buffer of the next run's target distributions,
// [batch, classes]: one-hot, smoothed or mixed labels; nil but in a
// classification training net.
func (n *Net[T]) Targets() []T {
	if n.labels == nil {
		return nil
	}
	return n.labels.targets.data
}

// PixelLabels returns the buffer of the next run's label map, [batch, H, W]
// row-major, to fill before each run of a training net with per-pixel
// logits: each pixel's class in [0, classes), or IgnoreLabel to leave the
// pixel out of the loss. It is nil in other nets.
func (n *Net[T]) PixelLabels() []int32 {
	if n.pixels == nil {
		return nil
	}
	return n.pixels.labels
}

// PixelCount returns the number of pixels the last run's loss averaged
// over (those not IgnoreLabel), for weighting the losses and gradients of
// replicas that share a batch; 0 in nets without per-pixel logits.
func (n *Net[T]) PixelCount() int {
	if n.pixels == nil {
		return 0
	}
	return n.pixels.count
}

// Run computes the logits and, in a training net, the loss and the
// gradients.
func (n *Net[T]) Run() error {
	n.order.last = -1
	n.vm.Reset()
	return n.vm.RunAll()
}

// Loss returns the last run's mean loss: over the images, or over the
// labelled pixels with per-pixel logits; 0 in a net built without a loss
// (an evaluation net), as PixelCount is.
func (n *Net[T]) Loss() float64 {
	switch {
	case n.detect != nil:
		return n.detect.loss
	case n.pixels != nil:
		return n.pixels.loss
	case n.labels != nil:
		return n.labels.loss
	}
	return 0
}

// Logits returns the last run's logits, [batch, classes] or [batch,
// classes, H, W], row-major.
func (n *Net[T]) Logits() []T { return n.logits.Value().Data().([]T) }

// Grads returns the last run's parameter gradients in Weights.Order.
func (n *Net[T]) Grads() [][]T {
	out := make([][]T, len(n.grads))
	for i, g := range n.grads {
		out[i] = g.Value().Data().([]T)
	}
	return out
}
