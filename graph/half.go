package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// ToFloat16 returns the IEEE 754 binary16 bits nearest to f, ties to even,
// as numpy's astype(float16) and ONNX Runtime's Cast do: values beyond
// ±65504 (after rounding) become ±Inf, values below half the smallest
// subnormal (2^-25) become ±0, NaN stays NaN.
func ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // the binary16 exponent field
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		// A binary16 subnormal: m × 2^-24 with the implicit bit made explicit.
		if e < -10 {
			return sign
		}
		full := mant | 0x800000
		shift := uint32(14 - e)
		h := full >> shift
		rem, halfway := full&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > halfway || (rem == halfway && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	// A carry out of the mantissa steps the exponent, up to Inf: both right.
	if rem := mant & 0x1fff; rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// FromFloat16 returns the float32 value of binary16 bits, exactly.
func FromFloat16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		v := float32(mant) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// Float16Tensor makes a FLOAT16 TensorProto of data rounded with
// ToFloat16, in raw_data (little endian). It panics if len(data) does not
// match dims, which is a programming error.
func Float16Tensor(name string, dims []int64, data []float32) *onnx.TensorProto {
	if int64(len(data)) != NumElements(dims) {
		panic(fmt.Sprintf("graph.Float16Tensor %s: %d values for shape %v", name, len(data), dims))
	}
	raw := make([]byte, 2*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint16(raw[2*i:], ToFloat16(v))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: Float16, RawData: raw}
}

// Float16s returns a FLOAT16 tensor's values as float32, from raw_data or
// from int32_data, where ONNX keeps one binary16 value in the low bits of
// each element.
func Float16s(t *onnx.TensorProto) ([]float32, error) {
	if t.GetDataType() != Float16 {
		return nil, fmt.Errorf("tensor %q: expected element type FLOAT16, found %s", t.GetName(), onnx.TensorProto_DataType(t.GetDataType()))
	}
	if err := checkData(t); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = FromFloat16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out, nil
	}
	out := make([]float32, len(t.GetInt32Data()))
	for i, v := range t.GetInt32Data() {
		out[i] = FromFloat16(uint16(v))
	}
	return out, nil
}
