package export_test

import (
	"path/filepath"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// TestExportPerPixelClassifier exports a model whose logits are per pixel,
// [N, K, H, W] (a backbone with transfer's FCN head, as `bot-onnx transfer
// --task segment` fine-tunes it), through the classifier path: as it is,
// with BatchNorm folded, and with softmax over the class axis; each is
// verified by File against the source in ONNX Runtime, passes python3-onnx's
// checker, declares logits [batch, K, H, W], and keeps the source's
// metadata but the backbone's feature keys.
func TestExportPerPixelClassifier(t *testing.T) {
	requireORT(t)
	src := resnet(t, models.Config{Model: "resnet20", InChannels: 1, Height: 32, Width: 32, Seed: 4}, "D")
	backbone, _, err := export.Build(src, export.Options{Head: export.Backbone})
	if err != nil {
		t.Fatal(err)
	}
	fcn, err := transfer.FCNHead(backbone, "c2", 11, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		opts    export.Options
		outputs []string
	}{
		{"plain", export.Options{}, []string{"batch×11×32×32"}},
		{"folded", export.Options{FoldBN: true}, []string{"batch×11×32×32"}},
		{"softmax", export.Options{Softmax: true}, []string{"batch×11×32×32", "batch×11×32×32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".onnx")
			res, err := export.File(fcn, out, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Outputs) != len(tc.outputs) || res.Outputs[0].Name != "logits" {
				t.Fatalf("outputs %+v", res.Outputs)
			}
			for i, o := range res.Outputs {
				if o.Shape != tc.outputs[i] {
					t.Errorf("output %s: shape %s, want %s", o.Name, o.Shape, tc.outputs[i])
				}
			}
			for _, p := range res.Verified.Outputs {
				t.Logf("%s: max |diff| %.2g (bound %.2g)", p.Output, p.MaxAbsDiff, p.Bound)
			}
			checkONNX(t, out)
			m, err := graph.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{export.MetaFeatures, export.MetaFeatureStrides, export.MetaFeatureChannels} {
				if v, ok := m.Metadata(key); ok {
					t.Errorf("the backbone's %s = %q is kept on the classifier", key, v)
				}
			}
			if v, ok := m.Metadata("bot-onnx.variant"); !ok || v != "D" {
				t.Errorf("bot-onnx.variant = %q, want the source's D", v)
			}
		})
	}
}
