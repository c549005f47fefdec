package export_test

import (
	"fmt"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
)

// TestStages finds the stage ends of both layouts, tweaked or not, at any
// declared input size, and of a model whose every node and value has been
// renamed: the stages come from the structure, not from the names.
func TestStages(t *testing.T) {
	imagenet := func(base int64, bottleneck bool) string {
		e := int64(1)
		if bottleneck {
			e = 4
		}
		return fmt.Sprintf("c2/4/%d c3/8/%d c4/16/%d c5/32/%d", base*e, 2*base*e, 4*base*e, 8*base*e)
	}
	for _, tc := range []struct {
		cfg     models.Config
		variant string
		rename  bool
		want    string
	}{
		{models.Config{Model: "resnet20"}, "A", false, "c0/1/16 c1/2/32 c2/4/64"},
		{models.Config{Model: "resnet20"}, "D", true, "c0/1/16 c1/2/32 c2/4/64"},
		{models.Config{Model: "resnet56", Height: 28, Width: 28}, "A", false, "c0/1/16 c1/2/32 c2/4/64"},
		{models.Config{Model: "resnet18", Height: 64, Width: 64}, "A", false, imagenet(64, false)},
		{models.Config{Model: "resnet50", Height: 96, Width: 72, BaseWidth: 8}, "D", true, imagenet(8, true)},
		{models.Config{Model: "resnet50", Height: 100, Width: 100, BaseWidth: 8}, "B", false, imagenet(8, true)},
	} {
		m := resnet(t, tc.cfg, tc.variant)
		if tc.rename {
			obfuscate(m)
		}
		stages, err := export.Stages(m)
		if err != nil {
			t.Fatalf("%s-%s: %v", tc.cfg.Model, tc.variant, err)
		}
		got := ""
		for i, s := range stages {
			if i > 0 {
				got += " "
			}
			got += fmt.Sprintf("%s/%d/%d", s.Name, s.Stride, s.Channels)
		}
		if got != tc.want {
			t.Errorf("%s-%s (renamed %v): stages %s, want %s", tc.cfg.Model, tc.variant, tc.rename, got, tc.want)
		}
	}
}

// obfuscate renames every node and every value but the graph input to
// meaningless names.
func obfuscate(m *graph.Model) {
	g := m.GetGraph()
	for i, n := range g.GetNode() {
		n.Name = fmt.Sprintf("n%d", i)
		for j, o := range n.GetOutput() {
			graph.RenameValue(g, o, fmt.Sprintf("v%d_%d", i, j))
		}
	}
	for i, t := range g.GetInitializer() {
		graph.RenameValue(g, t.GetName(), fmt.Sprintf("w%d", i))
	}
}
