package kernel

import (
	"math"
	"strings"
	"testing"
)

func TestReLU(t *testing.T) {
	r := newRand(60)
	x, proj := randn(r, 50), randn(r, 50)
	for i := range x {
		if math.Abs(x[i]) < 0.01 { // keep finite differences off the kink
			x[i] = 0.5
		}
	}
	y := garbage(len(x))
	ReLU(x, y)
	for i, v := range x {
		if y[i] != max(v, 0) {
			t.Fatalf("y[%d] = %g for x %g", i, y[i], v)
		}
	}
	loss := func() float64 {
		ReLU(x, y)
		return dot(y, proj)
	}
	for _, from := range []string{"x", "y"} {
		a := x
		if from == "y" {
			ReLU(x, y)
			a = y
		}
		dx := garbage(len(x))
		ReLUBackward(a, proj, dx)
		checkGrad(t, "dx from "+from, dx, x, loss)
	}
	// In place.
	z := append([]float64(nil), x...)
	ReLU(z, z)
	ReLU(x, y)
	if relErr(z, y) != 0 {
		t.Error("in-place ReLU differs")
	}
}

func TestAdd(t *testing.T) {
	a, b := []float64{1, 2, 3}, []float64{10, 20, 30}
	y := garbage(3)
	Add(a, b, y)
	if relErr(y, []float64{11, 22, 33}) != 0 {
		t.Errorf("Add: %v", y)
	}
}

func TestLinear(t *testing.T) {
	const n, in, out = 4, 5, 3
	r := newRand(61)
	x, w, b, proj := randn(r, n*in), randn(r, out*in), randn(r, out), randn(r, n*out)
	y := garbage(n * out)
	Linear(x, w, b, y, n, in, out)
	for i := range n {
		for o := range out {
			want := b[o]
			for k := range in {
				want += x[i*in+k] * w[o*in+k]
			}
			if !near(y[i*out+o], want, 1e-14) {
				t.Fatalf("y[%d,%d] = %g; expected %g", i, o, y[i*out+o], want)
			}
		}
	}
	dx, dw, db := garbage(n*in), garbage(out*in), garbage(out)
	LinearBackward(x, w, proj, dx, dw, db, n, in, out)
	loss := func() float64 {
		Linear(x, w, b, y, n, in, out)
		return dot(y, proj)
	}
	checkGrad(t, "dx", dx, x, loss)
	checkGrad(t, "dw", dw, w, loss)
	checkGrad(t, "db", db, b, loss)
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	const classes = 5
	r := newRand(62)
	labels := []int{0, 4, 2, 2}
	logits := randn(r, len(labels)*classes)
	logits[3] = 800 // large logits must not overflow: log-sum-exp
	d := garbage(len(logits))
	loss, err := SoftmaxCrossEntropy(logits, labels, classes, d)
	if err != nil {
		t.Fatal(err)
	}
	var want float64
	for i, l := range labels {
		z := logits[i*classes : (i+1)*classes]
		m := slicesMax(z)
		var s float64
		for _, v := range z {
			s += math.Exp(v - m)
		}
		want += m + math.Log(s) - z[l]
	}
	want /= float64(len(labels))
	if !near(loss, want, 1e-14) || math.IsInf(loss, 0) {
		t.Errorf("loss %g; expected %g", loss, want)
	}
	checkGrad(t, "dlogits", d, logits, func() float64 {
		l, _ := SoftmaxCrossEntropy(logits, labels, classes, nil)
		return l
	})
	if _, err := SoftmaxCrossEntropy(logits, []int{0, 5, 1, 1}, classes, nil); err == nil || !strings.Contains(err.Error(), "label 5 of row 1") {
		t.Errorf("error %v; expected one naming label 5 of row 1", err)
	}
}

func slicesMax(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func TestFlattenShape(t *testing.T) {
	if _, _, err := flattenShape([]int{2, 3}, 3); err == nil {
		t.Error("axis 3 of a rank-2 tensor: expected an error")
	}
	if r, c, err := flattenShape([]int{2, 3, 4}, -1); err != nil || r != 6 || c != 4 {
		t.Errorf("flattenShape([2 3 4], -1) = %d, %d, %v; expected 6, 4", r, c, err)
	}
}

func TestGemmEdgeCases(t *testing.T) {
	// k = 0: C = beta·C.
	c := []float64{1, 2, 3, 4}
	Gemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0.5, c, 2)
	if relErr(c, []float64{0.5, 1, 1.5, 2}) != 0 {
		t.Errorf("k=0: %v", c)
	}
	// Leading dimensions larger than the rows, float32.
	a := []float32{1, 2, 99, 3, 4, 99} // 2×2, lda 3
	b := []float32{1, 0, 99, 0, 1, 99} // 2×2 identity, ldb 3
	out := []float32{0, 0, 7, 0, 0}    // 2×2, ldc 3; element 2 untouched
	Gemm(true, false, 2, 2, 2, 2, a, 3, b, 3, 0, out, 3)
	if want := []float32{2, 6, 7, 4, 8}; relErr(toF64(out), toF64(want)) != 0 {
		t.Errorf("transA with leading dimensions: %v; expected %v", out, want)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "B is 2×2 with leading dimension 2 and needs 4 elements; found 3") {
			t.Errorf("panic %v; expected one about B's length", r)
		}
	}()
	Gemm(false, false, 2, 2, 2, 1, make([]float64, 4), 2, make([]float64, 3), 2, 0, make([]float64, 4), 2)
}

func TestBLASThreads(t *testing.T) {
	defer SetBLASThreads(BLASThreads())
	SetBLASThreads(1)
	if n := BLASThreads(); n != 1 {
		t.Errorf("BLASThreads() = %d after SetBLASThreads(1)", n)
	}
	info, err := LoadBLAS()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Config, "OpenBLAS") {
		t.Errorf("Config = %q; expected OpenBLAS's build string", info.Config)
	}
	if info.Core == "" || strings.ContainsAny(info.Core, " \n") {
		t.Errorf("Core = %q; expected one word naming a core", info.Core)
	}
}

// TestSoftTargetCrossEntropy: with one-hot targets it equals the integer
// form; with soft targets its gradient matches finite differences.
func TestSoftTargetCrossEntropy(t *testing.T) {
	const classes = 4
	r := newRand(63)
	labels := []int{3, 0, 1}
	logits := randn(r, len(labels)*classes)
	logits[5] = 700
	onehot := make([]float64, len(logits))
	for i, l := range labels {
		onehot[i*classes+l] = 1
	}
	want, _ := SoftmaxCrossEntropy(logits, labels, classes, nil)
	if got := SoftTargetCrossEntropy(logits, onehot, classes, nil); !near(got, want, 1e-13) {
		t.Errorf("one-hot targets: loss %g, integer form %g", got, want)
	}
	soft := []float64{0.1, 0.2, 0.3, 0.4, 0.7, 0.1, 0.1, 0.1, 0, 0, 0.5, 0.5}
	d := garbage(len(logits))
	SoftTargetCrossEntropy(logits, soft, classes, d)
	checkGrad(t, "dlogits", d, logits, func() float64 { return SoftTargetCrossEntropy(logits, soft, classes, nil) })
}
