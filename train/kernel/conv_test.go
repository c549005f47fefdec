package kernel

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// naiveConv is the textbook definition of ONNX's Conv (group 1, dilation
// 1), the reference the kernels are compared with.
func naiveConv(s ConvShape, x, w, b []float64) []float64 {
	sh, sw := stride(s.StrideH), stride(s.StrideW)
	oh, ow := s.OutH(), s.OutW()
	y := make([]float64, s.YLen())
	for n := range s.N {
		for k := range s.K {
			for r := range oh {
				for q := range ow {
					var sum float64
					if b != nil {
						sum = b[k]
					}
					for c := range s.C {
						for i := range s.KH {
							for j := range s.KW {
								h, v := r*sh+i-s.Pads[0], q*sw+j-s.Pads[1]
								if h < 0 || h >= s.H || v < 0 || v >= s.W {
									continue
								}
								sum += w[((k*s.C+c)*s.KH+i)*s.KW+j] * x[((n*s.C+c)*s.H+h)*s.W+v]
							}
						}
					}
					y[((n*s.K+k)*oh+r)*ow+q] = sum
				}
			}
		}
	}
	return y
}

// convCases are the shapes every algorithm is checked on.
var convCases = []struct {
	name string
	s    ConvShape
	path string // the algorithm NewConv2DPrecision picks
}{
	{"3x3 s1 p1", ConvShape{N: 2, C: 8, H: 6, W: 5, K: 4, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}, "shifted"},
	{"3x3 s1 p1 3 channels", ConvShape{N: 2, C: 3, H: 6, W: 5, K: 4, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}, "im2col"},
	{"3x3 s1 asymmetric pads", ConvShape{N: 2, C: 8, H: 5, W: 7, K: 3, KH: 3, KW: 3, Pads: [4]int{1, 0, 2, 1}}, "shifted"},
	{"2x3 s1 no pad", ConvShape{N: 1, C: 8, H: 5, W: 6, K: 2, KH: 2, KW: 3}, "shifted"},
	{"1x1 s1", ConvShape{N: 3, C: 4, H: 3, W: 5, K: 5, KH: 1, KW: 1}, "direct"},
	{"1x1 s1 pad 1", ConvShape{N: 2, C: 8, H: 3, W: 4, K: 2, KH: 1, KW: 1, Pads: [4]int{1, 1, 1, 1}}, "im2col"},
	{"1x1 s2 odd", ConvShape{N: 2, C: 8, H: 7, W: 6, K: 3, KH: 1, KW: 1, StrideH: 2, StrideW: 2}, "im2col"},
	{"3x3 s2 p1 odd", ConvShape{N: 2, C: 8, H: 7, W: 9, K: 4, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}}, "shifted"},
	{"3x3 s2 p1 even", ConvShape{N: 2, C: 8, H: 8, W: 6, K: 4, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}}, "shifted"},
	{"7x7 s2 p3", ConvShape{N: 2, C: 3, H: 11, W: 10, K: 4, KH: 7, KW: 7, StrideH: 2, StrideW: 2, Pads: [4]int{3, 3, 3, 3}}, "im2col"},
	{"5x3 s(2,3) mixed pads", ConvShape{N: 2, C: 8, H: 9, W: 8, K: 3, KH: 5, KW: 3, StrideH: 2, StrideW: 3, Pads: [4]int{2, 1, 0, 2}}, "shifted"},
	{"2x2 s3 window smaller than stride", ConvShape{N: 1, C: 8, H: 8, W: 7, K: 2, KH: 2, KW: 2, StrideH: 3, StrideW: 3, Pads: [4]int{0, 1, 1, 0}}, "shifted"},
	{"3x3 s3 p2 windows mostly padding", ConvShape{N: 1, C: 8, H: 4, W: 4, K: 2, KH: 3, KW: 3, StrideH: 3, StrideW: 3, Pads: [4]int{2, 2, 2, 2}}, "shifted"},
}

// newConvCase builds a layer, forcing its algorithm unless force is -1.
func newConvCase[T Float](t testing.TB, s ConvShape, force convPath) *Conv2D[T] {
	t.Helper()
	c, err := newConv2D[T](s)
	if err != nil {
		t.Fatal(err)
	}
	if force >= 0 && force != c.path {
		c.path = force
		c.alloc()
	}
	return c
}

// convPaths returns the algorithms a shape can run: shifted and im2col
// always, direct when NewConv2DPrecision picks it.
func convPaths(t testing.TB, s ConvShape) []convPath {
	if newConvCase[float64](t, s, -1).path == pathDirect {
		return []convPath{pathDirect, pathShifted, pathIm2col}
	}
	return []convPath{pathShifted, pathIm2col}
}

// TestConv2D checks each algorithm's forward pass against the textbook
// definition and its gradients against central finite differences, in
// float64, on every case.
func TestConv2D(t *testing.T) {
	for i, tc := range convCases {
		if got := newConvCase[float64](t, tc.s, -1).algorithm(); got != tc.path {
			t.Errorf("%s: NewConv2DPrecision picks %s; expected %s", tc.name, got, tc.path)
		}
		for _, path := range convPaths(t, tc.s) {
			t.Run(tc.name+"/"+path.String(), func(t *testing.T) {
				s := tc.s
				c := newConvCase[float64](t, s, path)
				r := newRand(uint64(i))
				x, w, b := randn(r, s.XLen()), randn(r, s.WLen()), randn(r, s.K)
				proj := randn(r, s.YLen())

				y := garbage(s.YLen())
				c.Forward(x, w, b, y)
				if e := relErr(y, naiveConv(s, x, w, b)); e > 1e-13 {
					t.Errorf("forward differs from the definition: rel err %.3g", e)
				}
				c.Forward(x, w, nil, y)
				if e := relErr(y, naiveConv(s, x, w, nil)); e > 1e-13 {
					t.Errorf("forward without bias differs from the definition: rel err %.3g", e)
				}

				dx, dw, db := garbage(s.XLen()), garbage(s.WLen()), garbage(s.K)
				c.Backward(x, w, proj, dx, dw, db)
				loss := func() float64 {
					c.Forward(x, w, b, y)
					return dot(y, proj)
				}
				checkGrad(t, "dx", dx, x, loss)
				checkGrad(t, "dw", dw, w, loss)
				checkGrad(t, "db", db, b, loss)

				// Skipping dx and db leaves dw unchanged, and a second call
				// gives the same result (nothing accumulates across calls).
				dw2 := garbage(s.WLen())
				c.Backward(x, w, proj, nil, dw2, nil)
				if e := relErr(dw2, dw); e != 0 {
					t.Errorf("dw without dx differs: rel err %.3g", e)
				}
				dx2 := garbage(s.XLen())
				c.Backward(x, w, proj, dx2, dw2, nil)
				if e := relErr(dx2, dx); e != 0 {
					t.Errorf("dx of a second call differs: rel err %.3g", e)
				}
			})
		}
	}
}

// TestConv2DFloat32 checks the float32 kernels against the float64 ones on
// a ResNet-shaped layer of each algorithm.
func TestConv2DFloat32(t *testing.T) {
	for _, s := range []ConvShape{
		{N: 4, C: 16, H: 32, W: 32, K: 16, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}},
		{N: 4, C: 16, H: 32, W: 32, K: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}},
		{N: 4, C: 32, H: 16, W: 16, K: 64, KH: 1, KW: 1},
	} {
		c64 := newConvCase[float64](t, s, -1)
		t.Run(c64.algorithm(), func(t *testing.T) {
			c32 := newConvCase[float32](t, s, -1)
			r := newRand(7)
			x, w, b, dy := randn(r, s.XLen()), randn(r, s.WLen()), randn(r, s.K), randn(r, s.YLen())
			y64, y32 := make([]float64, s.YLen()), make([]float32, s.YLen())
			c64.Forward(x, w, b, y64)
			x32 := toF32(x)
			c32.Forward(x32, toF32(w), toF32(b), y32)
			dx64, dw64, db64 := make([]float64, s.XLen()), make([]float64, s.WLen()), make([]float64, s.K)
			dx32, dw32, db32 := make([]float32, s.XLen()), make([]float32, s.WLen()), make([]float32, s.K)
			c64.Backward(x, w, dy, dx64, dw64, db64)
			c32.Backward(x32, toF32(w), toF32(dy), dx32, dw32, db32)
			for _, p := range []struct {
				name string
				a    []float32
				b    []float64
			}{{"y", y32, y64}, {"dx", dx32, dx64}, {"dw", dw32, dw64}, {"db", db32, db64}} {
				if e := relErr(toF64(p.a), p.b); e > 1e-5 {
					t.Errorf("%s: float32 differs from float64: rel err %.3g", p.name, e)
				}
			}
		})
	}
}

// TestConv2DAllocs checks that Forward and Backward allocate nothing.
func TestConv2DAllocs(t *testing.T) {
	for _, tc := range convCases {
		s := tc.s
		for _, path := range convPaths(t, s) {
			c := newConvCase[float32](t, s, path)
			x, w, b := make([]float32, s.XLen()), make([]float32, s.WLen()), make([]float32, s.K)
			y, dx, dw := make([]float32, s.YLen()), make([]float32, s.XLen()), make([]float32, s.WLen())
			if n := testing.AllocsPerRun(5, func() {
				c.Forward(x, w, b, y)
				c.Backward(x, w, y, dx, dw, b)
			}); n != 0 {
				t.Errorf("%s/%s: %v allocations per Forward+Backward; expected 0", tc.name, path, n)
			}
		}
	}
}

// TestConv2DReplicas runs two layers concurrently, as the engine's two
// replicas do with one BLAS thread each, and checks that each gets the
// result it gets alone.
func TestConv2DReplicas(t *testing.T) {
	SetBLASThreads(1)
	s := ConvShape{N: 2, C: 8, H: 8, W: 8, K: 8, KH: 3, KW: 3, Pads: [4]int{1, 1, 1, 1}}
	r := newRand(3)
	x, w := randn(r, s.XLen()), randn(r, s.WLen())
	want := naiveConv(s, x, w, nil)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for g := range errs {
		wg.Go(func() {
			c := newConvCase[float64](t, s, -1)
			y := make([]float64, s.YLen())
			for range 20 {
				c.Forward(x, w, nil, y)
				if e := relErr(y, want); e > 1e-13 {
					errs[g] = fmt.Errorf("replica %d: rel err %.3g", g, e)
					return
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

func TestNewConv2DErrors(t *testing.T) {
	for _, s := range []ConvShape{
		{N: 1, C: 1, H: 2, W: 2, K: 1, KH: 3, KW: 3},
		{N: 1, C: 0, H: 4, W: 4, K: 1, KH: 3, KW: 3},
		{N: 1, C: 1, H: 4, W: 4, K: 1, KH: 3, KW: 3, Pads: [4]int{-1, 0, 0, 0}},
		{N: 1, C: 1, H: 4, W: 4, K: 1, KH: 3, KW: 3, StrideH: -2},
		{N: 1 << 20, C: 64, H: 64, W: 64, K: 1, KH: 1, KW: 1},
	} {
		if _, err := newConv2D[float32](s); err == nil {
			t.Errorf("NewConv2DPrecision(%+v): expected an error", s)
		}
	}
}

func TestConv2DPanicsOnWrongLength(t *testing.T) {
	s := ConvShape{N: 1, C: 1, H: 3, W: 3, K: 1, KH: 3, KW: 3}
	c := newConvCase[float64](t, s, -1)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "kernel.Conv2D.Forward: y has 2 elements; expected 1") {
			t.Errorf("panic %v; expected one naming the argument and the lengths", r)
		}
	}()
	c.Forward(make([]float64, 9), make([]float64, 9), nil, make([]float64, 2))
}
