// Package transfer moves an exported backbone to a downstream task: it
// grafts a task head onto a backbone ONNX model (`bot-onnx export --head
// none`, whose outputs are stage feature maps named c<k> by stride) and
// gives a model with one output, `logits`, that the training engine
// fine-tunes and ONNX Runtime evaluates.
//
// The heads are plain graph surgery on the ONNX model, written with the
// graph package's rewrite helpers, so they work on any backbone whose
// feature outputs are NCHW float tensors, and the result is an ordinary
// ONNX file:
//
//   - [ClassifierHead]: global average pool, flatten and a fully connected
//     layer to the classes — a ResNet's own classifier, on a new task;
//   - [FCNHead]: the FCN head of the paper's segmentation experiment
//     (section 6, Table 9), as torchvision's FCNHead builds it: 3×3 conv to
//     a quarter of the channels, BatchNorm, ReLU, 1×1 conv to the classes,
//     then a bilinear Resize back to the input's size.
//
// New weights are drawn as package models draws a fresh ResNet's (Xavier
// uniform, BatchNorm γ = 1, β = 0, running mean 0 and variance 1, biases
// 0), from a seed, so the same seed gives the same head.
//
// # Fine-tuning
//
// A [Config] names a backbone, a task of [Tasks] (classify, segment), the
// data and the training settings. [NewPlan] checks it against the backbone
// and the data and grafts the head; [Plan.Run] fine-tunes the grafted
// model with package train, exports it (verified in ONNX Runtime),
// evaluates the export over the test split in ONNX Runtime with package
// eval, and writes the [Result] beside the run (metrics.json); it resumes
// an interrupted transfer with Config.Resume. [RunStudy] does the same for
// several backbones and tabulates them as the paper's Tables 8 and 9.
// Errors in a Config are train.FieldErrors naming the field, as train's
// own are, so that a caller maps both to its words in one way.
package transfer
