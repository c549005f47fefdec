package kernel

import (
	"fmt"
	"math"
)

// BatchNorm normalises each channel of an N×C×H×W tensor over N, H and W,
// then scales by gamma and shifts by beta, as ONNX's BatchNormalization.
//
// Running statistics follow ONNX's convention
//
//	running = running·Momentum + batch·(1−Momentum)
//
// (Momentum 0.9 in ONNX is momentum 0.1 in PyTorch). The batch mean and
// the biased batch variance normalise the batch; the running variance is
// updated with the unbiased batch variance (·m/(m−1), m = N·H·W) as
// PyTorch does, unless UnbiasedRunningVar is false, which gives ONNX's
// reference (biased) update. With m = 1 the running variance is updated
// with the (zero) biased variance, where PyTorch refuses to train.
type BatchNorm[T Float] struct {
	Epsilon            float64 // added to the variance
	Momentum           float64 // weight of the old running statistics
	UnbiasedRunningVar bool    // PyTorch's running variance (true) or ONNX's reference (false)
	// ReLU fuses the ReLU that follows a BatchNorm in a ResNet: the forward
	// passes write max(BN(x), 0), and BackwardReLU takes the fused output
	// to mask the gradient. It saves a pass over the activation each way.
	ReLU bool

	n, c, hw     int
	mean, invStd []T // of the last ForwardTrain, for Backward
}

// NewBatchNorm returns a BatchNorm for N×C×HW tensors (HW = H·W) with
// PyTorch's running-variance update (UnbiasedRunningVar true).
func NewBatchNorm[T Float](n, c, hw int, epsilon, momentum float64) (*BatchNorm[T], error) {
	if n < 1 || c < 1 || hw < 1 {
		return nil, fmt.Errorf("batchnorm: expected positive sizes, found N=%d C=%d HW=%d", n, c, hw)
	}
	if !(epsilon > 0) || !(momentum >= 0 && momentum <= 1) {
		return nil, fmt.Errorf("batchnorm: expected epsilon > 0 and momentum in [0, 1], found %g and %g", epsilon, momentum)
	}
	return &BatchNorm[T]{n: n, c: c, hw: hw, Epsilon: epsilon, Momentum: momentum, UnbiasedRunningVar: true,
		mean: make([]T, c), invStd: make([]T, c)}, nil
}

// SavedMean returns the per-channel batch mean of the last ForwardTrain.
// The slice is owned by b and overwritten by the next ForwardTrain.
func (b *BatchNorm[T]) SavedMean() []T { return b.mean }

// SavedInvStd returns the per-channel 1/√(biased batch variance + ε) of
// the last ForwardTrain. The slice is owned by b.
func (b *BatchNorm[T]) SavedInvStd() []T { return b.invStd }

// check panics unless x and y hold N×C×HW elements and each of the
// per-channel params (gamma, beta, running mean, running var) C.
func (b *BatchNorm[T]) check(fn string, x, y []T, params ...[]T) {
	checkLen(fn, "x", x, b.n*b.c*b.hw)
	checkLen(fn, "y", y, b.n*b.c*b.hw)
	for i, p := range params {
		checkLen(fn, [...]string{"gamma", "beta", "running mean", "running var"}[i], p, b.c)
	}
}

// ForwardTrain normalises x with its own batch statistics into y, saves
// the mean and inverse standard deviation for Backward, and updates
// runMean and runVar in place.
func (b *BatchNorm[T]) ForwardTrain(x, gamma, beta, runMean, runVar, y []T) {
	b.check("BatchNorm.ForwardTrain", x, y, gamma, beta, runMean, runVar)
	m := float64(b.n * b.hw)
	unbias := 1.0
	if b.UnbiasedRunningVar && m > 1 {
		unbias = m / (m - 1)
	}
	for c := range b.c {
		// One pass for both moments, on values shifted by the channel's
		// first one so that E[(x−k)²] − E[x−k]² does not cancel badly
		// when the mean is large against the spread.
		k := x[c*b.hw]
		var sum, sq float64
		for n := range b.n {
			s1, s2 := shiftedMoments(b.plane(x, n, c), k)
			sum += float64(s1)
			sq += float64(s2)
		}
		d := sum / m
		mean := float64(k) + d
		ss := max(sq-d*sum, 0)
		v := ss / m
		inv := 1 / math.Sqrt(v+b.Epsilon)
		b.mean[c], b.invStd[c] = T(mean), T(inv)
		runMean[c] = T(float64(runMean[c])*b.Momentum + mean*(1-b.Momentum))
		runVar[c] = T(float64(runVar[c])*b.Momentum + v*unbias*(1-b.Momentum))
		scale := float64(gamma[c]) * inv
		b.affine(x, y, c, T(scale), T(float64(beta[c])-mean*scale))
	}
}

// ForwardEval normalises x with the running statistics into y.
func (b *BatchNorm[T]) ForwardEval(x, gamma, beta, runMean, runVar, y []T) {
	b.check("BatchNorm.ForwardEval", x, y, gamma, beta, runMean, runVar)
	for c := range b.c {
		scale := float64(gamma[c]) / math.Sqrt(float64(runVar[c])+b.Epsilon)
		b.affine(x, y, c, T(scale), T(float64(beta[c])-float64(runMean[c])*scale))
	}
}

// Backward computes, for the last ForwardTrain on x, the gradients of a
// loss given dy: dx (overwritten), and dgamma and dbeta (overwritten;
// either may be nil). With x̂ = (x−μ)·σ⁻¹ and m = N·H·W it is the full
// training-mode formula, in which μ and σ depend on x:
//
//	dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·σ⁻¹/m · (m·dy − dβ − x̂·dγ).
func (b *BatchNorm[T]) Backward(x, gamma, dy, dx, dgamma, dbeta []T) {
	b.backward(x, nil, gamma, dy, dx, dgamma, dbeta)
}

// BackwardReLU is Backward for a BatchNorm with ReLU set, where y is the
// fused output max(BN(x), 0): the gradient is first zeroed where y is 0.
// The masked gradient goes into dx plane by plane while the plane is in
// cache, and the formula then reads it from there.
func (b *BatchNorm[T]) BackwardReLU(x, y, gamma, dy, dx, dgamma, dbeta []T) {
	checkLen("BatchNorm.BackwardReLU", "y", y, b.n*b.c*b.hw)
	b.backward(x, y, gamma, dy, dx, dgamma, dbeta)
}

func (b *BatchNorm[T]) backward(x, y, gamma, dy, dx, dgamma, dbeta []T) {
	checkLen("BatchNorm.Backward", "x", x, b.n*b.c*b.hw)
	checkLen("BatchNorm.Backward", "dy", dy, b.n*b.c*b.hw)
	checkLen("BatchNorm.Backward", "dx", dx, b.n*b.c*b.hw)
	checkLen("BatchNorm.Backward", "gamma", gamma, b.c)
	if dgamma != nil {
		checkLen("BatchNorm.Backward", "dgamma", dgamma, b.c)
	}
	if dbeta != nil {
		checkLen("BatchNorm.Backward", "dbeta", dbeta, b.c)
	}
	m := float64(b.n * b.hw)
	for c := range b.c {
		mean, inv := b.mean[c], float64(b.invStd[c])
		var sdy, sdyx float64
		for n := range b.n {
			g := b.plane(dy, n, c)
			if y != nil {
				ReLUBackward(b.plane(y, n, c), g, b.plane(dx, n, c))
				g = b.plane(dx, n, c)
			}
			s1, s2 := sumAndDot(g, b.plane(x, n, c), mean)
			sdy += float64(s1)
			sdyx += float64(s2)
		}
		grad := dy
		if y != nil {
			grad = dx // this channel's masked gradient is in dx now
		}
		dg := sdyx * inv // Σ dy·x̂
		if dgamma != nil {
			dgamma[c] = T(dg)
		}
		if dbeta != nil {
			dbeta[c] = T(sdy)
		}
		// dx = A·dy + B·(x−μ) + D
		a := float64(gamma[c]) * inv
		bb := -a * inv * dg / m
		d := -a * sdy / m
		ta, tb, td := T(a), T(bb), T(d)
		for n := range b.n {
			xs, dys, dxs := b.plane(x, n, c), b.plane(grad, n, c), b.plane(dx, n, c)
			for i, v := range xs {
				dxs[i] = ta*dys[i] + tb*(v-mean) + td
			}
		}
	}
}

// BackwardEval computes the gradients of ForwardEval, in which the
// running statistics are constants: with σ⁻¹ = 1/√(runVar+ε) and
// x̂ = (x−runMean)·σ⁻¹,
//
//	dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·σ⁻¹·dy.
//
// With ReLU set, y is the fused output and the gradient is first zeroed
// where y is 0; otherwise y is not read and may be nil. dx is overwritten
// and may be dy; dgamma and dbeta are overwritten and may be nil. It is
// the backward pass of a frozen BatchNorm in a training net, which keeps
// a fine-tuned backbone's statistics.
func (b *BatchNorm[T]) BackwardEval(x, y, gamma, runMean, runVar, dy, dx, dgamma, dbeta []T) {
	checkLen("BatchNorm.BackwardEval", "x", x, b.n*b.c*b.hw)
	checkLen("BatchNorm.BackwardEval", "dy", dy, b.n*b.c*b.hw)
	checkLen("BatchNorm.BackwardEval", "dx", dx, b.n*b.c*b.hw)
	if b.ReLU {
		checkLen("BatchNorm.BackwardEval", "y", y, b.n*b.c*b.hw)
	}
	for i, p := range [][]T{gamma, runMean, runVar} {
		checkLen("BatchNorm.BackwardEval", [...]string{"gamma", "running mean", "running var"}[i], p, b.c)
	}
	for i, p := range [][]T{dgamma, dbeta} {
		if p != nil {
			checkLen("BatchNorm.BackwardEval", [...]string{"dgamma", "dbeta"}[i], p, b.c)
		}
	}
	for c := range b.c {
		inv := 1 / math.Sqrt(float64(runVar[c])+b.Epsilon)
		a := T(float64(gamma[c]) * inv)
		var sdy, sdyx float64
		for n := range b.n {
			g, d := b.plane(dy, n, c), b.plane(dx, n, c)
			if b.ReLU {
				ReLUBackward(b.plane(y, n, c), g, d)
				g = d
			}
			s1, s2 := sumAndDot(g, b.plane(x, n, c), runMean[c])
			sdy += float64(s1)
			sdyx += float64(s2)
			for i, v := range g {
				d[i] = a * v
			}
		}
		if dgamma != nil {
			dgamma[c] = T(sdyx * inv)
		}
		if dbeta != nil {
			dbeta[c] = T(sdy)
		}
	}
}

// plane returns channel c of image n.
func (b *BatchNorm[T]) plane(s []T, n, c int) []T {
	o := (n*b.c + c) * b.hw
	return s[o : o+b.hw]
}

// affine sets y = x·scale + shift on channel c, then max(y, 0) with ReLU.
func (b *BatchNorm[T]) affine(x, y []T, c int, scale, shift T) {
	for n := range b.n {
		xs, ys := b.plane(x, n, c), b.plane(y, n, c)
		if b.ReLU {
			for i, v := range xs {
				ys[i] = max(v*scale+shift, 0)
			}
			continue
		}
		for i, v := range xs {
			ys[i] = v*scale + shift
		}
	}
}

// shiftedMoments returns Σ (s−k) and Σ (s−k)², in two lanes each.
func shiftedMoments[T Float](s []T, k T) (sum, sq T) {
	var a0, a1, q0, q1 T
	i := 0
	for ; i+2 <= len(s); i += 2 {
		d0, d1 := s[i]-k, s[i+1]-k
		a0 += d0
		a1 += d1
		q0 += d0 * d0
		q1 += d1 * d1
	}
	if i < len(s) {
		d := s[i] - k
		a0 += d
		q0 += d * d
	}
	return a0 + a1, q0 + q1
}

// sumSqDev returns Σ (s−mean)², in four lanes like sumOf.
func sumSqDev[T Float](s []T, mean T) T {
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(s); i += 4 {
		d0, d1, d2, d3 := s[i]-mean, s[i+1]-mean, s[i+2]-mean, s[i+3]-mean
		a0 += d0 * d0
		a1 += d1 * d1
		a2 += d2 * d2
		a3 += d3 * d3
	}
	for ; i < len(s); i++ {
		d := s[i] - mean
		a0 += d * d
	}
	return (a0 + a1) + (a2 + a3)
}

// sumAndDot returns Σ dy and Σ dy·(x−mean), in two lanes each.
func sumAndDot[T Float](dy, x []T, mean T) (sdy, sdyx T) {
	x = x[:len(dy)]
	var s0, s1, p0, p1 T
	i := 0
	for ; i+2 <= len(dy); i += 2 {
		g0, g1 := dy[i], dy[i+1]
		s0 += g0
		s1 += g1
		p0 += g0 * (x[i] - mean)
		p1 += g1 * (x[i+1] - mean)
	}
	if i < len(dy) {
		s0 += dy[i]
		p0 += dy[i] * (x[i] - mean)
	}
	return s0 + s1, p0 + p1
}
