package export_test

import (
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// dynamicSizes are sizes a detection or segmentation user feeds an export
// with --input-size dynamic: multiples of 32, even sizes whose deeper
// stages are odd (240: 15 at stride 16), odd ones, and non-square ones.
var dynamicSizes = [][2]int64{{224, 224}, {240, 240}, {230, 230}, {197, 311}, {600, 1000}}

// TestDynamicSizeD exports ResNet-50-D with a dynamic input size — ours,
// the same written by an older tweak whose shortcut pools had no padding
// (the 224-only form), and torchvision's resnet50 tweaked to D — and runs
// each in ONNX Runtime at dynamicSizes: the logits have the classifier's
// shape and match the engine (train.Lower) run on the model fixed at that
// size. Before, the shortcut of a block whose input size is odd was one
// row short of the main path and the block's Add failed.
func TestDynamicSizeD(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: ResNet-50-D at five sizes up to 600×1000, in ONNX Runtime and the engine")
	}
	requireORT(t)
	ours := resnet(t, models.Config{Model: "resnet50", Seed: 3}, "D")
	unpadded := ours.Clone()
	for _, n := range unpadded.GetGraph().GetNode() {
		if n.GetOpType() == "AveragePool" {
			graph.SetAttr(n, graph.AttrInts("pads", 0, 0, 0, 0))
		}
	}
	cases := []struct {
		name string
		src  *graph.Model
	}{{"ours", ours}, {"older tweak", unpadded}, {"torchvision", torchvisionD(t)}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dynamic.onnx")
			if _, err := export.File(tc.src, path, export.Options{DynamicSize: true, Seed: 1}); err != nil {
				t.Fatal(err)
			}
			exported, err := graph.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, size := range dynamicSizes {
				shape := []int64{1, 3, size[0], size[1]}
				x := ort.RandomInput(shape, 5)
				y, err := s.Run(x)
				if err != nil {
					t.Fatalf("%dx%d: ONNX Runtime: %v", size[0], size[1], err)
				}
				if !slices.Equal(y[0].Shape, []int64{1, 1000}) {
					t.Fatalf("%dx%d: logits of shape %v, want [1 1000]", size[0], size[1], y[0].Shape)
				}
				want := engineLogits(t, exported, shape, x.Data)
				var diff, top float64
				for i, w := range want {
					diff = max(diff, math.Abs(float64(y[0].Data[i]-w)))
					top = max(top, math.Abs(float64(w)))
				}
				t.Logf("%dx%d: max |ONNX Runtime − engine| %.3g, max |engine| %.3g", size[0], size[1], diff, top)
				if !(diff <= 1e-4*max(1, top)) {
					t.Errorf("%dx%d: ONNX Runtime differs from the engine by %.3g (max |engine| %.3g)", size[0], size[1], diff, top)
				}
			}
		})
	}
}

// engineLogits runs m with its input fixed to shape in the engine, on x.
func engineLogits(t *testing.T, m *graph.Model, shape []int64, x []float32) []float32 {
	t.Helper()
	fixed := m.Clone()
	in := fixed.GetGraph().GetInput()[0]
	dims := make(graph.Shape, len(shape))
	for i, d := range shape {
		dims[i] = graph.Dim{Size: d}
	}
	fixed.GetGraph().Input[0] = graph.ValueInfo(in.GetName(), graph.Float, dims)
	w, err := train.LoadWeights[float32](fixed)
	if err != nil {
		t.Fatal(err)
	}
	net, err := train.Lower(fixed, w, int(shape[0]), train.LowerOptions{})
	if err != nil {
		t.Fatalf("engine at %v: %v", shape, err)
	}
	defer net.Close()
	copy(net.Input(), x)
	if err := net.Run(); err != nil {
		t.Fatalf("engine at %v: %v", shape, err)
	}
	return slices.Clone(net.Logits())
}

// torchvisionD is torchvision's resnet50 as PyTorch exports it (BatchNorm
// kept, the spatial size fixed at 224), tweaked to ResNet-D.
func torchvisionD(t *testing.T) *graph.Model {
	t.Helper()
	python := testenv.RequirePython(t, "torch", "torchvision")
	dir := t.TempDir()
	cmd := exec.Command(python, "../tweaks/testdata/export_torchvision.py", dir, "--models", "resnet50", "--forms", "bn")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export_torchvision.py: %v\n%s", err, out)
	}
	m, err := graph.Load(filepath.Join(dir, "resnet50-bn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	passes, err := tweaks.ForVariant("D")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := tweaks.Apply(m, passes, tweaks.Options{Seed: 1})
	if err != nil {
		t.Fatal(fmt.Errorf("tweak torchvision's resnet50 to D: %w", err))
	}
	return out
}
