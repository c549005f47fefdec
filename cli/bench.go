package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

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

// trainBench is what `bench train --json` prints.
type trainBench struct {
	Model           string    `json:"model"`
	Variant         string    `json:"variant"`
	Batch           int       `json:"batch"`
	Input           string    `json:"input"`
	Threads         int       `json:"threads"`
	Precision       string    `json:"precision"`
	CPU             string    `json:"cpu,omitempty"`
	ISA             string    `json:"isa"`
	ImagesPerSecond float64   `json:"images_per_second"`
	StepMS          []float64 `json:"step_ms"`
	PeakRSSMiB      float64   `json:"peak_rss_mib"`
	// With --data: the loader's rate alone, and training fed by it (the
	// loader's waits included) with its workers sharing the cores.
	Data                  string  `json:"data,omitempty"`
	Workers               int     `json:"workers,omitempty"`
	LoaderImagesPerSecond float64 `json:"loader_images_per_second,omitempty"`
	FedImagesPerSecond    float64 `json:"fed_images_per_second,omitempty"`
	// Torch is the peer's faster configuration, the one Ratio is taken
	// against; TorchConfigs has every configuration measured.
	Torch        *bench.TorchResult   `json:"torch,omitempty"`
	TorchConfigs []*bench.TorchResult `json:"torch_configs,omitempty"`
	Ratio        float64              `json:"ratio_to_torch,omitempty"`
}

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure bot-onnx against Debian's PyTorch",
		Subcommands: []*cli.Command{{
			Name:      "train",
			Usage:     "training throughput (images/s, median of timed steps on random data) and peak memory, beside PyTorch's",
			UsageText: "bot-onnx bench train --model resnet20 --batch 128 --input 3x32x32 [--variant A] [--precision fp32|bf16] [--steps 20] [--threads T] [--data folder:DIR [--workers W]] [--peer torch|none] [--json]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Value: "resnet20", Usage: "model name (see `bot-onnx models`)"},
				&cli.StringFlag{Name: "variant", Value: "A", Usage: "A, B, C or D"},
				&cli.IntFlag{Name: "batch", Value: 128},
				&cli.StringFlag{Name: "input", Value: "3x32x32", Usage: "input size CxHxW"},
				&cli.IntFlag{Name: "classes", Usage: "classes (default: the model's)"},
				&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "fp32, or bf16: bot-onnx's bfloat16 convolutions beside PyTorch's torch.autocast bfloat16"},
				&cli.IntFlag{Name: "steps", Value: 20, Usage: "timed steps"},
				&cli.IntFlag{Name: "warmup", Value: 3, Usage: "untimed steps first"},
				&cli.IntFlag{Name: "threads", Value: goruntime.NumCPU(), Usage: "replicas for bot-onnx, threads for PyTorch"},
				&cli.StringFlag{Name: "data", Usage: "folder:DIR: also measure the loader (decode + the paper's augmentation of DIR/train) alone and feeding the trainer"},
				&cli.IntFlag{Name: "workers", Value: goruntime.NumCPU(), Usage: "loader goroutines with --data"},
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
	if c.Int("steps") < 1 || c.Int("batch") < 1 || c.Int("threads") < 1 {
		return fmt.Errorf("--steps, --batch and --threads must be positive")
	}
	if p := c.String("peer"); p != "torch" && p != "none" {
		return fmt.Errorf("--peer %q: expected torch or none", p)
	}
	precision, err := kernel.ParsePrecision(c.String("precision"))
	if err != nil {
		return fmt.Errorf("--precision %q: expected fp32 or bf16", c.String("precision"))
	}
	passes, err := tweaks.ForVariant(c.String("variant"))
	if err != nil {
		return fmt.Errorf("--variant: %w", err)
	}
	m, err := models.Build(models.Config{Model: c.String("model"), Classes: c.Int("classes"), InChannels: int(dims[0]), Height: int(dims[1]), Width: int(dims[2])})
	if err != nil {
		return err
	}
	if m, _, err = tweaks.Apply(m, passes, tweaks.Options{}); err != nil {
		return err
	}
	times, err := train.StepTimes(m, c.Int("batch"), c.Int("threads"), precision, c.Int("warmup"), c.Int("steps"), nil)
	if err != nil {
		return err
	}
	res := trainBench{Model: c.String("model"), Variant: strings.ToUpper(c.String("variant")), Batch: c.Int("batch"), Input: c.String("input"),
		Threads: c.Int("threads"), Precision: precision.String(), CPU: kernel.CPUName(), ISA: kernel.HostFeatures().ISA(),
		ImagesPerSecond: float64(c.Int("batch")) / train.Median(times).Seconds(), PeakRSSMiB: peakRSSMiB()}
	for _, t := range times {
		res.StepMS = append(res.StepMS, float64(t)/float64(time.Millisecond))
	}
	if c.IsSet("data") {
		if err := benchLoader(c, m, precision, &res, dims); err != nil {
			return err
		}
	}
	if c.String("peer") == "torch" {
		for _, format := range bench.MemoryFormats {
			t, err := bench.TorchTrain(bench.TrainOptions{Model: res.Model, Variant: res.Variant, Batch: res.Batch, Input: res.Input,
				Classes: c.Int("classes"), Warmup: c.Int("warmup"), Steps: c.Int("steps"), Threads: res.Threads, MemoryFormat: format, Precision: res.Precision})
			if err != nil {
				return err
			}
			res.TorchConfigs = append(res.TorchConfigs, t)
			if res.Torch == nil || t.ImagesPerSecond > res.Torch.ImagesPerSecond {
				res.Torch = t
			}
		}
		res.Ratio = res.ImagesPerSecond / res.Torch.ImagesPerSecond
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "cpu       %s (%s)\n", res.CPU, res.ISA)
	fmt.Fprintf(c.App.Writer, "bot-onnx  %s-%s batch %d %s %s, %d replicas: %.1f images/s (median of %d steps), peak RSS %.0f MiB\n",
		res.Model, res.Variant, res.Batch, res.Input, res.Precision, res.Threads, res.ImagesPerSecond, len(times), res.PeakRSSMiB)
	if res.Data != "" {
		fmt.Fprintf(c.App.Writer, "loader    %s, %d workers: %.1f images/s alone (%.2f× the trainer); training fed by it: %.1f images/s (%.2f× random data)\n",
			res.Data, res.Workers, res.LoaderImagesPerSecond, res.LoaderImagesPerSecond/res.ImagesPerSecond,
			res.FedImagesPerSecond, res.FedImagesPerSecond/res.ImagesPerSecond)
	}
	for _, t := range res.TorchConfigs {
		fmt.Fprintf(c.App.Writer, "PyTorch   %s %s %s, %d threads: %.1f images/s, peak RSS %.0f MiB\n",
			t.Torch, t.MemoryFormat, t.Precision, t.Threads, t.ImagesPerSecond, t.PeakRSSMiB)
	}
	if res.Torch != nil {
		fmt.Fprintf(c.App.Writer, "ratio     %.2f× PyTorch's faster configuration (%s)\n", res.Ratio, res.Torch.MemoryFormat)
	}
	return nil
}

// peakRSSMiB reads the process's peak resident memory (VmHWM) on Linux;
// 0 where /proc is missing.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
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
