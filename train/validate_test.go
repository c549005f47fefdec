package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// TestRefusedFieldsAreFieldErrors: every setting Train refuses on its own
// comes back as a *FieldError naming its Config field, in one line that
// says what was expected.
func TestRefusedFieldsAreFieldErrors(t *testing.T) {
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	// A model that is the run's own output: training would overwrite it.
	trained := filepath.Join(t.TempDir(), ModelFile)
	if b, err := os.ReadFile(model); err != nil || os.WriteFile(trained, b, 0o644) != nil {
		t.Fatal(err)
	}
	teacher := func(c *Config) {
		c.Recipe.Teacher, c.Recipe.Distill = "teacher.onnx", Distillation{T: 20, Hard: 1, Soft: 1}
	}
	tests := []struct {
		field string
		edit  func(*Config)
		want  string
	}{
		{"Out", func(c *Config) { c.Out = "" }, `Out "": expected a run folder`},
		{"Recipe.Epochs", func(c *Config) { c.Recipe.Epochs = 0 }, "Recipe.Epochs 0: expected at least 1"},
		{"Recipe.Batch", func(c *Config) { c.Recipe.Batch = 0 }, "Recipe.Batch 0: expected at least 1"},
		{"Engine.MicroBatch", func(c *Config) { c.Engine.MicroBatch = -1 }, "Engine.MicroBatch -1: expected 0"},
		{"Engine.MicroBatch", func(c *Config) { c.Engine.MicroBatch = 10 }, "Engine.MicroBatch 10: expected a divisor of Recipe.Batch (32)"},
		{"Recipe.Momentum", func(c *Config) { c.Recipe.Momentum = 1 }, "Recipe.Momentum 1: expected a value in [0, 1)"},
		{"Recipe.WeightDecay", func(c *Config) { c.Recipe.WeightDecay = -0.1 }, "Recipe.WeightDecay -0.1: expected 0 or more"},
		{"Recipe.LabelSmoothing", func(c *Config) { c.Recipe.LabelSmoothing = 1 }, "Recipe.LabelSmoothing 1: expected a value in [0, 1)"},
		{"Recipe.Mixup", func(c *Config) { c.Recipe.Mixup = -0.2 }, "Recipe.Mixup -0.2: expected 0 (off) or more"},
		{"Recipe.MixupOffEpochs", func(c *Config) { c.Recipe.MixupOffEpochs = -1 }, "Recipe.MixupOffEpochs -1: expected 0 or more"},
		{"Data.Std", func(c *Config) { c.Data.Mean = []float64{0.5} }, "Data.Std []: expected one value a channel, as many as Data.Mean (1)"},
		{"Data.TrainLimit", func(c *Config) { c.Data.TrainLimit = -1 }, "Data.TrainLimit -1: expected 0 (all) or more"},
		{"Engine.Workers", func(c *Config) { c.Engine.Workers = -1 }, "Engine.Workers -1: expected 0 (the default) or more"},
		{"Engine.Threads", func(c *Config) { c.Engine.Threads = -1 }, "Engine.Threads -1: expected 0 (one per core) or more"},
		{"Recipe.ZeroGamma", func(c *Config) { c.Recipe.ZeroGamma, c.Init = true, model }, "Recipe.ZeroGamma true: expected false with Init"},
		{"Recipe.Optimizer", func(c *Config) { c.Recipe.Optimizer = "sgd" }, `Recipe.Optimizer "sgd": expected nag or lars`},
		{"Recipe.LARSTrust", func(c *Config) { c.Recipe.Optimizer, c.Recipe.LARSTrust = "lars", 0 }, "Recipe.LARSTrust 0: expected a positive trust coefficient"},
		{"Engine.Precision", func(c *Config) { c.Engine.Precision = 7 }, "Engine.Precision Precision(7): expected fp32 or bf16"},
		{"Recipe.Distill.T", func(c *Config) { teacher(c); c.Recipe.Distill.T = 0 }, "Recipe.Distill.T 0: expected a positive temperature"},
		{"Recipe.Distill.Hard", func(c *Config) { teacher(c); c.Recipe.Distill.Hard = -1 }, "Recipe.Distill.Hard -1: expected 0 or more"},
		{"Recipe.Distill.Soft", func(c *Config) { teacher(c); c.Recipe.Distill.Soft = 0 }, "Recipe.Distill.Soft 0: expected a positive weight"},
		{"Recipe.LR", func(c *Config) { c.Recipe.LR, c.Recipe.LinearScaling = -1, true }, "Recipe.LR -1: expected a positive learning rate"},
		{"Recipe.DecayFactor", func(c *Config) { c.Recipe.DecayFactor = 0 }, "Recipe.DecayFactor 0: expected a value in (0, 1] with Recipe.DecayEpochs"},
		{"Recipe.Epochs", func(c *Config) { c.Recipe.Cosine, c.Recipe.DecayEpochs = true, nil }, "Recipe.Epochs 1: expected more than Recipe.WarmupEpochs (1) with Recipe.Cosine"},
		// NaN fails every check and infinities are refused, before a step runs.
		{"Recipe.Momentum", func(c *Config) { c.Recipe.Momentum = math.NaN() }, "Recipe.Momentum NaN: expected a value in [0, 1)"},
		{"Recipe.WeightDecay", func(c *Config) { c.Recipe.WeightDecay = math.NaN() }, "Recipe.WeightDecay NaN: expected 0 or more"},
		{"Recipe.WeightDecay", func(c *Config) { c.Recipe.WeightDecay = math.Inf(1) }, "Recipe.WeightDecay +Inf: expected 0 or more"},
		{"Recipe.LabelSmoothing", func(c *Config) { c.Recipe.LabelSmoothing = math.NaN() }, "Recipe.LabelSmoothing NaN: expected a value in [0, 1)"},
		{"Recipe.Mixup", func(c *Config) { c.Recipe.Mixup = math.Inf(1) }, "Recipe.Mixup +Inf: expected 0 (off) or more"},
		{"Recipe.Mixup", func(c *Config) { c.Recipe.Mixup = math.NaN() }, "Recipe.Mixup NaN: expected 0 (off) or more"},
		{"Recipe.Distill.Hard", func(c *Config) { teacher(c); c.Recipe.Distill.Hard = math.NaN() }, "Recipe.Distill.Hard NaN: expected 0 or more"},
		{"Recipe.DecayFactor", func(c *Config) { c.Recipe.DecayFactor = math.NaN() }, "Recipe.DecayFactor NaN: expected a value in (0, 1]"},
		{"Recipe.WarmupEpochs", func(c *Config) { c.Recipe.WarmupEpochs = 2 }, "Recipe.WarmupEpochs 2: expected 0 to Recipe.Epochs (1)"},
		{"Out", func(c *Config) { c.Out, c.Model = filepath.Dir(trained), trained }, "Out "},
		{"Data.Set", func(c *Config) { c.Data.Set = "imagenet" }, `Data.Set "imagenet": expected mnist, fashion-mnist`},
		{"Data.Set", func(c *Config) { c.Data.Set, c.Data.Dir = "folder", "" }, `Data.Set "folder": expected folder:DIR, or Data.Dir set`},
		{"Data.Augment", func(c *Config) { c.Data.Augment = &augment.TrainOptions{} }, `Data.Augment: expected none with Data.Set "mnist"`},
		{"Data.Canvas", func(c *Config) { c.Data.Canvas = data.CanvasOptions{Size: 40} }, `Data.Canvas: expected none with Data.Set "mnist"`},
		{"Data.Mean", func(c *Config) { c.Data.Mean, c.Data.Std = []float64{0.5, 0.5}, []float64{0.2, 0.2} }, "Data.Mean [0.5 0.5]: "},
	}
	for i, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			cfg := config(dataDir, model, filepath.Join(dir, tc.field+string(rune('a'+i))), 1)
			tc.edit(&cfg)
			before, _ := os.ReadDir(cfg.Out)
			_, err := Train(context.Background(), cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("error %v; want a *FieldError for %s", err, tc.field)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q; want one line starting %q", msg, tc.want)
			}
			if after, err := os.ReadDir(cfg.Out); len(after) != len(before) || err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused run changed its folder: %d files before, %d after (%v)", len(before), len(after), err)
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

// TestCheckTrainable: models from elsewhere that the engine cannot train
// are refused naming the node and what to do, before any estimate: an
// operator outside Lower's table on the data path, a BatchNormalization
// exported in training mode (its running statistics as outputs), and
// BatchNorm folded into the convs.
func TestCheckTrainable(t *testing.T) {
	build := func() *graph.Model {
		m, err := models.Build(models.Config{Model: "resnet20", BaseWidth: 2})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	node := func(m *graph.Model, name string) *onnx.NodeProto {
		for _, n := range m.GetGraph().GetNode() {
			if n.GetName() == name {
				return n
			}
		}
		t.Fatalf("no node %q", name)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(m *graph.Model)
		want   string // "" for a trainable model
	}{
		{"as built", func(*graph.Model) {}, ""},
		{"Elu", func(m *graph.Model) { node(m, "relu").OpType = "Elu" }, `node "relu": operator Elu is not supported by the training engine`},
		{"training-mode export", func(m *graph.Model) {
			bn := node(m, "bn1")
			bn.Output = append(bn.Output, "bn1.running_mean_out", "bn1.running_var_out")
		}, `node "bn1" (BatchNormalization) has 3 outputs`},
		// ResNet-20 has 21 convs: the stem, 18 in 9 blocks, 2 projections.
		{"BatchNorm folded", func(m *graph.Model) {
			g := m.GetGraph()
			for _, bn := range slices.Clone(g.GetNode()) {
				if bn.GetOpType() != "BatchNormalization" {
					continue
				}
				for _, n := range g.GetNode() {
					for i, in := range n.GetInput() {
						if in == bn.GetOutput()[0] {
							n.Input[i] = bn.GetInput()[0]
						}
					}
				}
				g.Node = slices.DeleteFunc(g.Node, func(n *onnx.NodeProto) bool { return n == bn })
			}
		}, `node "conv1" (Conv): no BatchNormalization follows any of the model's 21 convolutions`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build()
			tc.mutate(m)
			err := checkTrainable(m)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}
