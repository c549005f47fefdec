package export_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/ort"
)

// TestTorchvisionBackbone exports a model bot-onnx did not make —
// torchvision's resnet18 as PyTorch's exporter writes it, with BatchNorm
// kept (testdata/torchvision_features.py, about 5 s) — as a folded
// backbone, and checks each feature map against PyTorch's own output of
// layer1 … layer4 for the same input: the stages found by structure are
// the ones torchvision defines.
func TestTorchvisionBackbone(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: exports torchvision's resnet18 with PyTorch")
	}
	python := testenv.RequirePython(t, "torch", "torchvision")
	requireORT(t)
	dir := t.TempDir()
	if out, err := exec.Command(python, "testdata/torchvision_features.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("torchvision_features.py: %v\n%s", err, out)
	}
	src, err := graph.Load(filepath.Join(dir, "resnet18.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "backbone.onnx")
	res, err := export.File(src, path, export.Options{Head: export.Backbone, FoldBN: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Fold.Folded != 20 || len(res.Fold.Kept) != 0 {
		t.Errorf("fold %+v: want all 20 BatchNorms of resnet18 folded", res.Fold)
	}
	s, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	y, err := s.Run(ort.Tensor{Shape: []int64{1, 3, 224, 224}, Data: readFloats(t, filepath.Join(dir, "input.f32"))})
	if err != nil {
		t.Fatal(err)
	}
	shapes := [][]int64{{1, 64, 56, 56}, {1, 128, 28, 28}, {1, 256, 14, 14}, {1, 512, 7, 7}}
	for k, f := range res.Features {
		want := readFloats(t, filepath.Join(dir, fmt.Sprintf("layer%d.f32", k+1)))
		if f.Name != fmt.Sprintf("c%d", k+2) || !slices.Equal(y[k].Shape, shapes[k]) || len(want) != len(y[k].Data) {
			t.Fatalf("feature %d: %s of shape %v, want c%d of shape %v", k, f.Name, y[k].Shape, k+2, shapes[k])
		}
		var diff, top float64
		for i, w := range want {
			diff = max(diff, math.Abs(float64(y[k].Data[i]-w)))
			top = max(top, math.Abs(float64(w)))
		}
		t.Logf("%s (torchvision layer%d): max |diff| %.3g, max |PyTorch| %.3g", f.Name, k+1, diff, top)
		if !(diff <= 1e-4*top) {
			t.Errorf("%s differs from PyTorch's layer%d by %.3g, above 1e-4 × %.3g", f.Name, k+1, diff, top)
		}
	}
}

// readFloats reads raw little-endian float32 values.
func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}
