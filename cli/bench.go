package cli

import (
	"fmt"
	"runtime"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/urfave/cli/v2"
)

// trainBench is what `bench train --json` prints.
type trainBench = bench.TrainResult

// benchFieldFlags are bench train's flags by the bench.TrainConfig field
// each sets.
var benchFieldFlags = map[string]string{"Data": "--data", "Input": "--input", "Workers": "--workers",
	"Steps": "--steps", "Batch": "--batch", "Recipe.Batch": "--batch", "Threads": "--threads", "Runs": "--runs"}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure bot-onnx against Debian's PyTorch",
		Subcommands: []*cli.Command{{
			Name:      "train",
			Usage:     "training throughput (images/s, median of timed steps on random data) and peak memory, beside PyTorch's",
			UsageText: "bot-onnx bench train --model resnet20 --batch 128 --input 3x32x32 [--variant A] [--precision fp32|bf16] [--steps 20] [--runs N] [--threads T] [--data folder:DIR [--workers W]] [--peer torch|none] [--json]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Value: "resnet20", Usage: "model name (bot-onnx models lists them)"},
				&cli.StringFlag{Name: "variant", Value: "A", Usage: "A, B, C or D"},
				&cli.IntFlag{Name: "batch", Value: 128},
				&cli.StringFlag{Name: "input", Value: "3x32x32", Usage: "input size CxHxW"},
				&cli.IntFlag{Name: "classes", Usage: "classes (default: the model's)"},
				&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "fp32, or bf16: bot-onnx's bfloat16 convolutions, beside its own fp32 in the same run and PyTorch's torch.autocast bfloat16"},
				&cli.IntFlag{Name: "steps", Value: 20, Usage: "timed steps"},
				&cli.IntFlag{Name: "runs", Value: 1, Usage: "repeat the comparison, each run timing bot-onnx then the peer, and report medians"},
				&cli.IntFlag{Name: "warmup", Value: 3, Usage: "untimed steps first"},
				&cli.IntFlag{Name: "threads", Value: runtime.NumCPU(), Usage: "replicas for bot-onnx, threads for PyTorch"},
				&cli.StringFlag{Name: "data", Usage: "folder:DIR: also measure the loader (decode + the paper's augmentation of DIR/train) alone and feeding the trainer"},
				&cli.IntFlag{Name: "workers", Value: runtime.NumCPU(), Usage: "loader goroutines with --data"},
				&cli.StringFlag{Name: "peer", Value: "torch", Usage: "torch: also run Debian's PyTorch (/usr/bin/python3) on the same model, in NCHW and in channels_last; none"},
				jsonFlag(),
			},
			Action: benchTrain,
		}, inferCommand()},
	}
}

func benchTrain(c *cli.Context) error {
	dims, err := parseDims("input", c.String("input"), 3, "3x32x32")
	if err != nil {
		return err
	}
	if c.Int("steps") < 1 || c.Int("batch") < 1 || c.Int("threads") < 1 || c.Int("runs") < 1 {
		return fmt.Errorf("--steps, --batch, --threads and --runs must be positive")
	}
	if p := c.String("peer"); p != "torch" && p != "none" {
		return fmt.Errorf("--peer %q: expected torch or none", p)
	}
	precision, err := kernel.ParsePrecision(c.String("precision"))
	if err != nil {
		return fmt.Errorf("--precision %q: expected fp32 or bf16", c.String("precision"))
	}
	cfg := bench.TrainConfig{Model: c.String("model"), Variant: c.String("variant"), Input: [3]int64(dims), Classes: c.Int("classes"),
		Batch: c.Int("batch"), Precision: precision, Warmup: c.Int("warmup"), Steps: c.Int("steps"), Threads: c.Int("threads"),
		Runs: c.Int("runs"), Peer: c.String("peer") == "torch", Data: c.String("data"), Workers: c.Int("workers")}
	if c.IsSet("data") && cfg.Data == "" {
		return fmt.Errorf(`--data "": expected folder:DIR`)
	}
	if cfg.Runs > 1 {
		cfg.Progress = func(i int, s bench.TrainSpec) { fmt.Fprintf(c.App.ErrWriter, "run %d/%d: %s\n", i+1, s.Runs, s) }
	}
	res, err := bench.Train(c.Context, cfg)
	if err != nil {
		return inFlags(err, benchFieldFlags)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	return res.WriteText(c.App.Writer)
}
