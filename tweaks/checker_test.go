package tweaks_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// TestTweakedModelsPassCheckerAndRun: every variant of the zoo's layouts
// passes python3-onnx's full checker and runs in ONNX Runtime with the
// expected output shape.
func TestTweakedModelsPassCheckerAndRun(t *testing.T) {
	python := testenv.RequirePython(t, "onnx")
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	dir := t.TempDir()
	args := []string{"-c", "import sys, onnx\nfor p in sys.argv[1:]: onnx.checker.check_model(onnx.load(p), full_check=True)"}
	for _, cfg := range []models.Config{
		{Model: "resnet18", Height: 64, Width: 64},
		{Model: "resnet50", Height: 96, Width: 72, Classes: 5},
		{Model: "resnet50", Height: 100, Width: 100, BaseWidth: 16},
		{Model: "resnet20"},
	} {
		for _, variant := range []string{"B", "C", "D"} {
			a, err := models.Build(cfg)
			if err != nil {
				t.Fatal(err)
			}
			passes, _ := tweaks.ForVariant(variant)
			m, _, err := tweaks.Apply(a, passes, tweaks.Options{Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, fmt.Sprintf("%s-%dx%d-%s.onnx", cfg.Model, cfg.Height, cfg.Width, variant))
			if err := m.Save(path); err != nil {
				t.Fatal(err)
			}
			args = append(args, path)

			s, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU})
			if err != nil {
				t.Fatal(err)
			}
			in := s.Inputs()[0].Shape
			x := ort.Tensor{Shape: []int64{2, in[1], in[2], in[3]}, Data: make([]float32, 2*in[1]*in[2]*in[3])}
			for i := range x.Data {
				x.Data[i] = float32(i%13) / 13
			}
			y, err := s.Run(x)
			s.Close()
			classes := int64(cfg.Classes)
			if classes == 0 {
				classes = 1000
				if cfg.Model == "resnet20" {
					classes = 10
				}
			}
			if err != nil || len(y[0].Shape) != 2 || y[0].Shape[0] != 2 || y[0].Shape[1] != classes {
				t.Errorf("%s: run: %v, output shape %v, want [2 %d]", path, err, y, classes)
			}
		}
	}
	if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
}
