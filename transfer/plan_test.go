package transfer_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// planFixture writes a synthetic MNIST-format data set and two backbones
// of a width-4 ResNet-20 for 1×28×28 digits: one with a fixed input size
// and one with a dynamic one; it returns a Config that plans.
func planFixture(t *testing.T) (cfg transfer.Config, dynamic string) {
	t.Helper()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, 32, 16, 1); err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[bool]string{false: filepath.Join(dir, "b28.onnx"), true: filepath.Join(dir, "dynamic.onnx")}
	for dyn, path := range paths {
		b, _, err := export.Build(m, export.Options{Head: export.Backbone, DynamicSize: dyn})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Save(path); err != nil {
			t.Fatal(err)
		}
	}
	return transfer.Config{Backbone: paths[false], Task: "classify", BackboneLRMult: 1,
		Train: train.Config{Seed: 1, Data: train.DataConfig{Set: "mnist", Dir: dataDir}, Recipe: train.Recipe{Epochs: 1, Batch: 8, LR: 0.01}},
		Out:   filepath.Join(dir, "out")}, paths[true]
}

// TestNewPlanRefuses: each Config that cannot be transferred is refused
// by NewPlan with a train.FieldError naming the field and its value, or with
// ErrOutHoldsFiles, before anything is written.
func TestNewPlanRefuses(t *testing.T) {
	good, dynamic := planFixture(t)
	busy := filepath.Join(t.TempDir(), "busy")
	os.Mkdir(busy, 0o755)
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("mine"), 0o644)
	tests := []struct {
		name  string
		edit  func(*transfer.Config)
		field string
		value any
		want  string
	}{
		{"unknown task", func(c *transfer.Config) { c.Task = "track" }, "Task", "track", "unknown task; expected one of classify, segment, detect"},
		{"no epochs", func(c *transfer.Config) { c.Train.Recipe.Epochs = 0 }, "Train.Recipe.Epochs", 0, "expected at least 1"},
		{"no batch", func(c *transfer.Config) { c.Train.Recipe.Batch = 0 }, "Train.Recipe.Batch", 0, "expected at least 1"},
		{"negative train limit", func(c *transfer.Config) { c.Train.Data.TrainLimit = -1 }, "Train.Data.TrainLimit", -1, "expected 0 (all) or more"},
		{"negative classes", func(c *transfer.Config) { c.Classes = -1 }, "Classes", -1, "expected a positive count"},
		{"learning-rate multiplier NaN", func(c *transfer.Config) { c.BackboneLRMult = math.NaN() }, "BackboneLRMult", nil, "expected a finite value ≥ 0"},
		{"missing backbone", func(c *transfer.Config) { c.Backbone += ".missing" }, "Backbone", nil, "b28.onnx.missing"},
		{"dynamic input size", func(c *transfer.Config) { c.Backbone = dynamic }, "Backbone", dynamic, "has a dynamic size"},
		{"no such feature", func(c *transfer.Config) { c.Feature = "c9" }, "Backbone", good.Backbone, `the backbone has no output "c9"`},
		{"segment on per-image data", func(c *transfer.Config) { c.Task = "segment" }, "Train.Data.Set", "mnist", "labelled per image; task segment trains on data labelled per pixel"},
		{"fewer classes than the data's", func(c *transfer.Config) { c.Classes = 5 }, "Classes", 5, "data set mnist has 10 classes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := transfer.NewPlan(cfg)
			var ce *train.FieldError
			if !errors.As(err, &ce) || ce.Field != tc.field || (tc.value != nil && ce.Value != tc.value) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v (%#v), want a FieldError of %s = %v containing %q", err, ce, tc.field, tc.value, tc.want)
			}
			if _, err := os.Stat(cfg.Out); err == nil {
				t.Errorf("%s was created", cfg.Out)
			}
		})
	}
	cfg := good
	cfg.Out = busy
	if _, err := transfer.NewPlan(cfg); !errors.Is(err, transfer.ErrOutHoldsFiles) {
		t.Errorf("an Out holding files: %v", err)
	}
	cfg.Resume = true
	if _, err := transfer.NewPlan(cfg); err != nil {
		t.Errorf("resuming into a folder without a grafted model: %v", err)
	}
}

// TestStudyMarkdown lays a study out as the paper's Table 9: a row per
// backbone, its own top-1 or — where it has none, then the task's columns
// as percentages or to four places.
func TestStudyMarkdown(t *testing.T) {
	top1 := 0.9712
	s := &transfer.Study{Task: "segment", Rows: []transfer.StudyRow{
		{Name: "d-tricks", Result: transfer.Result{BackboneTop1: &top1, Data: "mnist-seg", Feature: "c2", Classes: 11, Epochs: 1,
			BackboneLRMult: 1, Provider: "cpu", ONNXRuntime: transfer.Figures{"pixel_accuracy": 0.9470, "mean_iou": 0.23521, "loss": 0.159}}},
		{Name: "bare", Result: transfer.Result{ONNXRuntime: transfer.Figures{"pixel_accuracy": 0.5}}},
	}}
	want := "Transfer to segment on mnist-seg: feature c2, 11 classes, 1 epoch, backbone lr ×1; downstream figures measured in ONNX Runtime (cpu) on the test split.\n\n" +
		"| backbone | its own top-1 | pixel accuracy | mean IoU | loss |\n" +
		"| --- | ---: | ---: | ---: | ---: |\n" +
		"| d-tricks | 97.12% | 94.70% | 0.2352 | 0.1590 |\n" +
		"| bare | — | 50.00% | — | — |\n"
	if got := s.Markdown(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestResultWriteText writes a hand-made classify result as `bot-onnx
// transfer` prints it: the task's columns the figures hold, the backbone's
// own top-1, and the files beside the model.
func TestResultWriteText(t *testing.T) {
	top1 := 0.9712
	r := &transfer.Result{Backbone: "b.onnx", BackboneTop1: &top1, Task: "classify", Data: "mnist", Feature: "c2", Classes: 10,
		BackboneLRMult: 0.1, Epochs: 2, TrainSeconds: 12.4, Model: filepath.Join("out", "model.onnx"),
		Engine:      transfer.Figures{"top1": 0.95, "top5": 0.999, "loss": 0.17},
		ONNXRuntime: transfer.Figures{"top1": 0.95, "top5": 0.999, "loss": 0.1700004}, MaxAbsDiff: 4e-7, Provider: "cpu",
		Images: []string{"a.png"}}
	want := "b.onnx → classify on mnist (feature c2, 10 classes, backbone lr ×0.1): 2 epochs, 12 s of training\n" +
		"  engine        top-1 95.00%, top-5 99.90%, loss 0.1700\n" +
		"  ONNX Runtime  top-1 95.00%, top-5 99.90%, loss 0.1700 (cpu; max |engine − ONNX Runtime| 4e-07)\n" +
		"  the backbone's own top-1 (metadata): 97.12%\n" +
		"wrote " + filepath.Join("out", "model.onnx") + " (verified in ONNX Runtime against the trained model), " +
		filepath.Join("out", "metrics.json") + ", " + filepath.Join("out", "a.png") + "\n"
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || b.String() != want {
		t.Errorf("WriteText: %v\n%s\nwant\n%s", err, b.String(), want)
	}
	r.FreezeBackbone = true
	b.Reset()
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "(feature c2, 10 classes, backbone frozen)") {
		t.Errorf("frozen: %v\n%s", err, b.String())
	}
	if s := transfer.TaskSummary(); !strings.HasPrefix(s, "classify (") || !strings.Contains(s, "); segment (an FCN head") {
		t.Errorf("TaskSummary() = %q", s)
	}
}
