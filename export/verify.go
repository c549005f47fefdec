package export

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
)

// The parity bounds an export must meet against its source on the
// verification input, per output: a float32 export within Float32Bound of
// the source in every element, or within Float32Bound times the largest
// magnitude of the source's value where that exceeds 1 (float32 resolves
// 6e-8 relative, and folding BatchNorm re-rounds every convolution: on
// torchvision's resnet18 with random weights, stage outputs up to 78 differ
// by up to 7e-5 after folding); a float16 one within Float16Relative times
// that largest magnitude (float16 keeps 11 significant bits and rounds
// every activation on the way; ResNet-20 and ResNet-50 exports measured
// 4e-4 to 2e-3 of it).
const (
	Float32Bound    = 1e-4
	Float16Relative = 1e-2
)

// verifyBatch is the batch of the verification input for a dynamic batch,
// and verifySize its height and width when neither the export nor the
// source fixes them.
const (
	verifyBatch = 2
	verifySize  = 224
)

// Verification is the parity check of an export against its source.
type Verification struct {
	// InputShape is the shape of the seeded standard-normal input both ran on.
	InputShape []int64 `json:"input_shape"`
	Seed       uint64  `json:"seed"`
	// Provider is where the export ran (the source ran on the CPU).
	Provider string   `json:"provider,omitempty"`
	Outputs  []Parity `json:"outputs"`
}

// Parity compares one output of the export with the same value of the source.
type Parity struct {
	Output     string  `json:"output"`
	MaxAbsDiff float64 `json:"max_abs_diff"`
	// MaxAbsRef is the largest magnitude of the source's value.
	MaxAbsRef float64 `json:"max_abs_ref"`
	// Bound is the largest MaxAbsDiff allowed.
	Bound float64 `json:"bound"`
}

// Verify checks the export m, written at path, against its source: the
// file must load in ONNX Runtime (on opts.Runtime.Provider, the CPU by
// default; the source always runs on the CPU), and on seeded random input
// each of its outputs must match the source model's value, run in ONNX
// Runtime too, within the parity bounds. The source's value is its output
// for logits, the softmax of that for probabilities, and the stage's block
// output for a feature. A float16-input export is run through a copy with
// float32 Cast borders, which compute exactly what a caller converting its
// input to float16 gets.
func Verify(src, m *graph.Model, path string, features []Stage, opts Options) (Verification, error) {
	ropts := opts.Runtime
	if ropts.Provider == "" || ropts.Provider == ort.ProviderAuto {
		ropts.Provider = ort.ProviderCPU
	}
	sess, err := ort.NewSession(path, ropts)
	if err != nil {
		return Verification{}, fmt.Errorf("ONNX Runtime cannot load the export: %w", err)
	}
	if opts.FP16IO {
		sess.Close()
		bordered := m.Clone()
		float32Borders(bordered)
		data, err := bordered.Encode()
		if err != nil {
			return Verification{}, err
		}
		if sess, err = ort.NewSessionFromBytes(data, ropts); err != nil {
			return Verification{}, fmt.Errorf("ONNX Runtime cannot load the export with float32 borders: %w", err)
		}
	}
	defer sess.Close()

	var values []string
	for _, f := range features {
		values = append(values, f.Value)
	}
	if len(features) == 0 {
		values = []string{src.GetGraph().GetOutput()[0].GetName()}
	}
	refBytes, err := reference(src, values)
	if err != nil {
		return Verification{}, err
	}
	cpu := ropts
	cpu.Provider, cpu.ProviderOptions = ort.ProviderCPU, nil
	ref, err := ort.NewSessionFromBytes(refBytes, cpu)
	if err != nil {
		return Verification{}, fmt.Errorf("ONNX Runtime cannot load the source model: %w", err)
	}
	defer ref.Close()

	v := Verification{InputShape: verifyShape(src, m), Seed: opts.Seed, Provider: string(sess.Provider())}
	x := randomInput(v.InputShape, opts.Seed)
	got, err := sess.Run(x)
	if err != nil {
		return v, fmt.Errorf("running the export: %w", err)
	}
	want, err := ref.Run(x)
	if err != nil {
		return v, fmt.Errorf("running the source model: %w", err)
	}
	for i, info := range sess.Outputs() {
		w := want[0]
		switch {
		case len(features) > 0:
			w = want[i]
		case info.Name == ProbabilitiesName:
			w = softmax(want[0])
		}
		p, err := compare(info.Name, got[i], w, opts.FP16)
		if err != nil {
			return v, err
		}
		v.Outputs = append(v.Outputs, p)
		if !(p.MaxAbsDiff <= p.Bound) {
			return v, fmt.Errorf("parity check failed: output %q differs from the source by max |diff| %.3g, above the bound %.3g (max |source| %.3g, input %v, seed %d)",
				p.Output, p.MaxAbsDiff, p.Bound, p.MaxAbsRef, v.InputShape, v.Seed)
		}
	}
	return v, nil
}

// reference serializes the source model with the given values as its
// outputs and a fully dynamic input, sharing the source's nodes and
// weights (nothing is copied or changed).
func reference(src *graph.Model, values []string) ([]byte, error) {
	g := src.GetGraph()
	in, err := dataInput(g)
	if err != nil {
		return nil, err
	}
	s, _, _ := graph.ShapeOf(in)
	dynamic := graph.Shape{{Param: "batch"}, s[1], {Param: "height"}, {Param: "width"}}
	var outs []*onnx.ValueInfoProto
	for _, v := range values {
		outs = append(outs, tensorInfo(v, graph.Float))
	}
	ref := &graph.Model{ModelProto: &onnx.ModelProto{
		IrVersion: src.GetIrVersion(), OpsetImport: src.GetOpsetImport(),
		Graph: &onnx.GraphProto{Name: g.GetName(), Node: g.GetNode(), Initializer: g.GetInitializer(),
			Input: []*onnx.ValueInfoProto{graph.ValueInfo(in.GetName(), graph.Float, dynamic)}, Output: outs},
	}}
	return ref.Encode()
}

// verifyShape is the verification input's shape: the export's input with
// a dynamic batch set to verifyBatch and a dynamic height or width set to
// the source's (verifySize where the source's is dynamic too).
func verifyShape(src, m *graph.Model) []int64 {
	exp, _, _ := graph.ShapeOf(m.GetGraph().GetInput()[0])
	in, _ := dataInput(src.GetGraph())
	orig, _, _ := graph.ShapeOf(in)
	shape := exp.Sizes()
	if shape[0] < 0 {
		shape[0] = verifyBatch
	}
	for i := 2; i < 4; i++ {
		if shape[i] < 0 {
			shape[i] = max(orig.Sizes()[i], 0)
			if shape[i] == 0 {
				shape[i] = verifySize
			}
		}
	}
	return shape
}

// randomInput draws standard-normal values from the seed.
func randomInput(shape []int64, seed uint64) ort.Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x65_78_70_6f_72_74))
	data := make([]float32, graph.NumElements(shape))
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return ort.Tensor{Shape: shape, Data: data}
}

// compare measures one output against the reference; a non-finite value
// where the reference is finite counts as an infinite difference.
func compare(name string, got, want ort.Tensor, fp16 bool) (Parity, error) {
	if !slices.Equal(got.Shape, want.Shape) {
		return Parity{}, fmt.Errorf("parity check failed: output %q has shape %v, the source's value %v", name, got.Shape, want.Shape)
	}
	p := Parity{Output: name}
	for i, w := range want.Data {
		d := math.Abs(float64(got.Data[i]) - float64(w))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		p.MaxAbsDiff = max(p.MaxAbsDiff, d)
		p.MaxAbsRef = max(p.MaxAbsRef, math.Abs(float64(w)))
	}
	p.Bound = Float32Bound * max(1, p.MaxAbsRef)
	if fp16 {
		p.Bound = Float16Relative * p.MaxAbsRef
	}
	return p, nil
}

// softmax applies softmax over axis 1 of t, in float64.
func softmax(t ort.Tensor) ort.Tensor {
	out := ort.Tensor{Shape: t.Shape, Data: make([]float32, len(t.Data))}
	if len(t.Shape) < 2 || len(t.Data) == 0 {
		return out
	}
	k := int(t.Shape[1])
	inner := len(t.Data) / int(t.Shape[0]) / k
	for n := 0; n < int(t.Shape[0]); n++ {
		for j := 0; j < inner; j++ {
			at := func(c int) int { return (n*k+c)*inner + j }
			top := math.Inf(-1)
			for c := 0; c < k; c++ {
				top = max(top, float64(t.Data[at(c)]))
			}
			sum := 0.0
			for c := 0; c < k; c++ {
				sum += math.Exp(float64(t.Data[at(c)]) - top)
			}
			for c := 0; c < k; c++ {
				out.Data[at(c)] = float32(math.Exp(float64(t.Data[at(c)])-top) / sum)
			}
		}
	}
	return out
}
