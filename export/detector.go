package export

import (
	"fmt"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/graph"
)

// The outputs of an exported detector, and the metadata that describe them.
const (
	BoxesName   = "boxes"
	ScoresName  = "scores"
	ClassesName = "classes"
	// MetaBoxFormat says how a row of boxes reads.
	MetaBoxFormat = "bot-onnx.box_format"
	// BoxFormat is that row: corners in input pixels, x to the right and y
	// down, the box spanning [x1, x2) × [y1, y2) in continuous coordinates.
	BoxFormat = "x1,y1,x2,y2 in input pixels"
	// MetaClassNames lists the class names, comma-separated, index i
	// naming class i of the classes output.
	MetaClassNames = "bot-onnx.class_names"
	// DefaultTopK is how many detections a detector returns per image.
	DefaultTopK = detection.DefaultTopK
)

// Decode says how to read a CenterNet head's output: a tensor
// [N, Classes+4, h, w] whose channels are the class heatmaps' logits,
// then the box width and height in output cells, then the sub-pixel
// offset of the centre (x, y), at a stride of Stride input pixels per
// cell.
type Decode struct {
	Head       string // the head's output value
	Classes    int
	Stride     int
	TopK       int      // 0: DefaultTopK
	ClassNames []string // one per class, or none
}

// AppendDetectorDecode makes m, whose output Decode.Head is a CenterNet
// head, return detections instead: it decodes the head in the graph, as
// "Objects as Points" does, so that a user needs nothing but ONNX Runtime
// to get boxes. The class scores are the sigmoid of the heatmaps; a peak
// is a position whose score equals the 3×3 max-pool of its neighbourhood
// (MaxPool 3×3, stride 1, padding 1); TopK (sorted, the lower index first
// among equal scores, as ONNX's TopK orders them) picks the best TopK of
// all classes and positions, index = class·h·w + y·w + x; and a box is
// (x + offset_x ± width/2, y + offset_y ± height/2) · Stride. The outputs
// are boxes [N, TopK, 4] (x1, y1, x2, y2), scores [N, TopK] and classes
// [N, TopK] (int64); the head's size must be fixed.
func AppendDetectorDecode(m *graph.Model, d Decode) error {
	k := int64(d.TopK)
	if k == 0 {
		k = DefaultTopK
	}
	g := m.GetGraph()
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return err
	}
	s := shapes[d.Head]
	c := int64(d.Classes)
	switch {
	case d.Classes < 1 || d.Stride < 1 || k < 1:
		return fmt.Errorf("export: detector: expected at least one class, a positive stride and top-k, found %d, %d and %d", d.Classes, d.Stride, k)
	case len(d.ClassNames) != 0 && len(d.ClassNames) != d.Classes:
		return fmt.Errorf("export: detector: %d class names for %d classes", len(d.ClassNames), d.Classes)
	case len(s) != 4 || !s[1].Known() || !s[2].Known() || !s[3].Known() || s[1].Size != c+4:
		return fmt.Errorf("export: detector: head %q: expected shape [N, %d, h, w] with h and w fixed (%d classes, 4 box channels), found [%v]", d.Head, c+4, c, s)
	case k > c*s[2].Size*s[3].Size:
		return fmt.Errorf("export: detector: top-k %d: expected at most the %d classes × positions of a %v×%v head", k, c*s[2].Size*s[3].Size, s[2], s[3])
	}
	h, w := s[2].Size, s[3].Size
	b := graph.Edit(g, nil)
	i64 := func(name string, v ...int64) string { return b.ParamInt64("decode."+name, []int64{int64(len(v))}, v) }
	f32 := func(name string, v float32) string { return b.Param("decode."+name, nil, []float32{v}) }
	slice := func(name string, from, to int64) string {
		return b.Node("Slice", "decode."+name, []string{d.Head, i64(name+".starts", from), i64(name+".ends", to), i64(name+".axes", 1)})
	}

	// Peaks of the class scores, flattened over classes and positions.
	scores := b.Node("Sigmoid", "decode.scores", []string{slice("heatmaps", 0, c)})
	pooled := b.Node("MaxPool", "decode.pool", []string{scores},
		graph.AttrInts("kernel_shape", 3, 3), graph.AttrInts("strides", 1, 1), graph.AttrInts("pads", 1, 1, 1, 1))
	isPeak := b.Node("Equal", "decode.is_peak", []string{pooled, scores})
	peaks := b.Node("Mul", "decode.peaks", []string{scores, b.Node("Cast", "decode.is_peak.float", []string{isPeak}, graph.AttrInt("to", int64(onnx.TensorProto_FLOAT)))})
	flat := b.Node("Reshape", "decode.flat", []string{peaks, i64("flat.shape", 0, -1)})
	top := b.NodeOutputs("TopK", "decode.top", []string{flat, i64("k", k)}, []string{"indices"},
		graph.AttrInt("axis", -1), graph.AttrInt("largest", 1), graph.AttrInt("sorted", 1))

	// Class and position of each pick; its box channels gathered there.
	plane := i64("plane", h*w)
	classes := b.Node("Div", "decode.class", []string{top[1], plane})
	at := b.Node("Mod", "decode.position", []string{top[1], plane})
	ys := b.Node("Cast", "decode.y", []string{b.Node("Div", "decode.row", []string{at, i64("width", w)})}, graph.AttrInt("to", int64(onnx.TensorProto_FLOAT)))
	xs := b.Node("Cast", "decode.x", []string{b.Node("Mod", "decode.column", []string{at, i64("width.mod", w)})}, graph.AttrInt("to", int64(onnx.TensorProto_FLOAT)))
	boxMaps := b.Node("Reshape", "decode.box_maps", []string{slice("box", c, c+4), i64("box_maps.shape", 0, 4, h*w)})
	where := b.Node("Tile", "decode.where", []string{b.Node("Unsqueeze", "decode.where.1", []string{at, i64("axis1", 1)}), i64("where.repeats", 1, 4, 1)})
	box := b.Node("GatherElements", "decode.gather", []string{boxMaps, where}, graph.AttrInt("axis", 2)) // [N, 4, k]: w, h, dx, dy

	// Corners in input pixels: (centre ∓ size/2) · stride.
	unsq := func(name, v string) string {
		return b.Node("Unsqueeze", "decode."+name, []string{v, i64(name+".axes", 1)})
	}
	grid := b.Node("Concat", "decode.grid", []string{unsq("x1", xs), unsq("y1", ys)}, graph.AttrInt("axis", 1))
	boxSlice := func(name string, from, to int64) string {
		return b.Node("Slice", "decode."+name, []string{box, i64(name+".starts", from), i64(name+".ends", to), i64(name+".axes", 1)})
	}
	centre := b.Node("Add", "decode.centre", []string{grid, boxSlice("offset", 2, 4)})
	half := b.Node("Mul", "decode.half", []string{boxSlice("size", 0, 2), f32("one_half", 0.5)})
	corners := b.Node("Concat", "decode.corners", []string{
		b.Node("Sub", "decode.min", []string{centre, half}),
		b.Node("Add", "decode.max", []string{centre, half}),
	}, graph.AttrInt("axis", 1))
	pixels := b.Node("Mul", "decode.pixels", []string{corners, f32("stride", float32(d.Stride))})
	boxes := b.Node("Transpose", "decode.boxes", []string{pixels}, graph.AttrInts("perm", 0, 2, 1))

	for v, name := range map[string]string{boxes: BoxesName, top[0]: ScoresName, classes: ClassesName} {
		rename(g, v, name)
	}
	batch := s[0]
	g.Output = []*onnx.ValueInfoProto{
		graph.ValueInfo(BoxesName, graph.Float, graph.Shape{batch, {Size: k}, {Size: 4}}),
		graph.ValueInfo(ScoresName, graph.Float, graph.Shape{batch, {Size: k}}),
		graph.ValueInfo(ClassesName, graph.Int64, graph.Shape{batch, {Size: k}}),
	}
	m.SetMetadata(MetaBoxFormat, BoxFormat)
	if len(d.ClassNames) > 0 {
		m.SetMetadata(MetaClassNames, strings.Join(d.ClassNames, ","))
	}
	return graph.Clean(g)
}
