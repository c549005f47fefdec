package cli

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/urfave/cli/v2"
)

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train an ONNX ResNet in Go with the paper's recipes (baseline, efficient training, refinements)",
		UsageText: "bot-onnx train --model m.onnx --data mnist|…|mnist-seg [--data-dir DIR] --epochs N --batch B --lr 0.1 [--lr-mode step] [--lr-steps 30,60,90] [--lr-factor 0.1]\n" +
			"   [--warmup-epochs K] [--linear-scaling] [--wd 1e-4] [--momentum 0.9] [--seed S] [--threads T] [--precision bf16] [--init trained.onnx] --out DIR [--resume]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "a YAML recipe whose keys are these flags' names; flags given on the command line win"},
			&cli.StringFlag{Name: "model", Usage: "the .onnx model to train (BatchNorm as nodes)"},
			&cli.StringFlag{Name: "init", Usage: "an .onnx whose weights, matched by name and shape, start the run (fine-tuning)"},
			&cli.StringFlag{Name: "data", Usage: "data set: mnist, fashion-mnist, cifar10[:DIR] (CIFAR-10 binary batches), folder:DIR (DIR/train/<class>/*.jpg|png and DIR/val/<class>/…), or mnist-seg (digit canvases labelled per pixel, for models with per-pixel logits)"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache)"},
			&cli.StringFlag{Name: "mean", Usage: "per-channel mean in [0,1] units, e.g. 0.485,0.456,0.406 (default: the data set's; ImageNet's for folders)"},
			&cli.StringFlag{Name: "std", Usage: "per-channel standard deviation in [0,1] units (default: as --mean)"},
			&cli.BoolFlag{Name: "random-crop", Value: true, Usage: "folders: random-resized crop to the model's size (else resize and centre crop as validation)"},
			&cli.StringFlag{Name: "crop-area", Value: "0.08,1", Usage: "folders: the random crop's range of area fractions"},
			&cli.StringFlag{Name: "crop-aspect", Value: "0.75,1.3333333333333333", Usage: "folders: the random crop's range of aspect ratios (w/h, drawn log-uniformly)"},
			&cli.BoolFlag{Name: "flip", Value: true, Usage: "folders: horizontal flip with p = 0.5"},
			&cli.Float64Flag{Name: "brightness", Value: 0.4, Usage: "folders: brightness scaled by U[1−s, 1+s] (0: off)"},
			&cli.Float64Flag{Name: "contrast", Value: 0.4, Usage: "folders: contrast scaled by U[1−s, 1+s] (0: off)"},
			&cli.Float64Flag{Name: "saturation", Value: 0.4, Usage: "folders: saturation scaled by U[1−s, 1+s] (0: off)"},
			&cli.Float64Flag{Name: "lighting", Value: 0.1, Usage: "folders: std of the PCA lighting noise on ImageNet's eigenvectors (0: off; RGB models only)"},
			&cli.Float64Flag{Name: "val-crop-ratio", Value: augment.DefaultCropRatio, Usage: "folders: validation images resized to size/ratio on the shorter side, then centre-cropped"},
			&cli.BoolFlag{Name: "skip-bad", Usage: "folders: skip image files that do not decode, with a warning and a count (default: stop at the first)"},
			&cli.IntFlag{Name: "workers", Usage: "goroutines decoding and augmenting ahead of the trainer (default: one per core for folders, 1 otherwise)"},
			&cli.IntFlag{Name: "train-limit", Usage: "train on this many training examples drawn once with --seed (0: all)"},
			&cli.Float64Flag{Name: "wd", Value: ablation.Paper.WeightDecay, Usage: "weight decay (L2 term of the gradient)"},
			&cli.BoolFlag{Name: "no-wd-bias", Usage: "no weight decay on rank-1 parameters (biases, BatchNorm γ and β)"},
			&cli.Float64Flag{Name: "momentum", Value: ablation.Paper.Momentum, Usage: "Nesterov momentum (LARS: heavy-ball momentum)"},
			&cli.StringFlag{Name: "optimizer", Value: "nag", Usage: "nag, or lars (layer-wise rates for very large batches; rank-1 parameters excluded)"},
			&cli.Float64Flag{Name: "lars-trust", Value: 0.001, Usage: "LARS trust coefficient η"},
			&cli.BoolFlag{Name: "zero-gamma", Usage: "start the last BatchNorm of every residual block at γ = 0"},
			&cli.Float64Flag{Name: "label-smoothing", Usage: "label smoothing ε (0: off)"},
			&cli.StringFlag{Name: "smoothing", Value: "uniform", Usage: "uniform: ε/K on every class (GluonCV, timm, torchvision); paper: ε/(K−1) on each wrong class"},
			&cli.Float64Flag{Name: "mixup", Usage: "mixup α: λ ~ Beta(α, α) per batch, the batch mixed with itself reversed (0: off)"},
			&cli.IntFlag{Name: "mixup-off-epochs", Usage: "train the last N epochs without mixup"},
			&cli.StringFlag{Name: "teacher", Usage: "an .onnx classifier to distil from, run in ONNX Runtime on each (mixed) batch"},
			&cli.Float64Flag{Name: "temperature", Value: ablation.Paper.Distill.T, Usage: "distillation temperature T"},
			&cli.Float64Flag{Name: "hard-weight", Value: ablation.Paper.Distill.Hard, Usage: "weight of the loss against the labels (paper 1, GluonCV 0.5)"},
			&cli.Float64Flag{Name: "distill-weight", Value: ablation.Paper.Distill.Soft, Usage: "weight of T²·CE(softmax(teacher/T), softmax(student/T)) (paper 1, GluonCV 0.5)"},
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime library for the teacher (else the usual search)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the data order"},
			&cli.IntFlag{Name: "threads", Usage: "replicas, each on its share of the batch (default: one per core)"},
			&cli.IntFlag{Name: "micro-batch", Usage: "run the batch in chunks of this size and accumulate their gradients (must divide --batch)"},
			&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "fp32, or bf16: bfloat16 inputs to the convolutions with float32 accumulation, weights and everything else float32 (CPUs with AVX512_BF16 or AMX-BF16)"},
			&cli.StringFlag{Name: "out", Usage: "run folder: model.onnx, metrics.jsonl, checkpoint.bin"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last checkpoint"},
			memoryLimitFlag(),
		}, slices.Concat(scheduleFlags(1, 128, 0.1, "30,60,90"), canvasFlags())...),
		Action: func(c *cli.Context) error {
			cfg, err := trainConfig(c)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(c)
			defer stop()
			metrics, err := train.Train(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; run again with --resume to continue from the last completed epoch")
				}
				return inFlags(err, trainFieldFlags)
			}
			last := metrics[len(metrics)-1]
			score := fmt.Sprintf("test top-1 %.2f%%", 100*last.TestTop1)
			if cfg.Data.Canvas.Size > 0 {
				score = fmt.Sprintf("test pixel accuracy %.2f%%, mean IoU %.4f", 100*last.PixelAccuracy, last.MeanIoU)
			}
			fmt.Fprintf(c.App.Writer, "wrote %s: %d epochs, %s, loss %.4f; metrics in %s\n",
				filepath.Join(cfg.Out, train.ModelFile), last.Epoch, score, last.TestLoss, filepath.Join(cfg.Out, train.MetricsFile))
			return nil
		},
	}
}

// trainConfig reads train's flags, with the recipe of --config under them,
// into a train.Config.
func trainConfig(c *cli.Context) (train.Config, error) {
	if c.IsSet("config") {
		if err := applyRecipe(c, c.String("config")); err != nil {
			return train.Config{}, err
		}
	}
	for _, required := range []string{"model", "data", "out"} {
		if c.String(required) == "" {
			return train.Config{}, fmt.Errorf("--%s is required (on the command line or in --config)", required)
		}
	}
	if err := dependentFlags(c); err != nil {
		return train.Config{}, err
	}
	cosine, steps, err := readSchedule(c)
	if err != nil {
		return train.Config{}, err
	}
	smoothing, err := train.ParseSmoothing(c.String("smoothing"))
	if err != nil {
		return train.Config{}, fmt.Errorf("--smoothing: %w", err)
	}
	mean, std, err := normFlags(c)
	if err != nil {
		return train.Config{}, err
	}
	aug, err := augmentFlags(c)
	if err != nil {
		return train.Config{}, err
	}
	canvas, err := canvasOptions(c)
	if err != nil {
		return train.Config{}, err
	}
	memoryLimit, err := memoryLimitFrom(c)
	if err != nil {
		return train.Config{}, err
	}
	precision, err := kernel.ParsePrecision(c.String("precision"))
	if err != nil {
		return train.Config{}, fmt.Errorf("--precision %q: expected fp32 or bf16", c.String("precision"))
	}
	return train.Config{
		Model: c.String("model"), Init: c.String("init"), Seed: c.Uint64("seed"),
		Data: train.DataConfig{
			Set: c.String("data"), Dir: c.String("data-dir"), Canvas: canvas, Mean: mean, Std: std, Augment: aug,
			ValCropRatio: c.Float64("val-crop-ratio"), SkipBad: c.Bool("skip-bad"), TrainLimit: c.Int("train-limit"),
		},
		Recipe: train.Recipe{
			Epochs: c.Int("epochs"), Batch: c.Int("batch"), LR: c.Float64("lr"), LinearScaling: c.Bool("linear-scaling"),
			DecayEpochs: steps, DecayFactor: c.Float64("lr-factor"), Cosine: cosine, WarmupEpochs: c.Int("warmup-epochs"),
			WeightDecay: c.Float64("wd"), Momentum: c.Float64("momentum"), NoWDBias: c.Bool("no-wd-bias"), ZeroGamma: c.Bool("zero-gamma"),
			Optimizer: c.String("optimizer"), LARSTrust: c.Float64("lars-trust"),
			LabelSmoothing: c.Float64("label-smoothing"), Smoothing: smoothing, Mixup: c.Float64("mixup"), MixupOffEpochs: c.Int("mixup-off-epochs"),
			Teacher: c.String("teacher"), Distill: train.Distillation{T: c.Float64("temperature"), Hard: c.Float64("hard-weight"), Soft: c.Float64("distill-weight")},
		},
		Engine: train.Engine{
			Threads: c.Int("threads"), MicroBatch: c.Int("micro-batch"), Precision: precision, Workers: c.Int("workers"),
			TeacherLib: c.String("ort-lib"), MemoryLimit: memoryLimit,
		},
		Out: c.String("out"), Resume: c.Bool("resume"), Log: c.App.ErrWriter,
	}, nil
}

// memoryLimitFlag is --memory-limit of the commands that train.
func memoryLimitFlag() cli.Flag {
	return &cli.StringFlag{Name: "memory-limit", Usage: "memory the run may use, e.g. 4GiB or 512MiB: a run estimated to need more is refused before it trains (default: what the system and its cgroup leave)"}
}

// memoryLimitFrom reads --memory-limit in bytes (0 when not given).
func memoryLimitFrom(c *cli.Context) (int64, error) {
	if !c.IsSet("memory-limit") {
		return 0, nil
	}
	n, err := train.ParseBytes(c.String("memory-limit"))
	if err != nil {
		return 0, fmt.Errorf("--memory-limit: %w", err)
	}
	return n, nil
}

// scheduleFlags are the flags of a learning-rate schedule, which train,
// transfer and schedule share; the defaults and the example of --lr-steps
// are each command's.
func scheduleFlags(epochs, batch int, lr float64, stepsExample string) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "epochs", Value: epochs, Usage: "passes over the training set"},
		&cli.IntFlag{Name: "batch", Value: batch, Usage: "images a step"},
		&cli.Float64Flag{Name: "lr", Value: lr, Usage: "base learning rate"},
		&cli.StringFlag{Name: "lr-mode", Value: "step", Usage: "learning-rate schedule: step, or cosine (per batch, after warmup)"},
		&cli.StringFlag{Name: "lr-steps", Usage: "epochs at which the step schedule decays, e.g. " + stepsExample},
		&cli.Float64Flag{Name: "lr-factor", Value: 0.1, Usage: "decay factor of the step schedule"},
		&cli.IntFlag{Name: "warmup-epochs", Usage: "linear warmup from 0 over this many epochs, counted in batches"},
		&cli.BoolFlag{Name: "linear-scaling", Usage: "scale the learning rate by batch/256"},
	}
}

// readSchedule reads --lr-mode and --lr-steps.
func readSchedule(c *cli.Context) (cosine bool, steps []int, err error) {
	switch mode := c.String("lr-mode"); mode {
	case "step":
	case "cosine":
		cosine = true
	default:
		return false, nil, fmt.Errorf("--lr-mode %q: expected step or cosine", mode)
	}
	steps, err = parseInts("lr-steps", c.String("lr-steps"))
	if cosine && len(steps) > 0 {
		return false, nil, fmt.Errorf("--lr-steps %s: the cosine schedule takes no decay epochs", c.String("lr-steps"))
	}
	return cosine, steps, err
}

// parseInts reads a comma-separated list of positive integers.
func parseInts(flag, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: expected positive integers like 30,60,90, found %q", flag, s, part)
		}
		out = append(out, n)
	}
	return out, nil
}

// augmentFlags reads the folder augmentation flags. It returns nil (the
// paper's augmentation) when none is set, so that in-memory data sets,
// which take no augmentation, can refuse the flags when one is.
func augmentFlags(c *cli.Context) (*augment.TrainOptions, error) {
	names := []string{"random-crop", "crop-area", "crop-aspect", "flip", "brightness", "contrast", "saturation", "lighting"}
	if !slices.ContainsFunc(names, c.IsSet) {
		return nil, nil
	}
	o := augment.DefaultTrainOptions(0)
	area, err := parseFloats("crop-area", c.String("crop-area"), 2)
	if err != nil {
		return nil, err
	}
	aspect, err := parseFloats("crop-aspect", c.String("crop-aspect"), 2)
	if err != nil {
		return nil, err
	}
	o.Crop, o.MinArea, o.MaxArea, o.MinRatio, o.MaxRatio = c.Bool("random-crop"), area[0], area[1], aspect[0], aspect[1]
	o.CropRatio = c.Float64("val-crop-ratio")
	o.Flip = c.Bool("flip")
	o.Brightness, o.Contrast, o.Saturation = c.Float64("brightness"), c.Float64("contrast"), c.Float64("saturation")
	o.Jitter = o.Brightness != 0 || o.Contrast != 0 || o.Saturation != 0
	o.LightingStd = c.Float64("lighting")
	o.Lighting = o.LightingStd != 0
	return &o, nil
}

// normFlags reads --mean and --std: both or neither.
func normFlags(c *cli.Context) (mean, std []float64, err error) {
	if c.String("mean") == "" && c.String("std") == "" {
		return nil, nil, nil
	}
	if mean, err = parseFloats("mean", c.String("mean"), 0); err != nil {
		return nil, nil, err
	}
	if std, err = parseFloats("std", c.String("std"), 0); err != nil {
		return nil, nil, err
	}
	if len(mean) != len(std) {
		return nil, nil, fmt.Errorf("--mean %q and --std %q: expected as many values in each, one a channel", c.String("mean"), c.String("std"))
	}
	return mean, std, nil
}

// parseFloats reads a comma-separated list of finite numbers; want > 0
// asks for exactly that many.
func parseFloats(flag, s string, want int) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--%s %q: expected comma-separated numbers, found %q", flag, s, part)
		}
		out = append(out, v)
	}
	if want > 0 && len(out) != want {
		return nil, fmt.Errorf("--%s %q: expected %d numbers, found %d", flag, s, want, len(out))
	}
	return out, nil
}

// dependentFlags refuses an option set without the one that gives it a
// meaning, rather than ignoring it.
func dependentFlags(c *cli.Context) error {
	for _, d := range []struct {
		flags []string
		on    bool
		needs string
	}{
		{[]string{"temperature", "hard-weight", "distill-weight", "ort-lib"}, c.String("teacher") != "", "--teacher"},
		{[]string{"mixup-off-epochs"}, c.Float64("mixup") > 0, "--mixup"},
		{[]string{"smoothing"}, c.Float64("label-smoothing") > 0, "--label-smoothing"},
		{[]string{"lars-trust"}, c.String("optimizer") == "lars", "--optimizer lars"},
		{[]string{"lr-steps", "lr-factor"}, c.String("lr-mode") == "step", "--lr-mode step"},
		{canvasFlagNames, c.String("data") == "mnist-seg", "--data mnist-seg"},
	} {
		for _, f := range d.flags {
			if c.IsSet(f) && !d.on {
				return fmt.Errorf("--%s has no effect without %s", f, d.needs)
			}
		}
	}
	return nil
}
