package export

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/structure"
)

// Stage is one stage end of a ResNet: the output of the last residual
// block before the resolution changes (or of the last block overall).
//
// Stages are named by their stride, as feature pyramid networks name them:
// c<k> has stride 2^k against the input. The ImageNet layout's four stages
// are c2, c3, c4, c5 (strides 4, 8, 16, 32); the CIFAR layout's three,
// whose stem does not downsample, are c0, c1, c2 (strides 1, 2, 4).
type Stage struct {
	Name     string `json:"name"`
	Stride   int64  `json:"stride"`
	Channels int64  `json:"channels"`
	// Value is the name of the value in the source model.
	Value string `json:"source_value"`
}

// probeSize is the square input size at which Stages measures strides: a
// power of two, so that every stride divides it exactly.
const probeSize = 512

// Stages finds the stage ends of a ResNet by its structure, not by names,
// so that it works on tweaked models and on models made elsewhere: the
// residual blocks come from structure.BlockOutputs, and static shape
// inference at a probeSize×probeSize input tells where the resolution
// changes and what each stage's stride and width are.
func Stages(m *graph.Model) ([]Stage, error) {
	blocks, err := structure.BlockOutputs(m)
	if err != nil {
		return nil, err
	}
	in, err := dataInput(m.GetGraph())
	if err != nil {
		return nil, err
	}
	s, _, _ := graph.ShapeOf(in)
	probe := graph.Shape{{Size: 1}, s[1], {Size: probeSize}, {Size: probeSize}}
	g := m.GetGraph()
	// Shape inference reads only these fields; the model itself is not touched.
	shapes, err := graph.InferShapes(&graph.Model{ModelProto: &onnx.ModelProto{Graph: &onnx.GraphProto{
		Node: g.GetNode(), Initializer: g.GetInitializer(), Input: []*onnx.ValueInfoProto{graph.ValueInfo(in.GetName(), graph.Float, probe)},
	}}})
	if err != nil {
		return nil, fmt.Errorf("finding the stages: %w", err)
	}
	var stages []Stage
	for i, v := range blocks {
		shape := shapes[v]
		if len(shape) != 4 || !shape.Known() {
			return nil, fmt.Errorf("finding the stages: residual block output %q has no static 4-D shape at a %d×%d input (found [%v])", v, probeSize, probeSize, shape)
		}
		if i+1 < len(blocks) && sameSize(shape, shapes[blocks[i+1]]) {
			continue
		}
		h, w := shape[2].Size, shape[3].Size
		if h != w || probeSize%h != 0 || bits.OnesCount64(uint64(probeSize/h)) != 1 {
			return nil, fmt.Errorf("finding the stages: residual block output %q is %d×%d at a %d×%d input: expected a power-of-two stride", v, h, w, probeSize, probeSize)
		}
		stride := probeSize / h
		stages = append(stages, Stage{
			Name:     fmt.Sprintf("c%d", bits.TrailingZeros64(uint64(stride))),
			Stride:   stride,
			Channels: shape[1].Size,
			Value:    v,
		})
	}
	return stages, nil
}

// sameSize reports whether two NCHW shapes have the same spatial size.
func sameSize(a, b graph.Shape) bool {
	return len(a) == 4 && len(b) == 4 && a[2] == b[2] && a[3] == b[3]
}

// selectStages returns the stages named, in stage order; no names means all.
func selectStages(stages []Stage, names []string) ([]Stage, error) {
	if len(names) == 0 {
		return stages, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Stage
	for _, s := range stages {
		if want[s.Name] {
			out = append(out, s)
			delete(want, s.Name)
		}
	}
	for _, n := range names {
		if want[n] {
			return nil, fmt.Errorf("feature %q does not exist: expected one of this model's stages %s", n, describeStages(stages))
		}
	}
	return out, nil
}

// describeStages lists stages as "c2 (stride 4, 256 channels), …".
func describeStages(stages []Stage) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = fmt.Sprintf("%s (stride %d, %d channels)", s.Name, s.Stride, s.Channels)
	}
	return strings.Join(parts, ", ")
}
