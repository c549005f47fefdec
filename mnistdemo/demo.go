// Package mnistdemo runs the whole bot-onnx pipeline on MNIST, as `bot-onnx
// demo` does: build ResNet-20-A, rewrite it into ResNet-20-D, train A and D
// with the baseline recipe and D with the paper's tricks, export the three
// classifiers and score them in ONNX Runtime, fine-tune both D backbones
// for digit-canvas segmentation, and write a report with the paper's
// tables at this scale. A folder holds one demo: run it again and finished
// stages are read back, an interrupted training run resumes.
package mnistdemo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/eval/classifier"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// Budget is how much the demo trains: the classification runs on
// MNIST and the segmentation fine-tuning on digit canvases. Every run of a
// kind gets the same budget, so that only the model or the recipe differs.
type Budget struct {
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
	// DetCanvases are the training canvases of the detection fine-tuning
	// (its test canvases are TestCanvases).
	DetCanvases int     `json:"detect_canvases"`
	DetEpochs   int     `json:"detect_epochs"`
	DetBatch    int     `json:"detect_batch"`
	DetLR       float64 `json:"detect_lr"`
}

// The demo's two budgets. Quick shows every stage working in a few
// minutes on two cores; its figures are too small a sample to compare
// recipes, and its batch of 64 gives the tricks' warmup and zero γ more
// steps to repay. Full trains long enough for the tables to mean
// something.
var (
	Quick = Budget{Mode: "quick", Seed: 1, TrainLimit: 4000, Epochs: 3, Batch: 64, LR: 0.1, MixupOffEpochs: 1,
		Canvas: 64, Canvases: 3000, TestCanvases: 300, SegEpochs: 2, SegBatch: 16, SegLR: 0.1,
		DetCanvases: 1000, DetEpochs: 2, DetBatch: 16, DetLR: 0.02}
	Full = Budget{Mode: "full", Seed: 1, TrainLimit: 0, Epochs: 4, Batch: 128, LR: 0.1, MixupOffEpochs: 1,
		Canvas: 64, Canvases: 6000, TestCanvases: 1000, SegEpochs: 6, SegBatch: 32, SegLR: 0.05,
		DetCanvases: 6000, DetEpochs: 4, DetBatch: 32, DetLR: 0.02}
)

// recipe is what every classification run shares before its features:
// the budget's epochs, batch and learning rate, and the paper's weight
// decay and momentum.
func (b Budget) recipe() train.Recipe {
	return train.Recipe{Epochs: b.Epochs, Batch: b.Batch, LR: b.LR, WeightDecay: ablation.Paper.WeightDecay, Momentum: ablation.Paper.Momentum}
}

// Recipe returns the recipe run r trains with under budget b: package
// ablation's step of r's features, fitted to b.
func (r ClassifierRun) Recipe(b Budget) train.Recipe {
	return ablation.Recipe(b.recipe(), r.Features, "", b.MixupOffEpochs)
}

// step is r as a step of the study ablation trains.
func (r ClassifierRun) step() ablation.Step {
	return ablation.Step{Name: r.Name, Label: r.Label, Features: r.Features, Parent: r.Parent}
}

// classifierRun returns the run of ClassifierRuns named name.
func classifierRun(name string) ClassifierRun {
	i := slices.IndexFunc(ClassifierRuns, func(r ClassifierRun) bool { return r.Name == name })
	return ClassifierRuns[i]
}

// ClassifierRun is one classification run of the demo: which model, which
// recipe, and, for the D runs, the backbone moved to segmentation and
// detection.
type ClassifierRun struct {
	Name, Label, Variant string
	Features             []ablation.Feature
	Parent               string
	Transfer             bool
}

// ClassifierRuns are the demo's classification runs: A and D with the baseline
// recipe (the paper's Table 5 at this scale), then D with the tricks
// (Table 6: warmup, zero γ, no bias decay, cosine, smoothing, mixup).
var ClassifierRuns = []ClassifierRun{
	{Name: "a-baseline", Label: "ResNet-20-A, baseline", Variant: "A"},
	{Name: "d-baseline", Label: "ResNet-20-D, baseline", Variant: "D", Transfer: true},
	{Name: "d-tricks", Label: "ResNet-20-D, all tricks", Variant: "D", Parent: "d-baseline", Transfer: true,
		Features: []ablation.Feature{ablation.Efficient, ablation.Cosine, ablation.Smoothing, ablation.Mixup}},
}

// Files and folders of a demo folder.
const (
	SettingsFile = "demo.json"
	ResultsFile  = "results.json"
	ReportName   = "report" // report.md and report.html
	modelsDir    = "models"
	RunsDir      = "runs"
	exportsDir   = "exports"
	segmentDir   = "segment"
	detectDir    = "detect"
	// feature is the backbone stage the FCN and CenterNet heads read: c2,
	// stride 4, the deepest of ResNet-20's three stages.
	feature = "c2"
)

// Config is one demo: its budget, its folder, and where its progress goes.
type Config struct {
	Budget Budget
	// Out is the demo folder; DataDir the MNIST files' ("": the set-up
	// cache).
	Out, DataDir string
	// Threads is the training replicas and ONNX Runtime's intra-op threads
	// (0: one per core, and ONNX Runtime's default).
	Threads int
	// Runtime is where ONNX Runtime verifies the exports and scores them.
	Runtime ort.Options
	// ProducerVersion is written into the exported models and the results.
	ProducerVersion string
	// Log receives the trainers' progress (train.Config.Log) and the data
	// sets' warnings; nil discards them.
	Log io.Writer
	// Stage is called as the demo comes to each stage, n of total; Notice
	// with what it reads back instead of redoing; Progress reports the
	// evaluations in ONNX Runtime (the session it opened, each batch).
	// Each may be nil.
	Stage    func(n, total int, what string)
	Notice   func(string)
	Progress transfer.Options
}

// demo is one demo in progress.
type demo struct {
	Config
	stage int
}

// stages is the number of stages the progress lines count: build,
// tweak, one per training run, export, one per fine-tuning, report.
func stages() int {
	n := 2 + len(ClassifierRuns) + 1 + 1
	for _, r := range ClassifierRuns {
		if r.Transfer {
			n += len(downstreams)
		}
	}
	return n
}

// Result is everything the report shows: results.json.
type Result struct {
	Budget  Budget `json:"budget"`
	Version string `json:"version"`
	Cores   int    `json:"cores"`
	// Seconds is the time this start of the demo took.
	Seconds  float64            `json:"seconds"`
	Variants map[string]Variant `json:"variants"`
	Runs     []RunResult        `json:"runs"`
	Tweaks   []tweaks.Report    `json:"tweaks"`
	Provider string             `json:"provider"`
	Fallback string             `json:"fallback,omitempty"`
}

// Variant is a built model's size.
type Variant struct {
	Name   string `json:"name"`
	Params int64  `json:"params"`
	MACs   int64  `json:"macs"`
}

// RunResult is one classification run and what came of it.
type RunResult struct {
	Run      ClassifierRun     `json:"run"`
	Train    ablation.Row      `json:"train"`
	Export   *export.Result    `json:"export"`
	Eval     classifier.Result `json:"eval"`
	Backbone *export.Result    `json:"backbone,omitempty"`
	Segment  *transfer.Result  `json:"segment,omitempty"`
	Detect   *transfer.Result  `json:"detect,omitempty"`
	// TrainImagesPerS is the median of the epochs' training throughput.
	TrainImagesPerS float64 `json:"train_images_per_second"`
}

// run does every stage not done yet, then writes the results and the
// report.
func (d *demo) run(ctx context.Context) (res *Result, err error) {
	start := time.Now()
	trainer := ablation.Config{
		Base: train.Config{
			Seed:   d.Budget.Seed,
			Data:   train.DataConfig{Set: "mnist", Dir: d.DataDir, TrainLimit: d.Budget.TrainLimit},
			Recipe: d.Budget.recipe(),
			Engine: train.Engine{Threads: d.Threads},
		},
		MixupOffEpochs: d.Budget.MixupOffEpochs, Out: filepath.Join(d.Out, RunsDir), Resume: true, Log: d.Log,
	}
	// Every run's settings are checked before the demo writes anything.
	steps := make([]ablation.Step, len(ClassifierRuns))
	for i, r := range ClassifierRuns {
		steps[i] = r.step()
	}
	if err := trainer.CheckSteps(steps); err != nil {
		return nil, err
	}
	if err := d.checkSettings(); err != nil {
		return nil, err
	}
	unlock, err := train.LockDir(d.Out)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, unlock()) }()
	res = &Result{Budget: d.Budget, Version: d.ProducerVersion, Cores: runtime.NumCPU(), Variants: map[string]Variant{}}
	models, err := d.buildModels(res)
	if err != nil {
		return nil, err
	}
	for _, r := range ClassifierRuns {
		d.progress("train %s with %s (%s)", r.Label, recipeName(r), filepath.Join(trainer.Out, r.Name))
		row, err := trainer.TrainStep(ctx, r.step(), models[r.Variant], "")
		if err != nil {
			return nil, fmt.Errorf("training %s: %w", r.Name, err)
		}
		res.Runs = append(res.Runs, RunResult{Run: r, Train: *row, TrainImagesPerS: medianRate(row.Metrics)})
	}
	d.progress("export the three classifiers and evaluate them in ONNX Runtime on MNIST's 10,000 test images")
	for i := range res.Runs {
		if err := d.exportAndEvaluate(ctx, &res.Runs[i]); err != nil {
			return nil, err
		}
	}
	res.Provider, res.Fallback = res.Runs[0].Eval.Provider, res.Runs[0].Eval.Fallback
	for _, task := range downstreams {
		for i := range res.Runs {
			if !res.Runs[i].Run.Transfer {
				continue
			}
			r := &res.Runs[i]
			f := task.settings(d.Budget)
			d.progress("fine-tune the %s backbone for %s on %d digit canvases (%s)", r.Run.Label, task.about, f.canvases,
				filepath.Join(d.Out, task.dir, r.Run.Name))
			if *task.result(r), err = d.fineTune(ctx, r, task); err != nil {
				return nil, err
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	d.progress("write the report")
	if err := d.writeReport(res); err != nil {
		return nil, err
	}
	return res, nil
}

// progress reports the next stage.
func (d *demo) progress(format string, args ...any) {
	d.stage++
	if d.Stage != nil {
		d.Stage(d.stage, stages(), fmt.Sprintf(format, args...))
	}
}

// notice reports what the demo reads back instead of redoing.
func (d *demo) notice(format string, args ...any) {
	if d.Notice != nil {
		d.Notice(fmt.Sprintf(format, args...))
	}
}

// checkSettings records the budget in a new demo folder and refuses one
// that holds a demo made with another budget.
func (d *demo) checkSettings() error {
	path := filepath.Join(d.Out, SettingsFile)
	if old, err := os.ReadFile(path); err == nil {
		var o Budget
		if err := json.Unmarshal(old, &o); err != nil {
			return fmt.Errorf("%s: expected a demo's settings, found unreadable JSON (%v); choose another folder", path, err)
		}
		if o != d.Budget {
			return fmt.Errorf("%s holds a %s demo; continue it with the same budget, or choose another folder", d.Out, o.Mode)
		}
		d.notice("continuing the %s demo in %s: finished stages are read back", d.Budget.Mode, d.Out)
		return nil
	}
	if entries, err := os.ReadDir(d.Out); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s holds other files; choose an empty or new folder for the demo", d.Out)
	}
	if err := os.MkdirAll(d.Out, 0o755); err != nil {
		return err
	}
	return report.WriteJSON(path, d.Budget)
}

// buildModels builds ResNet-20-A for MNIST, rewrites it into ResNet-20-D,
// and returns both files by variant. A rebuilt model must equal the one
// a previous start saved.
func (d *demo) buildModels(res *Result) (map[string]string, error) {
	arch := models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: d.Budget.BaseWidth, Seed: d.Budget.Seed}
	d.progress("build ResNet-20-A for 1×28×28 MNIST digits")
	a, err := models.Build(arch)
	if err != nil {
		return nil, err
	}
	d.progress("apply tweaks B, C and D: ResNet-20-D")
	dm, reports, err := tweaks.Build(arch, "D")
	if err != nil {
		return nil, err
	}
	res.Tweaks = reports
	paths := map[string]string{}
	for _, v := range []struct {
		name string
		m    *graph.Model
	}{{"A", a}, {"D", dm}} {
		path := filepath.Join(d.Out, modelsDir, "resnet20-"+v.name+".onnx")
		if err := saveOrCheck(v.m, path); err != nil {
			return nil, err
		}
		counts, err := graph.Count(v.m)
		if err != nil {
			return nil, err
		}
		res.Variants[v.name] = Variant{Name: "ResNet-20-" + v.name, Params: counts.Params, MACs: counts.MACs}
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
		return fmt.Errorf("%s differs from the model this demo builds; choose another folder", path)
	} else if err != nil {
		return err
	}
	return nil
}

// exportAndEvaluate exports a trained classifier (verified in ONNX
// Runtime) and scores it on MNIST's test split in ONNX Runtime; a result
// saved by an earlier start is read back.
func (d *demo) exportAndEvaluate(ctx context.Context, r *RunResult) error {
	var saved struct {
		Export *export.Result    `json:"export"`
		Eval   classifier.Result `json:"eval"`
	}
	path := filepath.Join(d.Out, exportsDir, r.Run.Name+".json")
	err := cached(path, &saved, func() error {
		trained, err := graph.Load(filepath.Join(d.Out, RunsDir, r.Run.Name, train.ModelFile))
		if err != nil {
			return err
		}
		model := filepath.Join(d.Out, exportsDir, r.Run.Name+".onnx")
		if saved.Export, err = export.File(trained, model, export.Options{ProducerVersion: d.ProducerVersion, Seed: d.Budget.Seed,
			Runtime: ort.Options{LibraryPath: d.Runtime.LibraryPath, Threads: d.Runtime.Threads}}); err != nil {
			return fmt.Errorf("exporting %s: %w", r.Run.Name, err)
		}
		sess, err := ort.NewSession(model, d.Runtime)
		if err != nil {
			return err
		}
		defer sess.Close()
		if d.Progress.Session != nil {
			d.Progress.Session(sess)
		}
		saved.Eval, err = classifier.Evaluate(ctx, sess, classifier.Request{Path: model, Data: "mnist", DataDir: d.DataDir, Batch: 100,
			Log: d.Log, Progress: d.Progress.Eval})
		return err
	})
	r.Export, r.Eval = saved.Export, saved.Eval
	if err == nil && saved.Eval.Fallback != "" {
		// auto fell back once and said why; later sessions go straight to
		// the CPU instead of repeating it.
		d.Runtime.Provider = ort.ProviderCPU
	}
	return err
}

// downstream is a task the D backbones are moved to: its transfer task,
// data set and folder, its share of the budget, and where its result
// goes.
type downstream struct {
	task, set, dir, about string
	settings              func(Budget) fineTuning
	result                func(*RunResult) **transfer.Result
}

// fineTuning is a downstream task's budget.
type fineTuning struct {
	canvases, epochs, batch int
	lr                      float64
}

// downstreams are the demo's transfers: segmentation with an FCN head
// (Table 9), then detection with a CenterNet head (Table 8).
var downstreams = []downstream{
	{task: "segment", set: "mnist-seg", dir: segmentDir, about: "segmentation",
		settings: func(b Budget) fineTuning { return fineTuning{b.Canvases, b.SegEpochs, b.SegBatch, b.SegLR} },
		result:   func(r *RunResult) **transfer.Result { return &r.Segment }},
	{task: "detect", set: "mnist-det", dir: detectDir, about: "detection",
		settings: func(b Budget) fineTuning { return fineTuning{b.DetCanvases, b.DetEpochs, b.DetBatch, b.DetLR} },
		result:   func(r *RunResult) **transfer.Result { return &r.Detect }},
}

// fineTune exports the run's backbone at the canvas size (once) and
// fine-tunes it on the downstream task (package transfer through
// `transfer`'s plan), or reads back a finished fine-tuning.
func (d *demo) fineTune(ctx context.Context, r *RunResult, task downstream) (*transfer.Result, error) {
	backbone := filepath.Join(d.Out, exportsDir, r.Run.Name+"-backbone.onnx")
	err := cached(filepath.Join(d.Out, exportsDir, r.Run.Name+"-backbone.json"), &r.Backbone, func() (err error) {
		trained, err := graph.Load(filepath.Join(d.Out, RunsDir, r.Run.Name, train.ModelFile))
		if err != nil {
			return err
		}
		size := int64(d.Budget.Canvas)
		r.Backbone, err = export.File(trained, backbone, export.Options{Head: export.Backbone, Features: []string{feature},
			InputSize: []int64{size, size}, ProducerVersion: d.ProducerVersion, Seed: d.Budget.Seed,
			Runtime: ort.Options{LibraryPath: d.Runtime.LibraryPath, Threads: d.Runtime.Threads}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("exporting the %s backbone: %w", r.Run.Name, err)
	}
	out := filepath.Join(d.Out, task.dir, r.Run.Name)
	if res, err := transfer.ReadResult(filepath.Join(out, transfer.MetricsFile)); err == nil {
		d.notice("%s: finished already, read back", out)
		return res, nil
	}
	_, statErr := os.Stat(out)
	f := task.settings(d.Budget)
	plan, err := transfer.NewPlan(transfer.Config{Backbone: backbone, Task: task.task, Feature: feature, BackboneLRMult: 1,
		Train: train.Config{
			Seed: d.Budget.Seed,
			Data: train.DataConfig{Set: task.set, Dir: d.DataDir, Canvas: data.CanvasOptions{Seed: d.Budget.Seed, Size: d.Budget.Canvas, Train: f.canvases, Test: d.Budget.TestCanvases}},
			Recipe: train.Recipe{Epochs: f.epochs, Batch: f.batch, LR: f.lr, Cosine: true,
				WeightDecay: ablation.Paper.WeightDecay, Momentum: ablation.Paper.Momentum},
			Engine: train.Engine{Threads: d.Threads},
			Log:    d.Log,
		},
		Runtime: d.Runtime, Out: out, Resume: statErr == nil, ProducerVersion: d.ProducerVersion})
	if err != nil {
		return nil, err
	}
	return plan.Run(ctx, d.Progress)
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
	return report.WriteJSON(path, v)
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
func recipeName(r ClassifierRun) string {
	if len(r.Features) == 0 {
		return "the baseline recipe (step decay)"
	}
	return "warmup, zero γ, no bias decay, cosine decay, label smoothing and mixup"
}

// Run does every stage of the demo cfg describes that its folder does not
// hold yet, then writes the results and the report. An interrupted run
// (ctx cancelled) leaves what it finished for the next.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	d := &demo{Config: cfg}
	if d.Log == nil {
		d.Log = io.Discard
	}
	return d.run(ctx)
}
