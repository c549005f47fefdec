package train

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/detection"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// centerNetLoss is CenterNet's training loss (detection.Loss) on a
// detection head's output [N, K+4, H, W], against targets drawn from each
// image's objects before each run (Net.SetObjects); it computes the
// output's gradient in the same pass. The loss runs in float32, so a
// float64 net's loss is float32-exact only.
type centerNetLoss[T Float] struct {
	opBase
	l         *detection.Loss
	out, grad []float32 // the output and its gradient in float32
	loss      float64
	dlogits   buffer[T]
}

func lowerCenterNetLoss[T Float](out *G.Node, classes, stride int) (*centerNetLoss[T], *G.Node, error) {
	s := out.Shape()
	if len(s) != 4 || s[1] != classes+4 {
		return nil, nil, fmt.Errorf("a CenterNet head of %d classes outputs [N %d H W] (heatmap, size, offset), found [%v]", classes, classes+4, s)
	}
	op := &centerNetLoss[T]{opBase: newBase("CenterNetLoss", "loss", tensor.ScalarShape(), 4), l: detection.NewLoss(classes, s[0], s[2], s[3], stride),
		out: make([]float32, s.TotalSize()), grad: make([]float32, s.TotalSize()), dlogits: newBuffer[T](s)}
	loss, err := apply(op, out)
	return op, loss, err
}

func (o *centerNetLoss[T]) Do(inputs ...G.Value) (G.Value, error) {
	v, err := values[T](&o.opBase, inputs)
	if err != nil {
		return nil, err
	}
	for i, x := range v[0] {
		o.out[i] = float32(x)
	}
	o.loss = o.l.Compute(o.out, o.grad)
	for i, g := range o.grad {
		o.dlogits.data[i] = T(g)
	}
	if dtypeOf[T]() == tensor.Float64 {
		return G.NewF64(o.loss), nil
	}
	return G.NewF32(float32(o.loss)), nil
}

func (o *centerNetLoss[T]) DiffWRT(int) []bool { return []bool{true} }

func (o *centerNetLoss[T]) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	s := inputs[0].Shape()
	dx, err := apply(&crossEntropyGrad[T]{opBase: newBase("CenterNetLossGrad", "loss", s, 0), dlogits: &o.dlogits, dx: newOutput[T](s)}, grad)
	return G.Nodes{dx}, err
}

// SetObjects draws the targets of the next run of a detection training
// net (LowerOptions.Detect) from objects, objects[i] those of image i.
func (n *Net[T]) SetObjects(objects [][]detection.Object) error {
	if n.detect == nil {
		return fmt.Errorf("objects set on a net without a detection loss")
	}
	_, err := n.detect.l.Draw(objects)
	return err
}

// ObjectCount returns the number of objects the targets of the next (or
// last) run were drawn from, for weighting replicas that share a batch;
// 0 in nets without a detection loss.
func (n *Net[T]) ObjectCount() int {
	if n.detect == nil {
		return 0
	}
	return n.detect.l.Objects()
}
