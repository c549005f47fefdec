package kernel

import (
	"fmt"
	"math"
)

// Linear computes y = x·wᵀ + b, ONNX's Gemm with transB=1 as a fully
// connected layer: x is n×in, w is out×in, b has out elements or is nil,
// and y (n×out) is overwritten.
func Linear[T Float](x, w, b, y []T, n, in, out int) {
	checkLen("Linear", "x", x, n*in)
	checkLen("Linear", "w", w, out*in)
	checkLen("Linear", "y", y, n*out)
	var beta T
	if b != nil {
		checkLen("Linear", "b", b, out)
		for r := range n {
			copy(y[r*out:(r+1)*out], b)
		}
		beta = 1
	}
	Gemm(false, true, n, out, in, 1, x, in, w, in, beta, y, out)
}

// LinearBackward computes the gradients of Linear given dy (n×out):
// dx = dy·w (skipped when nil), dw = dyᵀ·x, and db = Σ rows of dy (skipped
// when nil). All are overwritten.
func LinearBackward[T Float](x, w, dy, dx, dw, db []T, n, in, out int) {
	checkLen("LinearBackward", "x", x, n*in)
	checkLen("LinearBackward", "w", w, out*in)
	checkLen("LinearBackward", "dy", dy, n*out)
	checkLen("LinearBackward", "dw", dw, out*in)
	if dx != nil {
		checkLen("LinearBackward", "dx", dx, n*in)
		Gemm(false, false, n, in, out, 1, dy, out, w, in, 0, dx, in)
	}
	Gemm(true, false, out, in, n, 1, dy, out, x, in, 0, dw, in)
	if db != nil {
		checkLen("LinearBackward", "db", db, out)
		clear(db)
		for r := range n {
			for j, g := range dy[r*out : (r+1)*out] {
				db[j] += g
			}
		}
	}
}

// SoftmaxCrossEntropy returns the mean over the n = len(labels) rows of
// −log softmax(logits)[label], with logits n×classes, computed stably as
// logsumexp(z) − z[label] with the row maximum taken out. When dlogits is
// not nil it is overwritten with the gradient of the mean loss,
// (softmax(z) − onehot(label))/n. A label outside [0, classes) is an error.
func SoftmaxCrossEntropy[T Float](logits []T, labels []int, classes int, dlogits []T) (float64, error) {
	n := len(labels)
	checkLen("SoftmaxCrossEntropy", "logits", logits, n*classes)
	if dlogits != nil {
		checkLen("SoftmaxCrossEntropy", "dlogits", dlogits, n*classes)
	}
	for i, l := range labels {
		if l < 0 || l >= classes {
			return 0, fmt.Errorf("softmax cross-entropy: label %d of row %d is outside [0, %d)", l, i, classes)
		}
	}
	if n == 0 {
		return 0, nil
	}
	var loss float64
	for i, l := range labels {
		z := logits[i*classes : (i+1)*classes]
		m := z[0]
		for _, v := range z[1:] {
			m = max(m, v)
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(float64(v - m))
		}
		loss += math.Log(sum) + float64(m-z[l])
		if dlogits == nil {
			continue
		}
		d := dlogits[i*classes : (i+1)*classes]
		scale := 1 / (sum * float64(n))
		for j, v := range z {
			d[j] = T(math.Exp(float64(v-m)) * scale)
		}
		d[l] -= T(1 / float64(n))
	}
	return loss / float64(n), nil
}

// SoftTargetCrossEntropy is the mean over rows of −Σₖ qₖ·log softmax(z)ₖ
// for target distributions q (rows of targets, each summing to 1): the
// loss of label smoothing and mixup. With dlogits it also sets the
// gradient (softmax(z) − q)/N. Log-sum-exp keeps large logits finite.
func SoftTargetCrossEntropy[T Float](logits, targets []T, classes int, dlogits []T) float64 {
	n := len(targets) / max(classes, 1)
	checkLen("SoftTargetCrossEntropy", "logits", logits, n*classes)
	checkLen("SoftTargetCrossEntropy", "targets", targets, n*classes)
	if dlogits != nil {
		checkLen("SoftTargetCrossEntropy", "dlogits", dlogits, n*classes)
	}
	if n == 0 {
		return 0
	}
	var loss float64
	for i := range n {
		z, q := logits[i*classes:(i+1)*classes], targets[i*classes:(i+1)*classes]
		m := z[0]
		for _, v := range z[1:] {
			m = max(m, v)
		}
		var sum float64
		for _, v := range z {
			sum += math.Exp(float64(v - m))
		}
		logSum := math.Log(sum) + float64(m)
		for k, v := range z {
			loss += float64(q[k]) * (logSum - float64(v))
		}
		if dlogits == nil {
			continue
		}
		d := dlogits[i*classes : (i+1)*classes]
		for k, v := range z {
			d[k] = T((math.Exp(float64(v)-logSum) - float64(q[k])) / float64(n))
		}
	}
	return loss / float64(n)
}
