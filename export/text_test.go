package export

import (
	"strings"
	"testing"
)

// TestResultWriteText: a hand-made float16 backbone export, folded with
// one BatchNorm kept, reads as `bot-onnx export` prints it, each output
// with its stride; one File made in memory names no source.
func TestResultWriteText(t *testing.T) {
	res := &Result{Source: "run/model.onnx", Output: "b.onnx", Head: Backbone, FP16: true, Opset: 17, Bytes: 1_234_567,
		Inputs:   []Value{{Name: "input", Type: "float", Shape: "batch×3×32×32"}},
		Outputs:  []Value{{Name: "c1", Type: "float16", Shape: "batch×32×16×16"}, {Name: "c2", Type: "float16", Shape: "batch×64×8×8"}},
		Features: []Stage{{Name: "c1", Stride: 2}, {Name: "c2", Stride: 4}},
		Fold:     &FoldReport{Folded: 1, Kept: []string{"bn2: its Conv's output is read twice"}},
		Verified: Verification{InputShape: []int64{2, 3, 32, 32}, Seed: 7, Outputs: []Parity{{Output: "c1", MaxAbsDiff: 0.00123, Bound: 0.02, MaxAbsRef: 2.5}}},
	}
	want := `wrote b.onnx from run/model.onnx: backbone, float16, opset 17, 1.2 MB
  input  input         float   batch×3×32×32
  output c1            float16 batch×32×16×16  stride 2
  output c2            float16 batch×64×8×8  stride 4
folded 1 BatchNormalization node into the preceding Conv; 1 kept
  kept bn2: its Conv's output is read twice
verified in ONNX Runtime against the source on seeded input [2 3 32 32] (seed 7):
  c1            max |diff| 0.0012 (bound 0.02, max |source| 2.5)
`
	var b strings.Builder
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("text\n%s\nwant\n%s", b.String(), want)
	}
	res.Source = ""
	b.Reset()
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); first != "wrote b.onnx: backbone, float16, opset 17, 1.2 MB" {
		t.Errorf("without a source: %q", first)
	}
}
