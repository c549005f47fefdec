package graph

import "github.com/advancedclimatesystems/gonnx/onnx"

// AttrInt makes an INT attribute.
func AttrInt(name string, v int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

// AttrInts makes an INTS attribute.
func AttrInts(name string, v ...int64) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: append([]int64(nil), v...)}
}

// AttrFloat makes a FLOAT attribute.
func AttrFloat(name string, v float32) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

// AttrString makes a STRING attribute.
func AttrString(name, v string) *onnx.AttributeProto {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_STRING, S: []byte(v)}
}

// Attr returns the node's attribute with the given name, or nil.
func Attr(n *onnx.NodeProto, name string) *onnx.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// IntAttr returns an INT attribute's value, or def if the node lacks it.
func IntAttr(n *onnx.NodeProto, name string, def int64) int64 {
	if a := Attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// IntsAttr returns an INTS attribute's values, or def if the node lacks it.
func IntsAttr(n *onnx.NodeProto, name string, def []int64) []int64 {
	if a := Attr(n, name); a != nil {
		return a.GetInts()
	}
	return def
}

// FloatAttr returns a FLOAT attribute's value, or def if the node lacks it.
func FloatAttr(n *onnx.NodeProto, name string, def float32) float32 {
	if a := Attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// StringAttr returns a STRING attribute's value, or def if the node lacks it.
func StringAttr(n *onnx.NodeProto, name, def string) string {
	if a := Attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// SetAttr sets an attribute on the node, replacing one of the same name.
func SetAttr(n *onnx.NodeProto, a *onnx.AttributeProto) {
	for i, old := range n.Attribute {
		if old.GetName() == a.GetName() {
			n.Attribute[i] = a
			return
		}
	}
	n.Attribute = append(n.Attribute, a)
}
