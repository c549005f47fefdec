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
// the command's flags, which flags maps ("Recipe.WeightDecay" → "--wd"); a field
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

// trainFieldFlags are train's flags by the train.Config field each sets,
// named by its path in Config's groups.
var trainFieldFlags = map[string]string{
	"Model": "--model", "Init": "--init", "Seed": "--seed",
	"Data.Set": "--data", "Data.Dir": "--data-dir",
	"Data.Canvas.Seed": "--data-seed", "Data.Canvas.Size": "--canvas", "Data.Canvas.Train": "--canvases", "Data.Canvas.Test": "--test-canvases",
	"Data.Mean": "--mean", "Data.Std": "--std", "Data.Augment": "the augmentation flags (--random-crop, --flip, …)", "Data.ValCropRatio": "--val-crop-ratio",
	"Data.SkipBad": "--skip-bad", "Data.TrainLimit": "--train-limit",
	"Recipe.Epochs": "--epochs", "Recipe.Batch": "--batch", "Recipe.LR": "--lr", "Recipe.LinearScaling": "--linear-scaling",
	"Recipe.DecayEpochs": "--lr-steps", "Recipe.DecayFactor": "--lr-factor", "Recipe.Cosine": "--lr-mode cosine", "Recipe.WarmupEpochs": "--warmup-epochs",
	"Recipe.WeightDecay": "--wd", "Recipe.Momentum": "--momentum", "Recipe.NoWDBias": "--no-wd-bias", "Recipe.ZeroGamma": "--zero-gamma",
	"Recipe.Optimizer": "--optimizer", "Recipe.LARSTrust": "--lars-trust", "Recipe.LabelSmoothing": "--label-smoothing", "Recipe.Smoothing": "--smoothing",
	"Recipe.Mixup": "--mixup", "Recipe.MixupOffEpochs": "--mixup-off-epochs",
	"Recipe.Teacher": "--teacher", "Recipe.Distill.T": "--temperature", "Recipe.Distill.Hard": "--hard-weight", "Recipe.Distill.Soft": "--distill-weight",
	"Engine.Threads": "--threads", "Engine.MicroBatch": "--micro-batch", "Engine.Precision": "--precision", "Engine.Workers": "--workers",
	"Engine.TeacherLib": "--ort-lib", "Engine.MemoryLimit": "--memory-limit",
	"Out": "--out", "Resume": "--resume",
}

// ablateFieldFlags are ablate's flags by the field each sets, of
// ablation.Config or of the train.Config every run shares.
var ablateFieldFlags = map[string]string{
	"Data.Set": "--data", "Data.Dir": "--data-dir", "Recipe.Epochs": "--epochs", "Data.TrainLimit": "--train-limit",
	"Recipe.Batch": "--batch", "Recipe.LR": "--lr", "Recipe.LinearScaling": "--linear-scaling", "Recipe.WeightDecay": "--wd", "Recipe.Momentum": "--momentum",
	"MixupOffEpochs": "--mixup-off-epochs", "Recipe.MixupOffEpochs": "--mixup-off-epochs",
	"Recipe.Distill.T": "--temperature", "Recipe.Distill.Hard": "--hard-weight", "Recipe.Distill.Soft": "--distill-weight",
	"Seed": "--seed", "Engine.Threads": "--threads", "Engine.TeacherLib": "--ort-lib",
	"Steps": "--steps", "Variant": "--variant", "Student.Model": "--model", "Teacher.Model": "--teacher-model", "Out": "--out", "Resume": "--resume",
}

// scheduleFieldFlags are schedule's flags by the train.Schedule field each sets.
var scheduleFieldFlags = map[string]string{
	"Base": "--lr", "StepsPerEpoch": "--steps-per-epoch", "WarmupEpochs": "--warmup-epochs", "Factor": "--lr-factor",
	"DecayEpochs": "--lr-steps", "Cosine": "--lr-mode cosine", "Epochs": "--epochs",
}
