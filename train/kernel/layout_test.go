package kernel

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// lastOf returns the NHWC copy of an NCHW tensor, in float64.
func lastOf(x []float64, n, c, hw int) []float64 {
	y := make([]float64, len(x))
	ToChannelsLast(x, y, n, c, hw)
	return y
}

func TestLayoutTransposes(t *testing.T) {
	// One image, 2 channels of 3 pixels: NCHW c0: 1 2 3, c1: 4 5 6.
	x := []float64{1, 2, 3, 4, 5, 6}
	last := make([]float64, 6)
	ToChannelsLast(x, last, 1, 2, 3)
	if want := []float64{1, 4, 2, 5, 3, 6}; !slices.Equal(last, want) {
		t.Errorf("ToChannelsLast = %v; expected %v", last, want)
	}
	// Sizes around the tile, several images: the round trip is exact.
	for _, s := range [][3]int{{2, 3, 5}, {3, 33, 70}, {2, 64, 1}, {1, 1, 40}} {
		n, c, hw := s[0], s[1], s[2]
		x := randn(newRand(uint64(c)), n*c*hw)
		y, z := make([]float32, len(x)), make([]float32, len(x))
		ToChannelsLast(toF32(x), y, n, c, hw)
		for i := range n {
			for ch := range c {
				for p := range hw {
					if got, want := y[(i*hw+p)*c+ch], float32(x[(i*c+ch)*hw+p]); got != want {
						t.Fatalf("%v: NHWC[%d,%d,%d] = %v; expected %v", s, i, p, ch, got, want)
					}
				}
			}
		}
		ToChannelsFirst(y, z, n, c, hw)
		if !slices.Equal(z, toF32(x)) {
			t.Errorf("%v: round trip differs", s)
		}
	}
}

// TestBatchNormChannelsLast checks every pass of an NHWC BatchNorm against
// the NCHW one on the same values, in float64 (exact up to summation
// order) and float32 (the vectorised kernels, whose NHWC and NCHW loops
// differ), with and without the fused ReLU, on channel counts that are
// and are not a vector's width and row counts below and above the
// kernels' row block.
func TestBatchNormChannelsLast(t *testing.T) {
	for _, s := range [][3]int{{2, 5, 9}, {4, 16, 64}, {3, 64, 49}, {1, 3, 4}} {
		for _, relu := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v relu %v", s, relu), func(t *testing.T) {
				n, c, hw := s[0], s[1], s[2]
				r := newRand(uint64(n*c*hw) + 7)
				x, dy := randn(r, n*c*hw), randn(r, n*c*hw)
				gamma, beta := randn(r, c), randn(r, c)
				for i := range x {
					x[i] = 3*x[i] + 5
				}
				first := bnPasses[float64](t, n, c, hw, false, relu, x, dy, gamma, beta)
				for _, f64 := range []bool{true, false} {
					var got bnResult
					if f64 {
						got = bnPasses[float64](t, n, c, hw, true, relu, lastOf(x, n, c, hw), lastOf(dy, n, c, hw), gamma, beta)
					} else {
						got = bnPasses[float32](t, n, c, hw, true, relu, lastOf(x, n, c, hw), lastOf(dy, n, c, hw), gamma, beta)
					}
					tol := 1e-12
					if !f64 {
						tol = 2e-5
					}
					want := first.toLast(n, c, hw)
					for _, p := range []struct {
						name string
						a, b []float64
					}{{"y", got.y, want.y}, {"dx", got.dx, want.dx}, {"dgamma", got.dg, want.dg}, {"dbeta", got.db, want.db},
						{"running mean", got.rm, want.rm}, {"running var", got.rv, want.rv},
						{"eval y", got.ey, want.ey}, {"eval dx", got.edx, want.edx}, {"eval dgamma", got.edg, want.edg}} {
						if e := relErr(p.a, p.b); !(e <= tol) {
							t.Errorf("float64 %v: %s rel err %.3g; expected at most %g", f64, p.name, e, tol)
						}
					}
				}
			})
		}
	}
}

// bnResult is what bnPasses computes, in float64.
type bnResult struct{ y, dx, dg, db, rm, rv, ey, edx, edg []float64 }

// toLast returns r with its tensors in NHWC.
func (r bnResult) toLast(n, c, hw int) bnResult {
	r.y, r.dx, r.ey, r.edx = lastOf(r.y, n, c, hw), lastOf(r.dx, n, c, hw), lastOf(r.ey, n, c, hw), lastOf(r.edx, n, c, hw)
	return r
}

// bnPasses runs a training forward and backward, then an evaluation
// forward and backward, on one BatchNorm of the given layout.
func bnPasses[T Float](t *testing.T, n, c, hw int, last, relu bool, x, dy, gamma, beta []float64) bnResult {
	t.Helper()
	b, err := NewBatchNormLayout[T](n, c, hw, 1e-5, 0.9, last)
	if err != nil {
		t.Fatal(err)
	}
	b.ReLU = relu
	xt, dyt, g, be := conv[T](x), conv[T](dy), conv[T](gamma), conv[T](beta)
	rm, rv := make([]T, c), make([]T, c)
	for i := range rv {
		rv[i] = 1
	}
	y, dx, dg, db := make([]T, len(x)), make([]T, len(x)), make([]T, c), make([]T, c)
	b.ForwardTrain(xt, g, be, rm, rv, y)
	if relu {
		b.BackwardReLU(xt, y, g, dyt, dx, dg, db)
	} else {
		b.Backward(xt, g, dyt, dx, dg, db)
	}
	r := bnResult{y: back(nil, y).f, dx: back(nil, dx).f, dg: back(nil, dg).f, db: back(nil, db).f, rm: back(nil, rm).f, rv: back(nil, rv).f}
	b.ForwardEval(xt, g, be, rm, rv, y)
	b.BackwardEval(xt, y, g, rm, rv, dyt, dx, dg, nil)
	r.ey, r.edx, r.edg = back(nil, y).f, back(nil, dx).f, back(nil, dg).f
	return r
}

// TestConv2DChannelsLast checks oneDNN's convolution with NHWC input,
// output or both against the float64 NCHW Go algorithms, on the values
// transposed.
func TestConv2DChannelsLast(t *testing.T) {
	for i, tc := range dnnlCases {
		for _, lay := range [][2]bool{{true, true}, {false, true}, {true, false}} {
			t.Run(fmt.Sprintf("%s x last %v y last %v", tc.name, lay[0], lay[1]), func(t *testing.T) {
				s := tc.s
				c64 := newConvCase[float64](t, s, -1)
				r := newRand(uint64(200 + i))
				x, w, b, dy := randn(r, s.XLen()), randn(r, s.WLen()), randn(r, s.K), randn(r, s.YLen())
				want := runConv(c64, x, w, b, dy)
				ls := s
				ls.XChannelsLast, ls.YChannelsLast = lay[0], lay[1]
				c32, err := newConv2D[float32](ls)
				if err != nil {
					t.Fatal(err)
				}
				oh, ow := s.OutH(), s.OutW()
				if lay[0] {
					x = lastOf(x, s.N, s.C, s.H*s.W)
					want.dx = lastOf(want.dx, s.N, s.C, s.H*s.W)
				}
				if lay[1] {
					dy = lastOf(dy, s.N, s.K, oh*ow)
					want.y, want.yNoBias = lastOf(want.y, s.N, s.K, oh*ow), lastOf(want.yNoBias, s.N, s.K, oh*ow)
				}
				compareConv(t, runConv(c32, x, w, b, dy), want, 1e-5)
			})
		}
	}
	s := dnnlCases[0].s
	s.XChannelsLast = true
	if _, err := newConv2D[float64](s); err == nil {
		t.Error("float64 channels-last layer: expected an error")
	}
}

// TestVecLevel checks which copy of the vectorised kernels each CPU gets.
func TestVecLevel(t *testing.T) {
	for _, tc := range []struct {
		f    Features
		want string
	}{{baseline, "sse"}, {avx2NoFMA, "sse"}, {avx2, "avx2"}, {knlLike, "avx2"}, {avx512, "avx512"}, {avx512bf, "avx512"}, {amxOnly, "avx2"}, {sapphire, "avx512"}} {
		if got := vecLevelNames[vecLevel(tc.f)]; got != tc.want {
			t.Errorf("%s: %s; expected %s", tc.f, got, tc.want)
		}
	}
	if want := vecLevelNames[vecLevel(HostFeatures())]; VecISA() != want {
		t.Errorf("VecISA() = %s on a CPU with %s; expected %s", VecISA(), HostFeatures(), want)
	}
}

// TestVecElementwise checks the float32 ReLU, its gradient and Add
// against the float64 Go loops on lengths that leave vector tails, with
// NaN and signed zeros where the mask must give 0.
func TestVecElementwise(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 100, 1023} {
		r := newRand(uint64(n))
		a, b := randn(r, n), randn(r, n)
		a[0], a[n/2] = math.NaN(), math.Copysign(0, -1)
		if n > 2 {
			a[1] = 0
		}
		a32, b32, y32 := toF32(a), toF32(b), make([]float32, n)
		y64 := make([]float64, n)
		check := func(op string) {
			t.Helper()
			for i := range y64 {
				// float64 sums of float32 values, rounded to float32, are
				// the correctly rounded float32 sums.
				if got, want := y32[i], float32(y64[i]); got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
					t.Fatalf("n=%d %s[%d] = %v; expected %v", n, op, i, got, want)
				}
			}
		}
		ReLU(a32, y32)
		ReLU(toF64(a32), y64)
		check("ReLU")
		ReLUBackward(a32, b32, y32)
		ReLUBackward(toF64(a32), toF64(b32), y64)
		check("ReLUBackward")
		Add(a32, b32, y32)
		Add(toF64(a32), toF64(b32), y64)
		check("Add")
		AddReLU(a32, b32, y32)
		AddReLU(toF64(a32), toF64(b32), y64)
		check("AddReLU")
	}
}

// TestPoolsChannelsLast checks the NHWC max and average pools and the
// global average pool against the NCHW ones (which TestMaxPool2D and
// friends check against the definition and finite differences) on the
// same values transposed, forward and backward, in float64.
func TestPoolsChannelsLast(t *testing.T) {
	for i, tc := range poolCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			last := s
			last.ChannelsLast = true
			r := newRand(uint64(300 + i))
			x, dy := randn(r, s.XLen()), randn(r, s.YLen())
			oh, ow := s.OutH(), s.OutW()
			check := func(kind string, first, lastX []float64, n, c, hw int) {
				t.Helper()
				if e := relErr(lastX, lastOf(first, n, c, hw)); e > 1e-14 {
					t.Errorf("%s: NHWC differs from NCHW: rel err %.3g", kind, e)
				}
			}
			mf, _ := NewMaxPool2D[float64](s)
			ml, _ := NewMaxPool2D[float64](last)
			yf, yl, dxf, dxl := make([]float64, s.YLen()), make([]float64, s.YLen()), make([]float64, s.XLen()), garbage(s.XLen())
			mf.Forward(x, yf)
			ml.Forward(lastOf(x, s.N, s.C, s.H*s.W), yl)
			check("max forward", yf, yl, s.N, s.C, oh*ow)
			mf.Backward(dy, dxf)
			ml.Backward(lastOf(dy, s.N, s.C, oh*ow), dxl)
			check("max backward", dxf, dxl, s.N, s.C, s.H*s.W)
			for _, pad := range []bool{false, true} {
				af, _ := NewAvgPool2D[float64](s, pad)
				al, _ := NewAvgPool2D[float64](last, pad)
				yl, dxl := garbage(s.YLen()), garbage(s.XLen())
				af.Forward(x, yf)
				al.Forward(lastOf(x, s.N, s.C, s.H*s.W), yl)
				check(fmt.Sprintf("avg (count pad %v) forward", pad), yf, yl, s.N, s.C, oh*ow)
				af.Backward(dy, dxf)
				al.Backward(lastOf(dy, s.N, s.C, oh*ow), dxl)
				check(fmt.Sprintf("avg (count pad %v) backward", pad), dxf, dxl, s.N, s.C, s.H*s.W)
			}
			hw := s.H * s.W
			gf, gl := make([]float64, s.N*s.C), garbage(s.N*s.C)
			GlobalAvgPool(x, gf, s.N*s.C, hw)
			GlobalAvgPoolNHWC(lastOf(x, s.N, s.C, hw), gl, s.N, s.C, hw)
			if e := relErr(gl, gf); e > 1e-14 {
				t.Errorf("global average: rel err %.3g", e)
			}
			g := randn(r, s.N*s.C)
			GlobalAvgPoolBackward(g, dxf, s.N*s.C, hw)
			dxl = garbage(s.XLen())
			GlobalAvgPoolNHWCBackward(g, dxl, s.N, s.C, hw)
			check("global average backward", dxf, dxl, s.N, s.C, hw)
		})
	}
}
