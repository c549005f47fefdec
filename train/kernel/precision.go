package kernel

import "fmt"

// Precision is the arithmetic of the convolutions' inputs: the paper's
// low-precision training (section 3) keeps master weights, optimizer
// state, BatchNorm and the loss in fp32 and feeds the products bfloat16.
type Precision int

const (
	// FP32 runs every product in float32.
	FP32 Precision = iota
	// BF16 rounds the inputs of each convolution to bfloat16 and
	// accumulates in float32; outputs and gradients stay float32.
	BF16
)

// String returns "fp32" or "bf16".
func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision reads "fp32" or "bf16".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "fp32":
		return FP32, nil
	case "bf16":
		return BF16, nil
	}
	return 0, fmt.Errorf("precision %q: expected fp32 or bf16", s)
}

// BF16Support returns nil when this CPU has bfloat16 arithmetic, and
// otherwise an error naming the features it lacks: bf16 is refused rather
// than emulated in float32, which would be slower than fp32 itself.
func BF16Support() error { return bf16Support(HostFeatures()) }

func bf16Support(f Features) error {
	if f.HasBF16() {
		return nil
	}
	return fmt.Errorf("precision bf16 needs a CPU with AVX512_BF16 or AMX-BF16; this one has %s", f)
}
