package kernel

import (
	"math"
	"strings"
	"testing"
)

// TestPixelCrossEntropyByHand pins the loss on two images of two pixels
// and three classes, one pixel ignored: the mean of three terms
// −log softmax, computed here directly.
func TestPixelCrossEntropyByHand(t *testing.T) {
	// Image 0: pixel 0 has logits (1, 2, 3), pixel 1 (0, 0, 0).
	// Image 1: pixel 0 has logits (−1, 4, 0.5), pixel 1 (7, 7, 7).
	logits := []float64{
		1, 0, 2, 0, 3, 0,
		-1, 7, 4, 7, 0.5, 7,
	}
	labels := []int32{2, 0, 1, IgnoreLabel}
	lse := func(z ...float64) float64 {
		s := 0.0
		for _, v := range z {
			s += math.Exp(v)
		}
		return math.Log(s)
	}
	want := (lse(1, 2, 3) - 3 + lse(0, 0, 0) - 0 + lse(-1, 4, 0.5) - 4) / 3
	c, err := NewPixelCrossEntropy[float64](2, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := garbage(len(logits))
	loss, count, err := c.Forward(logits, labels, d)
	if err != nil {
		t.Fatal(err)
	}
	if count != 3 || math.Abs(loss-want) > 1e-15 {
		t.Errorf("loss %.17g over %d pixels, want %.17g over 3", loss, count, want)
	}
	// The gradient at image 0 pixel 1 (logits 0, 0, 0, label 0) is
	// (⅓ − 1, ⅓, ⅓)/3; at the ignored pixel it is 0.
	for j, w := range []float64{(1.0/3 - 1) / 3, 1.0 / 9, 1.0 / 9} {
		if g := d[j*2+1]; math.Abs(g-w) > 1e-16 {
			t.Errorf("dlogits class %d of image 0 pixel 1 = %g, want %g", j, g, w)
		}
		if g := d[6+j*2+1]; g != 0 {
			t.Errorf("dlogits class %d of the ignored pixel = %g, want 0", j, g)
		}
	}
	checkGrad(t, "dlogits", d, logits, func() float64 { l, _, _ := c.Forward(logits, labels, nil); return l })
}

// TestPixelCrossEntropyMatchesRows checks the NCHW loss against
// SoftmaxCrossEntropy on the same pixels laid out as rows of classes, in
// float32 and float64, and its gradient against finite differences.
func TestPixelCrossEntropyMatchesRows(t *testing.T) {
	const n, k, hw = 3, 5, 12
	r := newRand(41)
	logits := randn(r, n*k*hw)
	for i := range logits {
		logits[i] *= 4
	}
	labels := make([]int32, n*hw)
	var rowLabels []int
	var rows []float64
	for i := range labels {
		labels[i] = int32(r.IntN(k+1)) - 1 // IgnoreLabel about once in k+1
		if labels[i] == IgnoreLabel {
			continue
		}
		rowLabels = append(rowLabels, int(labels[i]))
		img, p := i/hw, i%hw
		for j := range k {
			rows = append(rows, logits[(img*k+j)*hw+p])
		}
	}
	want, err := SoftmaxCrossEntropy(rows, rowLabels, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	c64, _ := NewPixelCrossEntropy[float64](n, k, hw)
	d := make([]float64, len(logits))
	got, count, err := c64.Forward(logits, labels, d)
	if err != nil {
		t.Fatal(err)
	}
	if count != len(rowLabels) || math.Abs(got-want) > 1e-13 {
		t.Errorf("loss %.17g over %d pixels, rows give %.17g over %d", got, count, want, len(rowLabels))
	}
	c32, _ := NewPixelCrossEntropy[float32](n, k, hw)
	got32, _, err := c32.Forward(toF32(logits), labels, nil)
	if err != nil || math.Abs(got32-want) > 1e-5*want {
		t.Errorf("float32 loss %g (%v), want %g", got32, err, want)
	}
	checkGrad(t, "dlogits", d, logits, func() float64 { l, _, _ := c64.Forward(logits, labels, nil); return l })
}

func TestPixelCrossEntropyEdges(t *testing.T) {
	c, _ := NewPixelCrossEntropy[float32](1, 2, 2)
	d := []float32{9, 9, 9, 9}
	loss, count, err := c.Forward([]float32{1, 2, 3, 4}, []int32{IgnoreLabel, IgnoreLabel}, d)
	if err != nil || loss != 0 || count != 0 || d[0] != 0 || d[3] != 0 {
		t.Errorf("all ignored: loss %g over %d, gradient %v, %v; want 0 over 0, zero gradient", loss, count, d, err)
	}
	for _, l := range []int32{2, -2} {
		if _, _, err := c.Forward([]float32{1, 2, 3, 4}, []int32{0, l}, nil); err == nil || !strings.Contains(err.Error(), "of image 0 pixel 1") {
			t.Errorf("label %d: got %v, want an error naming image 0 pixel 1", l, err)
		}
	}
	if _, err := NewPixelCrossEntropy[float32](1, 0, 4); err == nil {
		t.Error("0 classes: expected an error")
	}
}

func TestPixelCrossEntropyAllocs(t *testing.T) {
	const n, k, hw = 2, 11, 64 * 64
	c, err := NewPixelCrossEntropy[float32](n, k, hw)
	if err != nil {
		t.Fatal(err)
	}
	z, d, labels := make([]float32, n*k*hw), make([]float32, n*k*hw), make([]int32, n*hw)
	if a := testing.AllocsPerRun(5, func() {
		if _, _, err := c.Forward(z, labels, d); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%v allocations per call; expected 0", a)
	}
}
