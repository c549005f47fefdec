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
// to the input's: the feature's strides.
func (s *graft) upsampleScales() (sh, sw int64, err error) {
	in, f := s.input[2:], s.feature[2:]
	if !in.Known() || !f.Known() {
		return 0, 0, fmt.Errorf("transfer: %s head: the input size [%v] and the size [%v] of %q must be fixed (export the backbone with a fixed input size)",
			s.record.Head, in, f, s.featureName)
	}
	if f[0].Size < 1 || f[1].Size < 1 || in[0].Size%f[0].Size != 0 || in[1].Size%f[1].Size != 0 {
		return 0, 0, fmt.Errorf("transfer: %s head: feature %q is %v at an input of %v: expected the input an integer multiple of it along each axis",
			s.record.Head, s.featureName, f, in)
	}
	return in[0].Size / f[0].Size, in[1].Size / f[1].Size, nil
}

// CenterNet is the detection head's name, as HeadRecord gives it.
const CenterNet = "centernet"

// CenterNetHeadChannels is the width of each branch's 3×3 conv, the
// reference's head_conv for ResNet backbones.
const CenterNetHeadChannels = 64

// centerNetPrior is the initial bias of the heatmap's last conv,
// −log((1−π)/π) for π = 0.1, so that every position starts at a score of
// 0.1 (the reference's −2.19) and the focal loss does not start swamped
// by the background.
const centerNetPrior = -2.19

// centerNetLastStd is the standard deviation of the weights of each
// branch's last conv, drawn from a normal distribution, as RetinaNet's
// and FCOS's heads draw theirs: small enough that every output starts at
// its bias whatever the feature's scale. Drawn Xavier-uniform instead,
// the heatmap's logits start far from the prior on a backbone's raw
// features, and plain SGD drives the whole map into the focal loss's
// clamp, where no gradient flows.
const centerNetLastStd = 0.01

// CenterNetHead returns backbone with a CenterNet head ("Objects as
// Points", Zhou et al. 2019) on its output feature (C channels, stride s
// against the input): three branches, each Conv 3×3 (padding 1, with
// bias) to CenterNetHeadChannels, Relu and Conv 1×1 (with bias), to
// classes heatmap logits (heatmap.*, bias centerNetPrior; the last convs'
// weights from N(0, 0.01²)), the box width
// and height (size.*, bias 0) and the centre's sub-cell offset (offset.*,
// bias 0), joined by Concat into one output `logits` [N, classes+4, H/s,
// W/s]: package detection's layout, which the engine trains with
// CenterNet's loss and export.AppendDetectorDecode turns into boxes. The
// reference reads a stride-4 map; any stride works, finer being better for
// small objects. The backbone's other outputs are dropped; backbone is not
// changed.
func CenterNetHead(backbone *graph.Model, feature string, classes int, seed uint64) (*graph.Model, error) {
	s, err := startGraft(backbone, CenterNet, feature, classes, seed)
	if err != nil {
		return nil, err
	}
	sh, sw, err := s.upsampleScales()
	if err != nil {
		return nil, err
	}
	if sh != sw {
		return nil, fmt.Errorf("transfer: %s head: feature %q has strides %d and %d against the input: expected one stride on both axes", CenterNet, s.featureName, sh, sw)
	}
	c, mid := s.feature[1].Size, int64(CenterNetHeadChannels)
	b := graph.Edit(s.g, s.names)
	var branches []string
	for _, br := range []struct {
		name string
		out  int64
		bias float32
	}{{"heatmap", int64(classes), centerNetPrior}, {"size", 2, 0}, {"offset", 2, 0}} {
		x := b.Conv(br.name+".0", feature, s.xavier(br.name+".0.weight", mid, c, 3, 3), s.param(br.name+".0.bias", []int64{mid}, make([]float32, mid)),
			graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
		x = b.Relu(br.name+".1", x)
		bias := make([]float32, br.out)
		for i := range bias {
			bias[i] = br.bias
		}
		branches = append(branches, b.Conv(br.name+".2", x, s.normal(br.name+".2.weight", centerNetLastStd, br.out, mid, 1, 1), s.param(br.name+".2.bias", []int64{br.out}, bias),
			graph.ConvAttrs{Kernel: [2]int64{1, 1}}))
	}
	x := b.Node("Concat", "head", branches, graph.AttrInt("axis", 1))
	graph.RenameValue(s.g, x, LogitsName)
	return s.finish()
}
