package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fdTol is the largest relative error allowed between an analytic gradient
// a and its central finite-difference estimate g, measured on the whole
// gradient vector: ‖a−g‖₂ / max(‖a‖₂, ‖g‖₂, 1e-8).
const fdTol = 1e-6

// fdStep is the central-difference step. The ops checked are linear or
// smooth at the points checked, so truncation error is tiny and the error
// is dominated by rounding, about 1e-16·|L|/h.
const fdStep = 1e-5

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6b65726e656c)) }

// randn returns n standard normal numbers.
func randn(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

// relErr is the norm-wise relative error of a against reference b.
func relErr(a, b []float64) float64 {
	var d, na, nb float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
	}
	return math.Sqrt(d) / max(math.Sqrt(na), math.Sqrt(nb), 1e-8)
}

// dot returns Σ a·b: the scalar loss L = Σ y·r whose gradient with respect
// to y is r.
func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// numGrad returns the central-difference gradient of loss with respect to
// v, perturbing v in place (and restoring it).
func numGrad(v []float64, loss func() float64) []float64 {
	g := make([]float64, len(v))
	for i := range v {
		x := v[i]
		v[i] = x + fdStep
		lp := loss()
		v[i] = x - fdStep
		lm := loss()
		v[i] = x
		g[i] = (lp - lm) / (2 * fdStep)
	}
	return g
}

// checkGrad compares an analytic gradient with the finite-difference one
// and logs the error, so that `go test -v` reports it.
func checkGrad(t *testing.T, name string, analytic []float64, v []float64, loss func() float64) {
	t.Helper()
	num := numGrad(v, loss)
	e := relErr(analytic, num)
	t.Logf("%-6s rel err %.2e (%d elements)", name, e, len(v))
	if e > fdTol || math.IsNaN(e) {
		t.Errorf("%s: analytic gradient differs from finite differences: rel err %.3g > %g", name, e, fdTol)
	}
}

// garbage returns n copies of a value that no correct kernel writes, for
// checking that outputs are overwritten rather than accumulated.
func garbage(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1e3
	}
	return v
}

// toF32 and toF64 convert slices between element types.
func toF32(v []float64) []float32 {
	o := make([]float32, len(v))
	for i, x := range v {
		o[i] = float32(x)
	}
	return o
}

func toF64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

// flattenShape returns the 2-D shape ONNX's Flatten gives a tensor of
// shape dims at axis (negative counts from the end): the product of the
// dimensions before axis by the product of the rest. Flatten moves no
// data; a flattened NCHW slice is the same slice.
func flattenShape(dims []int, axis int) (rows, cols int, err error) {
	r := len(dims)
	if axis < -r || axis > r {
		return 0, 0, fmt.Errorf("flatten: axis %d is outside [%d, %d] for a rank-%d tensor", axis, -r, r, r)
	}
	if axis < 0 {
		axis += r
	}
	rows, cols = 1, 1
	for i, d := range dims {
		if i < axis {
			rows *= d
		} else {
			cols *= d
		}
	}
	return rows, cols, nil
}

// newBatchNorm returns a BatchNorm for NCHW tensors, the layout most
// tests check.
func newBatchNorm[T Float](n, c, hw int, epsilon, momentum float64) (*BatchNorm[T], error) {
	return NewBatchNormLayout[T](n, c, hw, epsilon, momentum, false)
}

// newConv2D returns a Conv2D with float32 arithmetic (FP32).
func newConv2D[T Float](s ConvShape) (*Conv2D[T], error) { return NewConv2DPrecision[T](s, FP32) }
