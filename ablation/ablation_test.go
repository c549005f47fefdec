package ablation

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/stats"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// TestScaledSchedule pins the paper's 120-epoch schedule scaled to other
// budgets: 30/60/90 and 5 warmup epochs at 120, by hand elsewhere.
func TestScaledSchedule(t *testing.T) {
	for _, tc := range []struct {
		epochs int
		steps  []int
		warmup int
	}{
		{120, []int{30, 60, 90}, 5},
		{15, []int{4, 8, 11}, 1}, // 3.75, 7.5, 11.25; 0.625
		{48, []int{12, 24, 36}, 2},
		{2, []int{1}, 1}, // 0.5 → 1, 1 again, 1.5 → 2 is the end
		{1, nil, 0},      // no room for a step or for warmup before cosine
	} {
		if got := ScaledSteps(tc.epochs); !slices.Equal(got, tc.steps) {
			t.Errorf("ScaledSteps(%d) = %v, want %v", tc.epochs, got, tc.steps)
		}
		if got := WarmupEpochs(tc.epochs); got != tc.warmup {
			t.Errorf("WarmupEpochs(%d) = %d, want %d", tc.epochs, got, tc.warmup)
		}
	}
}

// TestRecipe checks each step's training configuration field by field:
// cumulative, with distillation and mixup each on top of smoothing.
func TestRecipe(t *testing.T) {
	base := train.Config{
		Recipe: train.Recipe{Epochs: 15, Batch: 128, LR: 0.1, WeightDecay: 1e-4, Momentum: 0.9, Cosine: true, Mixup: 0.4, LabelSmoothing: 0.3},
	}
	type recipe struct {
		steps                       []int
		cosine, zeroGamma, noWDBias bool
		warmup                      int
		smoothing, mixup            float64
		teacher                     string
	}
	want := map[string]recipe{
		"baseline":      {steps: []int{4, 8, 11}},
		"efficient":     {steps: []int{4, 8, 11}, warmup: 1, zeroGamma: true, noWDBias: true},
		"cosine":        {cosine: true, warmup: 1, zeroGamma: true, noWDBias: true},
		"smoothing":     {cosine: true, warmup: 1, zeroGamma: true, noWDBias: true, smoothing: 0.1},
		"distill":       {cosine: true, warmup: 1, zeroGamma: true, noWDBias: true, smoothing: 0.1, teacher: "t.onnx"},
		"mixup":         {cosine: true, warmup: 1, zeroGamma: true, noWDBias: true, smoothing: 0.1, mixup: 0.2},
		"distill-mixup": {cosine: true, warmup: 1, zeroGamma: true, noWDBias: true, smoothing: 0.1, mixup: 0.2, teacher: "t.onnx"},
	}
	for _, s := range Steps {
		c := train.Config{Recipe: Recipe(base.Recipe, s.Features, "t.onnx", 2)}
		got := recipe{c.Recipe.DecayEpochs, c.Recipe.Cosine, c.Recipe.ZeroGamma, c.Recipe.NoWDBias, c.Recipe.WarmupEpochs, c.Recipe.LabelSmoothing, c.Recipe.Mixup, c.Recipe.Teacher}
		w := want[s.Name]
		if !slices.Equal(got.steps, w.steps) || got.cosine != w.cosine || got.zeroGamma != w.zeroGamma || got.noWDBias != w.noWDBias ||
			got.warmup != w.warmup || got.smoothing != w.smoothing || got.mixup != w.mixup || got.teacher != w.teacher {
			t.Errorf("%s: %+v, want %+v", s.Name, got, w)
		}
		if c.Recipe.Epochs != 15 || c.Recipe.Batch != 128 || c.Recipe.LR != 0.1 || c.Recipe.WeightDecay != 1e-4 {
			t.Errorf("%s: the shared budget changed: %+v", s.Name, c)
		}
		if (c.Recipe.Mixup > 0) != (c.Recipe.MixupOffEpochs == 2) {
			t.Errorf("%s: mixup %g, off for the last %d epochs", s.Name, c.Recipe.Mixup, c.Recipe.MixupOffEpochs)
		}
		if s.Parent != "" && index(s.Parent) >= index(s.Name) {
			t.Errorf("%s builds on %s, which comes later", s.Name, s.Parent)
		}
	}
}

func TestChosenSteps(t *testing.T) {
	got, err := chosen([]string{"cosine", "baseline"})
	if err != nil || len(got) != 2 || got[0].Name != "baseline" || got[1].Name != "cosine" {
		t.Errorf("chosen: %v, %v; want baseline then cosine", got, err)
	}
	if _, err := chosen([]string{"baseline", "warmup"}); err == nil || !strings.Contains(err.Error(), `unknown step "warmup"`) {
		t.Errorf("unknown step: %v", err)
	}
	if _, err := chosen([]string{"mixup", "mixup"}); err == nil || !strings.Contains(err.Error(), "named twice") {
		t.Errorf("a step twice: %v", err)
	}
}

// TestRunStudy runs the whole study on a small synthetic MNIST-format set:
// the teacher and seven runs, the table, the JSON and the plots; a second
// start is refused without --resume, and with it every finished run is read
// back, not trained again.
func TestRunStudy(t *testing.T) {
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, 128, 64, 1); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	arch := models.Config{Model: "resnet20", Classes: 10, InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Seed: 5}
	teacher := arch
	teacher.Model = "resnet32"
	cfg := Config{
		Base: train.Config{
			Seed:   5,
			Data:   train.DataConfig{Set: "mnist", Dir: dataDir},
			Recipe: train.Recipe{Epochs: 2, Batch: 32, LR: 0.05, WeightDecay: 1e-4, Momentum: 0.9, Distill: train.Distillation{T: 20, Hard: 1, Soft: 1}},
		},
		Student: arch, Teacher: teacher, Variant: "D", Out: filepath.Join(dir, "study"), Log: &log,
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if res.Teacher == nil || len(res.Rows) != len(Steps) {
		t.Fatalf("teacher %v, %d rows", res.Teacher, len(res.Rows))
	}
	for _, r := range res.Rows {
		if len(r.Metrics) != 2 || len(r.Steps) != 2*128/32 || r.Top1 <= 0 {
			t.Errorf("%s: %d epochs, %d steps, top-1 %g", r.Step, len(r.Metrics), len(r.Steps), r.Top1)
		}
		// The distillation term, T² times a cross-entropy of at least the
		// teacher's entropy, dwarfs the label loss of the other runs.
		if distilled := r.Steps[0].Loss > 50; distilled != r.Distilled || distilled != strings.HasPrefix(r.Step, "distill") {
			t.Errorf("%s: first loss %g, distilled %v", r.Step, r.Steps[0].Loss, r.Distilled)
		}
	}
	table, err := os.ReadFile(filepath.Join(cfg.Out, TableFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Steps {
		if !strings.Contains(string(table), "| "+s.Label+" | ") {
			t.Errorf("the table lacks the row %q:\n%s", s.Label, table)
		}
	}
	for _, name := range []string{LossPlot, AccuracyPlot, LRPlot} {
		f, err := os.Open(filepath.Join(cfg.Out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, JSONFile)); err != nil {
		t.Error(err)
	}

	var fe *train.FieldError
	if _, err := Run(context.Background(), cfg); !errors.As(err, &fe) || fe.Field != "Out" || !strings.Contains(err.Error(), "or Resume to continue the study") {
		t.Errorf("a second start without Resume: %v", err)
	}
	log.Reset()
	cfg.Resume = true
	again, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "finished already"); n != len(Steps)+1 {
		t.Errorf("%d runs read back, want %d:\n%s", n, len(Steps)+1, log.String())
	}
	for i, r := range again.Rows {
		if r.Top1 != res.Rows[i].Top1 || r.Loss != res.Rows[i].Loss {
			t.Errorf("%s read back as top-1 %g loss %g, was %g %g", r.Step, r.Top1, r.Loss, res.Rows[i].Top1, res.Rows[i].Loss)
		}
	}
}

// TestTrainStepWithoutMetrics: a finished run whose metrics.jsonl is gone
// is refused in one line when the study resumes, not read back short.
func TestTrainStepWithoutMetrics(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, 64, 32, 1); err != nil {
		t.Fatal(err)
	}
	model, err := buildModel(models.Config{Model: "resnet20", Classes: 10, InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Seed: 5}, "A",
		filepath.Join(dir, "student.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Base: train.Config{Seed: 5, Data: train.DataConfig{Set: "mnist", Dir: dataDir}, Recipe: train.Recipe{Epochs: 1, Batch: 32, LR: 0.05, Momentum: 0.9}, Engine: train.Engine{Threads: 2}},
		Out: filepath.Join(dir, "study")}
	if _, err := cfg.TrainStep(context.Background(), Steps[0], model, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.Out, Steps[0].Name, train.MetricsFile)); err != nil {
		t.Fatal(err)
	}
	cfg.Resume = true
	if _, err := cfg.TrainStep(context.Background(), Steps[0], model, ""); err == nil ||
		!strings.Contains(err.Error(), "the run's record is incomplete") || strings.Contains(err.Error(), "\n") {
		t.Errorf("a finished step without its metrics: %v", err)
	}
}

// TestFillModels: a student without an input takes its data set's images
// and a teacher without a model is the student's deeper relative of the
// same layout; a teacher of the other layout is refused by field.
func TestFillModels(t *testing.T) {
	for _, tc := range []struct {
		name             string
		set              string
		student, teacher models.Config
		wantStudent      models.Config
		wantTeacher      string
		refused          string
	}{
		{"fashion-mnist", "fashion-mnist", models.Config{Model: "resnet20", Classes: 10}, models.Config{},
			models.Config{Model: "resnet20", Classes: 10, InChannels: 1, Height: 28, Width: 28}, "resnet56", ""},
		{"cifar10 with a directory", "cifar10:/tmp/c", models.Config{Model: "resnet20"}, models.Config{},
			models.Config{Model: "resnet20", InChannels: 3, Height: 32, Width: 32}, "resnet56", ""},
		{"folder, ImageNet layout", "folder:/d", models.Config{Model: "resnet18"}, models.Config{},
			models.Config{Model: "resnet18", InChannels: 3, Height: 224, Width: 224}, "resnet152", ""},
		{"input given", "mnist", models.Config{Model: "resnet20", InChannels: 3, Height: 32, Width: 32}, models.Config{Model: "resnet32"},
			models.Config{Model: "resnet20", InChannels: 3, Height: 32, Width: 32}, "resnet32", ""},
		{"teacher of its own", "mnist", models.Config{Model: "resnet20", InChannels: 3, Height: 32, Width: 32}, models.Config{Model: "resnet32", InChannels: 3, Height: 32, Width: 32, BaseWidth: 8},
			models.Config{Model: "resnet20", InChannels: 3, Height: 32, Width: 32}, "resnet32", ""},
		{"teacher of another layout", "mnist", models.Config{Model: "resnet20"}, models.Config{Model: "resnet50"}, models.Config{}, "", "Teacher.Model"},
		{"unknown student", "mnist", models.Config{Model: "resnet21"}, models.Config{}, models.Config{}, "", "Student.Model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Student: tc.student, Teacher: tc.teacher}
			cfg.Base.Data.Set = tc.set
			err := cfg.fillModels()
			if tc.refused != "" {
				var fe *train.FieldError
				if !errors.As(err, &fe) || fe.Field != tc.refused {
					t.Fatalf("error %v, want a FieldError on %s", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Student != tc.wantStudent {
				t.Errorf("student %+v, want %+v", cfg.Student, tc.wantStudent)
			}
			// A teacher that names its model alone takes the rest from the student.
			want := cfg.Student
			want.Model = tc.wantTeacher
			if tc.teacher != (models.Config{Model: tc.teacher.Model}) {
				want = tc.teacher
			}
			if cfg.Teacher != want {
				t.Errorf("teacher %+v, want %+v", cfg.Teacher, want)
			}
		})
	}
}

// TestRunRefusesBeforeWriting: a budget too short for the paper's
// schedules and settings train refuses are refused by field before the
// study writes anything (the student and teacher models included).
func TestRunRefusesBeforeWriting(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		edit        func(c *Config)
	}{
		{"one epoch", "Recipe.Epochs", func(c *Config) { c.Base.Recipe.Epochs = 1 }},
		{"negative weight decay", "Recipe.WeightDecay", func(c *Config) { c.Base.Recipe.WeightDecay = -1 }},
		{"NaN temperature", "Recipe.Distill.T", func(c *Config) { c.Base.Recipe.Distill.T = math.NaN() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Student: models.Config{Model: "resnet20", BaseWidth: 2}, Variant: "D", Out: filepath.Join(t.TempDir(), "study")}
			cfg.Base.Data.Set = "mnist"
			cfg.Base.Recipe = train.Recipe{Epochs: 4, Batch: 8, LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, Distill: Paper.Distill}
			tc.edit(&cfg)
			_, err := Run(context.Background(), cfg)
			var fe *train.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v, want a FieldError on %s", err, tc.field)
			}
			if _, err := os.Stat(cfg.Out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused study made its folder (%v)", err)
			}
		})
	}
}

// TestRunSeeds runs two steps with 3 seeds: each seed's study in its own
// folder, every row the mean of its seeds with their spread, the efficient
// step's paired interval from the per-seed top-1s, the table and plots at
// the top; a study of one seed in the folder is refused.
func TestRunSeeds(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, 128, 64, 1); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Base: train.Config{
			Seed:   5,
			Data:   train.DataConfig{Set: "mnist", Dir: dataDir},
			Recipe: train.Recipe{Epochs: 2, Batch: 32, LR: 0.05, WeightDecay: 1e-4, Momentum: 0.9},
			Engine: train.Engine{Threads: 2},
		},
		Student: models.Config{Model: "resnet20", Classes: 10, BaseWidth: 4, Seed: 5},
		Variant: "D", Steps: []string{"baseline", "efficient"}, Seeds: 3, Out: filepath.Join(dir, "study"),
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 {
		t.Fatalf("%d rows, want 2", len(res.Rows))
	}
	for _, r := range res.Rows {
		if len(r.PerSeed) != 3 {
			t.Fatalf("%s: %d seeds, want 3", r.Step, len(r.PerSeed))
		}
		top1 := seedValues(r.PerSeed, func(r Row) float64 { return r.Top1 })
		mean, std := stats.MeanStd(top1)
		if r.Top1 != mean || r.Top1Std != std {
			t.Errorf("%s: top-1 %g ± %g, its seeds %v", r.Step, r.Top1, r.Top1Std, top1)
		}
		losses := seedValues(r.PerSeed, func(r Row) float64 { return r.Loss })
		if losses[0] == losses[1] || losses[1] == losses[2] {
			t.Errorf("%s: seeds end with equal test losses %v: the seed changes nothing", r.Step, losses)
		}
		for k, run := range r.PerSeed {
			if run.Seed != uint64(5+k) {
				t.Errorf("%s: seed %d is %d", r.Step, k, run.Seed)
			}
			if _, err := os.Stat(filepath.Join(SeedDir(cfg.Out, run.Seed), r.Step, train.ModelFile)); err != nil {
				t.Error(err)
			}
		}
	}
	base, eff := res.Rows[0], res.Rows[1]
	want := stats.PairedInterval(seedValues(eff.PerSeed, func(r Row) float64 { return r.Top1 }), seedValues(base.PerSeed, func(r Row) float64 { return r.Top1 }))
	if base.Delta != nil || eff.Delta == nil || *eff.Delta != want {
		t.Errorf("intervals: baseline %v, efficient %v; want none and %+v", base.Delta, eff.Delta, want)
	}
	table, err := os.ReadFile(filepath.Join(cfg.Out, TableFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Every row is trained with 3 seeds, 5 to 7", "| baseline | " + percent(base.Top1, base.Top1Std, 3) + " | ",
		want.Format(100, 2) + " | baseline |", "with a band from the lowest to the highest seed"} {
		if !strings.Contains(string(table), s) {
			t.Errorf("the table lacks %q:\n%s", s, table)
		}
	}
	for _, name := range []string{LossPlot, AccuracyPlot, LRPlot} {
		if _, err := os.Stat(filepath.Join(cfg.Out, name)); err != nil {
			t.Error(err)
		}
	}
	single := cfg
	single.Seeds, single.Out = 1, filepath.Join(dir, "single")
	if _, err := Run(context.Background(), single); err != nil {
		t.Fatal(err)
	}
	single.Seeds = 2
	var fe *train.FieldError
	if _, err := Run(context.Background(), single); !errors.As(err, &fe) || fe.Field != "Out" {
		t.Errorf("seeds into a study of one seed: %v", err)
	}
}
