package train_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	// These tests use package transfer, which imports train: they live in
	// the external test package, with train dot-imported.
	. "github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// segFixture writes a synthetic MNIST-format data set and two models for
// 28×28 digit canvases: a width-4 ResNet-20 with an FCN head on its
// stride-4 stage (per-pixel logits, 11 classes) and the same ResNet-20 as
// a classifier.
func segFixture(t *testing.T) (dataDir, fcn, classifier string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, 200, 100, 1); err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Classes: 11, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	classifier = filepath.Join(dir, "classifier.onnx")
	if err := m.Save(classifier); err != nil {
		t.Fatal(err)
	}
	b, _, err := export.Build(m, export.Options{Head: export.Backbone, Features: []string{"c2"}})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := transfer.FCNHead(b, "c2", 11, 5)
	if err != nil {
		t.Fatal(err)
	}
	fcn = filepath.Join(dir, "fcn.onnx")
	if err := seg.Save(fcn); err != nil {
		t.Fatal(err)
	}
	return dataDir, fcn, classifier
}

func segConfig(dataDir, model, out string, epochs int) Config {
	return Config{
		Model:  model,
		Seed:   7,
		Data:   DataConfig{Set: "mnist-seg", Dir: dataDir, Canvas: data.CanvasOptions{Seed: 4, Size: 28, Train: 48, Test: 12}},
		Recipe: Recipe{Epochs: epochs, Batch: 16, LR: 0.05, DecayEpochs: []int{2}, DecayFactor: 0.1, WeightDecay: 1e-4, Momentum: 0.9},
		Engine: Engine{Threads: 2},
		Out:    out,
	}
}

// TestDenseTrainingResumes trains the FCN on digit canvases: the loss
// falls, the test figures are pixel accuracy and mean IoU, the model
// carries them (and no top-1), and a run stopped after an epoch and
// resumed ends with exactly the weights and metrics of a whole one.
func TestDenseTrainingResumes(t *testing.T) {
	dataDir, fcn, _ := segFixture(t)
	dir := t.TempDir()
	whole, err := Train(context.Background(), segConfig(dataDir, fcn, filepath.Join(dir, "whole"), 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range whole {
		if m.TestTop1 != 0 || !(m.PixelAccuracy > 0 && m.PixelAccuracy <= 1) || !(m.MeanIoU > 0 && m.MeanIoU <= 1) || !(m.TestLoss > 0) {
			t.Fatalf("epoch %d: %+v", m.Epoch, m)
		}
	}
	if !(whole[2].TrainLoss < whole[0].TrainLoss) {
		t.Errorf("train loss %v → %v: expected learning", whole[0].TrainLoss, whole[2].TrainLoss)
	}
	t.Logf("epoch 3: train loss %.4f, test loss %.4f, pixel accuracy %.4f, mean IoU %.4f", whole[2].TrainLoss, whole[2].TestLoss, whole[2].PixelAccuracy, whole[2].MeanIoU)

	stopped := filepath.Join(dir, "stopped")
	if _, err := Train(context.Background(), segConfig(dataDir, fcn, stopped, 1)); err != nil {
		t.Fatal(err)
	}
	cfg := segConfig(dataDir, fcn, stopped, 3)
	cfg.Resume = true
	resumed, err := Train(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range whole {
		r := resumed[i]
		if r.Epoch != w.Epoch || r.Step != w.Step || r.TrainLoss != w.TrainLoss || r.TestLoss != w.TestLoss || r.PixelAccuracy != w.PixelAccuracy || r.MeanIoU != w.MeanIoU {
			t.Errorf("epoch %d: resumed %+v, whole %+v", i+1, r, w)
		}
	}
	a, b := weightsOf(t, filepath.Join(dir, "whole", ModelFile)), weightsOf(t, filepath.Join(stopped, ModelFile))
	for name, v := range a {
		for i := range v {
			if v[i] != b[name][i] {
				t.Fatalf("%s[%d]: %g in the whole run, %g after resuming", name, i, v[i], b[name][i])
			}
		}
	}
	m, err := graph.Load(filepath.Join(stopped, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Metadata(MetaTop1); ok {
		t.Error("a per-pixel model carries a top-1")
	}
	if v, ok := m.Metadata(MetaMeanIoU); !ok || v == "" {
		t.Errorf("%s = %q", MetaMeanIoU, v)
	}
}

// TestDenseTrainingRefusesMismatches: per-pixel logits with a set
// labelled per image and the reverse, the tricks defined on per-image
// targets, TrainLimit and canvas options where they mean nothing are
// one-line errors.
func TestDenseTrainingRefusesMismatches(t *testing.T) {
	dataDir, fcn, classifier := segFixture(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"per-pixel model, per-image data", func(c *Config) { c.Data.Set, c.Data.Canvas = "mnist", data.CanvasOptions{} }, "the model's logits are per pixel"},
		{"classifier on canvases", func(c *Config) { c.Model = classifier }, `Data.Set "mnist-seg": expected a set labelled per image`},
		{"smoothing", func(c *Config) { c.Recipe.LabelSmoothing = 0.1 }, "label smoothing, mixup and distillation act on per-image targets"},
		{"mixup", func(c *Config) { c.Recipe.Mixup = 0.2 }, "label smoothing, mixup and distillation act on per-image targets"},
		{"train limit", func(c *Config) { c.Data.TrainLimit = 10 }, "Data.TrainLimit 10: expected 0"},
		{"canvas options elsewhere", func(c *Config) { c.Data.Set, c.Model = "mnist", classifier }, "apply to mnist-seg and mnist-det only"},
		{"canvas size", func(c *Config) { c.Data.Canvas.Size = 40 }, "does not fit the 1×40×40 canvases"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := segConfig(dataDir, fcn, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), 1)
			tc.edit(&cfg)
			_, err := Train(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
			if _, err := os.Stat(cfg.Out); err == nil {
				t.Errorf("%s was created", cfg.Out)
			}
		})
	}
}

// weightsOf returns a model's initializers by name.
func weightsOf(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float32{}
	for _, init := range m.GetGraph().GetInitializer() {
		v, err := graph.Floats(init)
		if err != nil {
			t.Fatal(err)
		}
		out[init.GetName()] = v
	}
	return out
}
