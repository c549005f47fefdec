package kernel

import (
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// resizeCases cover up- and down-sampling by integer and fractional
// scales, sizes (scale out/in), outputs of length 1, and the FCN case (×8)
// in every coordinate mode.
func resizeCases() []ResizeShape {
	var cases []ResizeShape
	for _, m := range []CoordMode{HalfPixel, PytorchHalfPixel, AlignCorners, Asymmetric} {
		cases = append(cases,
			ResizeShape{N: 1, C: 2, H: 5, W: 7, OutH: 10, OutW: 21, ScaleH: 2, ScaleW: 3, Mode: m},
			ResizeShape{N: 1, C: 2, H: 5, W: 7, OutH: 3, OutW: 11, ScaleH: 0.6, ScaleW: 1.7, Mode: m},
			ResizeShape{N: 2, C: 1, H: 4, W: 6, OutH: 7, OutW: 3, Mode: m},
			ResizeShape{N: 1, C: 1, H: 3, W: 3, OutH: 1, OutW: 2, Mode: m},
			ResizeShape{N: 1, C: 1, H: 3, W: 2, OutH: 24, OutW: 16, ScaleH: 8, ScaleW: 8, Mode: m},
		)
	}
	return cases
}

func resizeName(s ResizeShape) string {
	return fmt.Sprintf("%s/%dx%dx%dx%d_to_%dx%d_scales_%g_%g", s.Mode, s.N, s.C, s.H, s.W, s.OutH, s.OutW, s.ScaleH, s.ScaleW)
}

// referenceResize runs ONNX's own reference implementation of Resize (the
// interpolate_nd that generated the conformance data, shipped in Debian's
// python3-onnx) in mode linear on each case, with scales where the case
// has them and sizes otherwise.
func referenceResize(t *testing.T, cases []ResizeShape, inputs [][]float64) [][]float64 {
	t.Helper()
	python := testenv.RequirePython(t, "numpy", "onnx.backend.test.case.node.resize")
	type job struct {
		X      []float64 `json:"x"`
		Dims   []int     `json:"dims"`
		Scales []float64 `json:"scales,omitempty"`
		Sizes  []int     `json:"sizes,omitempty"`
		Mode   string    `json:"mode"`
	}
	jobs := make([]job, len(cases))
	for i, s := range cases {
		jobs[i] = job{X: inputs[i], Dims: []int{s.N, s.C, s.H, s.W}, Mode: s.Mode.String()}
		if s.ScaleH > 0 {
			jobs[i].Scales = []float64{1, 1, s.ScaleH, s.ScaleW}
		} else {
			jobs[i].Sizes = []int{s.N, s.C, s.OutH, s.OutW}
		}
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys
import numpy as np
from onnx.backend.test.case.node.resize import interpolate_nd, linear_coeffs
out = []
for j in json.load(sys.stdin):
    x = np.array(j["x"], dtype=np.float64).reshape(j["dims"])
    if "scales" in j:
        y = interpolate_nd(x, linear_coeffs, scale_factors=np.array(j["scales"]), coordinate_transformation_mode=j["mode"])
    else:
        y = interpolate_nd(x, linear_coeffs, output_size=j["sizes"], coordinate_transformation_mode=j["mode"])
    out.append(y.ravel().tolist())
json.dump(out, sys.stdout)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(string(in))
	b, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("reference Resize: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var out [][]float64
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBilinearMatchesONNXReference checks the forward pass in every
// coordinate mode, asymmetric included (ONNX's conformance suite has no
// linear asymmetric case), against ONNX's reference implementation.
func TestBilinearMatchesONNXReference(t *testing.T) {
	cases := resizeCases()
	r := newRand(7)
	inputs := make([][]float64, len(cases))
	for i, s := range cases {
		inputs[i] = randn(r, s.XLen())
	}
	want := referenceResize(t, cases, inputs)
	worst := map[string]float64{}
	for i, s := range cases {
		t.Run(resizeName(s), func(t *testing.T) {
			b64, err := NewBilinear[float64](s)
			if err != nil {
				t.Fatal(err)
			}
			y := garbage(s.YLen())
			b64.Forward(inputs[i], y)
			b32, err := NewBilinear[float32](s)
			if err != nil {
				t.Fatal(err)
			}
			y32 := make([]float32, s.YLen())
			b32.Forward(toF32(inputs[i]), y32)
			if len(want[i]) != len(y) {
				t.Fatalf("reference has %d values, expected %d", len(want[i]), len(y))
			}
			for name, got := range map[string][]float64{"float64": y, "float32": toF64(y32)} {
				e := maxAbsDiff(got, want[i])
				worst[name] = max(worst[name], e)
				if tol := map[string]float64{"float64": 1e-12, "float32": 1e-5}[name]; e > tol {
					t.Errorf("%s: max abs error %.3g > %g", name, e, tol)
				}
			}
		})
	}
	t.Logf("max abs error vs ONNX's reference over %d cases: float64 %.2g, float32 %.2g", len(cases), worst["float64"], worst["float32"])
}

func maxAbsDiff(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// TestBilinearBackward checks that Backward is the adjoint of Forward,
// ⟨dy, R·x⟩ = ⟨Rᵀ·dy, x⟩, and matches finite differences of L = ⟨dy, R·x⟩.
func TestBilinearBackward(t *testing.T) {
	r := newRand(11)
	for _, s := range resizeCases() {
		t.Run(resizeName(s), func(t *testing.T) {
			b, err := NewBilinear[float64](s)
			if err != nil {
				t.Fatal(err)
			}
			x, dy := randn(r, s.XLen()), randn(r, s.YLen())
			y, dx := make([]float64, s.YLen()), garbage(s.XLen())
			b.Forward(x, y)
			b.Backward(dy, dx)
			lhs, rhs := dot(dy, y), dot(dx, x)
			if e := math.Abs(lhs-rhs) / max(math.Abs(lhs), 1e-12); e > 1e-13 {
				t.Errorf("⟨dy, R·x⟩ = %.17g but ⟨Rᵀ·dy, x⟩ = %.17g: rel err %.2g", lhs, rhs, e)
			}
			if s.XLen() <= 100 {
				checkGrad(t, "dx", dx, x, func() float64 { b.Forward(x, y); return dot(dy, y) })
			}
		})
	}
}

// TestBilinearUpsamplesExactly pins a hand-computed case: 2×2 → 4×4 at
// half_pixel, where output rows and columns sample at −¼, ¼, ¾, 1¼.
func TestBilinearUpsamplesExactly(t *testing.T) {
	b, err := NewBilinear[float64](ResizeShape{N: 1, C: 1, H: 2, W: 2, OutH: 4, OutW: 4, ScaleH: 2, ScaleW: 2})
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float64, 16)
	b.Forward([]float64{1, 2, 3, 4}, y)
	want := []float64{
		1, 1.25, 1.75, 2,
		1.5, 1.75, 2.25, 2.5,
		2.5, 2.75, 3.25, 3.5,
		3, 3.25, 3.75, 4,
	}
	if e := maxAbsDiff(y, want); e > 1e-15 {
		t.Errorf("got %v, want %v", y, want)
	}
}

func TestNewBilinearErrors(t *testing.T) {
	for _, tc := range []struct {
		s    ResizeShape
		want string
	}{
		{ResizeShape{N: 1, C: 1, H: 4, W: 4, OutH: 0, OutW: 8}, "positive sizes"},
		{ResizeShape{N: 1, C: 1, H: 4, W: 4, OutH: 8, OutW: 8, ScaleH: 2, ScaleW: -2}, "width scale must be positive"},
		{ResizeShape{N: 1, C: 1, H: 4, W: 4, OutH: 9, OutW: 8, ScaleH: 2, ScaleW: 2}, "output height 9 does not match floor(4·2) = 8"},
		{ResizeShape{N: 1, C: 1, H: 4, W: 4, OutH: 8, OutW: 8, Mode: 9}, "unknown coordinate mode 9"},
	} {
		if _, err := NewBilinear[float32](tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.s, err, tc.want)
		}
	}
	if _, err := ParseCoordMode("tf_crop_and_resize"); err == nil || !strings.Contains(err.Error(), `"tf_crop_and_resize" is not supported`) {
		t.Errorf("ParseCoordMode(tf_crop_and_resize): got %v", err)
	}
}

func TestBilinearAllocs(t *testing.T) {
	s := ResizeShape{N: 2, C: 11, H: 8, W: 8, OutH: 64, OutW: 64, ScaleH: 8, ScaleW: 8}
	b, err := NewBilinear[float32](s)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]float32, s.XLen()), make([]float32, s.YLen())
	if a := testing.AllocsPerRun(5, func() {
		b.Forward(x, y)
		b.Backward(y, x)
	}); a != 0 {
		t.Errorf("%v allocations per call; expected 0", a)
	}
}
