package graph

import "testing"

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
