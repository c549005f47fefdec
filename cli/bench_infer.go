package cli

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

// inferBench is what `bench infer --json` prints.
type inferBench struct {
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
	PeerArchitecture string             `json:"peer_architecture,omitempty"`
	Torch            *bench.TorchResult `json:"torch,omitempty"`
	Ratio            float64            `json:"ratio_to_torch,omitempty"`
	Note             string             `json:"note,omitempty"`
}

// inferCommand is `bench infer`.
func inferCommand() *cli.Command {
	flags := runtimeFlags()
	for _, f := range flags {
		if f, ok := f.(*cli.IntFlag); ok && f.Name == "threads" {
			f.Value, f.Usage = runtime.NumCPU(), "intra-op threads of ONNX Runtime, and PyTorch's threads"
		}
	}
	return &cli.Command{
		Name:      "infer",
		Usage:     "inference throughput in ONNX Runtime (images/s, median of timed runs on seeded random input), beside PyTorch's",
		UsageText: "bot-onnx bench infer model.onnx --batch 8 [--provider auto|cpu|cuda|tensorrt] [--threads T] [--runs N] [--warmup N] [--peer torch|none] [--json]",
		Flags: append(flags,
			&cli.IntFlag{Name: "batch", Value: 8, Usage: "images a run (a model with a fixed batch size takes only its own)"},
			&cli.IntFlag{Name: "runs", Value: 10, Usage: "timed runs"},
			&cli.IntFlag{Name: "warmup", Value: 2, Usage: "untimed runs first"},
			&cli.StringFlag{Name: "peer", Value: "torch", Usage: "torch: also run Debian's PyTorch (/usr/bin/python3) on the model's architecture as ResNet-A; none"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		),
		Action: benchInfer,
	}
}

func benchInfer(c *cli.Context) error {
	if c.Int("runs") < 1 || c.Int("warmup") < 0 || c.Int("threads") < 1 {
		return fmt.Errorf("--runs and --threads must be positive, --warmup 0 or more")
	}
	if p := c.String("peer"); p != "torch" && p != "none" {
		return fmt.Errorf("--peer %q: expected torch or none", p)
	}
	sess, err := openModel(c)
	if err != nil {
		return err
	}
	defer sess.Close()
	path := c.Args().First()
	in, out, _, err := classifierIO(sess, path)
	if err != nil {
		return err
	}
	batch, err := evalBatch(c.Int("batch"), c.IsSet("batch"), in)
	if err != nil {
		return err
	}
	m, err := graph.Load(path)
	if err != nil {
		return err
	}
	res := inferBench{Model: path, Input: []int64{int64(batch), in.Shape[1], in.Shape[2], in.Shape[3]},
		Provider: string(sess.Provider()), Fallback: sess.Fallback(), Threads: c.Int("threads")}
	name, hasName := m.Metadata(models.MetaModel)
	if hasName {
		variant, _ := m.Metadata(models.MetaVariant)
		res.Architecture = name + "-" + variant
	}
	if counts, err := graph.Count(m); err == nil {
		res.MACs = counts.MACs
	}
	if c.String("peer") == "torch" && !hasName {
		return fmt.Errorf("--peer torch: %s carries no %s metadata, so the PyTorch peer cannot tell its architecture; use --peer none", path, models.MetaModel)
	}
	noteFallback(c.App.ErrWriter, sess)
	_, times, err := timeRuns(sess, randomInput(res.Input, 1), c.Int("warmup"), c.Int("runs"))
	if err != nil {
		return err
	}
	res.RunMS = milliseconds(times)
	res.ImagesPerSecond = float64(batch) / train.Median(times).Seconds()
	if c.String("peer") == "torch" {
		res.PeerArchitecture = name + "-A"
		chw := fmt.Sprintf("%dx%dx%d", in.Shape[1], in.Shape[2], in.Shape[3])
		if res.Torch, err = bench.TorchInfer(name, batch, chw, int(max(out.Shape[1], 0)), c.Int("warmup"), c.Int("runs"), res.Threads); err != nil {
			return err
		}
		res.Ratio = res.ImagesPerSecond / res.Torch.ImagesPerSecond
		res.Note = peerNote(res)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	arch := res.Architecture
	if arch == "" {
		arch = "architecture unknown"
	}
	fmt.Fprintf(c.App.Writer, "ONNX Runtime %s (%s), batch %d %dx%dx%d, %s provider, %d threads: %.1f images/s (median of %d runs)\n",
		path, arch, batch, in.Shape[1], in.Shape[2], in.Shape[3], res.Provider, res.Threads, res.ImagesPerSecond, len(times))
	if res.Torch != nil {
		fmt.Fprintf(c.App.Writer, "PyTorch      %s %s, eval mode, %d threads: %.1f images/s, peak RSS %.0f MiB\nratio        %.2f× PyTorch\n",
			res.Torch.Torch, res.PeerArchitecture, res.Torch.Threads, res.Torch.ImagesPerSecond, res.Torch.PeakRSSMiB, res.Ratio)
	}
	if res.Note != "" {
		fmt.Fprintf(c.App.Writer, "note: %s\n", res.Note)
	}
	return nil
}

// peerNote says how the PyTorch peer's model differs from the benchmarked
// one: the peer defines ResNet-A only, and its MACs per image are checked
// against the model's (a different width or variant shows there; folded
// BatchNorm does not change them). "" when they agree.
func peerNote(res inferBench) string {
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
