package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/urfave/cli/v2"
)

func transferCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfer",
		Usage: "fine-tune an exported backbone on a downstream task (classify, segment), export the result and evaluate it in ONNX Runtime",
		UsageText: "bot-onnx transfer --backbone b.onnx --task classify|segment --data … [--feature NAME] --epochs N [--freeze-backbone | --backbone-lr-mult 0.1]\n" +
			"   [--classes K] [--batch B] [--lr 0.01] [--lr-mode step|cosine] [--warmup-epochs K] [--wd 1e-4] [--momentum 0.9] [--seed S] [--threads T]\n" +
			"   [--provider auto|cpu|cuda|tensorrt] [--device-id N] [--ort-lib PATH] --out DIR [--resume] [--json]",
		Description: "Tasks: " + taskNames() + ".\n" +
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
			plan, err := planTransfer(cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := plan.run(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted; run again with --resume to continue from the last completed epoch")
				}
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			printTransfer(c.App.Writer, res, cfg.Task)
			return nil
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
	for _, f := range canvasFlags() {
		if f.Names()[0] == "canvas" {
			f = &cli.IntFlag{Name: "canvas", Usage: "mnist-seg: side of a canvas in pixels (default: the backbone's input size)"}
		}
		flags = append(flags, f)
	}
	return flags
}

// transferConfig is one transfer: a backbone moved to a task.
type transferConfig struct {
	Backbone string
	Task     *transferTask
	// Feature is the backbone output the head reads ("": the last).
	Feature string
	// Classes is the head's class count (0: the data set's).
	Classes int
	// Freeze keeps the backbone as it is; otherwise it trains at
	// BackboneLRMult times the head's learning rate.
	Freeze         bool
	BackboneLRMult float64
	// Train holds the data, the schedule, the optimiser, the seed and the
	// threads; the run sets its Model, LRMult, Out, Resume and Log.
	Train   train.Config
	Runtime ort.Options
	Out     string
	Resume  bool
	Log     io.Writer
}

// transferConfigFrom reads transferFlags.
func transferConfigFrom(c *cli.Context) (transferConfig, error) {
	var cfg transferConfig
	for _, required := range []string{"task", "data", "out"} {
		if c.String(required) == "" {
			return cfg, fmt.Errorf("--%s is required", required)
		}
	}
	task, err := lookupTask(c.String("task"))
	if err != nil {
		return cfg, err
	}
	if err := dependentFlags(c); err != nil {
		return cfg, err
	}
	if c.Bool("freeze-backbone") && c.IsSet("backbone-lr-mult") {
		return cfg, errors.New("--backbone-lr-mult has no effect with --freeze-backbone (a frozen backbone does not train)")
	}
	if m := c.Float64("backbone-lr-mult"); !(m >= 0) || math.IsInf(m, 1) {
		return cfg, fmt.Errorf("--backbone-lr-mult: expected a finite value ≥ 0, found %g", m)
	}
	if c.Int("classes") < 0 {
		return cfg, fmt.Errorf("--classes: expected a positive count (or 0 for the data set's), found %d", c.Int("classes"))
	}
	cosine, steps, err := scheduleFlags(c)
	if err != nil {
		return cfg, err
	}
	canvas, err := transferCanvas(c)
	if err != nil {
		return cfg, err
	}
	ropts, err := runtimeOptions(c)
	if err != nil {
		return cfg, err
	}
	memoryLimit, err := memoryLimitFrom(c)
	if err != nil {
		return cfg, err
	}
	cfg = transferConfig{
		Task: task, Feature: c.String("feature"), Classes: c.Int("classes"),
		Freeze: c.Bool("freeze-backbone"), BackboneLRMult: c.Float64("backbone-lr-mult"),
		Train: train.Config{
			Data: c.String("data"), DataDir: c.String("data-dir"), Canvas: canvas, Epochs: c.Int("epochs"), TrainLimit: c.Int("train-limit"),
			Batch: c.Int("batch"), LR: c.Float64("lr"), DecayEpochs: steps, DecayFactor: c.Float64("lr-factor"), Cosine: cosine,
			WarmupEpochs: c.Int("warmup-epochs"), WeightDecay: c.Float64("wd"), Momentum: c.Float64("momentum"),
			Seed: c.Uint64("seed"), Threads: c.Int("threads"), MemoryLimit: memoryLimit,
		},
		Runtime: ropts, Out: c.String("out"), Resume: c.Bool("resume"), Log: c.App.ErrWriter,
	}
	switch {
	case cfg.Train.Epochs < 1:
		return cfg, fmt.Errorf("--epochs must be at least 1, found %d", cfg.Train.Epochs)
	case cfg.Train.Batch < 1:
		return cfg, fmt.Errorf("--batch must be at least 1, found %d", cfg.Train.Batch)
	case cfg.Train.TrainLimit < 0:
		return cfg, fmt.Errorf("--train-limit must be 0 (all) or more, found %d", cfg.Train.TrainLimit)
	}
	return cfg, nil
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

// Files of a transfer folder.
const (
	graftedFile     = "grafted.onnx"
	transferRunDir  = "run"
	transferMetrics = "metrics.json"
)

// transferResult is what a transfer measured: metrics.json.
type transferResult struct {
	Backbone string `json:"backbone"`
	// BackboneTop1 is the backbone's own classification top-1, from its
	// metadata (train.MetaTop1), where it carries one.
	BackboneTop1   *float64 `json:"backbone_top1,omitempty"`
	Task           string   `json:"task"`
	Data           string   `json:"data"`
	Feature        string   `json:"feature"`
	Classes        int      `json:"classes"`
	FreezeBackbone bool     `json:"freeze_backbone"`
	BackboneLRMult float64  `json:"backbone_lr_mult"`
	Epochs         int      `json:"epochs"`
	TrainSeconds   float64  `json:"train_seconds"`
	// Model is the exported fine-tuned model; Verified its parity check.
	Model    string              `json:"model"`
	Verified export.Verification `json:"verified"`
	// Engine holds the trainer's last evaluation, ONNXRuntime the exported
	// model's over the same test split, and MaxAbsDiff the largest
	// difference between a figure of each.
	Engine      figures `json:"engine"`
	ONNXRuntime figures `json:"onnx_runtime"`
	MaxAbsDiff  float64 `json:"max_abs_diff"`
	// Detail is the task's further detail of ONNX Runtime's evaluation
	// (segment: per-class IoU).
	Detail   any    `json:"onnx_runtime_detail,omitempty"`
	Provider string `json:"provider"`
	Fallback string `json:"fallback,omitempty"`
	// Images are the pictures written beside metrics.json.
	Images []string `json:"images,omitempty"`
}

// transferPlan is a transfer checked against its backbone and data, ready
// to run; nothing is written before run.
type transferPlan struct {
	cfg     transferConfig
	grafted *graph.Model
	splits  *train.Splits
	feature string
	classes int
	mult    map[string]float64
	top1    *float64
}

// planTransfer loads the backbone, opens the data for it, grafts the
// task's head and sets the backbone's learning-rate multipliers, refusing
// in one line a backbone without the feature, a data set of the wrong
// kind for the task, a class count below the data's, and an --out that
// holds another transfer.
func planTransfer(cfg transferConfig) (*transferPlan, error) {
	backbone, err := graph.Load(cfg.Backbone)
	if err != nil {
		return nil, fmt.Errorf("--backbone: %w", err)
	}
	in, err := imageInputShape(backbone)
	if err != nil {
		return nil, fmt.Errorf("--backbone %s: %w", cfg.Backbone, err)
	}
	if !in[1:].Known() {
		return nil, fmt.Errorf("--backbone %s: input [%v] has a dynamic size; training needs it fixed (export the backbone with --input-size HxW)", cfg.Backbone, in)
	}
	p := &transferPlan{cfg: cfg, feature: cfg.Feature}
	if p.feature == "" {
		outs := backbone.GetGraph().GetOutput()
		p.feature = outs[len(outs)-1].GetName()
	}
	if p.cfg.Train.Data == "mnist-seg" && p.cfg.Train.Canvas.Size == 0 {
		p.cfg.Train.Canvas.Size = int(in[2].Size)
	}
	open := p.cfg.Train
	open.Model = cfg.Backbone
	if p.splits, err = train.OpenData(open, in.Sizes()); err != nil {
		return nil, err
	}
	switch {
	case cfg.Task.dense && !p.splits.Dense():
		return nil, fmt.Errorf("--task %s trains per pixel: expected a data set labelled per pixel (%s), found --data %s", cfg.Task.name, train.SegmentationDataSets, open.Data)
	case !cfg.Task.dense && p.splits.Dense():
		return nil, fmt.Errorf("--task %s trains on one label an image: expected %s, found --data %s, labelled per pixel", cfg.Task.name, train.DataSets, open.Data)
	}
	p.classes = cfg.Classes
	if want := p.splits.Classes(); p.classes == 0 {
		p.classes = want
	} else if p.classes < want {
		return nil, fmt.Errorf("--classes %d: --data %s has %d classes; the head needs at least as many", p.classes, open.Data, want)
	}
	if p.grafted, err = cfg.Task.head(backbone, p.feature, p.classes, cfg.Train.Seed); err != nil {
		return nil, fmt.Errorf("--backbone %s: %w", cfg.Backbone, err)
	}
	if p.mult, err = backboneLRMult(p.grafted, backbone, cfg); err != nil {
		return nil, err
	}
	if v, ok := backbone.Metadata(train.MetaTop1); ok {
		if top1, err := strconv.ParseFloat(v, 64); err == nil {
			p.top1 = &top1
		}
	}
	return p, p.checkOut()
}

// imageInputShape returns the shape of the model's one input that is not
// an initializer.
func imageInputShape(m *graph.Model) (graph.Shape, error) {
	inits := graph.NewIndex(m.GetGraph()).Initializers
	for _, in := range m.GetGraph().GetInput() {
		if inits[in.GetName()] == nil {
			if s, _, ok := graph.ShapeOf(in); ok && len(s) == 4 {
				return s, nil
			}
			return nil, fmt.Errorf("input %q: expected images [N C H W]", in.GetName())
		}
	}
	return nil, errors.New("the model has no input")
}

// backboneLRMult returns the learning-rate multiplier of every trainable
// parameter of grafted that comes from backbone: 0 when frozen, else
// BackboneLRMult; the head's parameters keep 1.
func backboneLRMult(grafted, backbone *graph.Model, cfg transferConfig) (map[string]float64, error) {
	w, err := train.LoadWeights[float32](grafted.Clone())
	if err != nil {
		return nil, fmt.Errorf("--backbone %s: %w", cfg.Backbone, err)
	}
	m := cfg.BackboneLRMult
	if cfg.Freeze {
		m = 0
	}
	mult := map[string]float64{}
	for _, name := range w.Order {
		if backbone.Initializer(name) != nil {
			mult[name] = m
		}
	}
	return mult, nil
}

// checkOut refuses an --out that holds files unless resuming, and a
// resumed one made from another backbone, head or seed.
func (p *transferPlan) checkOut() error {
	entries, err := os.ReadDir(p.cfg.Out)
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return e.Name() == train.LockFile })
	if err != nil || len(entries) == 0 {
		return nil
	}
	if !p.cfg.Resume {
		return fmt.Errorf("%s holds files already: pass --resume to continue the transfer there, or choose another --out", p.cfg.Out)
	}
	if old, err := graph.Load(filepath.Join(p.cfg.Out, graftedFile)); err == nil && !graph.Equal(old, p.grafted) {
		return fmt.Errorf("%s was made from another backbone, feature, class count or seed; resume with the same ones", filepath.Join(p.cfg.Out, graftedFile))
	}
	return nil
}

// run fine-tunes the grafted model with train.Train, exports it (verified
// in ONNX Runtime), evaluates the export over the test split in ONNX
// Runtime, and writes metrics.json.
func (p *transferPlan) run(ctx context.Context) (*transferResult, error) {
	cfg := p.cfg
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	grafted := filepath.Join(cfg.Out, graftedFile)
	if err := p.grafted.Save(grafted); err != nil {
		return nil, err
	}
	tcfg := cfg.Train
	tcfg.Model, tcfg.LRMult, tcfg.Out, tcfg.Resume, tcfg.Log = grafted, p.mult, filepath.Join(cfg.Out, transferRunDir), cfg.Resume, cfg.Log
	metrics, err := train.Train(ctx, tcfg)
	if err != nil {
		return nil, err
	}
	res := &transferResult{Backbone: cfg.Backbone, BackboneTop1: p.top1, Task: cfg.Task.name, Data: tcfg.Data, Feature: p.feature,
		Classes: p.classes, FreezeBackbone: cfg.Freeze, BackboneLRMult: cfg.BackboneLRMult, Epochs: len(metrics),
		Engine: cfg.Task.engine(metrics[len(metrics)-1], p.classes), Model: filepath.Join(cfg.Out, train.ModelFile)}
	if cfg.Freeze {
		res.BackboneLRMult = 0
	}
	for _, m := range metrics {
		res.TrainSeconds += m.EpochSecond
	}
	trained, err := graph.Load(filepath.Join(tcfg.Out, train.ModelFile))
	if err != nil {
		return nil, err
	}
	exported, err := export.File(trained, res.Model, export.Options{ProducerVersion: Version, Seed: tcfg.Seed,
		Runtime: ort.Options{LibraryPath: cfg.Runtime.LibraryPath, Threads: cfg.Runtime.Threads}})
	if err != nil {
		return nil, fmt.Errorf("exporting the fine-tuned model: %w", err)
	}
	res.Verified = exported.Verified
	sess, err := ort.NewSession(res.Model, cfg.Runtime)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	res.Provider, res.Fallback = string(sess.Provider()), sess.Fallback()
	noteFallback(cfg.Log, sess)
	env := evalEnv{sess: sess, model: res.Model, data: tcfg.Data, splits: p.splits, batch: tcfg.Batch, workers: train.Workers(tcfg), out: cfg.Out, log: cfg.Log}
	if res.ONNXRuntime, res.Images, res.Detail, err = cfg.Task.evaluate(ctx, env); err != nil {
		return nil, err
	}
	for k, v := range res.Engine {
		if o, ok := res.ONNXRuntime[k]; ok {
			res.MaxAbsDiff = max(res.MaxAbsDiff, math.Abs(v-o))
		}
	}
	return res, writeJSONFile(filepath.Join(cfg.Out, transferMetrics), res)
}

// printTransfer prints a transfer's result for a person.
func printTransfer(w io.Writer, res *transferResult, task *transferTask) {
	how := fmt.Sprintf("backbone lr ×%g", res.BackboneLRMult)
	if res.FreezeBackbone {
		how = "backbone frozen"
	}
	fmt.Fprintf(w, "%s → %s on %s (feature %s, %d classes, %s): %d epochs, %.0f s of training\n",
		res.Backbone, res.Task, res.Data, res.Feature, res.Classes, how, res.Epochs, res.TrainSeconds)
	line := func(f figures) string {
		var parts []string
		for _, c := range task.columns {
			if _, ok := f[c.key]; ok {
				parts = append(parts, c.header+" "+c.format(f))
			}
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "  engine        %s\n", line(res.Engine))
	fmt.Fprintf(w, "  ONNX Runtime  %s (%s; max |engine − ONNX Runtime| %.2g)\n", line(res.ONNXRuntime), res.Provider, res.MaxAbsDiff)
	if res.BackboneTop1 != nil {
		fmt.Fprintf(w, "  the backbone's own top-1 (metadata): %.2f%%\n", 100**res.BackboneTop1)
	}
	out := filepath.Dir(res.Model)
	fmt.Fprintf(w, "wrote %s (verified in ONNX Runtime against the trained model), %s", res.Model, filepath.Join(out, transferMetrics))
	for _, img := range res.Images {
		fmt.Fprintf(w, ", %s", filepath.Join(out, img))
	}
	fmt.Fprintln(w)
}
