package train

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/eval"
)

// evalNet is an evaluation net as package eval runs it (eval.Model): the
// trainer's test figures and ONNX Runtime's come out of the same loop.
type evalNet struct{ net *Net[float32] }

// Batch returns the net's batch size, fixed when it was lowered.
func (e evalNet) Batch() int { return e.net.Batch }

// Run runs the net on a whole batch of images and returns its logits,
// [batch, classes] or per pixel [batch, classes, H, W].
func (e evalNet) Run(images []float32, shape []int64) (eval.Output, error) {
	in := e.net.Input()
	if len(images) != len(in) {
		return eval.Output{}, fmt.Errorf("evaluation net: %d input values for images %v; it takes %d", len(images), shape, len(in))
	}
	copy(in, images)
	if err := e.net.Run(); err != nil {
		return eval.Output{}, err
	}
	out := eval.Output{Data: e.net.Logits()}
	for _, d := range e.net.logits.Shape() {
		out.Shape = append(out.Shape, int64(d))
	}
	return out, nil
}
