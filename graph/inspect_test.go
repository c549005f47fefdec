package graph

import (
	"strings"
	"testing"
)

// TestInspect summarises a small graph: its data input with a symbolic
// batch, its output, counts, operators, metadata and validity; a graph
// that fails the validator lists the problems.
func TestInspect(t *testing.T) {
	b := NewBuilder("tiny", DefaultOpset)
	x := b.Input("input", Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	w := b.Param("conv.weight", []int64{4, 3, 3, 3}, make([]float32, 4*3*3*3))
	y := b.Conv("conv", x, w, "", ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	b.Output(b.Node("Relu", "relu", []string{y}), "out")
	m, err := b.Finish("test", "1")
	if err != nil {
		t.Fatal(err)
	}
	m.SetMetadata("k", "v")
	s := Inspect(m)
	if s.Producer != "test 1" || s.Nodes != 2 || s.Ops["Conv"] != 1 || s.Ops["Relu"] != 1 || !s.Valid || s.Metadata["k"] != "v" {
		t.Errorf("summary %+v", s)
	}
	if len(s.Inputs) != 1 || s.Inputs[0].Name != "input" || s.Inputs[0].Type != "FLOAT" || len(s.Inputs[0].Shape) != 4 ||
		s.Inputs[0].Shape[0] != "batch" || s.Inputs[0].Shape[1] != int64(3) {
		t.Errorf("inputs %+v", s.Inputs)
	}
	if s.Params != 3*4*9 || s.MACs == nil || *s.MACs != 3*4*9*8*8 || *s.FLOPs != 2**s.MACs {
		t.Errorf("params %d, MACs %v", s.Params, s.MACs)
	}
	m.GetGraph().GetNode()[1].Input = []string{"missing"}
	if s := Inspect(m); s.Valid || len(s.Problems) == 0 {
		t.Errorf("a broken graph: valid %v, problems %v", s.Valid, s.Problems)
	}
}

// TestSummaryWriteText: a hand-made summary of an invalid model reads as
// `bot-onnx inspect` prints it, operators by count then name; a valid one
// without MACs says why they are unknown.
func TestSummaryWriteText(t *testing.T) {
	macs := int64(40_813_184)
	s := Summary{IRVersion: 8, Opset: 17, Producer: "bot-onnx dev",
		Inputs:  []TensorInfo{{Name: "input", Type: "FLOAT", Shape: []any{"batch", int64(3), int64(32), int64(32)}}},
		Outputs: []TensorInfo{{Name: "logits", Type: "FLOAT", Shape: []any{"batch", int64(10)}}},
		Params:  272_474, MACs: &macs, Nodes: 5, Ops: map[string]int{"Relu": 2, "Conv": 2, "Add": 1},
		Metadata: map[string]string{"b": "2", "a": "1"}, Problems: []string{"node 1: no input", "node 2: no output"}}
	want := `m.onnx
  IR version 8, opset 17, producer bot-onnx dev
  input  input        FLOAT [batch 3 32 32]
  output logits       FLOAT [batch 10]
  parameters 272,474
  MACs       40,813,184 per image (0.041 G; FLOPs = 2 × MACs)
  5 nodes:
    Conv                 2
    Relu                 2
    Add                  1
  metadata a = 1
  metadata b = 2
  INVALID: 2 problems
    node 1: no input
    node 2: no output
`
	var b strings.Builder
	if err := s.WriteText(&b, "m.onnx"); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("text\n%s\nwant\n%s", b.String(), want)
	}
	s = Summary{Params: 1234, MACsError: "no shape for x", Valid: true}
	b.Reset()
	if err := s.WriteText(&b, "m.onnx"); err != nil {
		t.Fatal(err)
	}
	if text := b.String(); !strings.Contains(text, "  parameters 1,234\n  MACs       unknown: no shape for x\n  0 nodes:\n  valid\n") {
		t.Errorf("text\n%s", text)
	}
}

// TestThousands: commas every three digits from the right, a sign kept
// apart.
func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -123: "-123", -1234: "-1,234", -123456: "-123,456"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
