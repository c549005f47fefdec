package train

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// Validate refuses the settings of cfg that are wrong whatever the model
// and the data, as Train does first: a study of several runs checks each
// with it before it writes anything.
func Validate(cfg Config) error { return validate(cfg) }

// validate refuses the settings of cfg that are wrong whatever the model
// and the data, before anything is loaded or written. Each number is
// checked so that NaN fails it (!(x >= 0) rather than x < 0) and
// infinities are refused: either would reach the first step and stop the
// run there with a NaN loss.
func validate(cfg Config) error {
	switch {
	case cfg.Recipe.Epochs < 1:
		return refuse("Recipe.Epochs", cfg.Recipe.Epochs, "at least 1")
	case cfg.Recipe.Batch < 1:
		return refuse("Recipe.Batch", cfg.Recipe.Batch, "at least 1")
	case cfg.Engine.MicroBatch < 0:
		return refuse("Engine.MicroBatch", cfg.Engine.MicroBatch, "0 (the whole batch) or a divisor of Recipe.Batch", "Recipe.Batch")
	case cfg.Engine.MicroBatch > 0 && cfg.Recipe.Batch%cfg.Engine.MicroBatch != 0:
		return refuse("Engine.MicroBatch", cfg.Engine.MicroBatch, fmt.Sprintf("a divisor of Recipe.Batch (%d)", cfg.Recipe.Batch), "Recipe.Batch")
	case !(cfg.Recipe.Momentum >= 0 && cfg.Recipe.Momentum < 1):
		return refuse("Recipe.Momentum", cfg.Recipe.Momentum, "a value in [0, 1)")
	case !(cfg.Recipe.WeightDecay >= 0) || math.IsInf(cfg.Recipe.WeightDecay, 0):
		return refuse("Recipe.WeightDecay", cfg.Recipe.WeightDecay, "0 or more")
	case !(cfg.Recipe.LabelSmoothing >= 0 && cfg.Recipe.LabelSmoothing < 1):
		return refuse("Recipe.LabelSmoothing", cfg.Recipe.LabelSmoothing, "a value in [0, 1)")
	case !(cfg.Recipe.Mixup >= 0) || math.IsInf(cfg.Recipe.Mixup, 0):
		return refuse("Recipe.Mixup", cfg.Recipe.Mixup, "0 (off) or more")
	case cfg.Recipe.MixupOffEpochs < 0:
		return refuse("Recipe.MixupOffEpochs", cfg.Recipe.MixupOffEpochs, "0 or more")
	case len(cfg.Data.Mean) != len(cfg.Data.Std):
		return refuse("Data.Std", cfg.Data.Std, fmt.Sprintf("one value a channel, as many as Data.Mean (%d)", len(cfg.Data.Mean)), "Data.Mean")
	case cfg.Data.TrainLimit < 0:
		return refuse("Data.TrainLimit", cfg.Data.TrainLimit, "0 (all) or more")
	case cfg.Engine.Workers < 0:
		return refuse("Engine.Workers", cfg.Engine.Workers, "0 (the default) or more")
	case cfg.Engine.Threads < 0:
		return refuse("Engine.Threads", cfg.Engine.Threads, "0 (one per core) or more")
	case cfg.Recipe.ZeroGamma && cfg.Init != "":
		return refuse("Recipe.ZeroGamma", true, "false with Init: zero γ resets trained weights", "Init")
	case cfg.Recipe.Optimizer != "" && cfg.Recipe.Optimizer != "nag" && cfg.Recipe.Optimizer != "lars":
		return refuse("Recipe.Optimizer", cfg.Recipe.Optimizer, "nag or lars")
	case cfg.Recipe.Optimizer == "lars" && (!(cfg.Recipe.LARSTrust > 0) || math.IsInf(cfg.Recipe.LARSTrust, 0)):
		return refuse("Recipe.LARSTrust", cfg.Recipe.LARSTrust, "a positive trust coefficient")
	case cfg.Engine.Precision != kernel.FP32 && cfg.Engine.Precision != kernel.BF16:
		return refuse("Engine.Precision", cfg.Engine.Precision, "fp32 or bf16")
	case cfg.Recipe.Teacher != "" && (!(cfg.Recipe.Distill.T > 0) || math.IsInf(cfg.Recipe.Distill.T, 0)):
		return refuse("Recipe.Distill.T", cfg.Recipe.Distill.T, "a positive temperature")
	case cfg.Recipe.Teacher != "" && (!(cfg.Recipe.Distill.Hard >= 0) || math.IsInf(cfg.Recipe.Distill.Hard, 0)):
		return refuse("Recipe.Distill.Hard", cfg.Recipe.Distill.Hard, "0 or more")
	case cfg.Recipe.Teacher != "" && (!(cfg.Recipe.Distill.Soft > 0) || math.IsInf(cfg.Recipe.Distill.Soft, 0)):
		return refuse("Recipe.Distill.Soft", cfg.Recipe.Distill.Soft, "a positive weight")
	}
	// The schedule's own checks, which need no data (one step an epoch
	// stands in for the data's count).
	if err := cfg.Recipe.Schedule(1).Validate(); err != nil {
		return scheduleField(err, cfg)
	}
	if err := graph.CheckOutput(filepath.Join(cfg.Out, ModelFile), cfg.Model, cfg.Init); err != nil {
		return &FieldError{Field: "Out", Value: cfg.Out, Err: err}
	}
	return nil
}

// checkTrainable refuses, naming the node, a model the engine cannot
// train, before anything is estimated or allocated for it: an operator on
// the data path the engine does not lower (Lower's table), a
// BatchNormalization with more than its one output (PyTorch's export in
// training mode, whose running statistics are outputs), and a network of
// convolutions without any BatchNormalization (an eval-mode export with
// BatchNorm folded into the convs, which trains to NaN at the paper's
// learning rates).
func checkTrainable(m *graph.Model) error {
	g := m.GetGraph()
	if err := graph.TopoSort(g); err != nil {
		return err
	}
	table := opLowerings[float32]()
	onPath := map[string]bool{}
	for _, in := range graph.DataInputs(g) {
		onPath[in.GetName()] = true
	}
	convs, norms := 0, 0
	var firstConv *onnx.NodeProto
	for _, n := range g.GetNode() {
		if !slices.ContainsFunc(n.GetInput(), func(v string) bool { return onPath[v] }) {
			continue
		}
		for _, out := range n.GetOutput() {
			onPath[out] = true
		}
		switch op := n.GetOpType(); {
		case op == "Conv":
			convs++
			if firstConv == nil {
				firstConv = n
			}
		case op == "BatchNormalization":
			norms++
			if outs := slices.DeleteFunc(slices.Clone(n.GetOutput()), func(v string) bool { return v == "" }); len(outs) > 1 {
				return fmt.Errorf("node %q (BatchNormalization) has %d outputs, its running statistics among them, as a model exported in training mode has: export it in eval mode with BatchNorm kept as nodes (torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False))", n.GetName(), len(outs))
			}
		case table[op].lower == nil && !table[op].alias:
			return fmt.Errorf("node %q: operator %s is not supported by the training engine (supported: %s)", n.GetName(), op, strings.Join(supportedOps(), ", "))
		}
	}
	if convs > 0 && norms == 0 {
		return fmt.Errorf("node %q (Conv): no BatchNormalization follows any of the model's %d convolutions, as in an export with BatchNorm folded into them (eval mode with constant folding), which does not train: export it with BatchNorm kept as nodes (torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False))", firstConv.GetName(), convs)
	}
	return nil
}
