package cli

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/urfave/cli/v2"
)

// trainBench is what `bench train --json` prints.
type trainBench = bench.TrainResult

// benchFieldFlags are bench train's flags by the bench.TrainConfig field
// each sets.
var benchFieldFlags = map[string]string{"Data": "--data", "Input": "--input", "Workers": "--workers",
	"Steps": "--steps", "Batch": "--batch", "Threads": "--threads", "Runs": "--runs"}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure bot-onnx against Debian's PyTorch",
		Subcommands: []*cli.Command{{
			Name:      "train",
			Usage:     "training throughput (images/s, median of timed steps on random data) and peak memory, beside PyTorch's",
			UsageText: "bot-onnx bench train --model resnet20 --batch 128 --input 3x32x32 [--variant A] [--precision fp32|bf16] [--steps 20] [--runs N] [--threads T] [--data folder:DIR [--workers W]] [--peer torch|none] [--json]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Value: "resnet20", Usage: "model name (see `bot-onnx models`)"},
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
	printTrainBench(c.App.Writer, *res)
	return nil
}

// printTrainBench prints a comparison: each run when there are several,
// then the medians.
func printTrainBench(w io.Writer, res trainBench) {
	fmt.Fprintf(w, "cpu       %s (%s)\n", res.CPU, res.ISA)
	many := len(res.Runs) > 1
	for i, r := range res.Runs {
		if !many {
			break
		}
		line := fmt.Sprintf("run %d    bot-onnx %.1f images/s", i+1, r.ImagesPerSecond)
		if r.FP32 != nil {
			line += fmt.Sprintf(" (fp32 %.1f, bf16 %.2f×)", r.FP32.ImagesPerSecond, r.ImagesPerSecond/r.FP32.ImagesPerSecond)
		}
		for _, t := range r.Torch {
			line += fmt.Sprintf(", PyTorch %s %.1f", t.MemoryFormat, t.ImagesPerSecond)
		}
		if r.Best != nil {
			line += fmt.Sprintf(": %.2f×", r.Ratio)
		}
		fmt.Fprintln(w, line)
	}
	steps := len(res.Runs[0].StepMS)
	of := fmt.Sprintf("median of %d steps", steps)
	if many {
		of = fmt.Sprintf("median of %d runs of %d steps", len(res.Runs), steps)
	}
	fmt.Fprintf(w, "bot-onnx  %s-%s batch %d %s %s, %d replicas: %.1f images/s (%s), peak RSS %.0f MiB\n",
		res.Model, res.Variant, res.Batch, res.Input, res.Precision, res.Threads, res.ImagesPerSecond, of, res.PeakRSSMiB)
	if res.FP32ImagesPerSecond > 0 {
		fmt.Fprintf(w, "bot-onnx  fp32 in the same runs: %.1f images/s; bf16 is %.2f× fp32\n", res.FP32ImagesPerSecond, res.BF16Speedup)
	}
	if res.Data != "" {
		fmt.Fprintf(w, "loader    %s, %d workers: %.1f images/s alone (%.2f× the trainer); training fed by it: %.1f images/s (%.2f× random data)\n",
			res.Data, res.Workers, res.LoaderImagesPerSecond, res.LoaderImagesPerSecond/res.ImagesPerSecond,
			res.FedImagesPerSecond, res.FedImagesPerSecond/res.ImagesPerSecond)
	}
	if len(res.Runs[0].Torch) == 0 {
		return
	}
	for i, first := range res.Runs[0].Torch {
		fmt.Fprintf(w, "PyTorch   %s %s %s, %d threads: %.1f images/s\n", first.Torch, first.MemoryFormat, first.Precision, first.Threads, res.TorchMedians[i])
	}
	fmt.Fprintf(w, "PyTorch   peak RSS %.0f MiB\n", res.TorchPeakRSSMiB)
	fmt.Fprintf(w, "ratio     %.2f× PyTorch's faster configuration (%s)\n", res.Ratio, strings.Join(slices.Compact(slices.Sorted(slices.Values(res.TorchBestMemoryFormats))), ", "))
}
