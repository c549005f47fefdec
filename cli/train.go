package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/mpi"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/urfave/cli/v2"
)

func trainCommand() *cli.Command { return trainCommandInto(new(train.Config)) }

// trainCommandInto returns the train command, whose flags set cfg.
func trainCommandInto(cfg *train.Config) *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train an ONNX ResNet in Go with the paper's recipes (baseline, efficient training, refinements)",
		UsageText: "bot-onnx train --model m.onnx --data mnist|…|mnist-seg [--data-dir DIR] --epochs N --batch B --lr 0.1 [--lr-mode step] [--lr-steps 30,60,90] [--lr-factor 0.1]\n" +
			"   [--warmup-epochs K] [--linear-scaling] [--wd 1e-4] [--momentum 0.9] [--seed S] [--threads T] [--precision bf16] [--init trained.onnx] --out DIR [--resume]",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "a YAML recipe whose keys are these flags' names; flags given on the command line win"},
			&cli.StringFlag{Name: "model", Destination: &cfg.Model, Usage: "the .onnx model to train (BatchNorm as nodes)"},
			&cli.StringFlag{Name: "init", Destination: &cfg.Init, Usage: "an .onnx whose weights, matched by name and shape, start the run (fine-tuning)"},
			&cli.StringFlag{Name: "data", Destination: &cfg.Data.Set, Usage: "data set: mnist, fashion-mnist, cifar10[:DIR] (CIFAR-10 binary batches), folder:DIR (DIR/train/<class>/*.jpg|png and DIR/val/<class>/…), mnist-seg (digit canvases labelled per pixel, for models with per-pixel logits), or mnist-det (the same canvases with a box per digit, for CenterNet heads)"},
			&cli.StringFlag{Name: "data-dir", Destination: &cfg.Data.Dir, Usage: "folder of the data set's files (default: the set-up cache)"},
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
			&cli.Float64Flag{Name: "val-crop-ratio", Destination: &cfg.Data.ValCropRatio, Value: augment.DefaultCropRatio, Usage: "folders: validation images resized to size/ratio on the shorter side, then centre-cropped"},
			&cli.BoolFlag{Name: "skip-bad", Destination: &cfg.Data.SkipBad, Usage: "folders: skip image files that do not decode, with a warning and a count (default: stop at the first)"},
			&cli.IntFlag{Name: "workers", Destination: &cfg.Engine.Workers, Usage: "goroutines decoding and augmenting ahead of the trainer (default: one per core for folders, 1 otherwise)"},
			&cli.IntFlag{Name: "train-limit", Destination: &cfg.Data.TrainLimit, Usage: "train on this many training examples drawn once with --seed (0: all)"},
			&cli.Float64Flag{Name: "wd", Destination: &cfg.Recipe.WeightDecay, Value: ablation.Paper.WeightDecay, Usage: "weight decay (L2 term of the gradient)"},
			&cli.BoolFlag{Name: "no-wd-bias", Destination: &cfg.Recipe.NoWDBias, Usage: "no weight decay on rank-1 parameters (biases, BatchNorm γ and β)"},
			&cli.Float64Flag{Name: "momentum", Destination: &cfg.Recipe.Momentum, Value: ablation.Paper.Momentum, Usage: "Nesterov momentum (LARS: heavy-ball momentum)"},
			&cli.StringFlag{Name: "optimizer", Destination: &cfg.Recipe.Optimizer, Value: "nag", Usage: "nag, or lars (layer-wise rates for very large batches; rank-1 parameters excluded)"},
			&cli.Float64Flag{Name: "lars-trust", Destination: &cfg.Recipe.LARSTrust, Value: 0.001, Usage: "LARS trust coefficient η"},
			&cli.BoolFlag{Name: "zero-gamma", Destination: &cfg.Recipe.ZeroGamma, Usage: "start the last BatchNorm of every residual block at γ = 0"},
			&cli.Float64Flag{Name: "label-smoothing", Destination: &cfg.Recipe.LabelSmoothing, Usage: "label smoothing ε (0: off)"},
			&cli.StringFlag{Name: "smoothing", Value: "uniform", Usage: "uniform: ε/K on every class (GluonCV, timm, torchvision); paper: ε/(K−1) on each wrong class"},
			&cli.Float64Flag{Name: "mixup", Destination: &cfg.Recipe.Mixup, Usage: "mixup α: λ ~ Beta(α, α) per batch, the batch mixed with itself reversed (0: off)"},
			&cli.IntFlag{Name: "mixup-off-epochs", Destination: &cfg.Recipe.MixupOffEpochs, Usage: "train the last N epochs without mixup"},
			&cli.StringFlag{Name: "teacher", Destination: &cfg.Recipe.Teacher, Usage: "an .onnx classifier to distil from, run in ONNX Runtime on each (mixed) batch"},
			&cli.Float64Flag{Name: "temperature", Destination: &cfg.Recipe.Distill.T, Value: ablation.Paper.Distill.T, Usage: "distillation temperature T"},
			&cli.Float64Flag{Name: "hard-weight", Destination: &cfg.Recipe.Distill.Hard, Value: ablation.Paper.Distill.Hard, Usage: "weight of the loss against the labels (paper 1, GluonCV 0.5)"},
			&cli.Float64Flag{Name: "distill-weight", Destination: &cfg.Recipe.Distill.Soft, Value: ablation.Paper.Distill.Soft, Usage: "weight of T²·CE(softmax(teacher/T), softmax(student/T)) (paper 1, GluonCV 0.5)"},
			&cli.StringFlag{Name: "ort-lib", Destination: &cfg.Engine.TeacherLib, Usage: "ONNX Runtime library for the teacher (else the usual search)"},
			&cli.Uint64Flag{Name: "seed", Destination: &cfg.Seed, Usage: "seed of the data order"},
			&cli.IntFlag{Name: "threads", Destination: &cfg.Engine.Threads, Usage: "replicas, each on its share of the batch (default: one per core)"},
			&cli.IntFlag{Name: "micro-batch", Destination: &cfg.Engine.MicroBatch, Usage: "run the batch in chunks of this size and accumulate their gradients (must divide --batch)"},
			&cli.StringFlag{Name: "precision", Value: "fp32", Usage: "fp32, or bf16: bfloat16 inputs to the convolutions with float32 accumulation, weights and everything else float32 (CPUs with AVX512_BF16 or AMX-BF16)"},
			&cli.StringFlag{Name: "out", Destination: &cfg.Out, Usage: "run folder: model.onnx, metrics.jsonl, checkpoint.bin"},
			&cli.BoolFlag{Name: "resume", Destination: &cfg.Resume, Usage: "continue the run in --out from its last checkpoint"},
			memoryLimitFlag(),
		}, slices.Concat(scheduleFlags(&cfg.Recipe, 1, 128, 0.1, "30,60,90"), canvasFlags(&cfg.Data.Canvas))...),
		Action: func(c *cli.Context) error {
			return distributed(c, func(w *mpi.World) error { return trainAction(c, cfg, w) })
		},
	}
}

// trainAction trains cfg, as rank w of an MPI world when w is not nil.
func trainAction(c *cli.Context, cfg *train.Config, w *mpi.World) error {
	if err := trainConfig(c, cfg, w == nil || w.Rank() == 0); err != nil {
		return err
	}
	joinGroup(cfg, w)
	ctx, stop := interruptible(c)
	defer stop()
	metrics, err := train.Train(ctx, *cfg)
	if err != nil {
		return interrupted(ctx, cmdline.InFlags(err, trainFieldFlags(c, cfg)), "run again with --resume to continue from the last completed epoch")
	}
	if w != nil && w.Rank() != 0 {
		return nil
	}
	last := metrics[len(metrics)-1]
	score := fmt.Sprintf("test top-1 %.2f%%", 100*last.TestTop1)
	switch {
	case cfg.Data.Set == train.DetectionDataSets:
		score = fmt.Sprintf("test VOC07 AP50 %.4f, COCO AP %.4f", last.VOC07AP50, last.COCOAP)
	case cfg.Data.Canvas.Size > 0:
		score = fmt.Sprintf("test pixel accuracy %.2f%%, mean IoU %.4f", 100*last.PixelAccuracy, last.MeanIoU)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s: %d epochs, %s, loss %.4f; metrics in %s\n",
		filepath.Join(cfg.Out, train.ModelFile), last.Epoch, score, last.TestLoss, filepath.Join(cfg.Out, train.MetricsFile))
	return nil
}

// trainConfig completes cfg, which train's flags set, with the recipe of
// --config under them and the settings read by conversion. Only the
// process that writes the run folder (writer) checks it.
func trainConfig(c *cli.Context, cfg *train.Config, writer bool) (err error) {
	if c.IsSet("config") {
		if err := cmdline.ApplyRecipe(c, c.String("config")); err != nil {
			return err
		}
	}
	for _, required := range []string{"model", "data", "out"} {
		if c.String(required) == "" {
			return fmt.Errorf("--%s is required (on the command line or in --config)", required)
		}
	}
	if err := dependentFlags(c); err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Out); writer && cfg.Resume && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--resume: --out %s does not exist, so there is no run to continue; leave out --resume to start one", cfg.Out)
	}
	if cfg.Recipe.Cosine, cfg.Recipe.DecayEpochs, err = readSchedule(c); err != nil {
		return err
	}
	if cfg.Recipe.Smoothing, err = train.ParseSmoothing(c.String("smoothing")); err != nil {
		return fmt.Errorf("--smoothing: %w", err)
	}
	if cfg.Data.Mean, cfg.Data.Std, err = normFlags(c); err != nil {
		return err
	}
	if cfg.Data.Augment, err = augmentFlags(c); err != nil {
		return err
	}
	if err := canvasOptions(c, &cfg.Data.Canvas, false); err != nil {
		return err
	}
	if cfg.Engine.MemoryLimit, err = memoryLimitFrom(c); err != nil {
		return err
	}
	if cfg.Engine.Precision, err = kernel.ParsePrecision(c.String("precision")); err != nil {
		return fmt.Errorf("--precision %q: expected fp32 or bf16", c.String("precision"))
	}
	cfg.Log = c.App.ErrWriter
	return nil
}

// trainFieldFlags names train's flags by the train.Config field each sets.
func trainFieldFlags(c *cli.Context, cfg *train.Config) map[string]string {
	return cmdline.FieldFlags(cfg, c.Command.Flags, map[string]string{
		"Recipe.DecayEpochs": "--lr-steps", "Recipe.Cosine": "--lr-mode cosine", "Recipe.Smoothing": "--smoothing",
		"Data.Mean": "--mean", "Data.Std": "--std", "Data.Augment": "the augmentation flags (--random-crop, --flip, …)",
		"Engine.Precision": "--precision", "Engine.MemoryLimit": "--memory-limit",
	})
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
func scheduleFlags(r *train.Recipe, epochs, batch int, lr float64, stepsExample string) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "epochs", Destination: &r.Epochs, Value: epochs, Usage: "passes over the training set"},
		&cli.IntFlag{Name: "batch", Destination: &r.Batch, Value: batch, Usage: "images a step"},
		&cli.Float64Flag{Name: "lr", Destination: &r.LR, Value: lr, Usage: "base learning rate"},
		&cli.StringFlag{Name: "lr-mode", Value: "step", Usage: "learning-rate schedule: step, or cosine (per batch, after warmup)"},
		&cli.StringFlag{Name: "lr-steps", Usage: "epochs at which the step schedule decays, e.g. " + stepsExample},
		&cli.Float64Flag{Name: "lr-factor", Destination: &r.DecayFactor, Value: 0.1, Usage: "decay factor of the step schedule"},
		&cli.IntFlag{Name: "warmup-epochs", Destination: &r.WarmupEpochs, Usage: "linear warmup from 0 over this many epochs, counted in batches"},
		&cli.BoolFlag{Name: "linear-scaling", Destination: &r.LinearScaling, Usage: "scale the learning rate by batch/256"},
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
	steps, err = cmdline.Ints("lr-steps", c.String("lr-steps"))
	if cosine && len(steps) > 0 {
		return false, nil, fmt.Errorf("--lr-steps %s: the cosine schedule takes no decay epochs", c.String("lr-steps"))
	}
	return cosine, steps, err
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
	area, err := cmdline.Floats("crop-area", c.String("crop-area"), 2)
	if err != nil {
		return nil, err
	}
	aspect, err := cmdline.Floats("crop-aspect", c.String("crop-aspect"), 2)
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
	if mean, err = cmdline.Floats("mean", c.String("mean"), 0); err != nil {
		return nil, nil, err
	}
	std, err = cmdline.Floats("std", c.String("std"), 0)
	return mean, std, err
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
		{canvasFlagNames, train.CanvasSet(c.String("data")), "--data mnist-seg or mnist-det"},
	} {
		for _, f := range d.flags {
			if c.IsSet(f) && !d.on {
				return fmt.Errorf("--%s has no effect without %s", f, d.needs)
			}
		}
	}
	return nil
}
