package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/mpi"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/transfer"
	"github.com/urfave/cli/v2"
)

func transferCommand() *cli.Command {
	var cfg transfer.Config
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
			&cli.StringFlag{Name: "backbone", Destination: &cfg.Backbone, Usage: "an exported backbone (bot-onnx export --head none) with a fixed input size"},
		}, transferFlags(&cfg)...),
		Action: func(c *cli.Context) error {
			return distributed(c, func(w *mpi.World) error { return transferAction(c, &cfg, w) })
		},
	}
}

// transferAction runs the transfer cfg, as rank w of an MPI world when w
// is not nil: every rank fine-tunes, rank 0 alone writes, exports and
// evaluates.
func transferAction(c *cli.Context, cfg *transfer.Config, w *mpi.World) (err error) {
	if err := transferConfig(c, cfg); err != nil {
		return err
	}
	if cfg.Backbone == "" {
		return errors.New("--backbone is required")
	}
	joinGroup(&cfg.Train, w)
	writer := w == nil || w.Rank() == 0
	if writer {
		unlock, err := train.LockDir(cfg.Out)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, unlock()) }()
	}
	plan, err := transfer.NewPlan(*cfg)
	if err != nil {
		return transferError(c, cfg, err)
	}
	ctx, stop := interruptible(c)
	defer stop()
	o := transfer.Options{}
	if writer {
		o = transferProgress(c.App.ErrWriter)
	}
	res, err := plan.Run(ctx, o)
	if err != nil {
		return interrupted(ctx, err, "run again with --resume to continue from the last completed epoch")
	}
	if !writer {
		return nil
	}
	return cmdline.Print(c, res)
}

// transferFlags are the options `transfer` and `transfer-study` share,
// set in cfg: the task, the data, the head, how the backbone trains, the
// schedule and optimiser of `train`, and the ONNX Runtime options of
// `eval`.
func transferFlags(cfg *transfer.Config) []cli.Flag {
	t := &cfg.Train
	flags := []cli.Flag{
		&cli.StringFlag{Name: "task", Destination: &cfg.Task, Usage: "the downstream task: classify or segment"},
		&cli.StringFlag{Name: "data", Destination: &t.Data.Set, Usage: "data set: " + train.DataSets + " (classify), " + train.SegmentationDataSets + " (segment), or " + train.DetectionDataSets + " (detect)"},
		&cli.StringFlag{Name: "data-dir", Destination: &t.Data.Dir, Usage: "folder of the data set's files (default: the set-up cache; MNIST's for mnist-seg)"},
		&cli.StringFlag{Name: "feature", Destination: &cfg.Feature, Usage: "the backbone output the head reads (default: its last output, the deepest stage)"},
		&cli.IntFlag{Name: "classes", Destination: &cfg.Classes, Usage: "classes of the new head (default: the data set's)"},
		&cli.BoolFlag{Name: "freeze-backbone", Destination: &cfg.Freeze, Usage: "train the head only: backbone weights and BatchNorm statistics stay as they are"},
		&cli.Float64Flag{Name: "backbone-lr-mult", Destination: &cfg.BackboneLRMult, Value: 1, Usage: "the backbone's learning rate as a multiple of the head's"},
		&cli.IntFlag{Name: "train-limit", Destination: &t.Data.TrainLimit, Usage: "classify: train on this many training examples drawn once with --seed (0: all)"},
		&cli.Float64Flag{Name: "wd", Destination: &t.Recipe.WeightDecay, Value: 1e-4, Usage: "weight decay (L2 term of the gradient)"},
		&cli.Float64Flag{Name: "momentum", Destination: &t.Recipe.Momentum, Value: 0.9, Usage: "Nesterov momentum"},
		&cli.Uint64Flag{Name: "seed", Destination: &t.Seed, Usage: "seed of the head's weights and of the data order"},
		&cli.IntFlag{Name: "threads", Destination: &t.Engine.Threads, Usage: "training replicas (0: one per core) and ONNX Runtime intra-op threads (0: its default)"},
		&cli.StringFlag{Name: "out", Destination: &cfg.Out, Usage: "the transfer folder"},
		&cli.BoolFlag{Name: "resume", Destination: &cfg.Resume, Usage: "continue the transfer in --out: training resumes from its last checkpoint"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object (what metrics.json holds)"},
		memoryLimitFlag(),
	}
	flags = append(flags, cmdline.Replace(scheduleFlags(&t.Recipe, 5, 64, 0.01, "3,4"),
		&cli.Float64Flag{Name: "lr", Destination: &t.Recipe.LR, Value: 0.01, Usage: "base learning rate (of the head)"})...)
	for _, f := range runtimeFlags() {
		if f.Names()[0] != "threads" {
			flags = append(flags, f)
		}
	}
	return append(flags, cmdline.Replace(canvasFlags(&t.Data.Canvas),
		&cli.IntFlag{Name: "canvas", Destination: &t.Data.Canvas.Size, Usage: "mnist-seg: side of a canvas in pixels (default: the backbone's input size)"})...)
}

// transferConfig completes cfg, which transferFlags set, with the settings
// read by conversion.
func transferConfig(c *cli.Context, cfg *transfer.Config) (err error) {
	for _, required := range []string{"task", "data", "out"} {
		if c.String(required) == "" {
			return fmt.Errorf("--%s is required", required)
		}
	}
	if err := dependentFlags(c); err != nil {
		return err
	}
	if cfg.Freeze && c.IsSet("backbone-lr-mult") {
		return errors.New("--backbone-lr-mult has no effect with --freeze-backbone (a frozen backbone does not train)")
	}
	if cfg.Train.Recipe.Cosine, cfg.Train.Recipe.DecayEpochs, err = readSchedule(c); err != nil {
		return err
	}
	if err := canvasOptions(c, &cfg.Train.Data.Canvas, true); err != nil {
		return err
	}
	if cfg.Runtime, err = runtimeOptions(c); err != nil {
		return err
	}
	if cfg.Train.Engine.MemoryLimit, err = memoryLimitFrom(c); err != nil {
		return err
	}
	cfg.Train.Log, cfg.ProducerVersion = c.App.ErrWriter, Version
	return nil
}

// transferError names the flags of a transfer's refusal.
func transferError(c *cli.Context, cfg *transfer.Config, err error) error {
	switch {
	case errors.Is(err, transfer.ErrOutHoldsFiles):
		return fmt.Errorf("%s holds files already: pass --resume to continue the transfer there, or choose another --out", cfg.Out)
	case errors.Is(err, transfer.ErrStudyExists):
		return fmt.Errorf("%s holds a study already: pass --resume to continue it, or choose another --out", cfg.Out)
	}
	flags := cmdline.FieldFlags(cfg, c.Command.Flags, map[string]string{
		"Train.Recipe.DecayEpochs": "--lr-steps", "Train.Recipe.Cosine": "--lr-mode cosine", "Train.Engine.MemoryLimit": "--memory-limit",
		"Runtime.Provider": "--provider"})
	// train names the fields of the Config it was given, which is Train.
	for field, flag := range flags {
		if f, ok := strings.CutPrefix(field, "Train."); ok {
			flags[f] = flag
		}
	}
	return cmdline.InFlags(err, flags)
}

// transferProgress shows a transfer's progress on w: ONNX Runtime's
// fallback to the CPU, its evaluation as a bar, and a study's backbones.
func transferProgress(w io.Writer) transfer.Options {
	return transfer.Options{
		Session: func(sess *ort.Session) { noteFallback(w, sess) },
		Eval:    evalBar(w, nil),
		Backbone: func(i, n int, path string, finished bool) {
			fmt.Fprintf(w, "== %d/%d %s%s\n", i, n, path, map[bool]string{true: ": done already"}[finished])
		},
	}
}
