package graph

import (
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// Dim is one dimension of a tensor shape: a known size, or a symbolic name
// such as "batch" for a dimension fixed only at run time. A Dim with neither
// is unknown.
type Dim struct {
	Size  int64
	Param string
}

// Known reports whether the dimension has a fixed size.
func (d Dim) Known() bool { return d.Param == "" && d.Size >= 0 }

func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Size < 0:
		return "?"
	default:
		return strconv.FormatInt(d.Size, 10)
	}
}

// Unknown is a dimension of which nothing is known.
var Unknown = Dim{Size: -1}

// Shape is a tensor shape.
type Shape []Dim

// Static makes a shape of known sizes.
func Static(sizes ...int64) Shape {
	s := make(Shape, len(sizes))
	for i, n := range sizes {
		s[i] = Dim{Size: n}
	}
	return s
}

// Known reports whether every dimension has a fixed size.
func (s Shape) Known() bool {
	for _, d := range s {
		if !d.Known() {
			return false
		}
	}
	return true
}

// Sizes returns the sizes, with -1 for dimensions that are not known.
func (s Shape) Sizes() []int64 {
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = -1
		if d.Known() {
			out[i] = d.Size
		}
	}
	return out
}

// String writes the shape as "batch×3×224×224".
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return strings.Join(parts, "×")
}

// ValueInfo declares a tensor value: its name, element type (Float,
// Float16, …) and shape, symbolic and unknown dimensions included.
func ValueInfo(name string, elem int32, s Shape) *onnx.ValueInfoProto {
	dims := make([]*onnx.TensorShapeProto_Dimension, len(s))
	for i, d := range s {
		switch {
		case d.Param != "":
			dims[i] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}}
		case d.Size >= 0:
			dims[i] = &onnx.TensorShapeProto_Dimension{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}}
		default:
			dims[i] = &onnx.TensorShapeProto_Dimension{}
		}
	}
	return &onnx.ValueInfoProto{
		Name: name,
		Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{
			ElemType: elem,
			Shape:    &onnx.TensorShapeProto{Dim: dims},
		}}},
	}
}

// ShapeOf returns the shape and element type recorded in a ValueInfoProto;
// ok is false when it carries no tensor shape.
func ShapeOf(v *onnx.ValueInfoProto) (s Shape, elem int32, ok bool) {
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.GetShape() == nil {
		return nil, tt.GetElemType(), false
	}
	for _, d := range tt.GetShape().GetDim() {
		switch v := d.GetValue().(type) {
		case *onnx.TensorShapeProto_Dimension_DimValue:
			s = append(s, Dim{Size: v.DimValue})
		case *onnx.TensorShapeProto_Dimension_DimParam:
			s = append(s, Dim{Size: -1, Param: v.DimParam})
		default:
			s = append(s, Unknown)
		}
	}
	return s, tt.GetElemType(), true
}
