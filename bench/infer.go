package bench

import (
	"fmt"
	"io"
	"strings"

	"github.com/bot-onnx/bot-onnx/eval/classifier"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// DefaultInferBatch is Infer's batch size for a model whose batch size is
// dynamic.
const DefaultInferBatch = 8

// InferOptions are a measurement of a classifier's inference throughput in
// ONNX Runtime.
type InferOptions struct {
	// Batch is the images a run; 0 means the model's fixed batch size, or
	// DefaultInferBatch. A model with a fixed batch size takes only its own.
	Batch int
	// Warmup untimed runs come first, then Runs timed ones.
	Warmup, Runs int
	// Threads are the session's intra-op threads, as the result reports
	// them, and the peer's threads.
	Threads int
	// Peer also runs Debian's PyTorch on the model's architecture as
	// ResNet-A (TorchInfer); the model must name its architecture in its
	// metadata (models.MetaModel).
	Peer bool
	// Ready, if not nil, is called once the model and options are checked,
	// before the first run.
	Ready func()
}

// InferResult is an inference measurement: what `bench infer --json`
// prints.
type InferResult struct {
	Model string `json:"model"`
	// Architecture is the model's name and variant from its metadata
	// (e.g. resnet50-D), "" when it carries none.
	Architecture    string    `json:"architecture,omitempty"`
	MACs            int64     `json:"macs,omitempty"`
	Input           []int64   `json:"input"`
	Provider        string    `json:"provider"`
	Fallback        string    `json:"fallback,omitempty"`
	Threads         int       `json:"threads"`
	ImagesPerSecond float64   `json:"images_per_second"`
	RunMS           []float64 `json:"run_ms"`
	// The PyTorch peer: the ResNet-A of the same name, batch, input and
	// classes; Note says how it differs from the model, where it does.
	PeerArchitecture string       `json:"peer_architecture,omitempty"`
	Torch            *TorchResult `json:"torch,omitempty"`
	Ratio            float64      `json:"ratio_to_torch,omitempty"`
	Note             string       `json:"note,omitempty"`
}

// UnknownArchitectureError refuses the peer for a model whose metadata
// does not name its architecture.
type UnknownArchitectureError struct{ Path string }

func (e *UnknownArchitectureError) Error() string {
	return fmt.Sprintf("%s carries no %s metadata, so the PyTorch peer cannot tell its architecture", e.Path, models.MetaModel)
}

// Infer times the classifier sess runs (loaded from path) on seeded random
// input of o.Batch images (the median of o.Runs runs) and, with o.Peer,
// the PyTorch peer on the same batch, input and classes. Refused options
// come back as *train.FieldError naming the InferOptions field.
func Infer(sess *ort.Session, path string, o InferOptions) (*InferResult, error) {
	switch {
	case o.Runs < 1:
		return nil, &train.FieldError{Field: "Runs", Value: o.Runs, Want: "a positive count"}
	case o.Warmup < 0:
		return nil, &train.FieldError{Field: "Warmup", Value: o.Warmup, Want: "0 or more"}
	case o.Peer && o.Threads < 1:
		return nil, &train.FieldError{Field: "Threads", Value: o.Threads, Want: "a positive count with Peer", With: []string{"Peer"}}
	}
	in, out, _, err := classifier.IO(sess, path)
	if err != nil {
		return nil, err
	}
	batch, err := classifier.BatchSize(in, o.Batch, DefaultInferBatch)
	if err != nil {
		return nil, err
	}
	m, err := graph.Load(path)
	if err != nil {
		return nil, err
	}
	res := &InferResult{Model: path, Input: []int64{int64(batch), in.Shape[1], in.Shape[2], in.Shape[3]},
		Provider: string(sess.Provider()), Fallback: sess.Fallback(), Threads: o.Threads}
	name, hasName := m.Metadata(models.MetaModel)
	if hasName {
		variant, _ := m.Metadata(models.MetaVariant)
		res.Architecture = name + "-" + variant
	}
	if counts, err := graph.Count(m); err == nil {
		res.MACs = counts.MACs
	}
	if o.Peer && !hasName {
		return nil, &UnknownArchitectureError{Path: path}
	}
	if o.Ready != nil {
		o.Ready()
	}
	tm, err := sess.Time(ort.RandomInput(res.Input, 1), o.Warmup, o.Runs)
	if err != nil {
		return nil, err
	}
	res.RunMS = tm.Milliseconds()
	res.ImagesPerSecond = float64(batch) / tm.Median().Seconds()
	if o.Peer {
		res.PeerArchitecture = name + "-A"
		chw := fmt.Sprintf("%dx%dx%d", in.Shape[1], in.Shape[2], in.Shape[3])
		if res.Torch, err = TorchInfer(name, batch, chw, int(max(out.Shape[1], 0)), o.Warmup, o.Runs, o.Threads); err != nil {
			return nil, err
		}
		res.Ratio = res.ImagesPerSecond / res.Torch.ImagesPerSecond
		res.Note = peerNote(res)
	}
	return res, nil
}

// WriteText writes res for a person: ONNX Runtime's throughput on the
// model, and the PyTorch peer's beside it where it ran (what `bot-onnx
// bench infer` prints without --json).
func (res *InferResult) WriteText(w io.Writer) error {
	arch := res.Architecture
	if arch == "" {
		arch = "architecture unknown"
	}
	_, err := fmt.Fprintf(w, "ONNX Runtime %s (%s), batch %d %dx%dx%d, %s provider, %d threads: %.1f images/s (median of %d runs)\n",
		res.Model, arch, res.Input[0], res.Input[1], res.Input[2], res.Input[3], res.Provider, res.Threads, res.ImagesPerSecond, len(res.RunMS))
	if err == nil && res.Torch != nil {
		_, err = fmt.Fprintf(w, "PyTorch      %s %s, eval mode, %d threads: %.1f images/s, peak RSS %.0f MiB\nratio        %.2f× PyTorch\n",
			res.Torch.Torch, res.PeerArchitecture, res.Torch.Threads, res.Torch.ImagesPerSecond, res.Torch.PeakRSSMiB, res.Ratio)
	}
	if err == nil && res.Note != "" {
		_, err = fmt.Fprintf(w, "note: %s\n", res.Note)
	}
	return err
}

// peerNote says how the PyTorch peer's model differs from the benchmarked
// one: the peer defines ResNet-A only, and its MACs per image are checked
// against the model's (a different width or variant shows there; folded
// BatchNorm does not change them). "" when they agree.
func peerNote(res *InferResult) string {
	var notes []string
	if res.Architecture != res.PeerArchitecture {
		notes = append(notes, fmt.Sprintf("the PyTorch peer defines ResNet-A only: it ran %s, this model is %s", res.PeerArchitecture, res.Architecture))
	}
	switch {
	case res.MACs == 0:
		notes = append(notes, "the model's MACs could not be counted to check the peer's architecture")
	case res.MACs != res.Torch.MACs:
		notes = append(notes, fmt.Sprintf("MACs per image differ: model %.3f G, peer %.3f G", float64(res.MACs)/1e9, float64(res.Torch.MACs)/1e9))
	}
	return strings.Join(notes, "; ")
}
