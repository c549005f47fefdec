package train

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// validate refuses the settings of cfg that are wrong whatever the model
// and the data, before anything is loaded.
func validate(cfg Config) error {
	switch {
	case cfg.Epochs < 1:
		return refuse("Epochs", cfg.Epochs, "at least 1")
	case cfg.Batch < 1:
		return refuse("Batch", cfg.Batch, "at least 1")
	case cfg.MicroBatch < 0:
		return refuse("MicroBatch", cfg.MicroBatch, "0 (the whole batch) or a divisor of Batch", "Batch")
	case cfg.MicroBatch > 0 && cfg.Batch%cfg.MicroBatch != 0:
		return refuse("MicroBatch", cfg.MicroBatch, fmt.Sprintf("a divisor of Batch (%d)", cfg.Batch), "Batch")
	case cfg.Momentum < 0 || cfg.Momentum >= 1:
		return refuse("Momentum", cfg.Momentum, "a value in [0, 1)")
	case cfg.WeightDecay < 0:
		return refuse("WeightDecay", cfg.WeightDecay, "0 or more")
	case cfg.LabelSmoothing < 0 || cfg.LabelSmoothing >= 1:
		return refuse("LabelSmoothing", cfg.LabelSmoothing, "a value in [0, 1)")
	case cfg.Mixup < 0:
		return refuse("Mixup", cfg.Mixup, "0 (off) or more")
	case cfg.MixupOffEpochs < 0:
		return refuse("MixupOffEpochs", cfg.MixupOffEpochs, "0 or more")
	case len(cfg.Mean) != len(cfg.Std):
		return refuse("Std", cfg.Std, fmt.Sprintf("one value a channel, as many as Mean (%d)", len(cfg.Mean)), "Mean")
	case cfg.TrainLimit < 0:
		return refuse("TrainLimit", cfg.TrainLimit, "0 (all) or more")
	case cfg.Workers < 0:
		return refuse("Workers", cfg.Workers, "0 (the default) or more")
	case cfg.Threads < 0:
		return refuse("Threads", cfg.Threads, "0 (one per core) or more")
	case cfg.ZeroGamma && cfg.Init != "":
		return refuse("ZeroGamma", true, "false with Init: zero γ resets trained weights", "Init")
	case cfg.Optimizer != "" && cfg.Optimizer != "nag" && cfg.Optimizer != "lars":
		return refuse("Optimizer", cfg.Optimizer, "nag or lars")
	case cfg.Optimizer == "lars" && !(cfg.LARSTrust > 0):
		return refuse("LARSTrust", cfg.LARSTrust, "a positive trust coefficient")
	case cfg.Precision != kernel.FP32 && cfg.Precision != kernel.BF16:
		return refuse("Precision", cfg.Precision, "fp32 or bf16")
	case cfg.Teacher != "" && !(cfg.Distill.T > 0):
		return refuse("Distill.T", cfg.Distill.T, "a positive temperature")
	case cfg.Teacher != "" && cfg.Distill.Hard < 0:
		return refuse("Distill.Hard", cfg.Distill.Hard, "0 or more")
	case cfg.Teacher != "" && !(cfg.Distill.Soft > 0):
		return refuse("Distill.Soft", cfg.Distill.Soft, "a positive weight")
	}
	return nil
}
