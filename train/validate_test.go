package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// TestRefusedFieldsAreFieldErrors: every setting Train refuses on its own
// comes back as a *FieldError naming its Config field, in one line that
// says what was expected.
func TestRefusedFieldsAreFieldErrors(t *testing.T) {
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	teacher := func(c *Config) { c.Teacher, c.Distill = "teacher.onnx", Distillation{T: 20, Hard: 1, Soft: 1} }
	tests := []struct {
		field string
		edit  func(*Config)
		want  string
	}{
		{"Out", func(c *Config) { c.Out = "" }, `Out "": expected a run folder`},
		{"Epochs", func(c *Config) { c.Epochs = 0 }, "Epochs 0: expected at least 1"},
		{"Batch", func(c *Config) { c.Batch = 0 }, "Batch 0: expected at least 1"},
		{"MicroBatch", func(c *Config) { c.MicroBatch = -1 }, "MicroBatch -1: expected 0"},
		{"MicroBatch", func(c *Config) { c.MicroBatch = 10 }, "MicroBatch 10: expected a divisor of Batch (32)"},
		{"Momentum", func(c *Config) { c.Momentum = 1 }, "Momentum 1: expected a value in [0, 1)"},
		{"WeightDecay", func(c *Config) { c.WeightDecay = -0.1 }, "WeightDecay -0.1: expected 0 or more"},
		{"LabelSmoothing", func(c *Config) { c.LabelSmoothing = 1 }, "LabelSmoothing 1: expected a value in [0, 1)"},
		{"Mixup", func(c *Config) { c.Mixup = -0.2 }, "Mixup -0.2: expected 0 (off) or more"},
		{"MixupOffEpochs", func(c *Config) { c.MixupOffEpochs = -1 }, "MixupOffEpochs -1: expected 0 or more"},
		{"Std", func(c *Config) { c.Mean = []float64{0.5} }, "Std []: expected one value a channel, as many as Mean (1)"},
		{"TrainLimit", func(c *Config) { c.TrainLimit = -1 }, "TrainLimit -1: expected 0 (all) or more"},
		{"Workers", func(c *Config) { c.Workers = -1 }, "Workers -1: expected 0 (the default) or more"},
		{"Threads", func(c *Config) { c.Threads = -1 }, "Threads -1: expected 0 (one per core) or more"},
		{"ZeroGamma", func(c *Config) { c.ZeroGamma, c.Init = true, model }, "ZeroGamma true: expected false with Init"},
		{"Optimizer", func(c *Config) { c.Optimizer = "sgd" }, `Optimizer "sgd": expected nag or lars`},
		{"LARSTrust", func(c *Config) { c.Optimizer, c.LARSTrust = "lars", 0 }, "LARSTrust 0: expected a positive trust coefficient"},
		{"Precision", func(c *Config) { c.Precision = 7 }, "Precision Precision(7): expected fp32 or bf16"},
		{"Distill.T", func(c *Config) { teacher(c); c.Distill.T = 0 }, "Distill.T 0: expected a positive temperature"},
		{"Distill.Hard", func(c *Config) { teacher(c); c.Distill.Hard = -1 }, "Distill.Hard -1: expected 0 or more"},
		{"Distill.Soft", func(c *Config) { teacher(c); c.Distill.Soft = 0 }, "Distill.Soft 0: expected a positive weight"},
		{"LR", func(c *Config) { c.LR, c.LinearScaling = -1, true }, "LR -1: expected a positive learning rate"},
		{"DecayFactor", func(c *Config) { c.DecayFactor = 0 }, "DecayFactor 0: expected a value in (0, 1] with DecayEpochs"},
		{"Epochs", func(c *Config) { c.Cosine, c.DecayEpochs = true, nil }, "Epochs 1: expected more than WarmupEpochs (1) with Cosine"},
		{"Data", func(c *Config) { c.Data = "imagenet" }, `Data "imagenet": expected mnist, fashion-mnist`},
		{"Data", func(c *Config) { c.Data, c.DataDir = "folder", "" }, `Data "folder": expected folder:DIR, or DataDir set`},
		{"Augment", func(c *Config) { c.Augment = &augment.TrainOptions{} }, `Augment: expected none with Data "mnist"`},
		{"Canvas", func(c *Config) { c.Canvas = data.CanvasOptions{Size: 40} }, `Canvas: expected none with Data "mnist"`},
		{"Mean", func(c *Config) { c.Mean, c.Std = []float64{0.5, 0.5}, []float64{0.2, 0.2} }, "Mean [0.5 0.5]: "},
	}
	for i, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			cfg := config(dataDir, model, filepath.Join(dir, tc.field+string(rune('a'+i))), 1)
			tc.edit(&cfg)
			_, err := Train(context.Background(), cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v; want a *FieldError for %s", err, tc.field)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q; want one line starting %q", msg, tc.want)
			}
		})
	}
	// A folder that holds a run is refused without Resume.
	cfg := config(dataDir, model, filepath.Join(dir, "held"), 1)
	os.MkdirAll(cfg.Out, 0o755)
	os.WriteFile(filepath.Join(cfg.Out, CheckpointFile), nil, 0o644)
	var fe *FieldError
	if _, err := Train(context.Background(), cfg); !errors.As(err, &fe) || fe.Field != "Out" || !strings.Contains(err.Error(), "or Resume to continue the run it holds") {
		t.Errorf("a folder holding a run, without Resume: %v", err)
	}
}

// TestFieldErrorDescribe: a FieldError names its field, and the fields its
// expectation mentions, as the caller names them; Error uses Go's names.
func TestFieldErrorDescribe(t *testing.T) {
	flags := map[string]string{"MicroBatch": "--micro-batch", "Batch": "--batch", "Teacher": "--teacher"}
	name := func(field string) string {
		if f, ok := flags[field]; ok {
			return f
		}
		return field
	}
	for _, tc := range []struct {
		err           *FieldError
		error, flagly string
	}{
		{refuse("MicroBatch", 10, "a divisor of Batch (32)", "Batch"),
			"MicroBatch 10: expected a divisor of Batch (32)", "--micro-batch 10: expected a divisor of --batch (32)"},
		{refuse("Std", []float64{1}, "as many values as Mean (3)", "Mean"),
			"Std [1]: expected as many values as Mean (3)", "Std [1]: expected as many values as Mean (3)"},
		{&FieldError{Field: "Teacher", Value: "t.onnx", Err: os.ErrNotExist},
			`Teacher "t.onnx": file does not exist`, `--teacher "t.onnx": file does not exist`},
		{refuse("Augment", nil, "none"), "Augment: expected none", "Augment: expected none"},
	} {
		if got := tc.err.Error(); got != tc.error {
			t.Errorf("Error() = %q; want %q", got, tc.error)
		}
		if got := tc.err.Describe(name); got != tc.flagly {
			t.Errorf("Describe = %q; want %q", got, tc.flagly)
		}
	}
	if !errors.Is(&FieldError{Field: "Teacher", Err: os.ErrNotExist}, os.ErrNotExist) {
		t.Error("a FieldError does not unwrap to its cause")
	}
}
