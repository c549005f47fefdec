package cli

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/urfave/cli/v2"
)

// inferCommand is `bench infer`.
func inferCommand() *cli.Command {
	return &cli.Command{
		Name:      "infer",
		Usage:     "inference throughput in ONNX Runtime (images/s, median of timed runs on seeded random input), beside PyTorch's",
		UsageText: "bot-onnx bench infer model.onnx --batch 8 [--provider auto|cpu|cuda|tensorrt] [--threads T] [--runs N] [--warmup N] [--peer torch|none] [--json]",
		Flags: append(cmdline.Replace(runtimeFlags(), &cli.IntFlag{Name: "threads", Value: runtime.NumCPU(), Usage: "intra-op threads of ONNX Runtime, and PyTorch's threads"}),
			batchFlag(bench.DefaultInferBatch),
			&cli.IntFlag{Name: "runs", Value: 10, Usage: "timed runs"},
			&cli.IntFlag{Name: "warmup", Value: 2, Usage: "untimed runs first"},
			&cli.StringFlag{Name: "peer", Value: "torch", Usage: "torch: also run Debian's PyTorch (/usr/bin/python3) on the model's architecture as ResNet-A; none"},
			jsonFlag(),
		),
		Action: benchInfer,
	}
}

func benchInfer(c *cli.Context) error {
	if p := c.String("peer"); p != "torch" && p != "none" {
		return fmt.Errorf("--peer %q: expected torch or none", p)
	}
	sess, err := openModel(c)
	if err != nil {
		return err
	}
	defer sess.Close()
	res, err := bench.Infer(sess, c.Args().First(), bench.InferOptions{Batch: c.Int("batch"), Warmup: c.Int("warmup"), Runs: c.Int("runs"),
		Threads: c.Int("threads"), Peer: c.String("peer") == "torch", Ready: func() { noteFallback(c.App.ErrWriter, sess) }})
	var unknown *bench.UnknownArchitectureError
	if errors.As(err, &unknown) {
		return fmt.Errorf("--peer torch: %s; use --peer none", unknown)
	} else if err != nil {
		return cmdline.InFlags(err, map[string]string{"Batch": "--batch", "Warmup": "--warmup", "Runs": "--runs", "Threads": "--threads", "Peer": "--peer torch"})
	}
	return cmdline.Print(c, res)
}
