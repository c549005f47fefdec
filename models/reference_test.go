package models

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestCountsMatchPyTorch compares every model's parameter and MAC counts
// with the same architecture in PyTorch (testdata/torch_reference.py:
// torchvision's definitions turned into ResNet-A, and a CIFAR ResNet with
// projection shortcuts), counted there by PyTorch itself.
func TestCountsMatchPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every model in PyTorch")
	}
	python := testenv.RequirePython(t, "torch", "torchvision")
	out, err := exec.Command(python, append([]string{"testdata/torch_reference.py"}, Names()...)...).Output()
	if err != nil {
		t.Fatalf("torch_reference.py: %v", err)
	}
	var want map[string]struct{ Params, MACs int64 }
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("torch_reference.py printed %q: %v", out, err)
	}
	for _, name := range Names() {
		m, err := Build(Config{Model: name})
		if err != nil {
			t.Fatal(err)
		}
		got, err := graph.Count(m)
		if err != nil {
			t.Fatal(err)
		}
		if got.Params != want[name].Params || got.MACs != want[name].MACs {
			t.Errorf("%s: %d params, %d MACs; PyTorch counts %d and %d", name, got.Params, got.MACs, want[name].Params, want[name].MACs)
		}
	}
}

// TestONNXChecker runs python3-onnx's full checker (structure, opset
// schemas and shape inference) on every model Build makes, and on options
// that change the layout.
func TestONNXChecker(t *testing.T) {
	python := testenv.RequirePython(t, "onnx")
	dir := t.TempDir()
	configs := []Config{{Model: "resnet50", Classes: 7, InChannels: 1, Height: 96, Width: 80, BaseWidth: 8}}
	for _, name := range Names() {
		configs = append(configs, Config{Model: name})
	}
	args := []string{"-c", `import sys, onnx
for p in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(p), full_check=True)
print("ok", len(sys.argv) - 1)`}
	for i, cfg := range configs {
		m, err := Build(cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, cfg.Model+"-"+string(rune('a'+i))+".onnx")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		args = append(args, path)
	}
	out, err := exec.Command(python, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
}
