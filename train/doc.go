// Package train trains ONNX ResNet graphs in Go, with the recipes of "Bag
// of Tricks for Image Classification" (He et al. 2019).
//
// It owns four things:
//
//   - Lowering: [Lower] turns an ONNX graph and its [Weights] into a [Net],
//     a Gorgonia expression graph whose ops are the engine's own kernels
//     (package train/kernel), for training (loss and gradients) or
//     evaluation; [EstimateMemory] says what a net will need.
//   - The training loop and its recipe: [Train] runs a [Config] (data,
//     schedule, optimizer, the paper's tricks) in replicas that share each
//     batch, with [Schedule], [NAG] and [LARS], label smoothing, mixup and
//     distillation from an ONNX Runtime teacher.
//   - Run folders: the model, metrics.jsonl, steps.csv and a [Checkpoint]
//     after every epoch, from which a run with Resume continues exactly;
//     a run folder is locked ([LockDir]) while a run uses it.
//   - Data: [OpenData] opens the data set a Config names (package
//     train/data's sets, image folders through package train/augment's
//     pipelines) with the normalisation and transform the model needs.
//
// Settings it refuses come back as a [*FieldError] naming the Config field
// by its path in Config's groups ("Recipe.WeightDecay")
// (or a [*SettingsError], [*MemoryError] or [*BusyError], which name the
// fields they concern); a command line maps each field to its flag.
//
// train imports graph, ort (the distillation teacher), segment (per-pixel
// scores), tweaks (the blocks zero γ resets), internal/progress and its
// sub-packages kernel, data and augment; never cli or the stages that use
// it (export, transfer, ablation).
package train
