package train

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/train/kernel"
	G "gorgonia.org/gorgonia"
)

// backprop adds to loss's graph the gradient of loss with respect to each
// of params, built from the ops' own SymDiff, and returns the gradient
// nodes in params' order. It does what Gorgonia's Grad does, except that
// a value used by several ops gets its gradient contributions summed by
// an op of ours (gradSum): Gorgonia's Grad sums them with Gorgonia's own
// Add, which writes into whatever value its register held last, and that
// may be a buffer the memory plan (memplan.go) has handed to another op.
func backprop[T Float](loss *G.Node, params []*G.Node, seed *G.Node) ([]*G.Node, error) {
	order, err := G.Sort(loss.Graph()) // consumers before their inputs
	if err != nil {
		return nil, err
	}
	// needed: the nodes on a path from a parameter, whose gradients the
	// parameters' gradients depend on.
	needed := map[*G.Node]bool{}
	for _, p := range params {
		needed[p] = true
	}
	for i := len(order) - 1; i >= 0; i-- {
		n := order[i]
		if op, ok := n.Op().(engineOp); ok {
			for _, in := range op.base().inputs {
				needed[n] = needed[n] || needed[in]
			}
		}
	}
	contribs := map[*G.Node][]*G.Node{loss: {seed}}
	grads := map[*G.Node]*G.Node{}
	for _, n := range order {
		cs := contribs[n]
		if len(cs) == 0 || !needed[n] {
			continue
		}
		grad := cs[0]
		if len(cs) > 1 {
			if grad, err = apply(&gradSum[T]{opBase: newBase("GradSum", n.Name(), grad.Shape(), repeatDims(len(grad.Shape()), len(cs))...),
				y: newOutput[T](grad.Shape())}, cs...); err != nil {
				return nil, fmt.Errorf("summing the gradients of %s: %w", n.Name(), err)
			}
		}
		grads[n] = grad
		if n.Op() == nil {
			continue // an input or a parameter
		}
		op, ok := n.Op().(interface {
			engineOp
			G.SDOp
		})
		if !ok {
			return nil, fmt.Errorf("node %s: op %v has no gradient in the training engine", n.Name(), n.Op())
		}
		inputs := op.base().inputs
		wrt := op.DiffWRT(len(inputs))
		gs, err := op.SymDiff(inputs, n, grad)
		if err != nil {
			return nil, fmt.Errorf("gradient of %s: %w", op, err)
		}
		for i, in := range inputs {
			if i < len(gs) && gs[i] != nil && wrt[i] && needed[in] {
				contribs[in] = append(contribs[in], gs[i])
			}
		}
	}
	out := make([]*G.Node, len(params))
	for i, p := range params {
		if out[i] = grads[p]; out[i] == nil {
			return nil, fmt.Errorf("parameter %s does not affect the loss", p.Name())
		}
	}
	return out, nil
}

func repeatDims(dims, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = dims
	}
	return out
}

// gradSum adds the gradient contributions of a value several ops read.
type gradSum[T Float] struct {
	opBase
	y buffer[T]
}

func (o *gradSum[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	kernel.Add(v[0], v[1], o.y.data)
	for _, more := range v[2:] {
		kernel.Add(o.y.data, more, o.y.data)
	}
	return o.y.t, nil
}
