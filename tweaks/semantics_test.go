package tweaks_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// layout places a bottleneck block's stride (the A, B and D forms).
type layout struct {
	reduceStride, spatialStride int64 // 1×1 conv1, 3×3 conv2
	pool                        bool  // ceil-mode 2×2 average pool before a stride-1 projection
}

// bottleneck hand-builds one downsampling bottleneck block (16 → 8 → 32
// channels) on a [1,16,size,size] input, with weights and BatchNorm
// statistics drawn from seed, so that the same seed gives the same
// weights in every layout.
func bottleneck(t *testing.T, size int64, l layout, seed uint64) *graph.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	random := func(n int64, lo, hi float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		return v
	}
	b := graph.NewBuilder("block", graph.DefaultOpset)
	x := b.Input("x", graph.Static(1, 16, size, size))
	convBN := func(name, in string, cin, cout, k, stride int64) string {
		w := b.Param(name+".w", []int64{cout, cin, k, k}, random(cout*cin*k*k, -0.5, 0.5))
		p := k / 2
		y := b.Conv(name, in, w, "", graph.ConvAttrs{Kernel: [2]int64{k, k}, Stride: [2]int64{stride, stride}, Pads: [4]int64{p, p, p, p}})
		d := []int64{cout}
		return b.BatchNorm(name+".bn", y, b.Param(name+".g", d, random(cout, 0.5, 1.5)), b.Param(name+".b", d, random(cout, -0.5, 0.5)),
			b.Param(name+".m", d, random(cout, -0.2, 0.2)), b.Param(name+".v", d, random(cout, 0.5, 2)), 1e-5, 0.9)
	}
	y := b.Relu("relu1", convBN("conv1", x, 16, 8, 1, l.reduceStride))
	y = b.Relu("relu2", convBN("conv2", y, 8, 8, 3, l.spatialStride))
	y = convBN("conv3", y, 8, 32, 1, 1)
	short, stride := x, int64(2)
	if l.pool {
		short = b.AveragePool("pool", x, graph.PoolAttrs{Kernel: [2]int64{2, 2}, Stride: [2]int64{2, 2}, CeilMode: true})
		stride = 1
	}
	b.Output(b.Relu("out", b.Add("add", y, convBN("proj", short, 16, 32, 1, stride))), "y")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runORT runs m on x in ONNX Runtime and returns its outputs.
func runORT(t *testing.T, m *graph.Model, x ort.Tensor) []ort.Tensor {
	t.Helper()
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewSessionFromBytes(data, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	y, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestTweakedBlockOutputs checks that B and D change a block's output
// exactly as moving the stride and pooling the shortcut imply: the passes'
// result on a ResNet-A block equals, in ONNX Runtime, a B or D block built
// by hand with the same weights (D's by ONNX's own ceil_mode=1 pool), and
// D's pool equals average pooling computed here directly.
func TestTweakedBlockOutputs(t *testing.T) {
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	for _, size := range []int64{8, 9} {
		rng := rand.New(rand.NewPCG(uint64(size), 2))
		x := ort.Tensor{Shape: []int64{1, 16, size, size}, Data: make([]float32, 16*size*size)}
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		a := bottleneck(t, size, layout{reduceStride: 2, spatialStride: 1}, 7)
		yA := runORT(t, a, x)[0]

		cases := []struct {
			pass tweaks.Pass
			want layout
		}{
			{tweaks.B, layout{reduceStride: 1, spatialStride: 2}},
			{tweaks.D, layout{reduceStride: 2, spatialStride: 1, pool: true}},
		}
		for _, tc := range cases {
			tweaked, _, err := tweaks.Apply(a, []tweaks.Pass{tc.pass}, tweaks.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := runORT(t, tweaked, x)[0]
			want := runORT(t, bottleneck(t, size, tc.want, 7), x)[0]
			if d := maxDiff(got.Data, want.Data); d > 1e-5 {
				t.Errorf("size %d, pass %s: max |tweaked − hand-built| = %g", size, tc.pass, d)
			}
			if d := maxDiff(got.Data, yA.Data); d < 1e-3 {
				t.Errorf("size %d, pass %s: output equals ResNet-A's (max diff %g); the pass did nothing", size, tc.pass, d)
			}
		}

		tweaked, _, err := tweaks.Apply(a, []tweaks.Pass{tweaks.D}, tweaks.Options{})
		if err != nil {
			t.Fatal(err)
		}
		exposePool(t, tweaked)
		pooled := runORT(t, tweaked, x)[1]
		if d := maxDiff(pooled.Data, ceilAveragePool(x, 2)); d > 1e-6 {
			t.Errorf("size %d: pool output differs from direct 2×2 ceil-mode averaging by %g", size, d)
		}
	}
}

// exposePool adds the AveragePool's output to the graph outputs.
func exposePool(t *testing.T, m *graph.Model) {
	t.Helper()
	shapes, err := graph.InferShapes(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "AveragePool" {
			out := n.GetOutput()[0]
			vi := &onnx.ValueInfoProto{Name: out, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: graph.Float}}}}
			m.GetGraph().Output = append(m.GetGraph().Output, vi)
			if len(shapes[out]) != 4 {
				t.Fatalf("pool output shape %v", shapes[out])
			}
			return
		}
	}
	t.Fatal("no AveragePool in the D block")
}

// ceilAveragePool averages each k×k window of an NCHW tensor with stride
// k, windows running past the end included and their missing pixels not
// counted (ceil_mode=1, count_include_pad=0).
func ceilAveragePool(x ort.Tensor, k int64) []float32 {
	c, h, w := x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := (h+k-1)/k, (w+k-1)/k
	out := make([]float32, 0, c*oh*ow)
	for ch := int64(0); ch < c; ch++ {
		for i := int64(0); i < oh; i++ {
			for j := int64(0); j < ow; j++ {
				sum, n := 0.0, 0
				for y := i * k; y < min(i*k+k, h); y++ {
					for z := j * k; z < min(j*k+k, w); z++ {
						sum += float64(x.Data[(ch*h+y)*w+z])
						n++
					}
				}
				out = append(out, float32(sum/float64(n)))
			}
		}
	}
	return out
}
