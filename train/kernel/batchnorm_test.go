package kernel

import (
	"math"
	"slices"
	"testing"
)

// TestBatchNormGradients checks the training-mode backward pass (dx, dγ,
// dβ) against central finite differences of the training-mode forward
// pass, in which the batch statistics depend on x.
// With relu set it checks the fused BatchNorm + ReLU and BackwardReLU.
func TestBatchNormGradients(t *testing.T) {
	for i, tc := range []struct {
		name     string
		n, c, hw int
		relu     bool
	}{
		{"2x3x(4x5)", 2, 3, 20, false},
		{"1x2x(3x3)", 1, 2, 9, false},
		{"5x4x1", 5, 4, 1, false},
		{"2x3x(4x5) fused ReLU", 2, 3, 20, true},
		{"3x2x7 fused ReLU", 3, 2, 7, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := newBatchNorm[float64](tc.n, tc.c, tc.hw, 1e-5, 0.9)
			if err != nil {
				t.Fatal(err)
			}
			b.ReLU = tc.relu
			r := newRand(uint64(10 + i))
			size := tc.n * tc.c * tc.hw
			x, gamma, beta, proj := randn(r, size), randn(r, tc.c), randn(r, tc.c), randn(r, size)
			for j := range x {
				x[j] = 3*x[j] + 1 // a mean and variance away from 0 and 1
			}
			rm, rv := make([]float64, tc.c), make([]float64, tc.c)
			y := make([]float64, size)
			loss := func() float64 {
				b.ForwardTrain(x, gamma, beta, rm, rv, y)
				return dot(y, proj)
			}
			loss()
			dx, dg, db := garbage(size), garbage(tc.c), garbage(tc.c)
			if tc.relu {
				if slices.Min(y) != 0 || slices.Max(y) <= 0 {
					t.Fatalf("fused output spans [%g, %g], want zeros and positives", slices.Min(y), slices.Max(y))
				}
				b.BackwardReLU(x, y, gamma, proj, dx, dg, db)
			} else {
				b.Backward(x, gamma, proj, dx, dg, db)
			}
			checkGrad(t, "dx", dx, x, loss)
			checkGrad(t, "dgamma", dg, gamma, loss)
			checkGrad(t, "dbeta", db, beta, loss)
		})
	}
}

// TestBatchNormEvalGradients checks BackwardEval, with and without the
// fused ReLU, against finite differences of ForwardEval.
func TestBatchNormEvalGradients(t *testing.T) {
	for i, relu := range []bool{false, true} {
		const n, c, hw = 2, 3, 10
		b, err := newBatchNorm[float64](n, c, hw, 1e-5, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		b.ReLU = relu
		r := newRand(uint64(30 + i))
		x, gamma, beta, proj := randn(r, n*c*hw), randn(r, c), randn(r, c), randn(r, n*c*hw)
		rm, rv := randn(r, c), []float64{0.5, 2, 3}
		y := make([]float64, n*c*hw)
		loss := func() float64 {
			b.ForwardEval(x, gamma, beta, rm, rv, y)
			return dot(y, proj)
		}
		loss()
		dx, dg, db := garbage(n*c*hw), garbage(c), garbage(c)
		b.BackwardEval(x, y, gamma, rm, rv, proj, dx, dg, db)
		checkGrad(t, "dx", dx, x, loss)
		checkGrad(t, "dgamma", dg, gamma, loss)
		checkGrad(t, "dbeta", db, beta, loss)
	}
}

// TestBatchNormStatistics checks the normalisation, the saved statistics
// and both running-variance conventions against a direct computation.
func TestBatchNormStatistics(t *testing.T) {
	const n, c, hw = 3, 2, 4
	r := newRand(20)
	x, gamma, beta := randn(r, n*c*hw), randn(r, c), randn(r, c)
	for _, unbiased := range []bool{true, false} {
		b, err := newBatchNorm[float64](n, c, hw, 1e-3, 0.9)
		if err != nil {
			t.Fatal(err)
		}
		b.UnbiasedRunningVar = unbiased
		rm, rv := []float64{0.5, -1}, []float64{2, 3}
		y := make([]float64, n*c*hw)
		b.ForwardTrain(x, gamma, beta, rm, rv, y)
		for ch := range c {
			var vals []float64
			for i := range n {
				vals = append(vals, x[(i*c+ch)*hw:(i*c+ch+1)*hw]...)
			}
			var mean, ss float64
			for _, v := range vals {
				mean += v
			}
			mean /= float64(len(vals))
			for _, v := range vals {
				ss += (v - mean) * (v - mean)
			}
			m := float64(len(vals))
			varB := ss / m
			wantRV := []float64{2, 3}[ch]*0.9 + varB*0.1
			if unbiased {
				wantRV = []float64{2, 3}[ch]*0.9 + ss/(m-1)*0.1
			}
			wantRM := []float64{0.5, -1}[ch]*0.9 + mean*0.1
			inv := 1 / math.Sqrt(varB+1e-3)
			if !near(b.mean[ch], mean, 1e-14) || !near(b.invStd[ch], inv, 1e-14) {
				t.Errorf("channel %d: saved mean %g, inv std %g; expected %g, %g", ch, b.mean[ch], b.invStd[ch], mean, inv)
			}
			if !near(rm[ch], wantRM, 1e-14) || !near(rv[ch], wantRV, 1e-14) {
				t.Errorf("unbiased=%v channel %d: running mean %g var %g; expected %g %g", unbiased, ch, rm[ch], rv[ch], wantRM, wantRV)
			}
			for i := range n {
				for j := range hw {
					k := (i*c+ch)*hw + j
					if want := (x[k]-mean)*inv*gamma[ch] + beta[ch]; !near(y[k], want, 1e-13) {
						t.Fatalf("y[%d] = %g; expected %g", k, y[k], want)
					}
				}
			}
		}
		// Eval mode uses the running statistics.
		b.ForwardEval(x, gamma, beta, rm, rv, y)
		for k := range y {
			ch := k / hw % c
			if want := (x[k]-rm[ch])/math.Sqrt(rv[ch]+1e-3)*gamma[ch] + beta[ch]; !near(y[k], want, 1e-13) {
				t.Fatalf("eval y[%d] = %g; expected %g", k, y[k], want)
			}
		}
	}
}

// TestBatchNormFloat32 checks float32 training forward and backward against
// float64 on a ResNet-sized batch with a large mean.
func TestBatchNormFloat32(t *testing.T) {
	const n, c, hw = 16, 4, 32 * 32
	r := newRand(21)
	x, gamma, beta, dy := randn(r, n*c*hw), randn(r, c), randn(r, c), randn(r, n*c*hw)
	for i := range x {
		x[i] = 0.5*x[i] + 20
	}
	b64, _ := newBatchNorm[float64](n, c, hw, 1e-5, 0.9)
	b32, _ := newBatchNorm[float32](n, c, hw, 1e-5, 0.9)
	y64, y32 := make([]float64, len(x)), make([]float32, len(x))
	b64.ForwardTrain(x, gamma, beta, make([]float64, c), make([]float64, c), y64)
	b32.ForwardTrain(toF32(x), toF32(gamma), toF32(beta), make([]float32, c), make([]float32, c), y32)
	dx64, dx32 := make([]float64, len(x)), make([]float32, len(x))
	b64.Backward(x, gamma, dy, dx64, nil, nil)
	b32.Backward(toF32(x), toF32(gamma), toF32(dy), dx32, nil, nil)
	if e := relErr(toF64(y32), y64); e > 1e-5 {
		t.Errorf("y: float32 rel err %.3g", e)
	}
	if e := relErr(toF64(dx32), dx64); e > 1e-4 {
		t.Errorf("dx: float32 rel err %.3g", e)
	}
}

func TestBatchNormAllocs(t *testing.T) {
	const n, c, hw = 4, 8, 64
	b, _ := newBatchNorm[float32](n, c, hw, 1e-5, 0.9)
	x, y, p := make([]float32, n*c*hw), make([]float32, n*c*hw), make([]float32, c)
	if a := testing.AllocsPerRun(5, func() {
		b.ForwardTrain(x, p, p, p, p, y)
		b.ForwardEval(x, p, p, p, p, y)
		b.Backward(x, p, y, x, p, p)
	}); a != 0 {
		t.Errorf("%v allocations per call; expected 0", a)
	}
}

func TestNewBatchNormErrors(t *testing.T) {
	for _, a := range [][5]float64{{0, 1, 1, 1e-5, 0.9}, {1, 1, 1, 0, 0.9}, {1, 1, 1, 1e-5, 1.5}, {1, 1, 1, math.NaN(), 0.9}} {
		if _, err := newBatchNorm[float32](int(a[0]), int(a[1]), int(a[2]), a[3], a[4]); err == nil {
			t.Errorf("NewBatchNormLayout%v: expected an error", a)
		}
	}
}

// near reports whether a and b agree to a relative tolerance.
func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*max(1, math.Abs(b)) }
