package cli

import (
	"errors"
	"strings"
)

// describer is an error of a stage package that names fields of its
// configuration in Go's words (train.FieldError, train.SettingsError,
// train.MemoryError, train.BusyError) and can name them in others'.
type describer interface {
	error
	Describe(name func(field string) string) string
}

// inFlags returns err with the configuration fields it names replaced by
// the command's flags, which flags maps ("WeightDecay" → "--wd"); a field
// without a flag keeps its name, and the message around the refusal stays.
func inFlags(err error, flags map[string]string) error {
	var d describer
	if !errors.As(err, &d) {
		return err
	}
	name := func(field string) string {
		if flag, ok := flags[field]; ok {
			return flag
		}
		return field
	}
	return errors.New(strings.Replace(err.Error(), d.Error(), d.Describe(name), 1))
}

// trainFieldFlags are train's flags by the train.Config field each sets.
var trainFieldFlags = map[string]string{
	"Model": "--model", "Init": "--init", "Data": "--data", "DataDir": "--data-dir",
	"Canvas.Seed": "--data-seed", "Canvas.Size": "--canvas", "Canvas.Train": "--canvases", "Canvas.Test": "--test-canvases",
	"Mean": "--mean", "Std": "--std", "Augment": "the augmentation flags (--random-crop, --flip, …)", "ValCropRatio": "--val-crop-ratio",
	"SkipBad": "--skip-bad", "Workers": "--workers", "TrainLimit": "--train-limit",
	"Epochs": "--epochs", "Batch": "--batch", "LR": "--lr", "LinearScaling": "--linear-scaling",
	"DecayEpochs": "--lr-steps", "DecayFactor": "--lr-factor", "WarmupEpochs": "--warmup-epochs",
	"WeightDecay": "--wd", "Momentum": "--momentum", "NoWDBias": "--no-wd-bias", "ZeroGamma": "--zero-gamma",
	"Optimizer": "--optimizer", "LARSTrust": "--lars-trust", "LabelSmoothing": "--label-smoothing", "Smoothing": "--smoothing",
	"Mixup": "--mixup", "MixupOffEpochs": "--mixup-off-epochs",
	"Teacher": "--teacher", "Distill.T": "--temperature", "Distill.Hard": "--hard-weight", "Distill.Soft": "--distill-weight", "TeacherLib": "--ort-lib",
	"Seed": "--seed", "Threads": "--threads", "MicroBatch": "--micro-batch", "Precision": "--precision",
	"MemoryLimit": "--memory-limit", "Out": "--out", "Resume": "--resume",
}

// ablateFieldFlags are ablate's flags by the field each sets, of
// ablation.Config or of the train.Config every run shares.
var ablateFieldFlags = map[string]string{
	"Data": "--data", "DataDir": "--data-dir", "Epochs": "--epochs", "TrainLimit": "--train-limit",
	"Batch": "--batch", "LR": "--lr", "LinearScaling": "--linear-scaling", "WeightDecay": "--wd", "Momentum": "--momentum",
	"MixupOffEpochs": "--mixup-off-epochs", "Distill.T": "--temperature", "Distill.Hard": "--hard-weight", "Distill.Soft": "--distill-weight",
	"Seed": "--seed", "Threads": "--threads", "TeacherLib": "--ort-lib",
	"Steps": "--steps", "Variant": "--variant", "Out": "--out", "Resume": "--resume",
}

// scheduleFieldFlags are schedule's flags by the train.Schedule field each sets.
var scheduleFieldFlags = map[string]string{
	"Base": "--lr", "StepsPerEpoch": "--steps-per-epoch", "WarmupEpochs": "--warmup-epochs", "Factor": "--lr-factor",
	"DecayEpochs": "--lr-steps", "Cosine": "--lr-mode cosine", "Epochs": "--epochs",
}
