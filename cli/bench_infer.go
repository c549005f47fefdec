package cli

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/urfave/cli/v2"
)

// inferCommand is `bench infer`.
func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "inference throughput in ONNX Runtime (images/s, median of timed runs on seeded random input), beside PyTorch's",
		UsageText: "bot-onnx bench infer model.onnx --batch 8 [--provider auto|cpu|cuda|tensorrt] [--threads T] [--runs N] [--warmup N] [--peer torch|none] [--json]",
		Flags: append(runtimeFlagsWithThreads(runtime.NumCPU(), "intra-op threads of ONNX Runtime, and PyTorch's threads"),
			&cli.IntFlag{Name: "batch", Value: bench.DefaultInferBatch, Usage: "images a run (a model with a fixed batch size takes only its own)"},
			&cli.IntFlag{Name: "runs", Value: 10, Usage: "timed runs"},
			&cli.IntFlag{Name: "warmup", Value: 2, Usage: "untimed runs first"},
			&cli.StringFlag{Name: "peer", Value: "torch", Usage: "torch: also run Debian's PyTorch (/usr/bin/python3) on the model's architecture as ResNet-A; none"},
			jsonFlag(),
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
	in, _, _, err := classifierIO(sess, path)
	if err != nil {
		return err
	}
	batch, err := evalBatch(c.Int("batch"), c.IsSet("batch"), in)
	if err != nil {
		return err
	}
	res, err := bench.Infer(sess, path, bench.InferOptions{Batch: batch, Warmup: c.Int("warmup"), Runs: c.Int("runs"),
		Threads: c.Int("threads"), Peer: c.String("peer") == "torch", Ready: func() { noteFallback(c.App.ErrWriter, sess) }})
	var unknown *bench.UnknownArchitectureError
	if errors.As(err, &unknown) {
		return fmt.Errorf("--peer torch: %s; use --peer none", unknown)
	} else if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	arch := res.Architecture
	if arch == "" {
		arch = "architecture unknown"
	}
	fmt.Fprintf(c.App.Writer, "ONNX Runtime %s (%s), batch %d %dx%dx%d, %s provider, %d threads: %.1f images/s (median of %d runs)\n",
		path, arch, batch, res.Input[1], res.Input[2], res.Input[3], res.Provider, res.Threads, res.ImagesPerSecond, len(res.RunMS))
	if res.Torch != nil {
		fmt.Fprintf(c.App.Writer, "PyTorch      %s %s, eval mode, %d threads: %.1f images/s, peak RSS %.0f MiB\nratio        %.2f× PyTorch\n",
			res.Torch.Torch, res.PeerArchitecture, res.Torch.Threads, res.Torch.ImagesPerSecond, res.Torch.PeakRSSMiB, res.Ratio)
	}
	if res.Note != "" {
		fmt.Fprintf(c.App.Writer, "note: %s\n", res.Note)
	}
	return nil
}
