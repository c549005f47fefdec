package graph

import (
	"encoding/binary"
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
	if t.GetDataLocation() == onnx.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data is not supported", t.GetName())
	}
	n := NumElements(t.GetDims())
	if raw := t.GetRawData(); len(raw) > 0 {
		if int64(len(raw)) != 4*n {
			return nil, fmt.Errorf("tensor %q: expected %d bytes of raw data for shape %v, found %d", t.GetName(), 4*n, t.GetDims(), len(raw))
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, nil
	}
	if int64(len(t.GetFloatData())) != n {
		return nil, fmt.Errorf("tensor %q: expected %d values for shape %v, found %d", t.GetName(), n, t.GetDims(), len(t.GetFloatData()))
	}
	return append([]float32(nil), t.GetFloatData()...), nil
}

// Int64s returns an int64 tensor's values from raw_data or int64_data.
func Int64s(t *onnx.TensorProto) ([]int64, error) {
	if t.GetDataType() != Int64 {
		return nil, fmt.Errorf("tensor %q: expected element type INT64, found %s", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	n := NumElements(t.GetDims())
	if raw := t.GetRawData(); len(raw) > 0 {
		if int64(len(raw)) != 8*n {
			return nil, fmt.Errorf("tensor %q: expected %d bytes of raw data for shape %v, found %d", t.GetName(), 8*n, t.GetDims(), len(raw))
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	}
	if int64(len(t.GetInt64Data())) != n {
		return nil, fmt.Errorf("tensor %q: expected %d values for shape %v, found %d", t.GetName(), n, t.GetDims(), len(t.GetInt64Data()))
	}
	return append([]int64(nil), t.GetInt64Data()...), nil
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
