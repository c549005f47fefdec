package kernel

import (
	"fmt"
	"math"
)

// BatchNorm normalises each channel of an N×C×H×W tensor over N, H and W,
// then scales by gamma and shifts by beta, as ONNX's BatchNormalization.
// The tensor is NCHW, or NHWC when built by NewBatchNormLayout with
// channelsLast (the layout the engine's float32 convolutions keep).
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

	n, c, hw int
	// The tensor as (outer, C, inner): (N, C, H·W) for NCHW, (N·H·W, C, 1)
	// for NHWC; the heavy passes below walk either.
	outer, inner int
	mean, invStd []T // of the last ForwardTrain, for Backward
	// Per-channel scratch: sums in float64, coefficients of the passes.
	sum, sq            []float64
	k, scale, shift, d []T
}

// NewBatchNormLayout returns a BatchNorm for tensors with N×C×HW elements
// (HW = H·W), NCHW, or NHWC when channelsLast is set, with PyTorch's
// running-variance update (UnbiasedRunningVar true).
func NewBatchNormLayout[T Float](n, c, hw int, epsilon, momentum float64, channelsLast bool) (*BatchNorm[T], error) {
	if n < 1 || c < 1 || hw < 1 {
		return nil, fmt.Errorf("batchnorm: expected positive sizes, found N=%d C=%d HW=%d", n, c, hw)
	}
	if !(epsilon > 0) || !(momentum >= 0 && momentum <= 1) {
		return nil, fmt.Errorf("batchnorm: expected epsilon > 0 and momentum in [0, 1], found %g and %g", epsilon, momentum)
	}
	b := &BatchNorm[T]{n: n, c: c, hw: hw, Epsilon: epsilon, Momentum: momentum, UnbiasedRunningVar: true, outer: n, inner: hw,
		mean: make([]T, c), invStd: make([]T, c), sum: make([]float64, c), sq: make([]float64, c),
		k: make([]T, c), scale: make([]T, c), shift: make([]T, c), d: make([]T, c)}
	if channelsLast {
		b.outer, b.inner = n*hw, 1
	}
	return b, nil
}

// checkTensor panics unless s holds N×C×HW elements.
func (b *BatchNorm[T]) checkTensor(fn, name string, s []T) { checkLen(fn, name, s, b.n*b.c*b.hw) }

// checkParams panics unless each per-channel slice that is not nil holds
// C elements; names are those of params, in order.
func (b *BatchNorm[T]) checkParams(fn string, names [4]string, params ...[]T) {
	for i, p := range params {
		if p != nil {
			checkLen(fn, names[i], p, b.c)
		}
	}
}

// ForwardTrain normalises x with its own batch statistics into y, saves
// the mean and inverse standard deviation for Backward, and updates
// runMean and runVar in place.
func (b *BatchNorm[T]) ForwardTrain(x, gamma, beta, runMean, runVar, y []T) {
	const fn = "BatchNorm.ForwardTrain"
	b.checkTensor(fn, "x", x)
	b.checkTensor(fn, "y", y)
	b.checkParams(fn, [4]string{"gamma", "beta", "running mean", "running var"}, gamma, beta, runMean, runVar)
	m := float64(b.n * b.hw)
	unbias := 1.0
	if b.UnbiasedRunningVar && m > 1 {
		unbias = m / (m - 1)
	}
	// One pass for both moments, on values shifted by the channel's first
	// one so that E[(x−k)²] − E[x−k]² does not cancel badly when the mean
	// is large against the spread.
	for c := range b.c {
		b.k[c] = x[c*b.inner]
	}
	b.moments(x)
	for c := range b.c {
		sum, sq := b.sum[c], b.sq[c]
		d := sum / m
		mean := float64(b.k[c]) + d
		v := max(sq-d*sum, 0) / m
		inv := 1 / math.Sqrt(v+b.Epsilon)
		b.mean[c], b.invStd[c] = T(mean), T(inv)
		runMean[c] = T(float64(runMean[c])*b.Momentum + mean*(1-b.Momentum))
		runVar[c] = T(float64(runVar[c])*b.Momentum + v*unbias*(1-b.Momentum))
		scale := float64(gamma[c]) * inv
		b.scale[c], b.shift[c] = T(scale), T(float64(beta[c])-mean*scale)
	}
	b.affine(x, y)
}

// ForwardEval normalises x with the running statistics into y.
func (b *BatchNorm[T]) ForwardEval(x, gamma, beta, runMean, runVar, y []T) {
	const fn = "BatchNorm.ForwardEval"
	b.checkTensor(fn, "x", x)
	b.checkTensor(fn, "y", y)
	b.checkParams(fn, [4]string{"gamma", "beta", "running mean", "running var"}, gamma, beta, runMean, runVar)
	for c := range b.c {
		scale := float64(gamma[c]) / math.Sqrt(float64(runVar[c])+b.Epsilon)
		b.scale[c], b.shift[c] = T(scale), T(float64(beta[c])-float64(runMean[c])*scale)
	}
	b.affine(x, y)
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
// The masked gradient goes into dx, and the formula then reads it there.
func (b *BatchNorm[T]) BackwardReLU(x, y, gamma, dy, dx, dgamma, dbeta []T) {
	checkLen("BatchNorm.BackwardReLU", "y", y, b.n*b.c*b.hw)
	b.backward(x, y, gamma, dy, dx, dgamma, dbeta)
}

func (b *BatchNorm[T]) backward(x, y, gamma, dy, dx, dgamma, dbeta []T) {
	const fn = "BatchNorm.Backward"
	b.checkTensor(fn, "x", x)
	b.checkTensor(fn, "dy", dy)
	b.checkTensor(fn, "dx", dx)
	b.checkParams(fn, [4]string{"gamma", "dgamma", "dbeta"}, gamma, dgamma, dbeta)
	grad := dy
	if y != nil {
		grad = dx // gradSums writes the masked gradient there
	}
	b.gradSums(x, y, dy, dx, b.mean)
	m := float64(b.n * b.hw)
	for c := range b.c {
		inv := float64(b.invStd[c])
		sdy, dg := b.sum[c], b.sq[c]*inv // Σ dy, Σ dy·x̂
		if dgamma != nil {
			dgamma[c] = T(dg)
		}
		if dbeta != nil {
			dbeta[c] = T(sdy)
		}
		// dx = A·dy + B·(x−μ) + D
		a := float64(gamma[c]) * inv
		b.scale[c], b.shift[c], b.d[c] = T(a), T(-a*inv*dg/m), T(-a*sdy/m)
	}
	b.gradInput(x, grad, dx, b.mean)
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
	const fn = "BatchNorm.BackwardEval"
	b.checkTensor(fn, "x", x)
	b.checkTensor(fn, "dy", dy)
	b.checkTensor(fn, "dx", dx)
	if b.ReLU {
		b.checkTensor(fn, "y", y)
	} else {
		y = nil
	}
	b.checkParams(fn, [4]string{"gamma", "running mean", "running var"}, gamma, runMean, runVar)
	b.checkParams(fn, [4]string{"dgamma", "dbeta"}, dgamma, dbeta)
	grad := dy
	if y != nil {
		grad = dx
	}
	b.gradSums(x, y, dy, dx, runMean)
	for c := range b.c {
		inv := 1 / math.Sqrt(float64(runVar[c])+b.Epsilon)
		if dgamma != nil {
			dgamma[c] = T(b.sq[c] * inv)
		}
		if dbeta != nil {
			dbeta[c] = T(b.sum[c])
		}
		b.scale[c], b.shift[c], b.d[c] = T(float64(gamma[c])*inv), 0, 0
	}
	b.gradInput(x, grad, dx, runMean)
}

// The four passes over the tensor. float32 runs the vectorised C kernels
// (vec.go); other types the Go loops below, over the same (outer, C,
// inner) walk.

// moments sets b.sum and b.sq to Σ(x−k_c) and Σ(x−k_c)² per channel.
func (b *BatchNorm[T]) moments(x []T) {
	clear(b.sum)
	clear(b.sq)
	if x32, ok := any(x).([]float32); ok {
		channelMoments(x32, b.outer, b.c, b.inner, any(b.k).([]float32), b.sum, b.sq)
		return
	}
	b.walk(func(c, off int) {
		var s1, s2 float64
		for _, v := range x[off : off+b.inner] {
			d := float64(v - b.k[c])
			s1 += d
			s2 += d * d
		}
		b.sum[c] += s1
		b.sq[c] += s2
	})
}

// affine sets y = x·scale_c + shift_c, then max(y, 0) with ReLU.
func (b *BatchNorm[T]) affine(x, y []T) {
	if x32, ok := any(x).([]float32); ok {
		channelAffine(x32, any(y).([]float32), b.outer, b.c, b.inner, any(b.scale).([]float32), any(b.shift).([]float32), b.ReLU)
		return
	}
	b.walk(func(c, off int) {
		s, t := b.scale[c], b.shift[c]
		ys := y[off : off+b.inner]
		for i, v := range x[off : off+b.inner] {
			ys[i] = v*s + t
			if b.ReLU {
				ys[i] = max(ys[i], 0)
			}
		}
	})
}

// gradSums sets b.sum and b.sq to Σg and Σg·(x−mean_c) per channel, where
// g is dy, or, when y is not nil, dy zeroed where y ≤ 0, written to g.
func (b *BatchNorm[T]) gradSums(x, y, dy, g, mean []T) {
	clear(b.sum)
	clear(b.sq)
	if x32, ok := any(x).([]float32); ok {
		var y32, g32 []float32
		if y != nil {
			y32, g32 = any(y).([]float32), any(g).([]float32)
		}
		channelGradSums(x32, y32, any(dy).([]float32), g32, b.outer, b.c, b.inner, any(mean).([]float32), b.sum, b.sq)
		return
	}
	b.walk(func(c, off int) {
		var s1, s2 float64
		for i := off; i < off+b.inner; i++ {
			v := dy[i]
			if y != nil {
				if !(y[i] > 0) {
					v = 0
				}
				g[i] = v
			}
			s1 += float64(v)
			s2 += float64(v * (x[i] - mean[c]))
		}
		b.sum[c] += s1
		b.sq[c] += s2
	})
}

// gradInput sets dx = scale_c·g + shift_c·(x−mean_c) + d_c; dx may be g.
func (b *BatchNorm[T]) gradInput(x, g, dx, mean []T) {
	if x32, ok := any(x).([]float32); ok {
		channelGradInput(x32, any(g).([]float32), any(dx).([]float32), b.outer, b.c, b.inner, any(mean).([]float32),
			any(b.scale).([]float32), any(b.shift).([]float32), any(b.d).([]float32))
		return
	}
	b.walk(func(c, off int) {
		a, bb, d, mu := b.scale[c], b.shift[c], b.d[c], mean[c]
		for i := off; i < off+b.inner; i++ {
			dx[i] = a*g[i] + bb*(x[i]-mu) + d
		}
	})
}

// walk calls f for each run of inner elements of one channel, with the
// channel and the run's offset.
func (b *BatchNorm[T]) walk(f func(c, off int)) {
	for o := range b.outer {
		for c := range b.c {
			f(c, (o*b.c+c)*b.inner)
		}
	}
}
