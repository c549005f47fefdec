package kernel

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// dnnlCases are convCases plus ResNet-shaped layers, so that oneDNN's
// blocked and 1×1 implementations run, not only its reference code.
var dnnlCases = append(convCases[:len(convCases):len(convCases)], []struct {
	name string
	s    ConvShape
	path string
}{
	{"16-16 3x3 s1 p1 16x16", ConvShape{N: 2, C: 16, H: 16, W: 16, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}, "shifted"},
	{"16-32 3x3 s2 p1 odd 15x13", ConvShape{N: 3, C: 16, H: 15, W: 13, K: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}}, "shifted"},
	{"32-64 1x1 s2 16x16", ConvShape{N: 2, C: 32, H: 16, W: 16, K: 64, KH: 1, KW: 1, StrideH: 2, StrideW: 2}, "im2col"},
	{"64-32 1x1 s1 9x7", ConvShape{N: 2, C: 64, H: 9, W: 7, K: 32, KH: 1, KW: 1}, "direct"},
	{"7x7 s2 p3 stem 3-64 32x32", ConvShape{N: 2, C: 3, H: 32, W: 32, K: 64, KH: 7, KW: 7, StrideH: 2, StrideW: 2, Pads: [4]int{3, 3, 3, 3}}, "im2col"},
}...)

// convResult is what one layer computes on one set of inputs, in float64.
type convResult struct{ y, yNoBias, dx, dw, db, dwNoDX []float64 }

// runConv runs forward (with and without bias) and backward (with dx and
// db, then without) on c in its element type.
func runConv[T Float](c *Conv2D[T], x, w, b, dy []float64) convResult {
	s := c.s
	xt, wt, bt, dyt := conv[T](x), conv[T](w), conv[T](b), conv[T](dy)
	y, dx, dw, db := make([]T, s.YLen()), make([]T, s.XLen()), make([]T, s.WLen()), make([]T, s.K)
	var r convResult
	c.Forward(xt, wt, bt, y)
	r.y = back(nil, y).f
	c.Forward(xt, wt, nil, y)
	r.yNoBias = back(nil, y).f
	c.Backward(xt, wt, dyt, dx, dw, db)
	r.dx, r.dw, r.db = back(nil, dx).f, back(nil, dw).f, back(nil, db).f
	c.Backward(xt, wt, dyt, nil, dw, nil)
	r.dwNoDX = back(nil, dw).f
	return r
}

// compareConv checks every output of got against want to a norm-wise
// relative tolerance.
func compareConv(t *testing.T, got, want convResult, tol float64) {
	t.Helper()
	for _, p := range []struct {
		name string
		a, b []float64
	}{{"y", got.y, want.y}, {"y without bias", got.yNoBias, want.yNoBias}, {"dx", got.dx, want.dx},
		{"dw", got.dw, want.dw}, {"db", got.db, want.db}, {"dw without dx", got.dwNoDX, want.dw}} {
		if e := relErr(p.a, p.b); !(e <= tol) {
			t.Errorf("%s: rel err %.3g; expected at most %g", p.name, e, tol)
		}
	}
}

// roundBF16 rounds each value to the nearest bfloat16, ties to even: the
// rounding oneDNN's float32→bfloat16 conversion does.
func roundBF16(v []float64) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		b := math.Float32bits(float32(x))
		b += 0x7fff + (b>>16)&1
		o[i] = float64(math.Float32frombits(b &^ 0xffff))
	}
	return o
}

func TestRoundBF16(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{1, 1},
		{1 + 1.0/256, 1},           // a tie, to the even neighbour 1
		{1 + 3.0/256, 1 + 4.0/256}, // a tie, to the even neighbour 1+2⁻⁶
		{1 + 1.0/256 + 1.0/4096, 1 + 2.0/256},
		{-3.14159, -3.140625},
	} {
		if got := roundBF16([]float64{c.in})[0]; got != c.want {
			t.Errorf("roundBF16(%v) = %v; expected %v", c.in, got, c.want)
		}
	}
}

// TestConv2DOneDNN checks oneDNN's float32 convolution against the float64
// Go algorithms, which TestConv2D checks against the definition and finite
// differences.
func TestConv2DOneDNN(t *testing.T) {
	for i, tc := range dnnlCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			c32, err := newConv2D[float32](s)
			if err != nil {
				t.Fatal(err)
			}
			if got := c32.algorithm(); got != "onednn" {
				t.Errorf("float32 layer runs %s; expected onednn", got)
			}
			c64 := newConvCase[float64](t, s, -1)
			r := newRand(uint64(100 + i))
			x, w, b, dy := randn(r, s.XLen()), randn(r, s.WLen()), randn(r, s.K), randn(r, s.YLen())
			compareConv(t, runConv(c32, x, w, b, dy), runConv(c64, x, w, b, dy), 1e-5)
		})
	}
}

// bf16Loose is how far bfloat16 results may lie from float32 ones: each
// input carries a relative rounding error up to 2⁻⁹, and over sums of
// random terms the norm-wise error comes to a few 10⁻³.
const bf16Loose = 1e-2

// TestConv2DBF16 checks the bf16 path against a float64 reference on the
// inputs rounded to bfloat16, which it must match up to float32
// accumulation (so the outputs are not rounded to bfloat16 themselves),
// and against float64 on the unrounded inputs loosely.
func TestConv2DBF16(t *testing.T) {
	if err := BF16Support(); err != nil {
		t.Skip(err)
	}
	for i, tc := range dnnlCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			c, err := NewConv2DPrecision[float32](s, BF16)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.algorithm(); got != "onednn-bf16" {
				t.Errorf("bf16 layer runs %s; expected onednn-bf16", got)
			}
			c64 := newConvCase[float64](t, s, -1)
			r := newRand(uint64(200 + i))
			x, w, b, dy := randn(r, s.XLen()), randn(r, s.WLen()), randn(r, s.K), randn(r, s.YLen())
			got := runConv(c, x, w, b, dy)
			// The bias is float32 and is added unrounded.
			compareConv(t, got, runConv(c64, roundBF16(x), roundBF16(w), b, roundBF16(dy)), 1e-5)
			compareConv(t, got, runConv(c64, x, w, b, dy), bf16Loose)
		})
	}
}

func TestConv2DPrecisionErrors(t *testing.T) {
	s := ConvShape{N: 1, C: 8, H: 4, W: 4, K: 2, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}
	if _, err := NewConv2DPrecision[float64](s, BF16); err == nil || !strings.HasPrefix(err.Error(), "precision bf16 needs float32") {
		t.Errorf("bf16 in float64: error %v; expected one saying bf16 needs float32", err)
	}
	if _, err := NewConv2DPrecision[float32](s, Precision(7)); err == nil || !strings.Contains(err.Error(), "expected precision fp32 or bf16") {
		t.Errorf("precision 7: error %v; expected one naming fp32 and bf16", err)
	}
	if c, err := NewConv2DPrecision[float64](s, FP32); err != nil || c.algorithm() != "shifted" {
		t.Errorf("fp32 in float64: %v, %v; expected the Go algorithm shifted", c, err)
	}
	bad := s
	bad.KH = 9
	if _, err := NewConv2DPrecision[float32](bad, BF16); err == nil {
		t.Errorf("a kernel larger than the input: expected an error")
	}
}

// TestConv2DOneDNNAllocs checks that the oneDNN paths allocate nothing per
// call, with and without the optional outputs.
func TestConv2DOneDNNAllocs(t *testing.T) {
	precs := []Precision{FP32}
	if BF16Support() == nil {
		precs = append(precs, BF16)
	}
	for _, tc := range dnnlCases {
		s := tc.s
		for _, p := range precs {
			c, err := NewConv2DPrecision[float32](s, p)
			if err != nil {
				t.Fatal(err)
			}
			x, w, b := make([]float32, s.XLen()), make([]float32, s.WLen()), make([]float32, s.K)
			y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
			if n := testing.AllocsPerRun(3, func() {
				c.Forward(x, w, b, y)
				c.Forward(x, w, nil, y)
				c.Backward(x, w, y, dx, dw, b)
				c.Backward(x, w, y, nil, dw, nil)
			}); n != 0 {
				t.Errorf("%s/%s: %v allocations per call; expected 0", tc.name, c.algorithm(), n)
			}
		}
	}
}

// TestConv2DOneDNNReplicas runs layers concurrently, as the engine's
// replicas do, each on its own goroutine and layer, and checks that each
// gets the result a layer gets alone.
func TestConv2DOneDNNReplicas(t *testing.T) {
	s := ConvShape{N: 4, C: 16, H: 12, W: 12, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}
	precs := []Precision{FP32}
	if BF16Support() == nil {
		precs = append(precs, BF16)
	}
	r := newRand(5)
	x, w, b, dy := randn(r, s.XLen()), randn(r, s.WLen()), randn(r, s.K), randn(r, s.YLen())
	for _, p := range precs {
		alone, err := NewConv2DPrecision[float32](s, p)
		if err != nil {
			t.Fatal(err)
		}
		want := runConv(alone, x, w, b, dy)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for g := range errs {
			wg.Go(func() {
				c, err := NewConv2DPrecision[float32](s, p)
				if err != nil {
					errs[g] = err
					return
				}
				for range 10 {
					got := runConv(c, x, w, b, dy)
					for _, o := range [][2][]float64{{got.y, want.y}, {got.dx, want.dx}, {got.dw, want.dw}, {got.db, want.db}} {
						if e := relErr(o[0], o[1]); e != 0 {
							errs[g] = fmt.Errorf("%s replica %d: rel err %.3g from a layer alone", p, g, e)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
}

// TestONNXConformanceConvTraining runs ONNX's Conv conformance cases
// through the layer training builds, newConv2D[float32], which is oneDNN:
// TestONNXConformance forces its Conv cases onto the Go algorithms.
func TestONNXConformanceConvTraining(t *testing.T) {
	root := testenv.RequireFile(t, onnxNodeTests, "Debian's libonnx-testdata")
	var dirs []string
	for _, p := range []string{"test_conv_*", "test_basic_conv_*"} {
		m, err := filepath.Glob(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, m...)
	}
	if len(dirs) < 5 {
		t.Fatalf("found %d Conv conformance cases under %s; expected at least 5", len(dirs), root)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			node, ins, outs := loadCase(t, dir)
			compareOutputs(t, runNode[float32](t, node, ins, -1), outs)
		})
	}
}

func TestDNNLISA(t *testing.T) {
	isa := DNNLISA()
	if _, known := map[string]bool{"sse41": true, "avx": true, "avx2": true, "avx2_vnni": true, "avx512_core": true,
		"avx512_core_vnni": true, "avx512_core_bf16": true, "avx512_core_amx": true}[isa]; !known {
		t.Errorf("DNNLISA() = %q; expected one of oneDNN's x86-64 instruction sets", isa)
	}
	f := HostFeatures()
	if f.HasAVX512() && !strings.HasPrefix(isa, "avx512") {
		t.Errorf("DNNLISA() = %q on a CPU with %s; expected an avx512 one", isa, f)
	}
	if f.HasBF16() && f.AVX512BF16 && isa != "avx512_core_bf16" && isa != "avx512_core_amx" {
		t.Errorf("DNNLISA() = %q on a CPU with %s; expected a bf16 one", isa, f)
	}
}

// TestConv2DBackwardReusesForwardInput: a bf16 layer, whose bfloat16 copy
// of x backward-weights reuses, refuses a Backward on another slice than
// the last Forward's, where it would read a stale copy.
func TestConv2DBackwardReusesForwardInput(t *testing.T) {
	if err := BF16Support(); err != nil {
		t.Skip(err)
	}
	s := ConvShape{N: 2, C: 16, H: 8, W: 8, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}, XChannelsLast: true, YChannelsLast: true}
	c, err := NewConv2DPrecision[float32](s, BF16)
	if err != nil {
		t.Fatal(err)
	}
	if c.dnnl.c.x_shared == 0 {
		t.Skip("oneDNN runs this layer without converting x here")
	}
	x, w, y := make([]float32, s.XLen()), make([]float32, s.WLen()), make([]float32, s.YLen())
	dw := make([]float32, s.WLen())
	c.Forward(x, w, nil, y)
	c.Backward(x, w, y, nil, dw, nil)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "call Forward on x first") {
			t.Errorf("Backward on another x: recovered %v; expected the refusal", r)
		}
	}()
	c.Backward(make([]float32, s.XLen()), w, y, nil, dw, nil)
}
