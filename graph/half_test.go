package graph

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

func TestFloat16KnownValues(t *testing.T) {
	for _, tc := range []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                         // the largest finite value
		{65519.99, 0x7bff},                      // just below the tie: stays finite
		{65520, 0x7c00},                         // the tie between 65504 and 65536 goes to even: Inf
		{float32(math.Inf(-1)), 0xfc00},         //
		{1.0 / (1 << 14), 0x0400},               // the smallest normal
		{1.0 / (1 << 24), 0x0001},               // the smallest subnormal
		{1.0 / (1 << 25), 0x0000},               // half of it: a tie, to even (0)
		{1.5 / (1 << 25), 0x0001},               // above the tie
		{3.0 / (1 << 25), 0x0002},               // 1.5 × 2^-24: a tie, to even (2)
		{1 + 1.0/(1<<11), 0x3c00},               // a tie below 1 + 2^-10: to even
		{1 + 3.0/(1<<11), 0x3c02},               // a tie above 1 + 2^-10: to even
		{1 + 1.0/(1<<11) + 1e-7, 0x3c01},        // just past the tie
		{float32(1e-10), 0x0000},                // far below the subnormals
		{(1 - 1.0/(1<<11)) / (1 << 14), 0x0400}, // rounds up out of the subnormals
	} {
		if got := ToFloat16(tc.f); got != tc.h {
			t.Errorf("ToFloat16(%g) = %#04x, want %#04x", tc.f, got, tc.h)
		}
	}
	if h := ToFloat16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("ToFloat16(NaN) = %#04x, not a NaN", h)
	}
}

// TestFloat16RoundTrip: every binary16 value converts to float32 and back
// to itself, and FromFloat16 is exact (checked on normals by scaling).
func TestFloat16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := FromFloat16(uint16(h))
		if f != f {
			if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
				t.Fatalf("FromFloat16(%#04x) = NaN", h)
			}
			continue
		}
		if back := ToFloat16(f); back != uint16(h) {
			t.Fatalf("ToFloat16(FromFloat16(%#04x) = %g) = %#04x", h, f, back)
		}
	}
	if FromFloat16(0x3555) != float32(0x400+0x155)/(1<<12) { // (1 + 341/1024) × 2^-2
		t.Errorf("FromFloat16(0x3555) = %g", FromFloat16(0x3555))
	}
}

// TestFloat16MatchesNumpy rounds random values of every magnitude with
// numpy's astype(float16) (Debian's python3-numpy), an independent
// implementation of the same IEEE rounding.
func TestFloat16MatchesNumpy(t *testing.T) {
	python := testenv.RequirePython(t, "numpy")
	rng := rand.New(rand.NewPCG(1, 2))
	values := make([]float32, 20000)
	for i := range values {
		values[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(50)-30)))
	}
	var in strings.Builder
	for _, v := range values {
		in.WriteString(strconv.FormatUint(uint64(math.Float32bits(v)), 10) + "\n")
	}
	cmd := exec.Command(python, "-c", `import sys, numpy as np
bits = np.array([int(l) for l in sys.stdin], dtype=np.uint32)
print("\n".join(str(int(h)) for h in bits.view(np.float32).astype(np.float16).view(np.uint16)))`)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("numpy: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(values) {
		t.Fatalf("numpy returned %d values for %d", len(lines), len(values))
	}
	for i, v := range values {
		want, _ := strconv.ParseUint(lines[i], 10, 16)
		if got := ToFloat16(v); got != uint16(want) {
			t.Errorf("ToFloat16(%g) = %#04x, numpy %#04x", v, got, want)
		}
	}
}

func TestFloat16Tensor(t *testing.T) {
	tensor := Float16Tensor("w", []int64{2, 2}, []float32{1, -0.5, 65504, 1e-3})
	if tensor.GetDataType() != Float16 || len(tensor.GetRawData()) != 8 || binary.LittleEndian.Uint16(tensor.GetRawData()[4:]) != 0x7bff {
		t.Fatalf("tensor %v", tensor)
	}
	got, err := Float16s(tensor)
	if err != nil || got[0] != 1 || got[1] != -0.5 || got[2] != 65504 || got[3] != FromFloat16(ToFloat16(1e-3)) {
		t.Errorf("Float16s = %v, %v", got, err)
	}
	asInt32 := &onnx.TensorProto{Name: "v", Dims: []int64{2}, DataType: Float16, Int32Data: []int32{0x3c00, 0xc000}}
	if got, err := Float16s(asInt32); err != nil || got[0] != 1 || got[1] != -2 {
		t.Errorf("Float16s(int32_data) = %v, %v", got, err)
	}
	for _, bad := range []*onnx.TensorProto{
		FloatTensor("f32", []int64{1}, []float32{1}),
		{Name: "short", Dims: []int64{3}, DataType: Float16, RawData: []byte{0, 0}},
	} {
		if _, err := Float16s(bad); err == nil || !strings.Contains(err.Error(), bad.GetName()) {
			t.Errorf("Float16s(%s): %v, want an error naming it", bad.GetName(), err)
		}
	}
}
