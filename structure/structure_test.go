package structure_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/structure"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

func build(t *testing.T, model, variant string) *graph.Model {
	t.Helper()
	m, _, err := tweaks.Build(models.Config{Model: model}, variant)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFind: the blocks, stages, projections, shortcut pools and stems of
// torchvision's layouts (blocks per stage as torchvision's resnet.py lists
// them: ResNet-18 2-2-2-2, ResNet-50 3-4-6-3; the CIFAR ResNet-20 of He et
// al. 3-3-3), and ResNet-D's pools in stages 2–4 only.
func TestFind(t *testing.T) {
	for _, tc := range []struct {
		model, variant string
		stages         []int
		projections    int
		pools          int
		stem           string
	}{
		{"resnet20", "A", []int{3, 3, 3}, 2, 0, "Conv → BatchNormalization → Relu"},
		{"resnet18", "A", []int{2, 2, 2, 2}, 3, 0, "Conv → BatchNormalization → Relu → MaxPool"},
		{"resnet50", "A", []int{3, 4, 6, 3}, 4, 0, "Conv → BatchNormalization → Relu → MaxPool"},
		{"resnet50", "D", []int{3, 4, 6, 3}, 4, 3, strings.Repeat("Conv → BatchNormalization → Relu → ", 3) + "MaxPool"},
	} {
		r, err := structure.Find(build(t, tc.model, tc.variant).GetGraph())
		if err != nil {
			t.Fatalf("%s-%s: %v", tc.model, tc.variant, err)
		}
		var labels []string
		for stage, n := range tc.stages {
			for i := range n {
				labels = append(labels, fmt.Sprintf("layer%d.%d", stage+1, i))
			}
		}
		var got []string
		projections, pools := 0, 0
		for _, b := range r.Blocks {
			got = append(got, b.Label)
			if b.Shortcut != nil {
				projections++
			}
			if b.Pool != nil {
				pools++
			}
		}
		if !slices.Equal(got, labels) {
			t.Errorf("%s-%s: blocks %v, want %v", tc.model, tc.variant, got, labels)
		}
		if projections != tc.projections || pools != tc.pools {
			t.Errorf("%s-%s: %d projections and %d pools, want %d and %d", tc.model, tc.variant, projections, pools, tc.projections, tc.pools)
		}
		if r.StemErr != nil || r.Stem.String() != tc.stem {
			t.Errorf("%s-%s: stem %q (%v), want %q", tc.model, tc.variant, r.Stem, r.StemErr, tc.stem)
		}
	}
}

// TestFindRefusesOtherGraphs: a graph without residual blocks is no ResNet.
func TestFindRefusesOtherGraphs(t *testing.T) {
	b := graph.NewBuilder("mlp", graph.DefaultOpset)
	x := b.Input("input", graph.Static(1, 4))
	b.Output(b.Relu("relu", b.Gemm("fc", x, b.Param("fc.weight", []int64{2, 4}, make([]float32, 8)), "")), "y")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := structure.Find(m.GetGraph()); err == nil || !strings.Contains(err.Error(), "not a ResNet") || !strings.Contains(err.Error(), "Gemm, Relu") {
		t.Errorf("Find on an MLP: %v, want an error saying it is not a ResNet and naming its ops", err)
	}
}

// TestLastBlockNorms: one BatchNorm per residual block, the last of its
// main path — 9 in ResNet-20, 16 in ResNet-50 (also after tweak D).
func TestLastBlockNorms(t *testing.T) {
	for _, tc := range []struct {
		model, variant string
		want           int
		suffix         string
	}{{"resnet20", "A", 9, ".bn2"}, {"resnet50", "A", 16, ".bn3"}, {"resnet50", "D", 16, ".bn3"}, {"resnet18", "A", 8, ".bn2"}} {
		bns, err := structure.LastBlockNorms(build(t, tc.model, tc.variant))
		if err != nil {
			t.Fatal(err)
		}
		if len(bns) != tc.want {
			t.Errorf("%s-%s: %d BatchNorms, want %d", tc.model, tc.variant, len(bns), tc.want)
		}
		for _, bn := range bns {
			if !strings.HasSuffix(bn.GetName(), tc.suffix) {
				t.Errorf("%s: %s is not the last BatchNorm of its block", tc.model, bn.GetName())
			}
		}
	}
}

// TestBlockOutputs: one value per residual block, the ReLU after its Add,
// in order — also after tweak D and when the last ReLU is missing.
func TestBlockOutputs(t *testing.T) {
	for _, tc := range []struct {
		model, variant string
		blocks         []int
	}{{"resnet20", "A", []int{3, 3, 3}}, {"resnet50", "D", []int{3, 4, 6, 3}}} {
		var want []string
		for stage, n := range tc.blocks {
			for i := 0; i < n; i++ {
				want = append(want, fmt.Sprintf("layer%d.%d.relu", stage+1, i))
			}
		}
		got, err := structure.BlockOutputs(build(t, tc.model, tc.variant))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s-%s: BlockOutputs = %v, %v; want %v", tc.model, tc.variant, got, err, want)
		}
	}
	m := build(t, "resnet20", "A")
	g := m.GetGraph()
	last := graph.NewIndex(g).Producer["layer3.2.relu"]
	graph.RenameValue(g, "layer3.2.relu", "layer3.2.add")
	graph.RemoveNodes(g, last)
	got, err := structure.BlockOutputs(m)
	if err != nil || len(got) != 9 || got[8] != "layer3.2.add" {
		t.Errorf("without the last ReLU: %v, %v", got, err)
	}
}

// TestQueriesKeepNodeOrder: on a graph whose nodes are stored in reverse,
// the queries answer as on the sorted graph, in graph order, and leave
// the caller's node order as it was.
func TestQueriesKeepNodeOrder(t *testing.T) {
	names := func(nodes []*onnx.NodeProto) []string {
		out := make([]string, len(nodes))
		for i, n := range nodes {
			out[i] = n.GetName()
		}
		return out
	}
	for _, q := range []struct {
		name  string
		query func(m *graph.Model) ([]string, error)
	}{
		{"LastBlockNorms", func(m *graph.Model) ([]string, error) {
			bns, err := structure.LastBlockNorms(m)
			return names(bns), err
		}},
		{"BlockOutputs", structure.BlockOutputs},
		{"Find", func(m *graph.Model) ([]string, error) {
			r, err := structure.Find(m.GetGraph())
			if err != nil {
				return nil, err
			}
			var adds []*onnx.NodeProto
			for _, b := range r.Blocks {
				adds = append(adds, b.Add)
			}
			return names(adds), nil
		}},
	} {
		sorted := build(t, "resnet20", "D")
		want, err := q.query(sorted)
		if err != nil {
			t.Fatal(err)
		}
		reversed := sorted.Clone()
		slices.Reverse(reversed.GetGraph().GetNode())
		order := names(reversed.GetGraph().GetNode())
		got, err := q.query(reversed)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s on reversed nodes = %v, %v; want %v", q.name, got, err, want)
		}
		if after := names(reversed.GetGraph().GetNode()); !slices.Equal(after, order) {
			t.Errorf("%s reordered the caller's nodes: first %v, want %v", q.name, after[:3], order[:3])
		}
	}
}
