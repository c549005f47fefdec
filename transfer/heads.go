package transfer

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
)

// Head names, as HeadRecord and messages give them.
const (
	Classifier = "classifier"
	FCN        = "fcn"
)

// ClassifierHead returns backbone with a new classifier on its output
// feature: GlobalAveragePool, Flatten and a fully connected layer (Gemm)
// to classes, whose output `logits` is [N, classes]. Named after
// torchvision's ResNet layers (avgpool, flatten, fc). The backbone's other
// outputs, and what only they needed, are dropped; backbone is not
// changed.
func ClassifierHead(backbone *graph.Model, feature string, classes int, seed uint64) (*graph.Model, error) {
	s, err := startGraft(backbone, Classifier, feature, classes, seed)
	if err != nil {
		return nil, err
	}
	c, k := s.feature[1].Size, int64(classes)
	b := graph.Edit(s.g, s.names)
	x := b.GlobalAveragePool("avgpool", feature)
	x = b.Flatten("flatten", x, 1)
	x = b.Gemm("fc", x, s.xavier("fc.weight", k, c), s.param("fc.bias", []int64{k}, make([]float32, k)))
	graph.RenameValue(s.g, x, LogitsName)
	return s.finish()
}

// FCNHeadChannels returns the width of the FCN head's 3×3 conv on a
// feature of c channels: c/4, as torchvision's FCNHead, but at least 16,
// so that the narrow early stages of a CIFAR-layout ResNet (16 channels)
// keep a usable width.
func FCNHeadChannels(c int64) int64 { return max(c/4, 16) }

// FCNHead returns backbone with an FCN head on its output feature (C
// channels, strides sh and sw against the input): Conv 3×3 (padding 1, no bias) to
// FCNHeadChannels(C), BatchNormalization, Relu, Conv 1×1 (with bias) to
// classes, then Resize (mode linear, coordinate_transformation_mode
// half_pixel: PyTorch's bilinear interpolate with align_corners=False, as
// torchvision's FCN upsamples) by scales [1, 1, sh, sw] back to the input's
// size: `logits` is [N, classes, H, W]. Scales rather than sizes keep the
// batch dynamic; they need the backbone's input size fixed and a multiple
// of the feature's. Weights are named after torchvision's FCNHead
// (classifier.0 conv, .1 BatchNorm, .4 the last conv); its dropout
// (classifier.3) is left out. The backbone's other outputs are dropped;
// backbone is not changed.
func FCNHead(backbone *graph.Model, feature string, classes int, seed uint64) (*graph.Model, error) {
	s, err := startGraft(backbone, FCN, feature, classes, seed)
	if err != nil {
		return nil, err
	}
	sh, sw, err := s.upsampleScales()
	if err != nil {
		return nil, err
	}
	c, mid, k := s.feature[1].Size, FCNHeadChannels(s.feature[1].Size), int64(classes)
	b := graph.Edit(s.g, s.names)
	x := b.Conv("classifier.0", feature, s.xavier("classifier.0.weight", mid, c, 3, 3), "",
		graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	x = b.NewBatchNorm("classifier.1", x, mid, 1e-5, 0.9)
	x = b.Relu("classifier.2", x)
	x = b.Conv("classifier.4", x, s.xavier("classifier.4.weight", k, mid, 1, 1), s.param("classifier.4.bias", []int64{k}, make([]float32, k)),
		graph.ConvAttrs{Kernel: [2]int64{1, 1}})
	x = b.Resize("upsample", x, []float32{1, 1, float32(sh), float32(sw)}, "linear", "half_pixel")
	graph.RenameValue(s.g, x, LogitsName)
	return s.finish()
}

// upsampleScales returns the factors from the feature's height and width
// to the input's.
func (s *graft) upsampleScales() (sh, sw int64, err error) {
	in, f := s.input[2:], s.feature[2:]
	if !in.Known() || !f.Known() {
		return 0, 0, fmt.Errorf("transfer: %s head: the input size [%v] and the size [%v] of %q must be fixed to upsample back to the input (export the backbone with a fixed input size)",
			FCN, in, f, s.featureName)
	}
	if f[0].Size < 1 || f[1].Size < 1 || in[0].Size%f[0].Size != 0 || in[1].Size%f[1].Size != 0 {
		return 0, 0, fmt.Errorf("transfer: %s head: feature %q is %v at an input of %v: expected the input an integer multiple of it along each axis",
			FCN, s.featureName, f, in)
	}
	return in[0].Size / f[0].Size, in[1].Size / f[1].Size, nil
}
