package export_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
)

// erfNet is conv → Erf → pool → fc: a classifier with an operator the
// float16 conversion does not handle and the validator does not describe.
func erfNet(t *testing.T) *graph.Model {
	t.Helper()
	b := graph.NewBuilder("erf", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	y := b.Conv("conv", x, b.Param("conv.weight", []int64{4, 3, 1, 1}, make([]float32, 12)), "", graph.ConvAttrs{Kernel: [2]int64{1, 1}})
	y = b.Node("Erf", "erf", []string{y})
	y = b.Flatten("flatten", b.GlobalAveragePool("pool", y), 1)
	b.Output(b.Gemm("fc", y, b.Param("fc.weight", []int64{2, 4}, make([]float32, 8)), b.Param("fc.bias", []int64{2}, make([]float32, 2))), "logits")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// unpaddedNet is a small classifier whose 3×3 conv has no padding, so an
// input under 3×3 leaves it nothing to convolve. (A ResNet fits any size:
// every conv and pool is padded, D's shortcut pools included.)
func unpaddedNet(t *testing.T) *graph.Model {
	t.Helper()
	b := graph.NewBuilder("unpadded", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	y := b.Conv("conv", x, b.Param("conv.weight", []int64{4, 3, 3, 3}, make([]float32, 108)), "", graph.ConvAttrs{Kernel: [2]int64{3, 3}})
	y = b.Flatten("flatten", b.GlobalAveragePool("pool", y), 1)
	b.Output(b.Gemm("fc", y, b.Param("fc.weight", []int64{2, 4}, make([]float32, 8)), b.Param("fc.bias", []int64{2}, make([]float32, 2))), "logits")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExportErrors: each bad request fails with one clear line naming what
// was expected and found, and leaves nothing in the output folder.
func TestExportErrors(t *testing.T) {
	requireORT(t)
	r20 := resnet(t, models.Config{Model: "resnet20", Seed: 4}, "D")
	twoInputs := erfNet(t)
	twoInputs.Graph.Input = append(twoInputs.Graph.Input, graph.ValueInfo("mask", graph.Float, graph.Static(1)))
	for _, tc := range []struct {
		name string
		src  *graph.Model
		opts export.Options
		want string
	}{
		{"unknown feature", r20, export.Options{Head: export.Backbone, Features: []string{"c1", "c5"}},
			`feature "c5" does not exist: expected one of this model's stages c0 (stride 1, 16 channels), c1 (stride 2, 32 channels), c2 (stride 4, 64 channels)`},
		{"feature twice", r20, export.Options{Head: export.Backbone, Features: []string{"c1", "c1"}}, `feature "c1" is listed twice`},
		{"fp16 of an unconverted op", erfNet(t), export.Options{FP16: true},
			`fp16: no float16 conversion for Erf "erf" (1 node): the float16 export handles Add, AveragePool, BatchNormalization, Cast,`},
		{"opset below the range", r20, export.Options{Opset: 12}, "opset 12 is outside the 13..21 bot-onnx supports"},
		{"opset above the range", r20, export.Options{Opset: 22}, "opset 22 is outside the 13..21 bot-onnx supports"},
		{"opset with an op the validator does not know", erfNet(t), export.Options{Opset: 13},
			`opset 13: cannot check node Erf "erf" at that opset (bot-onnx's validator does not describe Erf there); keep the model's opset 17`},
		{"backbone of a non-ResNet", erfNet(t), export.Options{Head: export.Backbone}, "not a ResNet: expected residual blocks"},
		{"input too small", unpaddedNet(t), export.Options{InputSize: []int64{2, 2}}, "input shape batch×3×2×2 does not fit the network: node"},
		{"two inputs", twoInputs, export.Options{}, "expected one graph input (the image batch), found 2"},
		{"softmax on a backbone", r20, export.Options{Head: export.Backbone, Softmax: true}, "softmax needs the classifier head"},
		{"features on a classifier", r20, export.Options{Features: []string{"c1"}}, "features are the outputs of a backbone"},
		{"fp16-io alone", r20, export.Options{FP16IO: true}, "float16 inputs and outputs need fp16"},
		{"fixed and dynamic size", r20, export.Options{InputSize: []int64{32, 32}, DynamicSize: true}, "expected a fixed input size or a dynamic one, not both"},
		{"unknown head", r20, export.Options{Head: "detector"}, `unknown head "detector": expected classifier or none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := export.File(tc.src, filepath.Join(dir, "out.onnx"), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("the output folder holds %d files", len(entries))
			}
		})
	}
}

// TestFailedVerificationWritesNothing: a float16 export of a classifier
// whose weights are all below float16's smallest subnormal (2^-24) flushes
// them to 0 and fails the parity check, which says by how much; the
// temporary file is removed and an existing output file stays as it was.
func TestFailedVerificationWritesNothing(t *testing.T) {
	requireORT(t)
	src := resnet(t, models.Config{Model: "resnet20", Seed: 6}, "A")
	w, dims, _ := src.InitializerFloats("fc.weight")
	for i := range w {
		w[i] *= 1e-8
	}
	src.SetInitializer(graph.FloatTensor("fc.weight", dims, w))
	src.SetInitializer(graph.FloatTensor("fc.bias", []int64{10}, make([]float32, 10)))
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	old := []byte("the previous export")
	if err := os.WriteFile(out, old, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := export.File(src, out, export.Options{FP16: true})
	if err == nil || !strings.Contains(err.Error(), `out.onnx not written: parity check failed: output "logits" differs from the source by max |diff| `) ||
		!strings.Contains(err.Error(), ", above the bound ") {
		t.Fatalf("error %v", err)
	}
	t.Log(err)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, old) {
		t.Error("the existing output was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the folder holds %d files, want only the previous export", len(entries))
	}
}
