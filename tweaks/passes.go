package tweaks

import (
	"fmt"
	"math/rand/v2"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
)

var one = [2]int64{1, 1}

// passB moves the stride of each downsampling bottleneck from its first
// 1×1 conv to its 3×3 conv, so that the 1×1 conv no longer skips three
// quarters of its input. No weight changes.
func (r *resnet) passB() (Report, error) {
	rep := Report{Pass: B}
	bottlenecks := 0
	for _, b := range r.blocks {
		if len(b.main) != 3 {
			continue
		}
		bottlenecks++
		reduce, spatial := b.main[0], b.main[1]
		s1, s2 := ints2(reduce, "strides", 1), ints2(spatial, "strides", 1)
		if s1 == one {
			continue
		}
		k1, err := r.kernelOf(reduce)
		if err != nil {
			return rep, err
		}
		k2, err := r.kernelOf(spatial)
		if err != nil {
			return rep, err
		}
		if k1 != one || k2 != [2]int64{3, 3} || s2 != one {
			return rep, fmt.Errorf("block %s: expected a strided 1×1 conv then a stride-1 3×3 conv on the main path, found %d×%d stride %v then %d×%d stride %v",
				b.label, k1[0], k1[1], s1, k2[0], k2[1], s2)
		}
		for _, c := range []*onnx.NodeProto{reduce, spatial} {
			if pad := graph.StringAttr(c, "auto_pad", "NOTSET"); pad != "NOTSET" && pad != "" {
				return rep, fmt.Errorf("block %s: conv %q uses auto_pad %s; expected explicit pads", b.label, c.GetName(), pad)
			}
		}
		graph.SetAttr(reduce, graph.AttrInts("strides", 1, 1))
		graph.SetAttr(spatial, graph.AttrInts("strides", s1[:]...))
		rep.Changes = append(rep.Changes, Change{b.label, fmt.Sprintf("stride %d moved from the 1×1 conv %q to the 3×3 conv %q", s1[0], reduce.GetName(), spatial.GetName())})
	}
	if len(rep.Changes) == 0 {
		rep.Note = "nothing to change: every downsampling bottleneck has its stride on the 3×3 conv already"
		if bottlenecks == 0 {
			rep.Note = "nothing to change: basic blocks carry the stride on their 3×3 conv already"
		}
	}
	return rep, nil
}

// passC replaces the 7×7 stride-2 stem conv of width w with three 3×3
// convs (w/2 stride 2, w/2, w), the first two each followed by
// BatchNormalization and ReLU; the last keeps the graph's existing BN and
// ReLU. New weights are Xavier-uniform from rng, new BatchNorms start at
// γ = 1, β = 0, mean 0, variance 1. In a graph whose BatchNorm is folded
// into the convs, the new convs get a zero bias instead of a BatchNorm
// and the last one inherits the old conv's bias.
func (r *resnet) passC(m *graph.Model, rng *rand.Rand) (Report, error) {
	rep := Report{Pass: C}
	if r.stemErr != nil {
		return rep, r.stemErr
	}
	convs := r.stem.convs
	kernels := make([][2]int64, len(convs))
	for i, c := range convs {
		k, err := r.kernelOf(c)
		if err != nil {
			return rep, err
		}
		kernels[i] = k
	}
	if len(convs) > 1 {
		for _, k := range kernels {
			if k != [2]int64{3, 3} {
				return rep, fmt.Errorf("unexpected stem: expected one 7×7 conv or a deep stem of 3×3 convs, found %d convs (%s)", len(convs), describe(r.stem.nodes))
			}
		}
		rep.Note = fmt.Sprintf("nothing to change: the stem is %d 3×3 convs already", len(convs))
		return rep, nil
	}
	conv, stride := convs[0], ints2(convs[0], "strides", 1)
	if kernels[0] == [2]int64{3, 3} && stride == one && r.stem.maxPool == nil {
		rep.Note = "nothing to change: the stem is a single 3×3 stride-1 conv (CIFAR layout); pass C replaces a 7×7 ImageNet stem"
		return rep, nil
	}
	if kernels[0] != [2]int64{7, 7} || stride != [2]int64{2, 2} || graph.IntAttr(conv, "group", 1) != 1 {
		return rep, fmt.Errorf("unexpected stem: expected a 7×7 stride-2 conv, found %d×%d stride %v in conv %q", kernels[0][0], kernels[0][1], stride, conv.GetName())
	}
	w := r.ix.Constant(conv.GetInput()[1])
	if w == nil || len(w.GetDims()) != 4 {
		return rep, fmt.Errorf("stem conv %q: expected a constant 4-D weight", conv.GetName())
	}
	width, in := w.GetDims()[0], w.GetDims()[1]
	half := max(width/2, 1)

	g := m.GetGraph()
	nm := graph.NewNamer(g)
	base := conv.GetName()
	if base == "" {
		base = "stem.conv"
	}
	bn := r.ix.SoleConsumer(conv.GetOutput()[0])
	folded := bn == nil || bn.GetOpType() != "BatchNormalization"
	epsilon, momentum := float32(1e-5), float32(0.9)
	if !folded {
		epsilon, momentum = graph.FloatAttr(bn, "epsilon", epsilon), graph.FloatAttr(bn, "momentum", momentum)
	}

	var nodes []*onnx.NodeProto
	param := func(name string, dims []int64, data []float32) string {
		name = nm.Fresh(name)
		m.SetInitializer(graph.FloatTensor(name, dims, data))
		return name
	}
	filled := func(n int64, v float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	// newConv adds a 3×3 conv (index i in timm's deep-stem numbering) and
	// returns its output; out names the output value ("" for a fresh one).
	newConv := func(i int, x string, cin, cout, s int64, bias, out string) string {
		name := nm.Fresh(fmt.Sprintf("%s.%d", base, i))
		weight := param(name+".weight", []int64{cout, cin, 3, 3}, models.XavierUniform(rng, cout*cin*9, cin*9, cout*9))
		inputs := []string{x, weight}
		if bias != "" {
			inputs = append(inputs, bias)
		}
		if out == "" {
			out = name
		}
		nodes = append(nodes, &onnx.NodeProto{Name: name, OpType: "Conv", Input: inputs, Output: []string{out}, Attribute: []*onnx.AttributeProto{
			graph.AttrInts("dilations", 1, 1), graph.AttrInt("group", 1), graph.AttrInts("kernel_shape", 3, 3),
			graph.AttrInts("pads", 1, 1, 1, 1), graph.AttrInts("strides", s, s),
		}})
		return out
	}
	normRelu := func(i int, x string, channels int64) string {
		if !folded {
			name := nm.Fresh(fmt.Sprintf("%s.%d", base, i))
			nodes = append(nodes, &onnx.NodeProto{Name: name, OpType: "BatchNormalization",
				Input: []string{x,
					param(name+".weight", []int64{channels}, filled(channels, 1)),
					param(name+".bias", []int64{channels}, filled(channels, 0)),
					param(name+".running_mean", []int64{channels}, filled(channels, 0)),
					param(name+".running_var", []int64{channels}, filled(channels, 1))},
				Output:    []string{name},
				Attribute: []*onnx.AttributeProto{graph.AttrFloat("epsilon", epsilon), graph.AttrFloat("momentum", momentum)}})
			x = name
		}
		name := nm.Fresh(fmt.Sprintf("%s.%d", base, i+1))
		nodes = append(nodes, &onnx.NodeProto{Name: name, OpType: "Relu", Input: []string{x}, Output: []string{name}})
		return name
	}
	zeroBias := func(i int, channels int64) string {
		if !folded {
			return ""
		}
		return param(fmt.Sprintf("%s.%d.bias", base, i), []int64{channels}, filled(channels, 0))
	}
	oldBias := ""
	if len(conv.GetInput()) > 2 {
		oldBias = conv.GetInput()[2]
	}
	x := newConv(0, conv.GetInput()[0], in, half, 2, zeroBias(0, half), "")
	x = normRelu(1, x, half)
	x = newConv(3, x, half, half, 1, zeroBias(3, half), "")
	x = normRelu(4, x, half)
	newConv(6, x, half, width, 1, oldBias, conv.GetOutput()[0])

	graph.InsertBefore(g, conv, nodes...)
	graph.RemoveNodes(g, conv)
	rep.Changes = append(rep.Changes, Change{"stem", fmt.Sprintf("7×7 stride-2 conv %q (%d→%d) replaced by 3×3 convs %d→%d stride 2, %d→%d, %d→%d",
		conv.GetName(), in, width, in, half, half, half, half, width)})
	return rep, nil
}

// passD puts an average pool in front of every strided 1×1 projection
// shortcut and sets the projection's stride to 1, so the shortcut sees
// every input pixel. The pool's kernel and stride equal the old stride;
// count_include_pad=0. Where static shapes prove a size divisible by the
// stride, the pool has no padding (ceil_mode=0); otherwise it pads the end
// by stride−1, which gives ceil_mode=1's output size and values (the
// padding is never counted) without relying on runtimes' ceil_mode
// support. No weight changes.
func (r *resnet) passD(m *graph.Model) (Report, error) {
	rep := Report{Pass: D}
	g := m.GetGraph()
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return rep, err
	}
	nm := graph.NewNamer(g)
	pooled, strideOne := 0, 0
	for _, b := range r.blocks {
		sc := b.shortcut
		if sc == nil {
			continue
		}
		if b.pool != nil {
			pooled++
			continue
		}
		s := ints2(sc, "strides", 1)
		if s == one {
			strideOne++
			continue
		}
		k, err := r.kernelOf(sc)
		if err != nil {
			return rep, err
		}
		pads := graph.IntsAttr(sc, "pads", []int64{0, 0, 0, 0})
		if k != one || len(pads) != 4 || pads[0]+pads[1]+pads[2]+pads[3] != 0 {
			return rep, fmt.Errorf("block %s: expected an unpadded 1×1 projection shortcut, found %d×%d with pads %v in conv %q", b.label, k[0], k[1], pads, sc.GetName())
		}
		x := sc.GetInput()[0]
		end := [2]int64{s[0] - 1, s[1] - 1}
		if shape := shapes[x]; len(shape) == 4 {
			for i := range end {
				if d := shape[i+2]; d.Known() && d.Size%s[i] == 0 {
					end[i] = 0
				}
			}
		}
		name := sc.GetName() + ".pool"
		if sc.GetName() == "" {
			name = "shortcut.pool"
		}
		name = nm.Fresh(name)
		out := name
		pool := &onnx.NodeProto{Name: name, OpType: "AveragePool", Input: []string{x}, Output: []string{out}, Attribute: []*onnx.AttributeProto{
			graph.AttrInt("ceil_mode", 0), graph.AttrInt("count_include_pad", 0), graph.AttrInts("kernel_shape", s[:]...),
			graph.AttrInts("pads", 0, 0, end[0], end[1]), graph.AttrInts("strides", s[:]...),
		}}
		graph.InsertBefore(g, sc, pool)
		graph.ReplaceInput(sc, x, out)
		graph.SetAttr(sc, graph.AttrInts("strides", 1, 1))
		what := fmt.Sprintf("average pool %d×%d stride %d (count_include_pad=0) inserted before the 1×1 projection %q, now stride 1", s[0], s[1], s[0], sc.GetName())
		if end != [2]int64{} {
			what += fmt.Sprintf("; end padding %v where the size is odd or unknown, as ceil_mode=1", end)
		}
		rep.Changes = append(rep.Changes, Change{b.label, what})
	}
	if len(rep.Changes) == 0 {
		switch {
		case pooled > 0:
			rep.Note = fmt.Sprintf("nothing to change: the %d strided projection shortcuts are average-pooled already", pooled)
		case strideOne > 0:
			rep.Note = "nothing to change: no projection shortcut has a stride"
		default:
			rep.Note = "nothing to change: no block has a projection shortcut"
		}
	}
	return rep, nil
}

// features tells which of the paper's tweaks a structure has.
type features struct{ b, c, d bool }

func (r *resnet) features() features {
	f := features{b: true, c: r.stemErr == nil}
	for _, b := range r.blocks {
		if len(b.main) == 3 && ints2(b.main[0], "strides", 1) != one {
			f.b = false
		}
		if b.pool != nil {
			f.d = true
		}
	}
	for _, b := range r.blocks {
		if b.shortcut != nil && ints2(b.shortcut, "strides", 1) != one {
			f.d = false
		}
	}
	for _, c := range r.stem.convs {
		if k, err := r.kernelOf(c); err != nil || k[0] > 3 || k[1] > 3 {
			f.c = false
		}
	}
	return f
}
