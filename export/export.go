// Package export turns a trained ResNet (a `train` run's model.onnx, or any
// ResNet ONNX graph with BatchNormalization nodes) into the ONNX file a
// consumer takes as it is: a classifier (`input` → `logits`, optionally
// `probabilities`) or a backbone whose outputs are the stage ends a
// feature pyramid or FCN head reads, with BatchNorm optionally folded into
// the convolutions, weights and activations optionally in float16, a chosen
// opset, batch and input size, and metadata saying how to feed it.
//
// Every export is checked before it is written: it passes graph.Validate,
// loads in ONNX Runtime, and on seeded random input its outputs match the
// source model's, run in ONNX Runtime too (see Verify). A failing check
// leaves no file behind.
package export

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
)

// Head is what the exported model ends in.
type Head string

const (
	// Classifier keeps the whole network: `input` → `logits`.
	Classifier Head = "classifier"
	// Backbone ("none" on the command line) drops the pool and the
	// classifier and ends in the chosen stages' feature maps.
	Backbone Head = "none"
)

// Options say what to export. The zero value exports a float32 classifier
// with a dynamic batch at the source's input size and opset.
type Options struct {
	// Head is Classifier (the default when empty) or Backbone.
	Head Head
	// Softmax adds a `probabilities` output (softmax of the logits) to a
	// classifier.
	Softmax bool
	// Features names the stages a backbone outputs (see Stages); empty means
	// all of them.
	Features []string
	// FoldBN folds each BatchNormalization that directly follows a Conv
	// into that Conv's weight and bias.
	FoldBN bool
	// FP16 stores weights and computes activations in float16; the model's
	// input and outputs stay float32, with Cast nodes at the borders, unless
	// FP16IO is set too.
	FP16, FP16IO bool
	// Opset is the default-domain opset to declare (graph.MinOpset to
	// graph.MaxOpset); 0 keeps the source's.
	Opset int64
	// Batch fixes the batch size; 0 keeps it dynamic (a symbolic "batch").
	Batch int64
	// InputSize fixes the input's height and width; nil keeps the source's.
	// DynamicSize makes them symbolic ("height", "width") instead.
	InputSize   []int64
	DynamicSize bool
	// ProducerVersion is written as the model's producer_version (the
	// bot-onnx version).
	ProducerVersion string
	// Seed draws the verification input.
	Seed uint64
	// Runtime loads ONNX Runtime for verification. The export runs on its
	// Provider (empty or auto: the CPU), the source model always on the
	// CPU, so that a GPU provider is checked against the CPU's results.
	Runtime ort.Options
}

// Result says what an export produced and how it was verified.
type Result struct {
	// Source is the model file exported, as FromPath was given it; ""
	// when File exported a model in memory.
	Source string `json:"source,omitempty"`
	Output string `json:"output"`
	Head   Head   `json:"head"`
	// Inputs and Outputs declare the exported model's values.
	Inputs  []Value `json:"inputs"`
	Outputs []Value `json:"outputs"`
	// Features are the stages a backbone outputs, in order.
	Features []Stage `json:"features,omitempty"`
	// Fold reports BatchNorm folding (with FoldBN).
	Fold  *FoldReport `json:"fold_bn,omitempty"`
	Opset int64       `json:"opset"`
	FP16  bool        `json:"fp16"`
	// Verified holds the parity check, one entry per output.
	Verified Verification `json:"verified"`
	// Bytes is the size of the written file.
	Bytes int `json:"bytes"`
}

// Value describes a graph input or output: name, element type and shape
// ("batch×3×224×224").
type Value struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape string `json:"shape"`
}

// File exports src into the file out. It builds the export in memory
// (Build), writes it to a temporary file beside out, verifies that file
// (Verify), and only then renames it to out; on any failure out is left
// as it was and the temporary file is removed.
func File(src *graph.Model, out string, opts Options) (*Result, error) {
	m, res, err := Build(src, opts)
	if err != nil {
		return nil, err
	}
	res.Output = out
	data, err := m.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", out, err)
	}
	res.Bytes = len(data)
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	tmpName := tmp.Name()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpName)
		}
	}()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	if res.Verified, err = Verify(src, m, tmpName, res.Features, opts); err != nil {
		return nil, fmt.Errorf("%s not written: %w", out, err)
	}
	if err := os.Rename(tmpName, out); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	done = true
	return res, nil
}

// Build makes the exported model from src, which it leaves untouched and
// which must pass graph.Validate: the head (classifier or backbone), BatchNorm folding, the input's batch
// and size, float16, the opset, the declared outputs and the metadata, in
// that order, and checks the result with graph.Validate.
func Build(src *graph.Model, opts Options) (*graph.Model, *Result, error) {
	if err := opts.check(); err != nil {
		return nil, nil, err
	}
	m := src.Clone()
	g := m.GetGraph()
	if err := graph.Validate(m); err != nil {
		return nil, nil, fmt.Errorf("the source model: %w", err)
	}
	if err := normalize(m); err != nil {
		return nil, nil, err
	}
	res := &Result{Head: opts.head(), FP16: opts.FP16}
	var err error
	if res.Head == Backbone {
		res.Features, err = cutBackbone(m, opts.Features)
	} else {
		err = classifierHead(m, opts.Softmax)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := graph.Clean(g); err != nil {
		return nil, nil, err
	}
	if opts.FoldBN {
		fold, err := FoldBatchNorm(m)
		if err != nil {
			return nil, nil, err
		}
		res.Fold = &fold
	}
	if err := setInputShape(m, opts); err != nil {
		return nil, nil, err
	}
	if opts.FP16 {
		if err := ToFloat16(m); err != nil {
			return nil, nil, err
		}
		if !opts.FP16IO {
			float32Borders(m)
		}
	}
	if err := setOpset(m, opts.Opset); err != nil {
		return nil, nil, err
	}
	if err := declareOutputs(m, res.Features); err != nil {
		return nil, nil, err
	}
	if err := graph.Clean(g); err != nil {
		return nil, nil, err
	}
	setMetadata(m, opts, res)
	if err := graph.Validate(m); err != nil {
		return nil, nil, fmt.Errorf("the exported model is invalid (a bug in bot-onnx, please report it): %w", err)
	}
	res.Opset = m.Opset()
	res.Inputs, res.Outputs = describe(g.GetInput()), describe(g.GetOutput())
	return m, res, nil
}

// head returns the head asked for, Classifier by default.
func (o Options) head() Head {
	if o.Head == "" {
		return Classifier
	}
	return o.Head
}

// check refuses option combinations that mean nothing, so that no option
// is silently ignored.
func (o Options) check() error {
	switch {
	case o.head() != Classifier && o.head() != Backbone:
		return fmt.Errorf("unknown head %q: expected %s or %s", o.Head, Classifier, Backbone)
	case o.Softmax && o.head() == Backbone:
		return fmt.Errorf("softmax needs the classifier head: a backbone (head %s) has no logits", Backbone)
	case len(o.Features) > 0 && o.head() == Classifier:
		return fmt.Errorf("features are the outputs of a backbone: use head %s with them", Backbone)
	case o.FP16IO && !o.FP16:
		return fmt.Errorf("float16 inputs and outputs need fp16")
	case o.Opset != 0 && (o.Opset < graph.MinOpset || o.Opset > graph.MaxOpset):
		return fmt.Errorf("opset %d is outside the %d..%d bot-onnx supports", o.Opset, graph.MinOpset, graph.MaxOpset)
	case o.Batch < 0:
		return fmt.Errorf("batch must be positive (or 0 for a dynamic batch), found %d", o.Batch)
	case o.DynamicSize && o.InputSize != nil:
		return fmt.Errorf("expected a fixed input size or a dynamic one, not both")
	case o.InputSize != nil && (len(o.InputSize) != 2 || o.InputSize[0] < 1 || o.InputSize[1] < 1):
		return fmt.Errorf("input size: expected a positive height and width, found %v", o.InputSize)
	}
	seen := map[string]bool{}
	for _, f := range o.Features {
		if seen[f] {
			return fmt.Errorf("feature %q is listed twice", f)
		}
		seen[f] = true
	}
	return nil
}

// describe lists values for Result.
func describe(vs []*onnx.ValueInfoProto) []Value {
	out := make([]Value, len(vs))
	for i, v := range vs {
		s, elem, ok := graph.ShapeOf(v)
		out[i] = Value{Name: v.GetName(), Type: elemName(elem), Shape: "?"}
		if ok {
			out[i].Shape = s.String()
		}
	}
	return out
}

// elemName is ONNX's name of an element type in lower case: "float",
// "float16".
func elemName(elem int32) string {
	return strings.ToLower(onnx.TensorProto_DataType(elem).String())
}
