// Package ablation runs the paper's cumulative training study (Tables 4
// and 6 of He et al. 2019) at a scale a small machine carries: one model,
// one data set, one seed and one budget, each step adding refinements to
// the recipe of the step it builds on, and a teacher trained first for the
// distillation steps. It writes a Markdown table and curves of every run.
package ablation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/stats"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// Feature is one refinement of the paper that a step switches on.
type Feature int

const (
	// Efficient is section 3's efficient training: linear warmup, zero γ
	// and no bias decay.
	Efficient Feature = iota
	// Cosine is the cosine learning-rate decay (section 5.1).
	Cosine
	// Smoothing is label smoothing with ε = 0.1 (section 5.2).
	Smoothing
	// Distill is knowledge distillation from the teacher (section 5.3).
	Distill
	// Mixup is mixup with α = 0.2 (section 5.4).
	Mixup
)

// Step is one row of the study: a recipe made of the baseline and
// Features, compared with the step it builds on.
type Step struct {
	Name     string // the run's folder and its key in Config.Steps
	Label    string // the table's row
	Features []Feature
	Parent   string // the step it adds to ("" for the baseline)
}

// Steps are the study's rows in the paper's order: Table 4's baseline and
// efficient training, then Table 6's refinements, the last three each
// built on label smoothing.
var Steps = []Step{
	{"baseline", "baseline", nil, ""},
	{"efficient", "+ warmup, zero γ, no bias decay", []Feature{Efficient}, "baseline"},
	{"cosine", "+ cosine decay", []Feature{Efficient, Cosine}, "efficient"},
	{"smoothing", "+ label smoothing", []Feature{Efficient, Cosine, Smoothing}, "cosine"},
	{"distill", "+ distillation, no mixup", []Feature{Efficient, Cosine, Smoothing, Distill}, "smoothing"},
	{"mixup", "+ mixup, no distillation", []Feature{Efficient, Cosine, Smoothing, Mixup}, "smoothing"},
	{"distill-mixup", "+ distillation + mixup", []Feature{Efficient, Cosine, Smoothing, Distill, Mixup}, "smoothing"},
}

// teacherFeatures is the teacher's recipe, as the paper's: cosine decay
// and label smoothing (on top of efficient training).
var teacherFeatures = []Feature{Efficient, Cosine, Smoothing}

// The paper's values of the refinements.
const (
	smoothingEpsilon = 0.1
	mixupAlpha       = 0.2
)

// Config is one study.
type Config struct {
	// Base holds what every run shares: the seed, the data and its
	// training limit, the engine, and in its Recipe the epochs, batch,
	// base learning rate, weight decay, momentum and the distillation's
	// temperature and weights. Each step sets its Recipe's schedule and
	// refinements ([Recipe]); Model, Out and Resume are set per run.
	Base train.Config
	// Student and Teacher are the architectures; both are built once with
	// Seed so that every step starts from the same weights. A Student
	// without an input size takes the data set's images
	// ([train.ImageShape]); a Teacher with nothing but a Model is the
	// Student's configuration with that model, [DefaultTeacher] without one.
	Student, Teacher models.Config
	Variant          string // A, B, C or D, applied to both
	// MixupOffEpochs is passed to the mixup steps.
	MixupOffEpochs int
	// Steps names the steps to run (nil: all, in order).
	Steps []string
	// Seeds, above 1, runs the whole study that many times, with seeds
	// Base.Seed, Base.Seed+1, …, each in its folder Out/seed-<seed>, and
	// reports every row as the mean over seeds with its spread and, against
	// the row it builds on, the paired difference with its 95% interval.
	// The seed sets the weights (student and teacher), the data order and
	// the augmentation.
	Seeds  int
	Out    string
	Resume bool
	Log    io.Writer
}

// Files of a study folder, beside one run folder per step and teacher/.
const (
	TableFile    = "ablation.md"
	JSONFile     = "ablation.json"
	LossPlot     = "loss.png"
	AccuracyPlot = "accuracy.png"
	LRPlot       = "lr.png"
	studentFile  = "student.onnx"
	teacherFile  = "teacher.onnx"
	teacherRun   = "teacher"
)

// Row is one finished run of the study, or with several seeds the mean of
// the runs of one step over the seeds (Top1, Top5, Loss and Seconds are
// means then).
type Row struct {
	Step    string  `json:"step"`
	Label   string  `json:"label"`
	Parent  string  `json:"parent,omitempty"`
	Top1    float64 `json:"top1"`
	Top5    float64 `json:"top5"`
	Loss    float64 `json:"test_loss"`
	Seconds float64 `json:"train_seconds"`
	// Distilled says the training loss includes the distillation term.
	Distilled bool               `json:"distilled,omitempty"`
	Metrics   []train.Metrics    `json:"-"`
	Steps     []train.StepRecord `json:"-"`
	// Seed is the run's seed, the first seed's for a mean over seeds.
	Seed uint64 `json:"seed"`
	// With several seeds: the standard deviations of Top1, Top5 and Loss
	// over the seeds, the paired difference of top-1 from Parent, and the
	// row of each seed, in seed order.
	Top1Std float64         `json:"top1_std,omitempty"`
	Top5Std float64         `json:"top5_std,omitempty"`
	LossStd float64         `json:"test_loss_std,omitempty"`
	Delta   *stats.Interval `json:"delta_top1,omitempty"`
	PerSeed []Row           `json:"per_seed,omitempty"`
}

// Result is the study's outcome: the teacher's row (when a step needed
// it) and one row per step, in order.
type Result struct {
	Teacher *Row  `json:"teacher,omitempty"`
	Rows    []Row `json:"rows"`
}

// Run trains the teacher if a chosen step needs it, then every chosen
// step, and writes the table and the plots. A run already finished in Out
// is read back rather than trained again, and one interrupted is resumed,
// when Resume is set; without it, an Out that holds a study is refused.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Seeds < 0 {
		return nil, &train.FieldError{Field: "Seeds", Value: cfg.Seeds, Want: "a count of seeds, 1 or more (0: 1)"}
	}
	if cfg.Seeds <= 1 {
		return cfg.runSeed(ctx)
	}
	if cfg.Out == "" {
		return nil, &train.FieldError{Field: "Out", Value: cfg.Out, Want: "a study folder"}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, studentFile)); err == nil {
		return nil, &train.FieldError{Field: "Out", Value: cfg.Out, Want: "a folder without a study of one seed, which this one of several would mix with"}
	}
	var per []*Result
	for k := range cfg.Seeds {
		c := cfg.forSeed(k)
		fmt.Fprintf(cfg.Log, "=== seed %d (%d of %d)\n", c.Base.Seed, k+1, cfg.Seeds)
		r, err := c.runSeed(ctx)
		if err != nil {
			return nil, fmt.Errorf("seed %d: %w", c.Base.Seed, err)
		}
		per = append(per, r)
	}
	res := combine(per)
	if err := cfg.fillModels(); err != nil {
		return nil, err
	}
	return res, cfg.write(res)
}

// SeedDir is the folder of seed's study inside a study of several seeds.
func SeedDir(out string, seed uint64) string {
	return filepath.Join(out, fmt.Sprintf("seed-%d", seed))
}

// forSeed is the study of the k-th seed of cfg: its seeds moved on by k
// (the teacher's too, when it has its own configuration), in its folder.
func (cfg Config) forSeed(k int) Config {
	c := cfg
	if c.Teacher != (models.Config{Model: c.Teacher.Model}) {
		c.Teacher.Seed += uint64(k)
	}
	c.Base.Seed += uint64(k)
	c.Student.Seed += uint64(k)
	c.Out, c.Seeds = SeedDir(cfg.Out, c.Base.Seed), 1
	return c
}

// runSeed runs the study of one seed.
func (cfg Config) runSeed(ctx context.Context) (*Result, error) {
	steps, err := chosen(cfg.Steps)
	if err != nil {
		return nil, err
	}
	if cfg.Out == "" {
		return nil, &train.FieldError{Field: "Out", Value: cfg.Out, Want: "a study folder"}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, studentFile)); err == nil && !cfg.Resume {
		return nil, &train.FieldError{Field: "Out", Value: cfg.Out, Want: "a folder without a study, or Resume to continue the study it holds already", With: []string{"Resume"}}
	}
	if err := cfg.fillModels(); err != nil {
		return nil, err
	}
	if err := cfg.CheckSteps(steps); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	student, err := buildModel(cfg.Student, cfg.Variant, filepath.Join(cfg.Out, studentFile))
	if err != nil {
		return nil, fmt.Errorf("student: %w", err)
	}
	res := &Result{}
	teacher := ""
	if slices.ContainsFunc(steps, func(s Step) bool { return slices.Contains(s.Features, Distill) }) {
		init, err := buildModel(cfg.Teacher, cfg.Variant, filepath.Join(cfg.Out, teacherFile))
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		fmt.Fprintf(cfg.Log, "== teacher: %s-%s with %s\n", cfg.Teacher.Model, strings.ToUpper(cfg.Variant), describe(teacherFeatures))
		row, err := cfg.TrainStep(ctx, Step{Name: teacherRun, Label: "teacher " + cfg.Teacher.Model, Features: teacherFeatures}, init, "")
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		res.Teacher = row
		teacher = filepath.Join(cfg.Out, teacherRun, train.ModelFile)
	}
	for i, s := range steps {
		fmt.Fprintf(cfg.Log, "== step %d/%d: %s\n", i+1, len(steps), s.Label)
		row, err := cfg.TrainStep(ctx, s, student, teacher)
		if err != nil {
			return nil, fmt.Errorf("step %s: %w", s.Name, err)
		}
		res.Rows = append(res.Rows, *row)
	}
	return res, cfg.write(res)
}

// chosen returns the steps named, in the study's order.
func chosen(names []string) ([]Step, error) {
	if len(names) == 0 {
		return Steps, nil
	}
	var out []Step
	for _, n := range names {
		i := slices.IndexFunc(Steps, func(s Step) bool { return s.Name == n })
		if i < 0 {
			return nil, &train.FieldError{Field: "Steps", Value: strings.Join(names, ","), Err: fmt.Errorf("unknown step %q (expected some of %s)", n, strings.Join(StepNames(), ", "))}
		}
		if slices.ContainsFunc(out, func(s Step) bool { return s.Name == n }) {
			return nil, &train.FieldError{Field: "Steps", Value: strings.Join(names, ","), Err: fmt.Errorf("step %q named twice", n)}
		}
		out = append(out, Steps[i])
	}
	slices.SortFunc(out, func(a, b Step) int { return index(a.Name) - index(b.Name) })
	return out, nil
}

func index(name string) int {
	return slices.IndexFunc(Steps, func(s Step) bool { return s.Name == name })
}

// StepNames returns the steps' names in order.
func StepNames() []string {
	names := make([]string, len(Steps))
	for i, s := range Steps {
		names[i] = s.Name
	}
	return names
}

// buildModel builds arch as variant and saves it to path, or, when path
// exists from an earlier start of the study, checks that it is the same
// model.
// CheckSteps refuses, before a study writes anything, a budget too short
// for the paper's schedules and the settings that train would refuse any
// of the steps' runs with (and the teacher's, when a step distils). Run
// calls it; other studies (the demo) call it with their own steps.
func (cfg Config) CheckSteps(steps []Step) error {
	if e := cfg.Base.Recipe.Epochs; e < 2 {
		return &train.FieldError{Field: "Recipe.Epochs", Value: e,
			Want: "at least 2, so that the paper's warmup (5 of 120 epochs) and step decay (at 30, 60, 90) each keep an epoch and every row is the recipe it names"}
	}
	teacher := filepath.Join(cfg.Out, teacherRun, train.ModelFile)
	runs := steps
	if slices.ContainsFunc(steps, func(s Step) bool { return slices.Contains(s.Features, Distill) }) {
		runs = append([]Step{{Name: teacherRun, Features: teacherFeatures}}, steps...)
	}
	for _, s := range runs {
		if err := train.Validate(cfg.run(s, teacher)); err != nil {
			return err
		}
	}
	return nil
}

// run is the training run of step s: Base with the step's recipe, in the
// folder Out/s.Name.
func (cfg Config) run(s Step, teacher string) train.Config {
	run := cfg.Base
	run.Recipe = Recipe(cfg.Base.Recipe, s.Features, teacher, cfg.MixupOffEpochs)
	run.Out, run.Log = filepath.Join(cfg.Out, s.Name), cfg.Log
	return run
}

// DefaultTeacher is the teacher for student's layout: a deeper model of
// the same zoo, resnet56 for the CIFAR layout and resnet152 (the paper's
// teacher) for ImageNet's.
func DefaultTeacher(student models.Arch) string {
	if student.CIFAR {
		return "resnet56"
	}
	return "resnet152"
}

// fillModels gives the student the data set's input when it has none and
// a teacher that names at most its model the student's configuration (and
// DefaultTeacher when it names none), and refuses a teacher whose layout is not the
// student's (distillation compares their logits on the same images).
func (cfg *Config) fillModels() error {
	arch, err := models.Lookup(cfg.Student.Model)
	if err != nil {
		return &train.FieldError{Field: "Student.Model", Value: cfg.Student.Model, Err: err}
	}
	if s := &cfg.Student; s.InChannels == 0 && s.Height == 0 && s.Width == 0 {
		s.InChannels, s.Height, s.Width = train.ImageShape(cfg.Base.Data.Set)
	}
	if cfg.Teacher == (models.Config{Model: cfg.Teacher.Model}) {
		name := cmp.Or(cfg.Teacher.Model, DefaultTeacher(arch))
		cfg.Teacher = cfg.Student
		cfg.Teacher.Model = name
	}
	t, err := models.Lookup(cfg.Teacher.Model)
	if err != nil {
		return &train.FieldError{Field: "Teacher.Model", Value: cfg.Teacher.Model, Err: err}
	}
	if t.CIFAR != arch.CIFAR {
		return &train.FieldError{Field: "Teacher.Model", Value: cfg.Teacher.Model,
			Want: fmt.Sprintf("a model of the student's layout (%s)", cfg.Student.Model), With: []string{"Student.Model"}}
	}
	return nil
}

func buildModel(arch models.Config, variant, path string) (string, error) {
	if _, err := tweaks.ForVariant(variant); err != nil {
		return "", &train.FieldError{Field: "Variant", Value: variant, Err: err}
	}
	m, _, err := tweaks.Build(arch, variant)
	if err != nil {
		return "", err
	}
	if err := m.SaveOrMatch(path); errors.Is(err, graph.ErrModelDiffers) {
		return "", fmt.Errorf("%s was built with other settings; resume with the same ones", path)
	} else if err != nil {
		return "", err
	}
	return path, nil
}

// Recipe returns the recipe of a run with features on top of base: the
// paper's schedules and refinements fitted to base's epochs (see
// [ScaledSteps] and [WarmupEpochs]). base's epochs, batch, learning rate,
// weight decay, momentum and distillation weights are kept; its schedule
// and refinements are replaced. recipes/*.yaml are this function's
// results at the paper's scale ([PaperFiles]).
func Recipe(base train.Recipe, features []Feature, teacher string, mixupOff int) train.Recipe {
	c := base
	c.DecayEpochs, c.DecayFactor = ScaledSteps(base.Epochs), 0.1
	c.Cosine, c.WarmupEpochs, c.ZeroGamma, c.NoWDBias = false, 0, false, false
	c.LabelSmoothing, c.Mixup, c.MixupOffEpochs, c.Teacher = 0, 0, 0, ""
	for _, f := range features {
		switch f {
		case Efficient:
			c.WarmupEpochs, c.ZeroGamma, c.NoWDBias = WarmupEpochs(base.Epochs), true, true
		case Cosine:
			c.Cosine, c.DecayEpochs = true, nil
		case Smoothing:
			c.LabelSmoothing, c.Smoothing = smoothingEpsilon, train.SmoothUniform
		case Distill:
			c.Teacher = teacher
		case Mixup:
			c.Mixup, c.MixupOffEpochs = mixupAlpha, mixupOff
		}
	}
	return c
}

// ScaledSteps returns the baseline's decay epochs, the paper's 30, 60 and
// 90 of 120, scaled to epochs and rounded, leaving out any that would not
// fall inside the run.
func ScaledSteps(epochs int) []int {
	var out []int
	for _, e := range []int{30, 60, 90} {
		s := int(math.Round(float64(e*epochs) / 120))
		if s >= 1 && s < epochs && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// WarmupEpochs returns the paper's 5 warmup epochs of 120 scaled to
// epochs: at least 1, and fewer than epochs so that cosine decay has room.
func WarmupEpochs(epochs int) int {
	return max(0, min(epochs-1, max(1, int(math.Round(float64(5*epochs)/120)))))
}

// describe names features for the log.
func describe(features []Feature) string {
	names := []string{"efficient training", "cosine decay", "label smoothing", "distillation", "mixup"}
	var parts []string
	for _, f := range features {
		parts = append(parts, names[f])
	}
	if len(parts) == 0 {
		return "the baseline recipe"
	}
	return strings.Join(parts, " + ")
}

// TrainStep trains step s from model in the folder Out/s.Name, with the
// teacher for distillation steps, or reads it back when finished there
// (with Resume), and returns its row. Run calls it for every step; other
// studies (the demo) call it with their own steps.
func (cfg Config) TrainStep(ctx context.Context, s Step, model, teacher string) (*Row, error) {
	run := cfg.run(s, teacher)
	run.Model = model
	_, err := os.Stat(filepath.Join(run.Out, train.CheckpointFile))
	run.Resume = err == nil && cfg.Resume
	row := &Row{Step: s.Name, Label: s.Label, Parent: s.Parent, Distilled: run.Recipe.Teacher != "", Seed: run.Seed}
	metrics, err := finished(run)
	if err != nil {
		return nil, err
	}
	if metrics != nil {
		fmt.Fprintf(cfg.Log, "%s: finished already, read back\n", run.Out)
	} else if metrics, err = train.Train(ctx, run); err != nil {
		return nil, err
	}
	if row.Steps, err = train.ReadSteps(filepath.Join(run.Out, train.StepsFile)); err != nil {
		return nil, err
	}
	last := metrics[len(metrics)-1]
	row.Metrics, row.Top1, row.Top5, row.Loss = metrics, last.TestTop1, last.TestTop5, last.TestLoss
	for _, m := range metrics {
		row.Seconds += m.EpochSecond
	}
	return row, nil
}

// finished returns the metrics of run when its folder holds it complete
// (the model written after its last epoch), and nil otherwise.
func finished(run train.Config) ([]train.Metrics, error) {
	if !run.Resume {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(run.Out, train.ModelFile)); err != nil {
		return nil, nil
	}
	metrics, err := train.ReadMetrics(filepath.Join(run.Out, train.MetricsFile))
	if err != nil || len(metrics) != run.Recipe.Epochs {
		return nil, err
	}
	return metrics, nil
}
