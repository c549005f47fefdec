package kernel

import (
	"fmt"
	"math"
	"testing"
)

var poolCases = []struct {
	name string
	s    PoolShape
}{
	{"2x2 s2", PoolShape{N: 2, C: 2, H: 6, W: 4, KH: 2, KW: 2, StrideH: 2, StrideW: 2}},
	{"3x3 s2 p1 odd", PoolShape{N: 2, C: 3, H: 7, W: 5, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}}},
	{"3x3 s2 ceil", PoolShape{N: 1, C: 2, H: 6, W: 7, KH: 3, KW: 3, StrideH: 2, StrideW: 2, CeilMode: true}},
	{"3x3 s2 p1 ceil odd", PoolShape{N: 1, C: 2, H: 8, W: 9, KH: 3, KW: 3, StrideH: 2, StrideW: 2, Pads: [4]int{1, 1, 1, 1}, CeilMode: true}},
	{"2x2 s2 ceil odd", PoolShape{N: 2, C: 2, H: 5, W: 7, KH: 2, KW: 2, StrideH: 2, StrideW: 2, CeilMode: true}},
	{"3x2 s(1,2) asymmetric pads", PoolShape{N: 1, C: 2, H: 5, W: 6, KH: 3, KW: 2, StrideH: 1, StrideW: 2, Pads: [4]int{2, 0, 1, 1}}},
	{"4x4 s3 p(1,2,3,0) ceil", PoolShape{N: 1, C: 1, H: 9, W: 8, KH: 4, KW: 4, StrideH: 3, StrideW: 3, Pads: [4]int{1, 2, 3, 0}, CeilMode: true}},
}

// naivePool is the definition: each window of the zero-padded input,
// clipped to [−begin, in+end) for the divisor when countPad, and to the
// input for the values.
func naivePool(s PoolShape, x []float64, avg, countPad bool) []float64 {
	sh, sw := stride(s.StrideH), stride(s.StrideW)
	oh, ow := s.OutH(), s.OutW()
	y := make([]float64, s.YLen())
	for p := range s.N * s.C {
		for r := range oh {
			for q := range ow {
				best, sum, n, padded := math.Inf(-1), 0.0, 0, 0
				for i := range s.KH {
					for j := range s.KW {
						h, w := r*sh+i-s.Pads[0], q*sw+j-s.Pads[1]
						if h < s.H+s.Pads[2] && w < s.W+s.Pads[3] {
							padded++
						}
						if h < 0 || h >= s.H || w < 0 || w >= s.W {
							continue
						}
						v := x[(p*s.H+h)*s.W+w]
						best, sum, n = max(best, v), sum+v, n+1
					}
				}
				o := (p*oh+r)*ow + q
				switch {
				case !avg:
					y[o] = best
				case countPad:
					y[o] = sum / float64(padded)
				default:
					y[o] = sum / float64(n)
				}
			}
		}
	}
	return y
}

// distinct returns n values spaced well apart (more than the FD step) in
// random order, so that every window has a unique maximum.
func distinct(seed uint64, n int) []float64 {
	r := newRand(seed)
	v := make([]float64, n)
	for i, j := range r.Perm(n) {
		v[i] = float64(j)*0.1 - float64(n)*0.05
	}
	return v
}

func TestMaxPool2D(t *testing.T) {
	for i, tc := range poolCases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.s
			p, err := NewMaxPool2D[float64](s)
			if err != nil {
				t.Fatal(err)
			}
			x := distinct(uint64(30+i), s.XLen())
			y := garbage(s.YLen())
			p.Forward(x, y)
			if e := relErr(y, naivePool(s, x, false, false)); e != 0 {
				t.Errorf("forward differs from the definition: rel err %.3g", e)
			}
			proj := randn(newRand(uint64(i)), s.YLen())
			dx := garbage(s.XLen())
			p.Backward(proj, dx)
			checkGrad(t, "dx", dx, x, func() float64 {
				p.Forward(x, y)
				return dot(y, proj)
			})
		})
	}
}

// TestMaxPool2DTies checks that a tie routes the gradient to the first
// maximum in row-major order.
func TestMaxPool2DTies(t *testing.T) {
	s := PoolShape{N: 1, C: 1, H: 2, W: 3, KH: 2, KW: 2, StrideH: 1, StrideW: 1}
	p, _ := NewMaxPool2D[float64](s)
	x := []float64{
		1, 5, 5,
		5, 2, 5,
	}
	y := make([]float64, 2)
	p.Forward(x, y)
	if fmt.Sprint(p.argmax) != "[1 1]" {
		t.Errorf("argmax %v; expected [1 1]", p.argmax)
	}
	dx := make([]float64, 6)
	p.Backward([]float64{1, 10}, dx)
	if fmt.Sprint(dx) != "[0 11 0 0 0 0]" {
		t.Errorf("dx %v; expected [0 11 0 0 0 0]", dx)
	}
}

func TestAvgPool2D(t *testing.T) {
	for i, tc := range poolCases {
		for _, countPad := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/count_include_pad=%v", tc.name, countPad), func(t *testing.T) {
				s := tc.s
				p, err := NewAvgPool2D[float64](s, countPad)
				if err != nil {
					t.Fatal(err)
				}
				r := newRand(uint64(40 + i))
				x, proj := randn(r, s.XLen()), randn(r, s.YLen())
				y := garbage(s.YLen())
				p.Forward(x, y)
				if e := relErr(y, naivePool(s, x, true, countPad)); e > 1e-15 {
					t.Errorf("forward differs from the definition: rel err %.3g", e)
				}
				dx := garbage(s.XLen())
				p.Backward(proj, dx)
				checkGrad(t, "dx", dx, x, func() float64 {
					p.Forward(x, y)
					return dot(y, proj)
				})
			})
		}
	}
}

// TestAvgPool2DDivisor checks hand-computed divisors: with ceil_mode, a
// window reaching past the end padding does not count the positions
// beyond it (ONNX's reference and ONNX Runtime give [1.5, 3.5, 5] for the
// first case), and asymmetric end pads count on their own axis.
func TestAvgPool2DDivisor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        PoolShape
		countPad bool
		x, want  []float64
	}{
		{"ceil past the input", PoolShape{N: 1, C: 1, H: 1, W: 5, KH: 1, KW: 2, StrideW: 2, CeilMode: true}, true,
			[]float64{1, 2, 3, 4, 5}, []float64{1.5, 3.5, 5}},
		{"ceil past the end pad", PoolShape{N: 1, C: 1, H: 1, W: 6, KH: 1, KW: 3, StrideW: 2, Pads: [4]int{0, 1, 0, 1}, CeilMode: true}, true,
			[]float64{1, 2, 3, 4, 5, 6}, []float64{3.0 / 3, 9.0 / 3, 15.0 / 3, 6.0 / 2}},
		{"bottom-right pads only", PoolShape{N: 1, C: 1, H: 2, W: 2, KH: 2, KW: 2, Pads: [4]int{0, 0, 1, 1}}, true,
			[]float64{1, 1, 1, 1}, []float64{1, 0.5, 0.5, 0.25}},
		{"bottom-right pads only, pads not counted", PoolShape{N: 1, C: 1, H: 2, W: 2, KH: 2, KW: 2, Pads: [4]int{0, 0, 1, 1}}, false,
			[]float64{1, 1, 1, 1}, []float64{1, 1, 1, 1}},
	} {
		p, err := NewAvgPool2D[float64](tc.s, tc.countPad)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]float64, tc.s.YLen())
		p.Forward(tc.x, y)
		if fmt.Sprint(y) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v; expected %v", tc.name, y, tc.want)
		}
	}
}

func TestGlobalAvgPool(t *testing.T) {
	const nc, hw = 6, 7
	r := newRand(50)
	x, proj := randn(r, nc*hw), randn(r, nc)
	y := make([]float64, nc)
	GlobalAvgPool(x, y, nc, hw)
	for i := range nc {
		var s float64
		for _, v := range x[i*hw : (i+1)*hw] {
			s += v
		}
		if !near(y[i], s/hw, 1e-15) {
			t.Errorf("y[%d] = %g; expected %g", i, y[i], s/hw)
		}
	}
	dx := garbage(nc * hw)
	GlobalAvgPoolBackward(proj, dx, nc, hw)
	checkGrad(t, "dx", dx, x, func() float64 {
		GlobalAvgPool(x, y, nc, hw)
		return dot(y, proj)
	})
}

func TestPoolErrors(t *testing.T) {
	for _, s := range []PoolShape{
		{N: 1, C: 1, H: 4, W: 4, KH: 2, KW: 2, Pads: [4]int{2, 0, 0, 0}},
		{N: 1, C: 1, H: 4, W: 4, KH: 0, KW: 2},
		{N: 1, C: 1, H: 1, W: 4, KH: 3, KW: 2},
	} {
		if _, err := NewMaxPool2D[float32](s); err == nil {
			t.Errorf("NewMaxPool2D(%+v): expected an error", s)
		}
		if _, err := NewAvgPool2D[float32](s, true); err == nil {
			t.Errorf("NewAvgPool2D(%+v): expected an error", s)
		}
	}
}

func TestPoolAllocs(t *testing.T) {
	s := poolCases[3].s
	mp, _ := NewMaxPool2D[float32](s)
	ap, _ := NewAvgPool2D[float32](s, true)
	x, y, dx := make([]float32, s.XLen()), make([]float32, s.YLen()), make([]float32, s.XLen())
	g, gy := make([]float32, 12), make([]float32, 3)
	if a := testing.AllocsPerRun(5, func() {
		mp.Forward(x, y)
		mp.Backward(y, dx)
		ap.Forward(x, y)
		ap.Backward(y, dx)
		GlobalAvgPool(g, gy, 3, 4)
		GlobalAvgPoolBackward(gy, g, 3, 4)
	}); a != 0 {
		t.Errorf("%v allocations per call; expected 0", a)
	}
}
