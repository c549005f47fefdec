package transfer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// Files of a transfer folder.
const (
	GraftedFile = "grafted.onnx" // the backbone with its new head, as grafted
	RunDir      = "run"          // the training run (train.Train's Out)
	MetricsFile = "metrics.json" // the Result
	// The fine-tuned model, exported and verified, is train.ModelFile.
)

// Options say where a run's progress goes; nil callbacks drop it. The
// trainer's progress goes to Config.Train.Log.
type Options struct {
	// Session is called once ONNX Runtime has opened the fine-tuned model,
	// before it evaluates it: its Provider and Fallback say where it runs.
	Session func(*ort.Session)
	// Eval is called after each batch ONNX Runtime evaluates.
	Eval func(eval.Progress)
	// Backbone is called as a study comes to each backbone: i of n, and
	// whether its transfer was finished already (and is read back).
	Backbone func(i, n int, path string, finished bool)
}

// Result is what a transfer measured: metrics.json.
type Result struct {
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
	Engine      Figures `json:"engine"`
	ONNXRuntime Figures `json:"onnx_runtime"`
	MaxAbsDiff  float64 `json:"max_abs_diff"`
	// Detail is the task's further detail of ONNX Runtime's evaluation
	// (segment: per-class IoU).
	Detail   any    `json:"onnx_runtime_detail,omitempty"`
	Provider string `json:"provider"`
	Fallback string `json:"fallback,omitempty"`
	// Images are the pictures written beside metrics.json, Files the
	// task's other files there (detect: the detector, and the test split's
	// truth and the detector's detections in COCO's formats).
	Images []string `json:"images,omitempty"`
	Files  []string `json:"files,omitempty"`
}

// WriteText writes r for a person: what was transferred and how, the
// engine's and ONNX Runtime's figures in the task's columns, and the files
// written (what `bot-onnx transfer` prints without --json).
func (r *Result) WriteText(w io.Writer) error {
	var columns []Column
	if task, err := LookupTask(r.Task); err == nil {
		columns = task.Columns
	}
	line := func(f Figures) string {
		var parts []string
		for _, c := range columns {
			if _, ok := f[c.Key]; ok {
				parts = append(parts, c.Header+" "+c.Format(f))
			}
		}
		return strings.Join(parts, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s → %s on %s (feature %s, %d classes, %s): %d epochs, %.0f s of training\n",
		r.Backbone, r.Task, r.Data, r.Feature, r.Classes, r.backboneTraining(), r.Epochs, r.TrainSeconds)
	fmt.Fprintf(&b, "  engine        %s\n", line(r.Engine))
	fmt.Fprintf(&b, "  ONNX Runtime  %s (%s; max |engine − ONNX Runtime| %.2g)\n", line(r.ONNXRuntime), r.Provider, r.MaxAbsDiff)
	if r.BackboneTop1 != nil {
		fmt.Fprintf(&b, "  the backbone's own top-1 (metadata): %.2f%%\n", 100**r.BackboneTop1)
	}
	out := filepath.Dir(r.Model)
	fmt.Fprintf(&b, "wrote %s (verified in ONNX Runtime against the trained model), %s", r.Model, filepath.Join(out, MetricsFile))
	for _, f := range slices.Concat(r.Files, r.Images) {
		fmt.Fprintf(&b, ", %s", filepath.Join(out, f))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// backboneTraining says how the backbone trained: frozen, or at a
// multiple of the head's learning rate.
func (r *Result) backboneTraining() string {
	if r.FreezeBackbone {
		return "backbone frozen"
	}
	return fmt.Sprintf("backbone lr ×%g", r.BackboneLRMult)
}

// Run fine-tunes the grafted model with train.Train (resuming its last
// checkpoint with Config.Resume), exports it (verified in ONNX Runtime),
// evaluates the export over the test split in ONNX Runtime, and writes
// metrics.json. In a train.Group, the processes but rank 0 fine-tune only,
// and return a nil Result.
func (p *Plan) Run(ctx context.Context, o Options) (*Result, error) {
	cfg := p.cfg
	if g := cfg.Train.Engine.Group; g != nil && g.Rank() != 0 {
		return nil, p.trainAlong(ctx)
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	grafted := filepath.Join(cfg.Out, GraftedFile)
	if err := p.grafted.Save(grafted); err != nil {
		return nil, err
	}
	tcfg := p.trainConfig(grafted)
	metrics, err := train.Train(ctx, tcfg)
	if err != nil {
		return nil, err
	}
	if len(metrics) == 0 {
		return nil, fmt.Errorf("%s: the training run recorded no epoch", tcfg.Out)
	}
	res := &Result{Backbone: cfg.Backbone, BackboneTop1: p.top1, Task: p.task.Name, Data: tcfg.Data.Set, Feature: p.feature,
		Classes: p.classes, FreezeBackbone: cfg.Freeze, BackboneLRMult: cfg.BackboneLRMult, Epochs: len(metrics),
		Engine: p.task.engine(metrics[len(metrics)-1], p.classes), Model: filepath.Join(cfg.Out, train.ModelFile)}
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
	exported, err := export.File(trained, res.Model, export.Options{ProducerVersion: cfg.ProducerVersion, Seed: tcfg.Seed,
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
	if o.Session != nil {
		o.Session(sess)
	}
	env := evalEnv{sess: sess, runtime: cfg.Runtime, model: res.Model, data: tcfg.Data.Set, dataDir: tcfg.Data.Dir, canvas: tcfg.Data.Canvas, splits: p.splits, batch: tcfg.Recipe.Batch, workers: train.Workers(tcfg), out: cfg.Out, progress: o.Eval}
	e, err := p.task.evaluate(ctx, env)
	if err != nil {
		return nil, err
	}
	res.ONNXRuntime, res.Images, res.Files, res.Detail = e.figures, e.images, e.files, e.detail
	for k, v := range res.Engine {
		if measured, ok := res.ONNXRuntime[k]; ok {
			res.MaxAbsDiff = max(res.MaxAbsDiff, math.Abs(v-measured))
		}
	}
	return res, report.WriteJSON(filepath.Join(cfg.Out, MetricsFile), res)
}

// ReadResult reads a finished transfer's metrics.json.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &res, nil
}

// trainAlong is Run for the processes of a train.Group but rank 0: they
// fine-tune the grafted model, which they build as rank 0 does and keep in
// a temporary file, since Out is rank 0's alone.
func (p *Plan) trainAlong(ctx context.Context) error {
	f, err := os.CreateTemp("", "bot-onnx-grafted-*.onnx")
	if err != nil {
		return err
	}
	grafted := f.Name()
	defer os.Remove(grafted)
	if err := f.Close(); err != nil {
		return err
	}
	if err := p.grafted.Save(grafted); err != nil {
		return err
	}
	_, err = train.Train(ctx, p.trainConfig(grafted))
	return err
}

// trainConfig is the fine-tuning run of the grafted model saved at
// grafted: the backbone's learning-rate multipliers, into Out/RunDir.
func (p *Plan) trainConfig(grafted string) train.Config {
	c := p.cfg.Train
	c.Model, c.Recipe.LRMult, c.Out, c.Resume = grafted, p.mult, filepath.Join(p.cfg.Out, RunDir), p.cfg.Resume
	return c
}
