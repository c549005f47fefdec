package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/bot-onnx/bot-onnx/tweaks"
	"github.com/urfave/cli/v2"
)

// trainBench is what `bench train --json` prints: the comparison's
// settings, its runs and medians, and the loader's figures with --data.
type trainBench struct {
	Model     string `json:"model"`
	Variant   string `json:"variant"`
	Batch     int    `json:"batch"`
	Input     string `json:"input"`
	Threads   int    `json:"threads"`
	Precision string `json:"precision"`
	CPU       string `json:"cpu,omitempty"`
	ISA       string `json:"isa"`
	bench.TrainSummary
	// With --data: the loader's rate alone, and training fed by it (the
	// loader's waits included) with its workers sharing the cores.
	Data                  string  `json:"data,omitempty"`
	Workers               int     `json:"workers,omitempty"`
	LoaderImagesPerSecond float64 `json:"loader_images_per_second,omitempty"`
	FedImagesPerSecond    float64 `json:"fed_images_per_second,omitempty"`
}

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
				&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
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
	m, _, err := tweaks.Build(models.Config{Model: c.String("model"), Classes: c.Int("classes"), InChannels: int(dims[0]), Height: int(dims[1]), Width: int(dims[2])}, c.String("variant"))
	if err != nil {
		return err
	}
	spec := bench.TrainSpec{Model: m, Name: c.String("model"), Variant: strings.ToUpper(c.String("variant")), Batch: c.Int("batch"),
		Input: c.String("input"), Classes: c.Int("classes"), Precision: precision, Warmup: c.Int("warmup"), Steps: c.Int("steps"),
		Threads: c.Int("threads"), Runs: c.Int("runs"), Peer: c.String("peer") == "torch"}
	var progress func(int)
	if spec.Runs > 1 {
		progress = func(i int) { fmt.Fprintf(c.App.ErrWriter, "run %d/%d: %s\n", i+1, spec.Runs, spec) }
	}
	sum, err := bench.CompareTraining(spec, progress)
	if err != nil {
		return err
	}
	res := trainBench{Model: spec.Name, Variant: spec.Variant, Batch: spec.Batch, Input: spec.Input, Threads: spec.Threads,
		Precision: precision.String(), CPU: kernel.CPUName(), ISA: kernel.HostFeatures().ISA(), TrainSummary: *sum}
	if c.IsSet("data") {
		if err := benchLoader(c, m, precision, &res, dims); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	printTrainBench(c.App.Writer, res)
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
		var rates []float64
		for _, r := range res.Runs {
			rates = append(rates, r.Torch[i].ImagesPerSecond)
		}
		fmt.Fprintf(w, "PyTorch   %s %s %s, %d threads: %.1f images/s\n", first.Torch, first.MemoryFormat, first.Precision, first.Threads, bench.Median(rates))
	}
	fmt.Fprintf(w, "PyTorch   peak RSS %.0f MiB\n", res.TorchPeakRSSMiB)
	fmt.Fprintf(w, "ratio     %.2f× PyTorch's faster configuration (%s)\n", res.Ratio, strings.Join(slices.Compact(slices.Sorted(slices.Values(res.TorchBestMemoryFormats))), ", "))
}

// benchLoader measures the image-folder loader of --data alone, then
// training steps fed by it, into res.
func benchLoader(c *cli.Context, m *graph.Model, precision kernel.Precision, res *trainBench, dims []int64) error {
	dir, ok := strings.CutPrefix(c.String("data"), "folder:")
	if !ok || dir == "" {
		return fmt.Errorf("--data %q: expected folder:DIR", c.String("data"))
	}
	if dims[1] != dims[2] || (dims[0] != 1 && dims[0] != 3) {
		return fmt.Errorf("--input %s: image folders feed square 1- or 3-channel inputs", c.String("input"))
	}
	if c.Int("workers") < 1 {
		return fmt.Errorf("--workers must be positive, found %d", c.Int("workers"))
	}
	opts := augment.DefaultTrainOptions(int(dims[1]))
	if dims[0] == 1 {
		opts.Channels, opts.Lighting, opts.Mean, opts.Std = 1, false, []float64{117}, []float64{58}
	}
	pipe, err := augment.NewTrain(opts)
	if err != nil {
		return err
	}
	set, err := data.Folder(filepath.Join(dir, "train"), data.FolderOptions{Transform: pipe, Seed: 1})
	if err != nil {
		return err
	}
	batch, workers, steps := c.Int("batch"), c.Int("workers"), c.Int("steps")
	if set.Len() < batch {
		return fmt.Errorf("--data %s: %d training images, fewer than one batch of %d", dir, set.Len(), batch)
	}
	res.Data, res.Workers = c.String("data"), workers
	if res.LoaderImagesPerSecond, err = train.LoaderRate(c.Context, set, batch, workers, steps); err != nil {
		return err
	}
	loader, err := data.NewLoader(set, data.LoaderConfig{BatchSize: batch, Shuffle: true, Seed: 2, DropLast: true, Workers: workers})
	if err != nil {
		return err
	}
	var (
		it    *data.Iter
		epoch int
	)
	defer func() {
		if it != nil {
			it.Close()
		}
	}()
	next := func() (*data.Batch, error) {
		for {
			if it == nil {
				if it, err = loader.Epoch(c.Context, epoch, 0); err != nil {
					return nil, err
				}
				epoch++
			}
			b, err := it.Next()
			if !errors.Is(err, io.EOF) {
				return b, err
			}
			it.Close()
			it = nil
		}
	}
	times, err := train.StepTimes(m, batch, c.Int("threads"), precision, c.Int("warmup"), steps, next)
	if err != nil {
		return err
	}
	res.FedImagesPerSecond = float64(batch) / train.Median(times).Seconds()
	return nil
}
