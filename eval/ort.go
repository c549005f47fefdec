package eval

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/ort"
)

// ORT is a model run by ONNX Runtime, as Run runs it: images go to the
// session's one input and Output picks which of its outputs is scored.
type ORT struct {
	Session *ort.Session
	Output  int
}

// Batch returns the fixed batch size of the session's input, or 0 for a
// dynamic one.
func (m ORT) Batch() int {
	if ins := m.Session.Inputs(); len(ins) == 1 && len(ins[0].Shape) > 0 {
		return int(max(ins[0].Shape[0], 0))
	}
	return 0
}

// Run runs the session on the images and returns output m.Output.
func (m ORT) Run(images []float32, shape []int64) (Output, error) {
	outs, err := m.Session.Run(ort.Tensor{Shape: shape, Data: images})
	if err != nil {
		return Output{}, err
	}
	if m.Output < 0 || m.Output >= len(outs) {
		return Output{}, fmt.Errorf("eval: output %d of a model with %d outputs", m.Output, len(outs))
	}
	o := outs[m.Output]
	if o.Ints != nil {
		return Output{}, fmt.Errorf("eval: output %d is of int64 values; a metric reads float values", m.Output)
	}
	return Output{Shape: o.Shape, Data: o.Data}, nil
}

// Runtime says where and how fast an evaluation in ONNX Runtime ran, as
// the results of eval/classifier and eval/detector report it.
type Runtime struct {
	Provider string `json:"provider"`
	Fallback string `json:"fallback,omitempty"`
	Batch    int    `json:"batch"`
	// ImagesPerSecond counts ONNX Runtime's time only; Seconds is the
	// whole evaluation, data loading included.
	ImagesPerSecond float64 `json:"images_per_second"`
	Seconds         float64 `json:"seconds"`
}

// NewRuntime starts the Runtime of an evaluation by sess.
func NewRuntime(sess *ort.Session) Runtime {
	return Runtime{Provider: string(sess.Provider()), Fallback: sess.Fallback()}
}

// Measured sets the speed from Run's stats.
func (r *Runtime) Measured(st Stats) {
	r.ImagesPerSecond, r.Seconds = float64(st.Images)/st.Inference.Seconds(), st.Elapsed.Seconds()
}

// String is the line the results print: "ONNX Runtime on cpu, batch 32:
// 214.0 images/s (inference alone), 1.0 s in all".
func (r Runtime) String() string {
	return fmt.Sprintf("ONNX Runtime on %s, batch %d: %.1f images/s (inference alone), %.1f s in all", r.Provider, r.Batch, r.ImagesPerSecond, r.Seconds)
}
