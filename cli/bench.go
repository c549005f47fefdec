package cli

import (
	"fmt"
	"runtime"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/mpi"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	var cfg bench.TrainConfig
	return &cli.Command{
		Name:  "bench",
		Usage: "measure bot-onnx against Debian's PyTorch",
		Subcommands: []*cli.Command{{
			Name:      "train",
			Usage:     "training throughput (images/s, median of timed steps on random data) and peak memory, beside PyTorch's",
			UsageText: "bot-onnx bench train --model resnet20 --batch 128 --input 3x32x32 [--variant A] [--precision fp32|bf16] [--steps 20] [--runs N] [--threads T] [--data folder:DIR [--workers W]] [--peer torch|none] [--json]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Destination: &cfg.Model, Value: "resnet20", Usage: "model name (bot-onnx models lists them)"},
				&cli.StringFlag{Name: "variant", Destination: &cfg.Variant, Value: "A", Usage: "A, B, C or D"},
				&cli.IntFlag{Name: "batch", Destination: &cfg.Batch, Value: 128},
				&cli.StringFlag{Name: "input", Value: "3x32x32", Usage: "input size CxHxW"},
				&cli.IntFlag{Name: "classes", Destination: &cfg.Classes, Usage: "classes (default: the model's)"},
				&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "fp32, or bf16: bot-onnx's bfloat16 convolutions, beside its own fp32 in the same run and PyTorch's torch.autocast bfloat16"},
				&cli.IntFlag{Name: "steps", Destination: &cfg.Steps, Value: 20, Usage: "timed steps"},
				&cli.IntFlag{Name: "runs", Destination: &cfg.Runs, Value: 1, Usage: "repeat the comparison, each run timing bot-onnx then the peer, and report medians"},
				&cli.IntFlag{Name: "warmup", Destination: &cfg.Warmup, Value: 3, Usage: "untimed steps first"},
				&cli.IntFlag{Name: "threads", Destination: &cfg.Threads, Value: runtime.NumCPU(), Usage: "replicas for bot-onnx, threads for PyTorch"},
				&cli.StringFlag{Name: "data", Destination: &cfg.Data, Usage: "folder:DIR: also measure the loader (decode + the paper's augmentation of DIR/train) alone and feeding the trainer"},
				&cli.IntFlag{Name: "workers", Destination: &cfg.Workers, Value: runtime.NumCPU(), Usage: "loader goroutines with --data"},
				&cli.StringFlag{Name: "peer", Value: "torch", Usage: "torch: also run Debian's PyTorch (/usr/bin/python3) on the same model, in NCHW and in channels_last; none"},
				jsonFlag(),
			},
			Action: func(c *cli.Context) error {
				return distributed(c, func(w *mpi.World) error { return benchTrain(c, &cfg, w) })
			},
		}, inferCommand()},
	}
}

// benchTrain measures cfg's training steps, across the processes of w
// when it is not nil: then --batch is theirs together, the peer is off and
// rank 0 alone prints.
func benchTrain(c *cli.Context, cfg *bench.TrainConfig, w *mpi.World) (err error) {
	dims, err := cmdline.Dims("input", c.String("input"), 3, "3x32x32")
	if err != nil {
		return err
	}
	if cfg.Steps < 1 || cfg.Batch < 1 || cfg.Threads < 1 || cfg.Runs < 1 {
		return fmt.Errorf("--steps, --batch, --threads and --runs must be positive")
	}
	if p := c.String("peer"); p != "torch" && p != "none" {
		return fmt.Errorf("--peer %q: expected torch or none", p)
	}
	if cfg.Precision, err = kernel.ParsePrecision(c.String("precision")); err != nil {
		return fmt.Errorf("--precision %q: expected fp32 or bf16", c.String("precision"))
	}
	cfg.Input, cfg.Peer, cfg.Progress = [3]int64(dims), c.String("peer") == "torch", nil
	if w != nil {
		if c.IsSet("peer") && cfg.Peer {
			return fmt.Errorf("--peer torch: PyTorch cannot run across MPI processes; leave out --peer under mpirun")
		}
		if c.IsSet("data") {
			return fmt.Errorf("--data: the loader is measured in one process; leave out --data under mpirun")
		}
		cfg.Peer, cfg.Group = false, w
	}
	if c.IsSet("data") && cfg.Data == "" {
		return fmt.Errorf(`--data "": expected folder:DIR`)
	}
	if cfg.Runs > 1 && (w == nil || w.Rank() == 0) {
		cfg.Progress = func(i int, s bench.TrainSpec) { fmt.Fprintf(c.App.ErrWriter, "run %d/%d: %s\n", i+1, s.Runs, s) }
	}
	res, err := bench.Train(c.Context, *cfg)
	if err != nil {
		return cmdline.InFlags(err, cmdline.FieldFlags(cfg, c.Command.Flags, map[string]string{"Input": "--input", "Recipe.Batch": "--batch"}))
	}
	if w != nil && w.Rank() != 0 {
		return nil
	}
	return cmdline.Print(c, res)
}
