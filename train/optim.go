package train

import (
	"fmt"
	"math"
)

// NAG is stochastic gradient descent with Nesterov momentum and L2 weight
// decay, the paper's optimiser, in the formulation PyTorch's SGD
// (nesterov=True) and ONNX's Momentum operator (mode "nesterov", beta 1)
// share:
//
//	g ← g + wd·w            (only where the parameter's decay mask is set)
//	v ← μ·v + g
//	w ← w − lr·(g + μ·v)
//
// Weight decay enters as an L2 term of the gradient, so with momentum it
// shrinks the weights, not the velocity.
type NAG struct {
	Momentum    float64
	WeightDecay float64
	// velocity holds one buffer per parameter, the optimiser's state.
	velocity [][]float32
}

// NewNAG makes an optimiser for parameters of the given sizes, with zero
// velocity.
func NewNAG(momentum, weightDecay float64, sizes []int) *NAG {
	o := &NAG{Momentum: momentum, WeightDecay: weightDecay, velocity: make([][]float32, len(sizes))}
	for i, n := range sizes {
		o.velocity[i] = make([]float32, n)
	}
	return o
}

// Velocity returns the optimiser's state, one slice per parameter, for
// checkpoints; writing into it restores a saved state.
func (o *NAG) Velocity() [][]float32 { return o.velocity }

// Step updates each parameter in place from its gradient with learning
// rate lr·mult[i]; decay[i] says whether parameter i gets weight decay.
// A multiplier of 0 freezes the parameter: neither it nor its velocity
// changes. mult may be nil, meaning 1 for all. grads are left unchanged.
func (o *NAG) Step(lr float64, params, grads [][]float32, decay []bool, mult []float64) error {
	if err := checkStep("NAG", len(o.velocity), params, grads, decay, mult); err != nil {
		return err
	}
	mu := float32(o.Momentum)
	for i, w := range params {
		g, v := grads[i], o.velocity[i]
		if len(w) != len(v) || len(g) != len(v) {
			return fmt.Errorf("NAG step: parameter %d has %d values and gradient %d, expected %d", i, len(w), len(g), len(v))
		}
		m := multiplier(mult, i)
		if m == 0 {
			continue
		}
		lr32 := float32(lr * m)
		wd := float32(0)
		if decay[i] {
			wd = float32(o.WeightDecay)
		}
		for j := range w {
			gj := g[j] + wd*w[j]
			v[j] = mu*v[j] + gj
			w[j] -= lr32 * (gj + mu*v[j])
		}
	}
	return nil
}

// checkStep checks that a step gets one parameter, gradient, decay flag
// and (unless mult is nil) learning-rate multiplier per optimiser state.
func checkStep(name string, n int, params, grads [][]float32, decay []bool, mult []float64) error {
	if len(params) != n || len(grads) != n || len(decay) != n || (mult != nil && len(mult) != n) {
		return fmt.Errorf("%s step: expected %d parameters, gradients, decay flags and learning-rate multipliers (or none), found %d, %d, %d, %d",
			name, n, len(params), len(grads), len(decay), len(mult))
	}
	return nil
}

// multiplier returns parameter i's learning-rate multiplier: mult[i], or
// 1 when mult is nil.
func multiplier(mult []float64, i int) float64 {
	if mult == nil {
		return 1
	}
	return mult[i]
}

// Optimizer updates parameters from their gradients.
type Optimizer interface {
	// Step updates params in place with learning rate lr·mult[i] for
	// parameter i (mult nil: 1 for all; 0 freezes the parameter and its
	// state), weight decay where decay[i] is set.
	Step(lr float64, params, grads [][]float32, decay []bool, mult []float64) error
	// Velocity returns the state to checkpoint, one slice per parameter.
	Velocity() [][]float32
}

// LARS is layer-wise adaptive rate scaling (You, Gitman and Ginsburg 2017)
// on top of momentum, for very large batches. Each parameter tensor of
// rank > 1 gets its own rate, lr·η·‖w‖ / (‖∇w‖ + wd·‖w‖) (η the trust
// coefficient; 1 when a norm is 0); rank-1 tensors (biases, BatchNorm γ
// and β) keep lr, as common practice has it:
//
//	v ← μ·v + local_lr·(g + wd·w)
//	w ← w − v
type LARS struct {
	Momentum    float64
	WeightDecay float64
	Trust       float64
	ranks       []int
	velocity    [][]float32
}

// NewLARS makes a LARS optimiser for parameters of the given sizes and
// ranks.
func NewLARS(momentum, weightDecay, trust float64, sizes, ranks []int) *LARS {
	o := &LARS{Momentum: momentum, WeightDecay: weightDecay, Trust: trust, ranks: ranks, velocity: make([][]float32, len(sizes))}
	for i, n := range sizes {
		o.velocity[i] = make([]float32, n)
	}
	return o
}

// Velocity returns the optimiser's state for checkpoints.
func (o *LARS) Velocity() [][]float32 { return o.velocity }

// Step updates each parameter in place, parameter i with base rate
// lr·mult[i] (mult nil: lr); a multiplier of 0 freezes the parameter and
// its velocity.
func (o *LARS) Step(lr float64, params, grads [][]float32, decay []bool, mult []float64) error {
	if err := checkStep("LARS", len(o.velocity), params, grads, decay, mult); err != nil {
		return err
	}
	for i, w := range params {
		g, v := grads[i], o.velocity[i]
		m := multiplier(mult, i)
		if m == 0 {
			continue
		}
		wd := 0.0
		if decay[i] {
			wd = o.WeightDecay
		}
		local := lr * m
		if o.ranks[i] > 1 {
			var ww, gg float64
			for j := range w {
				ww += float64(w[j]) * float64(w[j])
				gg += float64(g[j]) * float64(g[j])
			}
			wn, gn := math.Sqrt(ww), math.Sqrt(gg)
			if wn > 0 && gn > 0 {
				local = lr * m * o.Trust * wn / (gn + wd*wn)
			}
		}
		mu, l, wd32 := float32(o.Momentum), float32(local), float32(wd)
		for j := range w {
			v[j] = mu*v[j] + l*(g[j]+wd32*w[j])
			w[j] -= v[j]
		}
	}
	return nil
}
