package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/tweaks"
	"github.com/urfave/cli/v2"
)

// demoBudget is how much the demo trains: the classification runs on
// MNIST and the segmentation fine-tuning on digit canvases. Every run of a
// kind gets the same budget, so that only the model or the recipe differs.
type demoBudget struct {
	Mode string `json:"mode"`
	Seed uint64 `json:"seed"`
	// BaseWidth is ResNet-20's first-stage width (0: the paper's 16); only
	// tests narrow it.
	BaseWidth      int     `json:"base_width,omitempty"`
	TrainLimit     int     `json:"train_limit"` // MNIST training images (0: all 60,000)
	Epochs         int     `json:"epochs"`
	Batch          int     `json:"batch"`
	LR             float64 `json:"lr"`
	MixupOffEpochs int     `json:"mixup_off_epochs"`
	Canvas         int     `json:"canvas"`
	Canvases       int     `json:"canvases"`
	TestCanvases   int     `json:"test_canvases"`
	SegEpochs      int     `json:"segment_epochs"`
	SegBatch       int     `json:"segment_batch"`
	SegLR          float64 `json:"segment_lr"`
}

// The demo's two budgets. quickBudget shows every stage working in a few
// minutes on two cores; its figures are too small a sample to compare
// recipes, and its batch of 64 gives the tricks' warmup and zero γ more
// steps to repay. fullBudget trains long enough for the tables to mean
// something.
var (
	quickBudget = demoBudget{Mode: "quick", Seed: 1, TrainLimit: 4000, Epochs: 3, Batch: 64, LR: 0.1, MixupOffEpochs: 1,
		Canvas: 64, Canvases: 3000, TestCanvases: 300, SegEpochs: 2, SegBatch: 16, SegLR: 0.1}
	fullBudget = demoBudget{Mode: "full", Seed: 1, TrainLimit: 0, Epochs: 4, Batch: 128, LR: 0.1, MixupOffEpochs: 1,
		Canvas: 64, Canvases: 6000, TestCanvases: 1000, SegEpochs: 6, SegBatch: 32, SegLR: 0.05}
)

// demoRun is one classification run of the demo: which model, which
// recipe, and, for the D runs, the backbone moved to segmentation.
type demoRun struct {
	Name, Label, Variant string
	Features             []ablation.Feature
	Parent               string
	Segment              bool
}

// demoRuns are the demo's classification runs: A and D with the baseline
// recipe (the paper's Table 5 at this scale), then D with the tricks
// (Table 6: warmup, zero γ, no bias decay, cosine, smoothing, mixup).
var demoRuns = []demoRun{
	{Name: "a-baseline", Label: "ResNet-20-A, baseline", Variant: "A"},
	{Name: "d-baseline", Label: "ResNet-20-D, baseline", Variant: "D", Segment: true},
	{Name: "d-tricks", Label: "ResNet-20-D, all tricks", Variant: "D", Parent: "d-baseline", Segment: true,
		Features: []ablation.Feature{ablation.Efficient, ablation.Cosine, ablation.Smoothing, ablation.Mixup}},
}

// Files and folders of a demo folder.
const (
	demoSettings = "demo.json"
	demoResults  = "results.json"
	demoReport   = "report" // report.md and report.html
	demoModels   = "models"
	demoRunsDir  = "runs"
	demoExports  = "exports"
	demoSegment  = "segment"
	// demoFeature is the backbone stage the FCN head reads: c2, stride 4,
	// the deepest of ResNet-20's three stages.
	demoFeature = "c2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "the whole pipeline on MNIST: build A, tweak to D, train baseline and tricks, export, evaluate in ONNX Runtime, fine-tune for segmentation, write a report",
		UsageText: "bot-onnx demo [--out DIR] [--quick] [--threads T] [--provider auto|cpu|cuda|tensorrt] [--ort-lib PATH] [--data-dir DIR]\n\n" +
			"Run the same command again to continue an interrupted demo; finished stages are read back.",
		Description: "DIR receives models/ (ResNet-20-A and -D), runs/ (the training runs), exports/ (the exported classifiers\n" +
			"and backbones), segment/ (the segmentation fine-tuning of both D backbones), results.json, and report.md\n" +
			"and report.html with the tables, curves and segmentation examples.",
		Flags: append(runtimeFlags(),
			&cli.StringFlag{Name: "out", Value: "demo", Usage: "the demo folder"},
			&cli.BoolFlag{Name: "quick", Usage: "a small budget (a few minutes on 2 cores) that shows every stage; its figures compare nothing"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the MNIST files (default: the set-up cache)"},
		),
		Action: func(c *cli.Context) error {
			ropts, err := runtimeOptions(c)
			if err != nil {
				return err
			}
			budget := fullBudget
			if c.Bool("quick") {
				budget = quickBudget
			}
			d := &demo{budget: budget, out: c.String("out"), dataDir: c.String("data-dir"), threads: c.Int("threads"),
				runtime: ropts, log: c.App.ErrWriter}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := d.run(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return errors.New("interrupted; run the same command again to continue the demo")
				}
				return err
			}
			fmt.Fprintf(c.App.Writer, "demo finished in %s: %s and %s\n", ablation.FormatDuration(res.Seconds),
				filepath.Join(d.out, demoReport+".md"), filepath.Join(d.out, demoReport+".html"))
			return nil
		},
	}
}

// demo is one demo in progress.
type demo struct {
	budget  demoBudget
	out     string
	dataDir string
	threads int
	runtime ort.Options
	log     io.Writer
	stage   int
}

// demoStages is the number of stages the progress lines count: build,
// tweak, one per training run, export, one per fine-tuning, report.
func demoStages() int {
	n := 2 + len(demoRuns) + 1 + 1
	for _, r := range demoRuns {
		if r.Segment {
			n++
		}
	}
	return n
}

// demoResult is everything the report shows: results.json.
type demoResult struct {
	Budget  demoBudget `json:"budget"`
	Version string     `json:"version"`
	Cores   int        `json:"cores"`
	// Seconds is the time this start of the demo took.
	Seconds  float64            `json:"seconds"`
	Variants map[string]variant `json:"variants"`
	Runs     []runResult        `json:"runs"`
	Tweaks   []tweaks.Report    `json:"tweaks"`
	Provider string             `json:"provider"`
	Fallback string             `json:"fallback,omitempty"`
}

// variant is a built model's size.
type variant struct {
	Name   string `json:"name"`
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"`
}

// runResult is one classification run and what came of it.
type runResult struct {
	Run      demoRun         `json:"run"`
	Train    ablation.Row    `json:"train"`
	Export   *export.Result  `json:"export"`
	Eval     evaluation      `json:"eval"`
	Backbone *export.Result  `json:"backbone,omitempty"`
	Segment  *transferResult `json:"segment,omitempty"`
	// TrainImagesPerS is the median of the epochs' training throughput.
	TrainImagesPerS float64 `json:"train_images_per_second"`
}

// run does every stage not done yet, then writes the results and the
// report.
func (d *demo) run(ctx context.Context) (*demoResult, error) {
	start := time.Now()
	if err := d.checkSettings(); err != nil {
		return nil, err
	}
	unlock, err := train.LockDir(d.out)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res := &demoResult{Budget: d.budget, Version: Version, Cores: runtime.NumCPU(), Variants: map[string]variant{}}
	models, err := d.buildModels(res)
	if err != nil {
		return nil, err
	}
	trainer := ablation.Config{
		Base: train.Config{Data: "mnist", DataDir: d.dataDir, TrainLimit: d.budget.TrainLimit, Epochs: d.budget.Epochs,
			Batch: d.budget.Batch, LR: d.budget.LR, WeightDecay: 1e-4, Momentum: 0.9, Seed: d.budget.Seed, Threads: d.threads},
		MixupOffEpochs: d.budget.MixupOffEpochs, Out: filepath.Join(d.out, demoRunsDir), Resume: true, Log: d.log,
	}
	for _, r := range demoRuns {
		d.progress("train %s with %s (%s)", r.Label, recipeName(r), filepath.Join(trainer.Out, r.Name))
		row, err := trainer.TrainStep(ctx, ablation.Step{Name: r.Name, Label: r.Label, Features: r.Features, Parent: r.Parent}, models[r.Variant], "")
		if err != nil {
			return nil, fmt.Errorf("training %s: %w", r.Name, err)
		}
		res.Runs = append(res.Runs, runResult{Run: r, Train: *row, TrainImagesPerS: medianRate(row.Metrics)})
	}
	d.progress("export the three classifiers and evaluate them in ONNX Runtime on MNIST's 10,000 test images")
	for i := range res.Runs {
		if err := d.exportAndEvaluate(ctx, &res.Runs[i]); err != nil {
			return nil, err
		}
	}
	res.Provider, res.Fallback = res.Runs[0].Eval.Provider, res.Runs[0].Eval.Fallback
	for i := range res.Runs {
		if !res.Runs[i].Run.Segment {
			continue
		}
		r := &res.Runs[i]
		d.progress("fine-tune the %s backbone for segmentation on %d digit canvases (%s)", r.Run.Label, d.budget.Canvases,
			filepath.Join(d.out, demoSegment, r.Run.Name))
		if err := d.segment(ctx, r); err != nil {
			return nil, err
		}
	}
	res.Seconds = time.Since(start).Seconds()
	d.progress("write the report")
	if err := d.writeReport(res); err != nil {
		return nil, err
	}
	return res, nil
}

// progress prints the next stage's line.
func (d *demo) progress(format string, args ...any) {
	d.stage++
	fmt.Fprintf(d.log, "== demo %d/%d: %s\n", d.stage, demoStages(), fmt.Sprintf(format, args...))
}

// checkSettings records the budget in a new demo folder and refuses one
// that holds a demo made with another budget.
func (d *demo) checkSettings() error {
	path := filepath.Join(d.out, demoSettings)
	if old, err := os.ReadFile(path); err == nil {
		var o demoBudget
		if json.Unmarshal(old, &o) != nil || o != d.budget {
			return fmt.Errorf("%s holds a %s demo; run it with the same options (--quick for quick) or choose another --out", d.out, o.Mode)
		}
		fmt.Fprintf(d.log, "continuing the %s demo in %s: finished stages are read back\n", d.budget.Mode, d.out)
		return nil
	}
	if entries, err := os.ReadDir(d.out); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s holds other files; choose an empty or new --out for the demo", d.out)
	}
	if err := os.MkdirAll(d.out, 0o755); err != nil {
		return err
	}
	return writeJSONFile(path, d.budget)
}

// buildModels builds ResNet-20-A for MNIST, rewrites it into ResNet-20-D,
// and returns both files by variant. A rebuilt model must equal the one
// a previous start saved.
func (d *demo) buildModels(res *demoResult) (map[string]string, error) {
	arch := models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: d.budget.BaseWidth, Seed: d.budget.Seed}
	d.progress("build ResNet-20-A for 1×28×28 MNIST digits")
	a, err := models.Build(arch)
	if err != nil {
		return nil, err
	}
	d.progress("apply tweaks B, C and D: ResNet-20-D")
	dm, reports, err := tweaks.Apply(a, []tweaks.Pass{tweaks.B, tweaks.C, tweaks.D}, tweaks.Options{Seed: d.budget.Seed})
	if err != nil {
		return nil, err
	}
	res.Tweaks = reports
	paths := map[string]string{}
	for _, v := range []struct {
		name string
		m    *graph.Model
	}{{"A", a}, {"D", dm}} {
		path := filepath.Join(d.out, demoModels, "resnet20-"+v.name+".onnx")
		if err := saveOrCheck(v.m, path); err != nil {
			return nil, err
		}
		counts, err := graph.Count(v.m)
		if err != nil {
			return nil, err
		}
		res.Variants[v.name] = variant{Name: "ResNet-20-" + v.name, Params: counts.Params, MACs: counts.MACs}
		paths[v.name] = path
	}
	return paths, nil
}

// saveOrCheck saves m to path, or checks that the model an earlier start
// saved there equals it.
func saveOrCheck(m *graph.Model, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := m.SaveOrMatch(path); errors.Is(err, graph.ErrModelDiffers) {
		return fmt.Errorf("%s differs from the model this demo builds; choose another --out", path)
	} else if err != nil {
		return err
	}
	return nil
}

// exportAndEvaluate exports a trained classifier (verified in ONNX
// Runtime) and scores it on MNIST's test split in ONNX Runtime; a result
// saved by an earlier start is read back.
func (d *demo) exportAndEvaluate(ctx context.Context, r *runResult) error {
	var saved struct {
		Export *export.Result `json:"export"`
		Eval   evaluation     `json:"eval"`
	}
	path := filepath.Join(d.out, demoExports, r.Run.Name+".json")
	err := cached(path, &saved, func() error {
		trained, err := graph.Load(filepath.Join(d.out, demoRunsDir, r.Run.Name, train.ModelFile))
		if err != nil {
			return err
		}
		model := filepath.Join(d.out, demoExports, r.Run.Name+".onnx")
		if saved.Export, err = export.File(trained, model, export.Options{ProducerVersion: Version, Seed: d.budget.Seed,
			Runtime: ort.Options{LibraryPath: d.runtime.LibraryPath, Threads: d.runtime.Threads}}); err != nil {
			return fmt.Errorf("exporting %s: %w", r.Run.Name, err)
		}
		sess, err := ort.NewSession(model, d.runtime)
		if err != nil {
			return err
		}
		defer sess.Close()
		saved.Eval, err = evaluateModel(ctx, evalRequest{Path: model, Data: "mnist", DataDir: d.dataDir, Batch: 100, Log: d.log}, sess)
		return err
	})
	r.Export, r.Eval = saved.Export, saved.Eval
	if err == nil && saved.Eval.Fallback != "" {
		// auto fell back once and said why; later sessions go straight to
		// the CPU instead of repeating it.
		d.runtime.Provider = ort.ProviderCPU
	}
	return err
}

// segment exports the run's backbone at the canvas size and fine-tunes it
// with an FCN head on mnist-seg (package transfer through `transfer`'s
// plan), or reads back a finished fine-tuning.
func (d *demo) segment(ctx context.Context, r *runResult) error {
	backbone := filepath.Join(d.out, demoExports, r.Run.Name+"-backbone.onnx")
	err := cached(filepath.Join(d.out, demoExports, r.Run.Name+"-backbone.json"), &r.Backbone, func() (err error) {
		trained, err := graph.Load(filepath.Join(d.out, demoRunsDir, r.Run.Name, train.ModelFile))
		if err != nil {
			return err
		}
		size := int64(d.budget.Canvas)
		r.Backbone, err = export.File(trained, backbone, export.Options{Head: export.Backbone, Features: []string{demoFeature},
			InputSize: []int64{size, size}, ProducerVersion: Version, Seed: d.budget.Seed,
			Runtime: ort.Options{LibraryPath: d.runtime.LibraryPath, Threads: d.runtime.Threads}})
		return err
	})
	if err != nil {
		return fmt.Errorf("exporting the %s backbone: %w", r.Run.Name, err)
	}
	out := filepath.Join(d.out, demoSegment, r.Run.Name)
	if res, err := readTransfer(filepath.Join(out, transferMetrics)); err == nil {
		fmt.Fprintf(d.log, "%s: finished already, read back\n", out)
		r.Segment = res
		return nil
	}
	task, err := lookupTask("segment")
	if err != nil {
		return err
	}
	_, statErr := os.Stat(out)
	cfg := transferConfig{Backbone: backbone, Task: task, Feature: demoFeature, BackboneLRMult: 1,
		Train: train.Config{Data: "mnist-seg", DataDir: d.dataDir,
			Canvas: data.CanvasOptions{Seed: d.budget.Seed, Size: d.budget.Canvas, Train: d.budget.Canvases, Test: d.budget.TestCanvases},
			Epochs: d.budget.SegEpochs, Batch: d.budget.SegBatch, LR: d.budget.SegLR, Cosine: true, WeightDecay: 1e-4, Momentum: 0.9,
			Seed: d.budget.Seed, Threads: d.threads},
		Runtime: d.runtime, Out: out, Resume: statErr == nil, Log: d.log}
	plan, err := planTransfer(cfg)
	if err != nil {
		return err
	}
	r.Segment, err = plan.run(ctx)
	return err
}

// cached fills v from the JSON file at path when an earlier start wrote
// it; otherwise it runs compute, which fills v, and saves v there.
func cached(path string, v any, compute func() error) error {
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: %w (delete it to redo that stage)", path, err)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := compute(); err != nil {
		return err
	}
	return writeJSONFile(path, v)
}

// medianRate returns the median of the epochs' training images/s.
func medianRate(metrics []train.Metrics) float64 {
	rates := make([]float64, len(metrics))
	for i, m := range metrics {
		rates[i] = m.ImagesPerS
	}
	slices.Sort(rates)
	if len(rates) == 0 {
		return 0
	}
	return rates[len(rates)/2]
}

// recipeName names a run's recipe for people.
func recipeName(r demoRun) string {
	if len(r.Features) == 0 {
		return "the baseline recipe (step decay)"
	}
	return "warmup, zero γ, no bias decay, cosine decay, label smoothing and mixup"
}
