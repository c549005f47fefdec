package export_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
)

// TestExportOptions exports ResNet-20-D with each option and combinations
// of them, and checks the declared inputs and outputs, the graph, the
// metadata, the verification (done by File), python3-onnx's checker (for
// opsets it knows, up to 17) and a run in ONNX Runtime at another batch.
func TestExportOptions(t *testing.T) {
	requireORT(t)
	src := resnet(t, models.Config{Model: "resnet20", Seed: 3}, "D")
	src.SetMetadata("bot-onnx.classes", "a,b,c,d,e,f,g,h,i,j")
	dir := t.TempDir()
	type value struct{ name, typ, shape string }
	logits := []value{{"logits", "float", "batch×10"}}
	features := []value{{"c0", "float", "batch×16×32×32"}, {"c1", "float", "batch×32×16×16"}, {"c2", "float", "batch×64×8×8"}}
	var checked []string
	for _, tc := range []struct {
		name    string
		opts    export.Options
		input   value
		outputs []value
		ops     map[string]int // expected node counts by operator
		record  string         // expected MetaExport
	}{
		{name: "classifier", input: value{"input", "float", "batch×3×32×32"}, outputs: logits,
			ops:    map[string]int{"BatchNormalization": 21, "Softmax": 0, "Cast": 0},
			record: `{"head":"classifier","fold_bn":false,"fp16":false,"opset":17,"batch":"dynamic","input_size":"32x32"}`},
		{name: "softmax", opts: export.Options{Softmax: true}, input: value{"input", "float", "batch×3×32×32"},
			outputs: append(slices.Clip(logits), value{"probabilities", "float", "batch×10"}), ops: map[string]int{"Softmax": 1}},
		{name: "folded", opts: export.Options{FoldBN: true}, input: value{"input", "float", "batch×3×32×32"}, outputs: logits,
			ops:    map[string]int{"BatchNormalization": 0, "Conv": 21},
			record: `{"head":"classifier","fold_bn":true,"folded":21,"fp16":false,"opset":17,"batch":"dynamic","input_size":"32x32"}`},
		{name: "fp16", opts: export.Options{FP16: true}, input: value{"input", "float", "batch×3×32×32"}, outputs: logits,
			ops: map[string]int{"Cast": 2}},
		{name: "fp16-io", opts: export.Options{FP16: true, FP16IO: true}, input: value{"input", "float16", "batch×3×32×32"},
			outputs: []value{{"logits", "float16", "batch×10"}}, ops: map[string]int{"Cast": 0}},
		{name: "backbone", opts: export.Options{Head: export.Backbone}, input: value{"input", "float", "batch×3×32×32"}, outputs: features,
			ops: map[string]int{"GlobalAveragePool": 0, "Gemm": 0, "Flatten": 0}},
		{name: "backbone-c1c2-folded-fp16", opts: export.Options{Head: export.Backbone, Features: []string{"c2", "c1"}, FoldBN: true, FP16: true},
			input: value{"input", "float", "batch×3×32×32"}, outputs: []value{{"c1", "float", "batch×32×16×16"}, {"c2", "float", "batch×64×8×8"}},
			ops:    map[string]int{"BatchNormalization": 0, "Cast": 3},
			record: `{"head":"none","features":["c1","c2"],"fold_bn":true,"folded":21,"fp16":true,"opset":17,"batch":"dynamic","input_size":"32x32"}`},
		{name: "fixed-batch-size", opts: export.Options{Head: export.Backbone, Batch: 3, InputSize: []int64{64, 48}},
			input:   value{"input", "float", "3×3×64×48"},
			outputs: []value{{"c0", "float", "3×16×64×48"}, {"c1", "float", "3×32×32×24"}, {"c2", "float", "3×64×16×12"}}},
		{name: "dynamic-size", opts: export.Options{Head: export.Backbone, DynamicSize: true}, input: value{"input", "float", "batch×3×height×width"},
			outputs: []value{{"c0", "float", "batch×16×?×?"}, {"c1", "float", "batch×32×?×?"}, {"c2", "float", "batch×64×?×?"}}},
		{name: "dynamic-size-classifier", opts: export.Options{DynamicSize: true, FP16: true, FP16IO: true},
			input: value{"input", "float16", "batch×3×height×width"}, outputs: []value{{"logits", "float16", "batch×10"}}},
		{name: "opset13", opts: export.Options{Opset: 13, Softmax: true}, input: value{"input", "float", "batch×3×32×32"},
			outputs: append(slices.Clip(logits), value{"probabilities", "float", "batch×10"})},
		{name: "opset21", opts: export.Options{Opset: 21, FoldBN: true}, input: value{"input", "float", "batch×3×32×32"}, outputs: logits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".onnx")
			tc.opts.ProducerVersion = "test-1"
			res, err := export.File(src, path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []value
			for _, v := range slices.Concat(res.Inputs, res.Outputs) {
				got = append(got, value{v.Name, v.Type, v.Shape})
			}
			if want := append([]value{tc.input}, tc.outputs...); !slices.Equal(got, want) {
				t.Errorf("values %v, want %v", got, want)
			}
			for _, p := range res.Verified.Outputs {
				t.Logf("%s: max |diff| %.3g (bound %.3g)", p.Output, p.MaxAbsDiff, p.Bound)
			}
			m, err := graph.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			ops := countOps(m)
			for op, n := range tc.ops {
				if ops[op] != n {
					t.Errorf("%d %s nodes, want %d (ops %v)", ops[op], op, n, ops)
				}
			}
			wantOpset := int64(graph.DefaultOpset)
			if tc.opts.Opset != 0 {
				wantOpset = tc.opts.Opset
			}
			if m.Opset() != wantOpset || m.GetProducerName() != "bot-onnx" || m.GetProducerVersion() != "test-1" {
				t.Errorf("opset %d, producer %q %q", m.Opset(), m.GetProducerName(), m.GetProducerVersion())
			}
			for key, want := range map[string]string{models.MetaVariant: "D", "bot-onnx.classes": "a,b,c,d,e,f,g,h,i,j"} {
				if got, _ := m.Metadata(key); got != want {
					t.Errorf("metadata %s = %q, want the source's %q", key, got, want)
				}
			}
			record, _ := m.Metadata(export.MetaExport)
			if err := json.Unmarshal([]byte(record), &export.Record{}); err != nil || (tc.record != "" && record != tc.record) {
				t.Errorf("export record %s (%v), want %s", record, err, tc.record)
			}
			if tc.opts.Head == export.Backbone {
				names := make([]string, len(res.Features))
				for i, f := range res.Features {
					names[i] = f.Name
				}
				if v, _ := m.Metadata(export.MetaFeatures); v != strings.Join(names, ",") {
					t.Errorf("features metadata %q, want %q", v, strings.Join(names, ","))
				}
			}
			if m.Opset() <= 17 {
				checked = append(checked, path)
			}
			// Another batch, and another size where it is dynamic, than Verify's.
			batch, h, w := int64(5), res.Verified.InputShape[2], res.Verified.InputShape[3]
			if tc.opts.Batch > 0 {
				batch = tc.opts.Batch
			}
			if tc.opts.DynamicSize {
				h, w = 40, 56
			}
			if !tc.opts.FP16IO {
				if y, _ := runFile(t, path, batch, 3, h, w); y[0].Shape[0] != batch {
					t.Errorf("run at %d×3×%d×%d: output shape %v", batch, h, w, y[0].Shape)
				}
			}
		})
	}
	checkONNX(t, checked...)
}
