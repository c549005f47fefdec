package tweaks

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/structure"
)

// pass is one row of the table Apply runs. check looks without changing
// anything; only when it finds work does rewrite run, so a refused graph
// is refused before any node is touched.
type pass struct {
	name Pass
	// check says why the pass leaves r as it is: a reason when there is
	// nothing to change (the report's note), an error when it refuses
	// the graph. Neither means rewrite has work to do.
	check func(r *structure.ResNet) (reason string, err error)
	// rewrite makes the changes in m, whose structure is r, and says what
	// it changed block by block. rng draws new weights.
	rewrite func(r *structure.ResNet, m *graph.Model, rng *rand.Rand) ([]Change, error)
}

// passTable holds the passes in the order Apply runs them.
var passTable = []pass{
	{B, checkB, rewriteB},
	{C, checkC, rewriteC},
	{D, checkD, rewriteD},
}

var one = [2]int64{1, 1}

// ints2 reads a 2-element INTS attribute with a default of [d, d].
func ints2(n *onnx.NodeProto, name string, d int64) [2]int64 {
	v := graph.IntsAttr(n, name, nil)
	if len(v) != 2 {
		return [2]int64{d, d}
	}
	return [2]int64{v[0], v[1]}
}

// Pass B moves the stride of each downsampling bottleneck from its first 1×1
// conv to its 3×3 conv, so that the 1×1 conv no longer skips three
// quarters of its input. No weight changes.

// stridedBottlenecks returns the bottlenecks whose first conv is strided:
// the blocks pass B rewrites.
func stridedBottlenecks(r *structure.ResNet) []*structure.Block {
	var out []*structure.Block
	for _, b := range r.Blocks {
		if len(b.Main) == 3 && ints2(b.Main[0], "strides", 1) != one {
			out = append(out, b)
		}
	}
	return out
}

func checkB(r *structure.ResNet) (string, error) {
	strided := stridedBottlenecks(r)
	if len(strided) == 0 {
		for _, b := range r.Blocks {
			if len(b.Main) == 3 {
				return "nothing to change: every downsampling bottleneck has its stride on the 3×3 conv already", nil
			}
		}
		return "nothing to change: basic blocks carry the stride on their 3×3 conv already", nil
	}
	for _, b := range strided {
		reduce, spatial := b.Main[0], b.Main[1]
		k1, err := r.Kernel(reduce)
		if err != nil {
			return "", err
		}
		k2, err := r.Kernel(spatial)
		if err != nil {
			return "", err
		}
		if s1, s2 := ints2(reduce, "strides", 1), ints2(spatial, "strides", 1); k1 != one || k2 != [2]int64{3, 3} || s2 != one {
			return "", fmt.Errorf("block %s: expected a strided 1×1 conv then a stride-1 3×3 conv on the main path, found %d×%d stride %v then %d×%d stride %v",
				b.Label, k1[0], k1[1], s1, k2[0], k2[1], s2)
		}
		for _, c := range []*onnx.NodeProto{reduce, spatial} {
			if pad := graph.StringAttr(c, "auto_pad", "NOTSET"); pad != "NOTSET" && pad != "" {
				return "", fmt.Errorf("block %s: conv %q uses auto_pad %s; expected explicit pads", b.Label, c.GetName(), pad)
			}
		}
	}
	return "", nil
}

func rewriteB(r *structure.ResNet, _ *graph.Model, _ *rand.Rand) ([]Change, error) {
	var changes []Change
	for _, b := range stridedBottlenecks(r) {
		reduce, spatial := b.Main[0], b.Main[1]
		s := ints2(reduce, "strides", 1)
		graph.SetAttr(reduce, graph.AttrInts("strides", 1, 1))
		graph.SetAttr(spatial, graph.AttrInts("strides", s[:]...))
		changes = append(changes, Change{b.Label, fmt.Sprintf("stride %d moved from the 1×1 conv %q to the 3×3 conv %q", s[0], reduce.GetName(), spatial.GetName())})
	}
	return changes, nil
}

// Pass C replaces the 7×7 stride-2 stem conv of width w with three 3×3 convs
// (w/2 stride 2, w/2, w), the first two each followed by
// BatchNormalization and ReLU; the last keeps the graph's existing BN and
// ReLU. New weights are Xavier-uniform from rng, new BatchNorms start at
// γ = 1, β = 0, mean 0, variance 1. In a graph whose BatchNorm is folded
// into the convs, the new convs get a zero bias instead of a BatchNorm
// and the last one inherits the old conv's bias.

func checkC(r *structure.ResNet) (string, error) {
	if r.StemErr != nil {
		return "", r.StemErr
	}
	convs := r.Stem.Convs
	kernels := make([][2]int64, len(convs))
	for i, c := range convs {
		k, err := r.Kernel(c)
		if err != nil {
			return "", err
		}
		kernels[i] = k
	}
	if len(convs) > 1 {
		for _, k := range kernels {
			if k != [2]int64{3, 3} {
				return "", fmt.Errorf("unexpected stem: expected one 7×7 conv or a deep stem of 3×3 convs, found %d convs (%s)", len(convs), r.Stem)
			}
		}
		return fmt.Sprintf("nothing to change: the stem is %d 3×3 convs already", len(convs)), nil
	}
	conv, stride := convs[0], ints2(convs[0], "strides", 1)
	if kernels[0] == [2]int64{3, 3} && stride == one && r.Stem.MaxPool == nil {
		return "nothing to change: the stem is a single 3×3 stride-1 conv (CIFAR layout); pass C replaces a 7×7 ImageNet stem", nil
	}
	if kernels[0] != [2]int64{7, 7} || stride != [2]int64{2, 2} || graph.IntAttr(conv, "group", 1) != 1 {
		return "", fmt.Errorf("unexpected stem: expected a 7×7 stride-2 conv, found %d×%d stride %v in conv %q", kernels[0][0], kernels[0][1], stride, conv.GetName())
	}
	if w := r.Index.Constant(conv.GetInput()[1]); w == nil || len(w.GetDims()) != 4 {
		return "", fmt.Errorf("stem conv %q: expected a constant 4-D weight", conv.GetName())
	}
	return "", nil
}

func rewriteC(r *structure.ResNet, m *graph.Model, rng *rand.Rand) ([]Change, error) {
	conv := r.Stem.Convs[0]
	w := r.Index.Constant(conv.GetInput()[1])
	width, in := w.GetDims()[0], w.GetDims()[1]
	half := max(width/2, 1)

	g := m.GetGraph()
	b := graph.Edit(g, nil)
	b.InsertBefore(conv)
	base := conv.GetName()
	if base == "" {
		base = "stem.conv"
	}
	bn := r.Index.SoleConsumer(conv.GetOutput()[0])
	folded := bn == nil || bn.GetOpType() != "BatchNormalization"
	epsilon, momentum := float32(1e-5), float32(0.9)
	if !folded {
		epsilon, momentum = graph.FloatAttr(bn, "epsilon", epsilon), graph.FloatAttr(bn, "momentum", momentum)
	}
	oldBias := ""
	if len(conv.GetInput()) > 2 {
		oldBias = conv.GetInput()[2]
	}
	// newConv adds a 3×3 conv, index i in timm's deep-stem numbering
	// (0, 3, 6; BatchNorms and ReLUs take the numbers between).
	newConv := func(i int, x string, cin, cout, s int64, bias string) string {
		name := fmt.Sprintf("%s.%d", base, i)
		weight := b.Param(name+".weight", []int64{cout, cin, 3, 3}, models.XavierUniform(rng, cout*cin*9, cin*9, cout*9))
		return b.Conv(name, x, weight, bias, graph.ConvAttrs{Kernel: [2]int64{3, 3}, Stride: [2]int64{s, s}, Pads: [4]int64{1, 1, 1, 1}})
	}
	normRelu := func(i int, x string, channels int64) string {
		if !folded {
			x = b.NewBatchNorm(fmt.Sprintf("%s.%d", base, i), x, channels, epsilon, momentum)
		}
		return b.Relu(fmt.Sprintf("%s.%d", base, i+1), x)
	}
	// A folded graph's new convs get a zero bias in place of a BatchNorm.
	zeroBias := func(i int, channels int64) string {
		if !folded {
			return ""
		}
		return b.Param(fmt.Sprintf("%s.%d.bias", base, i), []int64{channels}, make([]float32, channels))
	}
	x := newConv(0, conv.GetInput()[0], in, half, 2, zeroBias(0, half))
	x = normRelu(1, x, half)
	x = newConv(3, x, half, half, 1, zeroBias(3, half))
	x = normRelu(4, x, half)
	x = newConv(6, x, half, width, 1, oldBias)
	// The last conv takes the old one's place: its output keeps the old
	// value's name, which the BatchNorm (or whatever follows) reads.
	graph.RemoveNodes(g, conv)
	graph.RenameValue(g, x, conv.GetOutput()[0])
	return []Change{{"stem", fmt.Sprintf("7×7 stride-2 conv %q (%d→%d) replaced by 3×3 convs %d→%d stride 2, %d→%d, %d→%d",
		conv.GetName(), in, width, in, half, half, half, half, width)}}, nil
}

// Pass D puts an average pool in front of every strided 1×1 projection
// shortcut and sets the projection's stride to 1, so the shortcut sees
// every input pixel. The pool's kernel and stride equal the old stride;
// count_include_pad=0. Where static shapes prove a size divisible by the
// stride, the pool has no padding (ceil_mode=0); otherwise it pads the end
// by stride−1, which gives ceil_mode=1's output size and values (the
// padding is never counted) without relying on runtimes' ceil_mode
// support. No weight changes.

// stridedProjections returns the blocks with a strided projection shortcut
// and no pool before it: the blocks pass D rewrites.
func stridedProjections(r *structure.ResNet) []*structure.Block {
	var out []*structure.Block
	for _, b := range r.Blocks {
		if b.Shortcut != nil && b.Pool == nil && ints2(b.Shortcut, "strides", 1) != one {
			out = append(out, b)
		}
	}
	return out
}

func checkD(r *structure.ResNet) (string, error) {
	strided := stridedProjections(r)
	if len(strided) == 0 {
		pooled, projections := 0, 0
		for _, b := range r.Blocks {
			if b.Shortcut != nil {
				projections++
				if b.Pool != nil {
					pooled++
				}
			}
		}
		switch {
		case pooled > 0:
			return fmt.Sprintf("nothing to change: the %d strided projection shortcuts are average-pooled already", pooled), nil
		case projections > 0:
			return "nothing to change: no projection shortcut has a stride", nil
		default:
			return "nothing to change: no block has a projection shortcut", nil
		}
	}
	for _, b := range strided {
		sc := b.Shortcut
		k, err := r.Kernel(sc)
		if err != nil {
			return "", err
		}
		pads := graph.IntsAttr(sc, "pads", []int64{0, 0, 0, 0})
		if k != one || len(pads) != 4 || pads[0]+pads[1]+pads[2]+pads[3] != 0 {
			return "", fmt.Errorf("block %s: expected an unpadded 1×1 projection shortcut, found %d×%d with pads %v in conv %q", b.Label, k[0], k[1], pads, sc.GetName())
		}
	}
	return "", nil
}

func rewriteD(r *structure.ResNet, m *graph.Model, _ *rand.Rand) ([]Change, error) {
	b := graph.Edit(m.GetGraph(), nil)
	var changes []Change
	for _, blk := range stridedProjections(r) {
		sc := blk.Shortcut
		s := ints2(sc, "strides", 1)
		x := sc.GetInput()[0]
		// End padding of stride−1, excluded from the count, gives ceil_mode's
		// result at every size: an odd size gets the main path's ceil(n/s)
		// rows, and at a multiple of s no window reaches the padding. So the
		// pool is right whatever size the model is later run or exported at.
		end := [2]int64{s[0] - 1, s[1] - 1}
		name := sc.GetName() + ".pool"
		if sc.GetName() == "" {
			name = "shortcut.pool"
		}
		b.InsertBefore(sc)
		pooled := b.AveragePool(name, x, graph.PoolAttrs{Kernel: s, Stride: s, Pads: [4]int64{0, 0, end[0], end[1]}})
		graph.ReplaceInput(sc, x, pooled)
		graph.SetAttr(sc, graph.AttrInts("strides", 1, 1))
		what := fmt.Sprintf("average pool %d×%d stride %d (count_include_pad=0, end padding %v as ceil_mode=1) inserted before the 1×1 projection %q, now stride 1",
			s[0], s[1], s[0], end, sc.GetName())
		changes = append(changes, Change{blk.Label, what})
	}
	return changes, nil
}

// features tells which of the paper's tweaks a structure has.
type features struct {
	b, c, d bool
	// noB and noC mark a tweak that does not exist for the architecture:
	// B for basic blocks, whose stride is on a 3×3 conv from the start, and
	// C for the CIFAR stem, a single 3×3 stride-1 conv.
	noB, noC bool
}

func featuresOf(r *structure.ResNet) features {
	var f features
	f.noB = !slices.ContainsFunc(r.Blocks, func(b *structure.Block) bool { return len(b.Main) == 3 })
	f.b = !f.noB && len(stridedBottlenecks(r)) == 0
	if convs := r.Stem.Convs; r.StemErr == nil && len(convs) > 0 {
		small := true
		for _, c := range convs {
			if k, err := r.Kernel(c); err != nil || k[0] > 3 || k[1] > 3 {
				small = false
			}
		}
		f.c = small && len(convs) > 1
		f.noC = small && len(convs) == 1 && ints2(convs[0], "strides", 1) == one && r.Stem.MaxPool == nil
	}
	for _, b := range r.Blocks {
		if b.Pool != nil {
			f.d = true
		}
	}
	for _, b := range r.Blocks {
		if b.Shortcut != nil && ints2(b.Shortcut, "strides", 1) != one {
			f.d = false
		}
	}
	return f
}
