package export_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
)

// TestResNet50D is the must-show: for ResNet-50-D at 224×224, the
// classifier, the backbone with four feature maps of the right shapes, the
// BatchNorm-folded and the float16 exports each pass python3-onnx's
// checker, run in ONNX Runtime (here at batch 1), and meet the parity
// bounds: max |diff| ≤ 1e-4 for float32 (an absolute figure here: the
// outputs are of order 1), ≤ 1e-2 × max |source| for float16.
func TestResNet50D(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: four ResNet-50 exports (about 30 s)")
	}
	requireORT(t)
	src := resnet(t, models.Config{Model: "resnet50", Seed: 5}, "D")
	dir := t.TempDir()
	logits := [][]int64{{1, 1000}}
	for _, tc := range []struct {
		name   string
		opts   export.Options
		shapes [][]int64 // of the outputs at batch 1
		names  []string
		check  func(t *testing.T, m *graph.Model, res *export.Result)
	}{
		{name: "classifier", shapes: logits, names: []string{"logits"}},
		{name: "backbone", opts: export.Options{Head: export.Backbone},
			shapes: [][]int64{{1, 256, 56, 56}, {1, 512, 28, 28}, {1, 1024, 14, 14}, {1, 2048, 7, 7}},
			names:  []string{"c2", "c3", "c4", "c5"},
			check: func(t *testing.T, m *graph.Model, res *export.Result) {
				ops := countOps(m)
				if ops["GlobalAveragePool"] != 0 || ops["Gemm"] != 0 || ops["AveragePool"] != 3 {
					t.Errorf("ops %v: want no pool or fc head and D's 3 shortcut pools", ops)
				}
				if v, _ := m.Metadata(export.MetaFeatureStrides); v != "4,8,16,32" {
					t.Errorf("feature strides %q", v)
				}
			}},
		{name: "folded", opts: export.Options{FoldBN: true}, shapes: logits, names: []string{"logits"},
			check: func(t *testing.T, m *graph.Model, res *export.Result) {
				// 3 in the deep stem, 3 per each of the 16 blocks, 4 projections.
				if n := countOps(m)["BatchNormalization"]; n != 0 || res.Fold.Folded != 55 || len(res.Fold.Kept) != 0 {
					t.Errorf("%d BatchNormalization left, %d folded, kept %v; want 0, 55, none", n, res.Fold.Folded, res.Fold.Kept)
				}
			}},
		{name: "fp16", opts: export.Options{FP16: true}, shapes: logits, names: []string{"logits"},
			check: func(t *testing.T, m *graph.Model, res *export.Result) {
				for _, init := range m.GetGraph().GetInitializer() {
					if init.GetDataType() == graph.Float {
						t.Fatalf("initializer %s is still float32", init.GetName())
					}
				}
				w, _ := graph.Float16s(m.Initializer("fc.weight"))
				want, _, _ := src.InitializerFloats("fc.weight")
				if graph.ToFloat16(want[7]) != graph.ToFloat16(w[7]) || countOps(m)["Cast"] != 2 {
					t.Errorf("fc.weight[7] %g, source %g; %d Casts, want 2", w[7], want[7], countOps(m)["Cast"])
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".onnx")
			tc.opts.Seed = 11
			res, err := export.File(src, path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range res.Verified.Outputs {
				bound := 1e-4
				if tc.opts.FP16 {
					bound = 1e-2 * p.MaxAbsRef
				}
				t.Logf("%s: %s max |diff| %.3g (max |source| %.3g, bound %.3g)", tc.name, p.Output, p.MaxAbsDiff, p.MaxAbsRef, bound)
				if !(p.MaxAbsDiff <= bound) {
					t.Errorf("%s: max |diff| %g above %g", p.Output, p.MaxAbsDiff, bound)
				}
			}
			if len(res.Verified.Outputs) != len(tc.names) || res.Verified.InputShape[0] != 2 {
				t.Errorf("verified %+v: want %d outputs at a batch of 2", res.Verified, len(tc.names))
			}
			y, names := runFile(t, path, 1, 3, 224, 224)
			if !slices.Equal(names, tc.names) {
				t.Errorf("outputs %v, want %v", names, tc.names)
			}
			for i, want := range tc.shapes {
				if !slices.Equal(y[i].Shape, want) {
					t.Errorf("output %s: shape %v, want %v", names[i], y[i].Shape, want)
				}
			}
			for i, o := range res.Outputs {
				if want := "batch×" + fmt.Sprint(tc.shapes[i][1]); len(tc.shapes[i]) == 2 && o.Shape != want {
					t.Errorf("declared %s %s, want %s", o.Name, o.Shape, want)
				}
			}
			m, err := graph.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := m.Metadata(models.MetaVariant); v != "D" {
				t.Errorf("variant metadata %q, want the source's D", v)
			}
			if tc.check != nil {
				tc.check(t, m, res)
			}
		})
	}
	checkONNX(t, filepath.Join(dir, "classifier.onnx"), filepath.Join(dir, "backbone.onnx"), filepath.Join(dir, "folded.onnx"), filepath.Join(dir, "fp16.onnx"))
}
