package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// PredictOptions are a run of a model on seeded random input, as Predict
// times it.
type PredictOptions struct {
	// Shape is the input's shape; nil means the model's, with each dynamic
	// size 1. It must have the model's rank, positive sizes, and the
	// model's fixed sizes where it has them.
	Shape []int64
	// Seed draws the input's standard normal values.
	Seed uint64
	// Runs are the timed runs after one warm-up run.
	Runs int
	// Against, when set, is a session of the same model on another
	// provider, run once on the same input: each output's largest
	// difference from it is reported (a GPU provider checked against the
	// CPU's).
	Against *ort.Session
}

// Prediction is a model run on seeded random input: its input and output
// shapes, the provider it ran on, its latency and its first output
// values. Its JSON form is what `bot-onnx predict --json` prints.
type Prediction struct {
	Model string `json:"model"`
	// Provider is the execution provider the session runs on; Fallback
	// says why auto did not give CUDA.
	Provider    string  `json:"provider"`
	Fallback    string  `json:"fallback,omitempty"`
	InputName   string  `json:"input_name"`
	InputShape  []int64 `json:"input_shape"`
	OutputName  string  `json:"output_name"`
	OutputShape []int64 `json:"output_shape"`
	Runs        int     `json:"runs"`
	// LatencyMS is the median of LatenciesMS, the timed runs in order;
	// ImagesPerSecond is the batch (the input's first size) over it.
	LatencyMS       float64   `json:"latency_ms_median"`
	ImagesPerSecond float64   `json:"images_per_second"`
	LatenciesMS     []float64 `json:"latencies_ms"`
	// FirstValues are the first output's first five values, to tell
	// models (or providers) apart at a glance.
	FirstValues []float32 `json:"first_values"`
	// Outputs are every output, in the model's order: a backbone's c2 …
	// c5, where OutputName, OutputShape and FirstValues give the first.
	Outputs []PredictedOutput `json:"outputs"`
	// Against is the provider of PredictOptions.Against, and
	// MaxAbsDiff the largest difference of any output from it.
	Against    string   `json:"against,omitempty"`
	MaxAbsDiff *float64 `json:"max_abs_diff,omitempty"`
}

// PredictedOutput is one output of a Prediction, with its largest
// difference from the same output on PredictOptions.Against's provider.
type PredictedOutput struct {
	Name        string    `json:"name"`
	Shape       []int64   `json:"shape"`
	FirstValues []float32 `json:"first_values"`
	MaxAbsDiff  *float64  `json:"max_abs_diff,omitempty"`
}

// Predict runs the model sess runs (loaded from path), which must take one
// float input, on seeded random input of o.Shape: one warm-up run, then
// o.Runs timed ones. Refused options come back as *train.FieldError naming
// the PredictOptions field.
func Predict(sess *ort.Session, path string, o PredictOptions) (*Prediction, error) {
	if o.Runs < 1 {
		return nil, &train.FieldError{Field: "Runs", Value: o.Runs, Want: "a positive count"}
	}
	ins, outs := sess.Inputs(), sess.Outputs()
	if len(ins) != 1 {
		return nil, fmt.Errorf("%s: predict feeds models with one input, found %d", path, len(ins))
	}
	in := ins[0]
	if in.ElementType != "float" {
		return nil, fmt.Errorf("%s: input %q has element type %s, predict feeds float", path, in.Name, in.ElementType)
	}
	shape := make([]int64, len(in.Shape))
	for i, d := range in.Shape {
		shape[i] = max(d, 1)
	}
	if o.Shape != nil {
		if err := checkShape(o.Shape, in, shapeText(shape)); err != nil {
			return nil, err
		}
		shape = o.Shape
	}
	elements := 1.0
	for _, d := range shape {
		elements *= float64(d)
	}
	// The input, and ONNX Runtime's first activations of at least its size.
	if err := train.CheckRoom("Shape", shapeText(shape), 2*4*elements, "input tensor"); err != nil {
		return nil, err
	}
	p := &Prediction{Model: path, Provider: string(sess.Provider()), Fallback: sess.Fallback(),
		InputName: in.Name, InputShape: shape, OutputName: outs[0].Name, Runs: o.Runs}
	input := ort.RandomInput(shape, o.Seed)
	tm, err := sess.Time(input, 1, o.Runs)
	if err != nil {
		return nil, err
	}
	var against []ort.Tensor
	if o.Against != nil {
		if against, err = o.Against.Run(input); err != nil {
			return nil, fmt.Errorf("%s on %s: %w", path, o.Against.Provider(), err)
		}
		p.Against, p.MaxAbsDiff = string(o.Against.Provider()), new(float64)
	}
	for i, y := range tm.Outputs {
		out := PredictedOutput{Name: outs[i].Name, Shape: y.Shape, FirstValues: y.Data[:min(5, len(y.Data))]}
		if against != nil {
			d := maxAbsDiff(y, against[i])
			out.MaxAbsDiff = &d
			*p.MaxAbsDiff = math.Max(*p.MaxAbsDiff, d)
		}
		p.Outputs = append(p.Outputs, out)
	}
	p.OutputShape, p.FirstValues = p.Outputs[0].Shape, p.Outputs[0].FirstValues
	p.LatenciesMS, p.LatencyMS = tm.Milliseconds(), tm.MedianMilliseconds()
	if p.LatencyMS > 0 && len(shape) > 0 {
		p.ImagesPerSecond = float64(shape[0]) / (p.LatencyMS / 1000)
	}
	return p, nil
}

// maxAbsDiff is the largest difference between two outputs of one shape,
// +Inf when their shapes or types differ.
func maxAbsDiff(a, b ort.Tensor) float64 {
	if !slices.Equal(a.Shape, b.Shape) || len(a.Data) != len(b.Data) || len(a.Ints) != len(b.Ints) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a.Data {
		worst = math.Max(worst, math.Abs(float64(a.Data[i])-float64(b.Data[i])))
	}
	for i := range a.Ints {
		worst = math.Max(worst, math.Abs(float64(a.Ints[i]-b.Ints[i])))
	}
	return worst
}

// checkShape refuses a shape that does not fit the model's input in: its
// rank, positive sizes, and in's fixed sizes. example is the shape the
// model takes by default, for the message.
func checkShape(shape []int64, in ort.ValueInfo, example string) error {
	if len(shape) != len(in.Shape) {
		return &train.FieldError{Field: "Shape", Value: shapeText(shape),
			Want: fmt.Sprintf("%d sizes like %s, found %d", len(in.Shape), example, len(shape))}
	}
	for i, d := range in.Shape {
		switch {
		case shape[i] < 1:
			return &train.FieldError{Field: "Shape", Value: shapeText(shape), Want: "positive sizes like " + example}
		case d > 0 && shape[i] != d:
			return &train.FieldError{Field: "Shape", Value: shapeText(shape),
				Want: fmt.Sprintf("the fixed size %d in dimension %d of the model's input %q, found %d", d, i, in.Name, shape[i])}
		}
	}
	return nil
}

// shapeText writes a shape as the command line takes it: 1x3x224x224.
func shapeText(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, "x")
}

// WriteText writes the prediction as `bot-onnx predict` prints it for a
// person to read: the model, provider, input and output shapes and
// latency on one line (every output's shape), the first output's first
// values on the next; it returns the error
// of writing to w.
func (p *Prediction) WriteText(w io.Writer) error {
	outputs := fmt.Sprintf("%s %v", p.OutputName, p.OutputShape)
	for _, o := range p.Outputs[min(1, len(p.Outputs)):] {
		outputs += fmt.Sprintf(", %s %v", o.Name, o.Shape)
	}
	_, err := fmt.Fprintf(w, "%s on %s: %s %v → %s, median latency %.2f ms over %d runs (%.1f images/s)\nfirst values: %v\n",
		p.Model, p.Provider, p.InputName, p.InputShape, outputs, p.LatencyMS, p.Runs, p.ImagesPerSecond, p.FirstValues)
	if err == nil && p.MaxAbsDiff != nil {
		_, err = fmt.Fprintf(w, "against %s: largest output difference %.3g\n", p.Against, *p.MaxAbsDiff)
	}
	return err
}
