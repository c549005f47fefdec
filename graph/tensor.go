package graph

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Element types of TensorProto.DataType used by the project.
const (
	Float   = int32(onnx.TensorProto_FLOAT)
	Float16 = int32(onnx.TensorProto_FLOAT16)
	Int64   = int32(onnx.TensorProto_INT64)
)

// NumElements returns the product of dims (1 for a scalar).
func NumElements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// FloatTensor makes a float32 TensorProto holding data in raw_data (little
// endian), the compact form exporters use. It panics if len(data) does not
// match dims, which is a programming error.
func FloatTensor(name string, dims []int64, data []float32) *onnx.TensorProto {
	if int64(len(data)) != NumElements(dims) {
		panic(fmt.Sprintf("graph.FloatTensor %s: %d values for shape %v", name, len(data), dims))
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnx.TensorProto{
		Name:     name,
		Dims:     append([]int64(nil), dims...),
		DataType: Float,
		RawData:  raw,
	}
}

// Int64Tensor makes an int64 TensorProto holding data in raw_data.
func Int64Tensor(name string, dims []int64, data []int64) *onnx.TensorProto {
	if int64(len(data)) != NumElements(dims) {
		panic(fmt.Sprintf("graph.Int64Tensor %s: %d values for shape %v", name, len(data), dims))
	}
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: Int64, RawData: raw}
}

// Floats returns a float32 tensor's values, whether stored in raw_data or in
// float_data. Tensors kept in external files are not supported.
func Floats(t *onnx.TensorProto) ([]float32, error) {
	if t.GetDataType() != Float {
		return nil, fmt.Errorf("tensor %q: expected element type FLOAT, found %s", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	if err := checkData(t); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	return append([]float32(nil), t.GetFloatData()...), nil
}

// Int64s returns an int64 tensor's values from raw_data or int64_data.
func Int64s(t *onnx.TensorProto) ([]int64, error) {
	if t.GetDataType() != Int64 {
		return nil, fmt.Errorf("tensor %q: expected element type INT64, found %s", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	if err := checkData(t); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		out := make([]int64, len(raw)/8)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	}
	return append([]int64(nil), t.GetInt64Data()...), nil
}

// rawBits is the size of one element in raw_data, in bits, for each element
// type up to opset 21 except STRING, which raw_data cannot hold: the FLOAT8
// types (17–20) came with opset 19, the packed 4-bit UINT4 and INT4 (21, 22)
// with opset 21.
var rawBits = map[onnx.TensorProto_DataType]int64{
	onnx.TensorProto_FLOAT: 32, onnx.TensorProto_UINT8: 8, onnx.TensorProto_INT8: 8,
	onnx.TensorProto_UINT16: 16, onnx.TensorProto_INT16: 16, onnx.TensorProto_INT32: 32,
	onnx.TensorProto_INT64: 64, onnx.TensorProto_BOOL: 8, onnx.TensorProto_FLOAT16: 16,
	onnx.TensorProto_DOUBLE: 64, onnx.TensorProto_UINT32: 32, onnx.TensorProto_UINT64: 64,
	onnx.TensorProto_COMPLEX64: 64, onnx.TensorProto_COMPLEX128: 128, onnx.TensorProto_BFLOAT16: 16,
	17: 8, 18: 8, 19: 8, 20: 8, uint4: 4, int4: 4,
}

// The packed 4-bit element types, which gonnx's enum predates.
const (
	uint4 onnx.TensorProto_DataType = 21
	int4  onnx.TensorProto_DataType = 22
)

// checkData reports whether a tensor holds exactly the elements its shape
// declares: dimensions non-negative, at most 2^56 elements in all (so that
// sizes in bits fit int64), data in the file rather than an external one,
// and raw_data, or else the typed field ONNX keeps the element type in, of
// the matching length.
// Readers check this before sizing anything by dims, so that a damaged or
// hostile file cannot make them allocate more than it holds.
func checkData(t *onnx.TensorProto) error {
	const maxElements = math.MaxInt64 / 128 // the widest element has 128 bits
	dims := t.GetDims()
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", dims)
		}
		if d != 0 && n > maxElements/d {
			return fmt.Errorf("shape %v has more than 2^56 elements", dims)
		}
		n *= d
	}
	if t.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		return errors.New("external data is not supported")
	}
	typ := onnx.TensorProto_DataType(t.GetDataType())
	elemBits, known := rawBits[typ]
	if !known && typ != onnx.TensorProto_STRING {
		return fmt.Errorf("unknown element type %d", t.GetDataType())
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		if !known {
			return fmt.Errorf("raw_data cannot hold element type %s", typ)
		}
		total := n * elemBits
		want := total / 8
		if total%8 != 0 {
			want++ // a 4-bit type's odd last element fills a byte
		}
		if int64(len(raw)) != want {
			return fmt.Errorf("expected %d bytes of raw data for shape %v, found %d", want, dims, len(raw))
		}
		return nil
	}
	field, found := "int32_data", len(t.GetInt32Data())
	switch typ {
	case onnx.TensorProto_FLOAT, onnx.TensorProto_COMPLEX64:
		field, found = "float_data", len(t.GetFloatData())
	case onnx.TensorProto_DOUBLE, onnx.TensorProto_COMPLEX128:
		field, found = "double_data", len(t.GetDoubleData())
	case onnx.TensorProto_INT64:
		field, found = "int64_data", len(t.GetInt64Data())
	case onnx.TensorProto_UINT32, onnx.TensorProto_UINT64:
		field, found = "uint64_data", len(t.GetUint64Data())
	case onnx.TensorProto_STRING:
		field, found = "string_data", len(t.GetStringData())
	}
	// Complex values take two entries (real, imaginary); 4-bit values are
	// packed two to an entry.
	want := n
	switch typ {
	case onnx.TensorProto_COMPLEX64, onnx.TensorProto_COMPLEX128:
		want = 2 * n
	case uint4, int4:
		want = n/2 + n%2
	}
	if int64(found) != want {
		return fmt.Errorf("expected %d values in %s for shape %v, found %d", want, field, dims, found)
	}
	return nil
}

// Initializer returns the graph's initializer with the given name, or nil.
func (m *Model) Initializer(name string) *onnx.TensorProto {
	for _, t := range m.GetGraph().GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

// InitializerFloats returns a float32 initializer's values and shape.
func (m *Model) InitializerFloats(name string) ([]float32, []int64, error) {
	t := m.Initializer(name)
	if t == nil {
		return nil, nil, fmt.Errorf("initializer %q not found", name)
	}
	v, err := Floats(t)
	return v, t.GetDims(), err
}

// SetInitializer adds t to the graph, replacing an initializer of the same name.
func (m *Model) SetInitializer(t *onnx.TensorProto) {
	g := m.GetGraph()
	for i, old := range g.Initializer {
		if old.GetName() == t.GetName() {
			g.Initializer[i] = t
			return
		}
	}
	g.Initializer = append(g.Initializer, t)
}

// LoadTensor reads a serialized TensorProto, the form of ONNX's test data
// (test_data_set_N/input_K.pb).
func LoadTensor(path string) (*onnx.TensorProto, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := &onnx.TensorProto{}
	if err := proto.Unmarshal(data, t); err != nil {
		return nil, fmt.Errorf("%s: not a TensorProto: %v", path, err)
	}
	return t, nil
}
