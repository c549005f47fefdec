package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"google.golang.org/protobuf/proto"
)

// onnxNodeTests is where Debian's libonnx-testdata puts ONNX's operator
// conformance suite: one folder per case with model.onnx (a single node)
// and test_data_set_0/{input,output}_N.pb.
const onnxNodeTests = "/usr/share/libonnx-testdata/data/node"

// conformancePatterns select the cases of the ops this package implements.
var conformancePatterns = []string{
	"test_conv_*", "test_basic_conv_*",
	"test_batchnorm_*",
	"test_averagepool_2d_*", "test_maxpool_2d_*", "test_maxpool_with_argmax_2d_*",
	"test_globalaveragepool*",
	"test_gemm_*", "test_relu", "test_add*", "test_flatten_*",
	"test_sce_mean", "test_sce_sum",
	"test_resize_*_linear*",
}

// conformanceSkips are the selected cases outside what the kernels do.
var conformanceSkips = map[string]string{
	"test_maxpool_2d_dilations": "dilated pooling is not supported (ResNets use none)",
	"test_maxpool_2d_uint8":     "uint8 tensors are not supported",
	"test_add_uint8":            "uint8 tensors are not supported",
	"test_add_bcast":            "Add is same-shape only (the broadcasts a ResNet needs live in BatchNorm and the biases)",
}

// TestONNXConformance runs every selected case of ONNX's conformance suite
// through the kernels, in float32 and in float64, and compares every
// output with ONNX's expected one. auto_pad is turned into explicit pads
// here, as the lowering to the kernels must do.
func TestONNXConformance(t *testing.T) {
	root := testenv.RequireFile(t, onnxNodeTests, "Debian's libonnx-testdata")
	var dirs []string
	for _, p := range conformancePatterns {
		m, err := filepath.Glob(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, m...)
	}
	if len(dirs) < 60 {
		t.Fatalf("found %d conformance cases under %s; expected at least 60", len(dirs), root)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			if reason, ok := conformanceSkips[name]; ok {
				t.Skip(reason)
			}
			node, ins, outs := loadCase(t, dir)
			paths := []convPath{-1}
			if node.OpType == "Conv" { // none is 1×1, so none runs the direct algorithm
				paths = []convPath{pathShifted, pathIm2col}
			}
			for _, path := range paths {
				variant := ""
				if path >= 0 {
					variant = "/" + path.String()
				}
				t.Run("float32"+variant, func(t *testing.T) { compareOutputs(t, runNode[float32](t, node, ins, path), outs) })
				t.Run("float64"+variant, func(t *testing.T) { compareOutputs(t, runNode[float64](t, node, ins, path), outs) })
			}
		})
	}
}

// tensor is a decoded TensorProto: float data in f, int64 data in i.
type tensor struct {
	dims []int
	f    []float64
	i    []int64
}

func (x tensor) size() int {
	n := 1
	for _, d := range x.dims {
		n *= d
	}
	return n
}

func loadCase(t *testing.T, dir string) (*onnx.NodeProto, []tensor, []tensor) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var m onnx.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	if n := len(m.GetGraph().GetNode()); n != 1 {
		t.Fatalf("%s: %d nodes; expected 1", dir, n)
	}
	load := func(kind string) []tensor {
		var ts []tensor
		for i := 0; ; i++ {
			p := filepath.Join(dir, "test_data_set_0", fmt.Sprintf("%s_%d.pb", kind, i))
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				return ts
			}
			if err != nil {
				t.Fatal(err)
			}
			var tp onnx.TensorProto
			if err := proto.Unmarshal(b, &tp); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			ts = append(ts, decodeTensor(t, p, &tp))
		}
	}
	return m.GetGraph().GetNode()[0], load("input"), load("output")
}

func decodeTensor(t *testing.T, path string, tp *onnx.TensorProto) tensor {
	t.Helper()
	x := tensor{dims: make([]int, len(tp.Dims))}
	for i, d := range tp.Dims {
		x.dims[i] = int(d)
	}
	raw := tp.GetRawData()
	switch onnx.TensorProto_DataType(tp.DataType) {
	case onnx.TensorProto_FLOAT:
		x.f = make([]float64, x.size())
		for i := range x.f {
			if raw != nil {
				x.f[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			} else {
				x.f[i] = float64(tp.FloatData[i])
			}
		}
	case onnx.TensorProto_INT64:
		x.i = make([]int64, x.size())
		for i := range x.i {
			if raw != nil {
				x.i[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			} else {
				x.i[i] = tp.Int64Data[i]
			}
		}
	default:
		t.Fatalf("%s: data type %d is neither FLOAT nor INT64", path, tp.DataType)
	}
	return x
}

func attr(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.Attribute {
		if a.Name == name {
			return a
		}
	}
	return nil
}

func attrInt(n *onnx.NodeProto, name string, def int) int {
	if a := attr(n, name); a != nil {
		return int(a.I)
	}
	return def
}

func attrFloat(n *onnx.NodeProto, name string, def float64) float64 {
	if a := attr(n, name); a != nil {
		return float64(a.F)
	}
	return def
}

func attrString(n *onnx.NodeProto, name, def string) string {
	if a := attr(n, name); a != nil {
		return string(a.S)
	}
	return def
}

func attrInts(n *onnx.NodeProto, name string, def ...int) []int {
	a := attr(n, name)
	if a == nil {
		return def
	}
	v := make([]int, len(a.Ints))
	for i, x := range a.Ints {
		v[i] = int(x)
	}
	return v
}

// window2D reads a Conv's or pool's kernel, strides and pads, turning
// auto_pad into explicit pads as ONNX defines it: output ceil(in/stride),
// total padding (out−1)·stride + k − in, the odd unit at the end for
// SAME_UPPER and at the beginning for SAME_LOWER.
func window2D(t *testing.T, n *onnx.NodeProto, h, w int, kernel []int) (k, strides []int, pads [4]int) {
	t.Helper()
	if d := attrInts(n, "dilations", 1, 1); d[0] != 1 || d[1] != 1 {
		t.Fatalf("dilations %v are not supported", d)
	}
	k = attrInts(n, "kernel_shape", kernel...)
	strides = attrInts(n, "strides", 1, 1)
	copy(pads[:], attrInts(n, "pads", 0, 0, 0, 0))
	switch ap := attrString(n, "auto_pad", "NOTSET"); ap {
	case "NOTSET", "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for axis, in := range []int{h, w} {
			out := (in + strides[axis] - 1) / strides[axis]
			total := max((out-1)*strides[axis]+k[axis]-in, 0)
			small := total / 2
			pads[axis], pads[axis+2] = small, total-small
			if ap == "SAME_LOWER" {
				pads[axis], pads[axis+2] = total-small, small
			}
		}
	default:
		t.Fatalf("unknown auto_pad %q", ap)
	}
	return k, strides, pads
}

func conv[T Float](v []float64) []T {
	o := make([]T, len(v))
	for i, x := range v {
		o[i] = T(x)
	}
	return o
}

func back[T Float](dims []int, v []T) tensor {
	o := tensor{dims: dims, f: make([]float64, len(v))}
	for i, x := range v {
		o.f[i] = float64(x)
	}
	return o
}

// runNode runs one ONNX node on the kernels in element type T; a Conv
// runs on the algorithm path (-1: the one NewConv2DPrecision picks).
func runNode[T Float](t *testing.T, n *onnx.NodeProto, in []tensor, path convPath) []tensor {
	t.Helper()
	switch n.OpType {
	case "Conv":
		x, w := in[0], in[1]
		if g := attrInt(n, "group", 1); g != 1 {
			t.Fatalf("group %d is not supported", g)
		}
		k, st, pads := window2D(t, n, x.dims[2], x.dims[3], w.dims[2:])
		s := ConvShape{N: x.dims[0], C: x.dims[1], H: x.dims[2], W: x.dims[3], K: w.dims[0], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1], Pads: pads}
		c := newConvCase[T](t, s, path)
		var bias []T
		if len(in) > 2 {
			bias = conv[T](in[2].f)
		}
		y := make([]T, s.YLen())
		c.Forward(conv[T](x.f), conv[T](w.f), bias, y)
		return []tensor{back([]int{s.N, s.K, s.OutH(), s.OutW()}, y)}

	case "BatchNormalization":
		x := in[0]
		b, err := newBatchNorm[T](x.dims[0], x.dims[1], x.size()/x.dims[0]/x.dims[1], attrFloat(n, "epsilon", 1e-5), attrFloat(n, "momentum", 0.9))
		if err != nil {
			t.Fatal(err)
		}
		// ONNX's reference updates the running variance with the biased
		// batch variance (numpy's var); PyTorch, the default here, uses
		// the unbiased one.
		b.UnbiasedRunningVar = false
		y, rm, rv := make([]T, x.size()), conv[T](in[3].f), conv[T](in[4].f)
		if attrInt(n, "training_mode", 0) == 0 {
			b.ForwardEval(conv[T](x.f), conv[T](in[1].f), conv[T](in[2].f), rm, rv, y)
			return []tensor{back(x.dims, y)}
		}
		b.ForwardTrain(conv[T](x.f), conv[T](in[1].f), conv[T](in[2].f), rm, rv, y)
		return []tensor{back(x.dims, y), back(in[3].dims, rm), back(in[4].dims, rv)}

	case "AveragePool", "MaxPool":
		x := in[0]
		k, st, pads := window2D(t, n, x.dims[2], x.dims[3], nil)
		s := PoolShape{N: x.dims[0], C: x.dims[1], H: x.dims[2], W: x.dims[3], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1], Pads: pads,
			CeilMode: attrInt(n, "ceil_mode", 0) == 1}
		dims := []int{s.N, s.C, s.OutH(), s.OutW()}
		y := make([]T, s.YLen())
		if n.OpType == "AveragePool" {
			p, err := NewAvgPool2D[T](s, attrInt(n, "count_include_pad", 0) == 1)
			if err != nil {
				t.Fatal(err)
			}
			p.Forward(conv[T](x.f), y)
			return []tensor{back(dims, y)}
		}
		p, err := NewMaxPool2D[T](s)
		if err != nil {
			t.Fatal(err)
		}
		p.Forward(conv[T](x.f), y)
		out := []tensor{back(dims, y)}
		if len(n.Output) > 1 {
			// ONNX's Indices: flat over the whole tensor, with h and w
			// swapped when storage_order is 1 (column-major).
			idx := tensor{dims: dims, i: make([]int64, len(y))}
			plane, per := s.H*s.W, s.OutH()*s.OutW()
			for o, a := range p.argmax {
				h, w := int(a)/s.W, int(a)%s.W
				within := h*s.W + w
				if attrInt(n, "storage_order", 0) == 1 {
					within = w*s.H + h
				}
				idx.i[o] = int64(o/per*plane + within)
			}
			out = append(out, idx)
		}
		return out

	case "GlobalAveragePool":
		x := in[0]
		nc := x.dims[0] * x.dims[1]
		y := make([]T, nc)
		GlobalAvgPool(conv[T](x.f), y, nc, x.size()/nc)
		return []tensor{back([]int{x.dims[0], x.dims[1], 1, 1}, y)}

	case "Gemm":
		return []tensor{runGemm[T](t, n, in)}

	case "Relu":
		y := make([]T, in[0].size())
		ReLU(conv[T](in[0].f), y)
		return []tensor{back(in[0].dims, y)}

	case "Add":
		y := make([]T, in[0].size())
		Add(conv[T](in[0].f), conv[T](in[1].f), y)
		return []tensor{back(in[0].dims, y)}

	case "Flatten":
		rows, cols, err := flattenShape(in[0].dims, attrInt(n, "axis", 1))
		if err != nil {
			t.Fatal(err)
		}
		return []tensor{back([]int{rows, cols}, conv[T](in[0].f))}

	case "Resize":
		return []tensor{runResize[T](t, n, in)}

	case "SoftmaxCrossEntropyLoss":
		x, l := in[0], in[1]
		labels := make([]int, len(l.i))
		for i, v := range l.i {
			labels[i] = int(v)
		}
		loss, err := SoftmaxCrossEntropy(conv[T](x.f), labels, x.dims[1], nil)
		if err != nil {
			t.Fatal(err)
		}
		if attrString(n, "reduction", "mean") == "sum" {
			loss *= float64(len(labels))
		}
		return []tensor{{dims: []int{}, f: []float64{loss}}}
	}
	t.Fatalf("op %s is not covered", n.OpType)
	return nil
}

// runResize runs a linear Resize on Bilinear, reading its scales or sizes
// from the test data, which holds one tensor per non-empty node input.
func runResize[T Float](t *testing.T, n *onnx.NodeProto, in []tensor) tensor {
	t.Helper()
	if m := attrString(n, "mode", "nearest"); m != "linear" {
		t.Fatalf("mode %q: only linear is implemented", m)
	}
	mode, err := ParseCoordMode(attrString(n, "coordinate_transformation_mode", "half_pixel"))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]tensor{}
	k := 0
	for _, name := range n.Input {
		if name != "" {
			byName[name], k = in[k], k+1
		}
	}
	x := in[0]
	s := ResizeShape{N: x.dims[0], C: x.dims[1], H: x.dims[2], W: x.dims[3], Mode: mode}
	if len(n.Input) > 3 && n.Input[3] != "" {
		sizes := byName[n.Input[3]].i
		if sizes[0] != int64(s.N) || sizes[1] != int64(s.C) {
			t.Fatalf("sizes %v resize N or C", sizes)
		}
		s.OutH, s.OutW = int(sizes[2]), int(sizes[3])
	} else {
		scales := byName[n.Input[2]].f
		if scales[0] != 1 || scales[1] != 1 {
			t.Fatalf("scales %v resize N or C", scales)
		}
		s.ScaleH, s.ScaleW = scales[2], scales[3]
		s.OutH, s.OutW = int(math.Floor(float64(s.H)*s.ScaleH)), int(math.Floor(float64(s.W)*s.ScaleW))
	}
	b, err := NewBilinear[T](s)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]T, s.YLen())
	b.Forward(conv[T](x.f), y)
	return back([]int{s.N, s.C, s.OutH, s.OutW}, y)
}

// runGemm runs ONNX's Gemm, Y = alpha·A'·B' + beta·C with C broadcast to
// Y's shape, on Gemm; and, where the node is a fully connected layer
// (transB, alpha = beta = 1, C a row vector), on Linear too, checking that
// both agree.
func runGemm[T Float](t *testing.T, n *onnx.NodeProto, in []tensor) tensor {
	a, b := in[0], in[1]
	transA, transB := attrInt(n, "transA", 0) == 1, attrInt(n, "transB", 0) == 1
	alpha, beta := attrFloat(n, "alpha", 1), attrFloat(n, "beta", 1)
	m, k := a.dims[0], a.dims[1]
	if transA {
		m, k = k, m
	}
	cols := b.dims[1]
	if transB {
		cols = b.dims[0]
	}
	y := make([]T, m*cols)
	var bias tensor
	if len(in) > 2 {
		bias = in[2]
		// Broadcast C ([], [1], [N], [1, N], [M, 1] or [M, N]) into y.
		rowStride, colStride := 0, 0
		if len(bias.dims) > 0 && bias.dims[len(bias.dims)-1] > 1 {
			colStride = 1
		}
		if len(bias.dims) == 2 && bias.dims[0] > 1 {
			rowStride = bias.dims[1]
		}
		for r := range m {
			for c := range cols {
				y[r*cols+c] = T(bias.f[r*rowStride+c*colStride])
			}
		}
	} else {
		beta = 0
	}
	Gemm(transA, transB, m, cols, k, T(alpha), conv[T](a.f), a.dims[1], conv[T](b.f), b.dims[1], T(beta), y, cols)
	out := back([]int{m, cols}, y)

	if transB && !transA && alpha == 1 && beta == 1 && bias.size() == cols && len(bias.dims) > 0 {
		yl := make([]T, m*cols)
		Linear(conv[T](a.f), conv[T](b.f), conv[T](bias.f), yl, m, k, cols)
		if e := relErr(back(nil, yl).f, out.f); e > 1e-6 {
			t.Errorf("Linear differs from Gemm: rel err %.3g", e)
		}
	}
	return out
}

// compareOutputs checks shapes exactly and values to 1e-5 relative (with
// an absolute floor of 1e-5), float32's precision on these small cases.
func compareOutputs(t *testing.T, got, want []tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outputs; expected %d", len(got), len(want))
	}
	for o := range want {
		g, w := got[o], want[o]
		if fmt.Sprint(g.dims) != fmt.Sprint(w.dims) {
			t.Errorf("output %d: shape %v; expected %v", o, g.dims, w.dims)
			continue
		}
		if w.i != nil {
			if fmt.Sprint(g.i) != fmt.Sprint(w.i) {
				t.Errorf("output %d: %v; expected %v", o, g.i, w.i)
			}
			continue
		}
		bad, worst := 0, 0.0
		for i := range w.f {
			d := math.Abs(g.f[i] - w.f[i])
			worst = max(worst, d)
			if !(d <= 1e-5*max(1, math.Abs(w.f[i]))) {
				if bad < 3 {
					t.Errorf("output %d element %d: %g; expected %g", o, i, g.f[i], w.f[i])
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("output %d: %d of %d elements differ", o, bad, len(w.f))
		}
		t.Logf("output %d: max abs error %.2g", o, worst)
	}
}
