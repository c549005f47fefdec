package graph_test

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
)

// A conv, a BatchNorm in its starting state and a ReLU, built into a
// model. By hand: the conv has 4·3·3·3 = 108 weights and the BatchNorm 8
// parameters (γ and β; running statistics are buffers), and each of the
// 4×4×4 outputs of the stride-2 conv costs 3·3·3 = 27 MACs: 1728.
func ExampleBuilder() {
	b := graph.NewBuilder("example", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	w := b.Param("conv.weight", []int64{4, 3, 3, 3}, make([]float32, 4*3*3*3))
	x = b.Conv("conv", x, w, "", graph.ConvAttrs{Kernel: [2]int64{3, 3}, Stride: [2]int64{2, 2}, Pads: [4]int64{1, 1, 1, 1}})
	x = b.NewBatchNorm("bn", x, 4, 1e-5, 0.9)
	b.Output(b.Relu("relu", x), "features")
	m, err := b.Finish("example", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	out := m.GetGraph().GetOutput()[0]
	shape, _, _ := graph.ShapeOf(out)
	counts, _ := graph.Count(m)
	fmt.Println("output", out.GetName(), shape)
	fmt.Println(counts.Params, "parameters,", counts.MACs, "MACs")
	// Output:
	// output features batch×4×4×4
	// 116 parameters, 1728 MACs
}

// The same helpers rewrite a graph: here a 2×2 average pool goes in
// front of the ReLU. Names the graph holds already are made fresh.
func ExampleEdit() {
	b := graph.NewBuilder("example", graph.DefaultOpset)
	x := b.Input("input", graph.Static(1, 2, 4, 4))
	b.Output(b.Relu("relu", x), "y")
	m, err := b.Finish("example", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	g := m.GetGraph()
	relu := g.GetNode()[0]
	e := graph.Edit(g, nil)
	e.InsertBefore(relu)
	pooled := e.AveragePool("relu", relu.GetInput()[0], graph.PoolAttrs{Kernel: [2]int64{2, 2}, Stride: [2]int64{2, 2}})
	graph.ReplaceInput(relu, relu.GetInput()[0], pooled)
	if err := graph.Clean(g); err != nil {
		fmt.Println(err)
		return
	}
	shapes, _ := graph.InferShapes(m)
	for _, n := range g.GetNode() {
		fmt.Println(n.GetOpType(), n.GetName(), shapes[n.GetOutput()[0]])
	}
	// Output:
	// AveragePool relu_1 1×2×2×2
	// Relu relu 1×2×2×2
}
