package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
	"github.com/urfave/cli/v2"
)

func transferCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfer",
		Usage: "fine-tune an exported backbone on a downstream task (classify, segment), export the result and evaluate it in ONNX Runtime",
		UsageText: "bot-onnx transfer --backbone b.onnx --task classify|segment --data … [--feature NAME] --epochs N [--freeze-backbone | --backbone-lr-mult 0.1]\n" +
			"   [--classes K] [--batch B] [--lr 0.01] [--lr-mode step|cosine] [--warmup-epochs K] [--wd 1e-4] [--momentum 0.9] [--seed S] [--threads T]\n" +
			"   [--provider auto|cpu|cuda|tensorrt] [--device-id N] [--ort-lib PATH] --out DIR [--resume] [--json]",
		Description: "Tasks: " + transfer.TaskSummary() + ".\n" +
			"DIR receives grafted.onnx (the backbone with its new head), run/ (the training run), model.onnx (the\n" +
			"fine-tuned model, exported and verified), metrics.json (the engine's last evaluation and ONNX\n" +
			"Runtime's) and, for segmentation, prediction-<i>.png (test examples, their ground truth and prediction).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "backbone", Usage: "an exported backbone (bot-onnx export --head none) with a fixed input size"},
		}, transferFlags()...),
		Action: func(c *cli.Context) (err error) {
			cfg, err := transferConfigFrom(c)
			if err != nil {
				return err
			}
			cfg.Backbone = c.String("backbone")
			if cfg.Backbone == "" {
				return errors.New("--backbone is required")
			}
			unlock, err := train.LockDir(cfg.Out)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, unlock()) }()
			plan, err := transfer.NewPlan(cfg)
			if err != nil {
				return transferError(err, cfg.Out)
			}
			ctx, stop := interruptible(c)
			defer stop()
			res, err := plan.Run(ctx, transferProgress(c.App.ErrWriter))
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted; run again with --resume to continue from the last completed epoch")
				}
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			return res.WriteText(c.App.Writer)
		},
	}
}

// transferFlags are the options `transfer` and `transfer-study` share:
// the task, the data, the head, how the backbone trains, the schedule and
// optimiser of `train`, and the ONNX Runtime options of `eval`.
func transferFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "task", Usage: "the downstream task: classify or segment"},
		&cli.StringFlag{Name: "data", Usage: "data set: " + train.DataSets + " (classify), or " + train.SegmentationDataSets + " (segment)"},
		&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache; MNIST's for mnist-seg)"},
		&cli.StringFlag{Name: "feature", Usage: "the backbone output the head reads (default: its last output, the deepest stage)"},
		&cli.IntFlag{Name: "classes", Usage: "classes of the new head (default: the data set's)"},
		&cli.BoolFlag{Name: "freeze-backbone", Usage: "train the head only: backbone weights and BatchNorm statistics stay as they are"},
		&cli.Float64Flag{Name: "backbone-lr-mult", Value: 1, Usage: "the backbone's learning rate as a multiple of the head's"},
		&cli.IntFlag{Name: "epochs", Value: 5},
		&cli.IntFlag{Name: "train-limit", Usage: "classify: train on this many training examples drawn once with --seed (0: all)"},
		&cli.IntFlag{Name: "batch", Value: 64},
		&cli.Float64Flag{Name: "lr", Value: 0.01, Usage: "base learning rate (of the head)"},
		&cli.StringFlag{Name: "lr-mode", Value: "step", Usage: "learning-rate schedule: step, or cosine (per batch, after warmup)"},
		&cli.StringFlag{Name: "lr-steps", Usage: "epochs at which the step schedule decays, e.g. 3,4"},
		&cli.Float64Flag{Name: "lr-factor", Value: 0.1, Usage: "decay factor of the step schedule"},
		&cli.IntFlag{Name: "warmup-epochs", Usage: "linear warmup from 0 over this many epochs, counted in batches"},
		&cli.Float64Flag{Name: "wd", Value: 1e-4, Usage: "weight decay (L2 term of the gradient)"},
		&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "Nesterov momentum"},
		&cli.Uint64Flag{Name: "seed", Usage: "seed of the head's weights and of the data order"},
		&cli.IntFlag{Name: "threads", Usage: "training replicas (0: one per core) and ONNX Runtime intra-op threads (0: its default)"},
		&cli.StringFlag{Name: "out", Usage: "the transfer folder"},
		&cli.BoolFlag{Name: "resume", Usage: "continue the transfer in --out: training resumes from its last checkpoint"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object (what metrics.json holds)"},
		memoryLimitFlag(),
	}
	for _, f := range runtimeFlags() {
		if f.Names()[0] != "threads" {
			flags = append(flags, f)
		}
	}
	return append(flags, replaceFlags(canvasFlags(),
		&cli.IntFlag{Name: "canvas", Usage: "mnist-seg: side of a canvas in pixels (default: the backbone's input size)"})...)
}

// transferConfigFrom reads transferFlags.
func transferConfigFrom(c *cli.Context) (transfer.Config, error) {
	for _, required := range []string{"task", "data", "out"} {
		if c.String(required) == "" {
			return transfer.Config{}, fmt.Errorf("--%s is required", required)
		}
	}
	if err := dependentFlags(c); err != nil {
		return transfer.Config{}, err
	}
	if c.Bool("freeze-backbone") && c.IsSet("backbone-lr-mult") {
		return transfer.Config{}, errors.New("--backbone-lr-mult has no effect with --freeze-backbone (a frozen backbone does not train)")
	}
	cosine, steps, err := readSchedule(c)
	if err != nil {
		return transfer.Config{}, err
	}
	canvas, err := transferCanvas(c)
	if err != nil {
		return transfer.Config{}, err
	}
	ropts, err := runtimeOptions(c)
	if err != nil {
		return transfer.Config{}, err
	}
	memoryLimit, err := memoryLimitFrom(c)
	if err != nil {
		return transfer.Config{}, err
	}
	return transfer.Config{
		Task: c.String("task"), Feature: c.String("feature"), Classes: c.Int("classes"),
		Freeze: c.Bool("freeze-backbone"), BackboneLRMult: c.Float64("backbone-lr-mult"),
		Train: train.Config{
			Seed: c.Uint64("seed"),
			Data: train.DataConfig{Set: c.String("data"), Dir: c.String("data-dir"), Canvas: canvas, TrainLimit: c.Int("train-limit")},
			Recipe: train.Recipe{
				Epochs: c.Int("epochs"), Batch: c.Int("batch"), LR: c.Float64("lr"), DecayEpochs: steps, DecayFactor: c.Float64("lr-factor"),
				Cosine: cosine, WarmupEpochs: c.Int("warmup-epochs"), WeightDecay: c.Float64("wd"), Momentum: c.Float64("momentum"),
			},
			Engine: train.Engine{Threads: c.Int("threads"), MemoryLimit: memoryLimit},
			Log:    c.App.ErrWriter,
		},
		Runtime: ropts, Out: c.String("out"), Resume: c.Bool("resume"), ProducerVersion: Version,
	}, nil
}

// transferCanvas reads the canvas flags; the canvas size is 0 (the
// backbone's input size, set by planTransfer) unless --canvas is given.
func transferCanvas(c *cli.Context) (o data.CanvasOptions, err error) {
	if c.String("data") != "mnist-seg" {
		return o, nil
	}
	o = data.CanvasOptions{Seed: c.Uint64("data-seed"), Size: c.Int("canvas"), Train: c.Int("canvases"), Test: c.Int("test-canvases")}
	if (c.IsSet("canvas") && o.Size < 1) || o.Train < 1 || o.Test < 1 {
		return o, fmt.Errorf("--canvas, --canvases and --test-canvases must be positive, found %d, %d and %d", o.Size, o.Train, o.Test)
	}
	return o, nil
}

// transferFieldFlags are transfer's flags by the transfer.Config field
// each sets; fields of its Train are train's (transferError maps them both
// as train names them and under Train).
var transferFieldFlags = map[string]string{
	"Backbone": "--backbone", "Task": "--task", "Feature": "--feature", "Classes": "--classes",
	"BackboneLRMult": "--backbone-lr-mult",
}

// transferError names the flags of a transfer's refusal.
func transferError(err error, out string) error {
	switch {
	case errors.Is(err, transfer.ErrOutHoldsFiles):
		return fmt.Errorf("%s holds files already: pass --resume to continue the transfer there, or choose another --out", out)
	case errors.Is(err, transfer.ErrStudyExists):
		return fmt.Errorf("%s holds a study already: pass --resume to continue it, or choose another --out", out)
	}
	flags := maps.Clone(trainFieldFlags)
	for field, flag := range trainFieldFlags {
		flags["Train."+field] = flag
	}
	maps.Copy(flags, transferFieldFlags)
	return inFlags(err, flags)
}

// transferProgress shows a transfer's progress on w: ONNX Runtime's
// fallback to the CPU, its evaluation as a bar, and a study's backbones.
func transferProgress(w io.Writer) transfer.Options {
	return transfer.Options{
		Session: func(sess *ort.Session) { noteFallback(w, sess) },
		Eval:    evalBar(w, nil),
		Backbone: func(i, n int, path string, finished bool) {
			if finished {
				fmt.Fprintf(w, "== %d/%d %s: done already\n", i, n, path)
				return
			}
			fmt.Fprintf(w, "== %d/%d %s\n", i, n, path)
		},
	}
}
