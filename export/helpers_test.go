package export_test

import (
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// requireORT skips (or fails under CI) when no ONNX Runtime library is found.
func requireORT(t *testing.T) {
	t.Helper()
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
}

// resnet builds a zoo model as the given variant, with BatchNorm's γ, β,
// running mean and variance drawn at random, as training leaves them, so
// that folding is not the near no-op it is on freshly built weights.
func resnet(t testing.TB, cfg models.Config, variant string) *graph.Model {
	t.Helper()
	m, err := models.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	passes, err := tweaks.ForVariant(variant)
	if err != nil {
		t.Fatal(err)
	}
	if m, _, err = tweaks.Apply(m, passes, tweaks.Options{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 9))
	ranges := [][2]float64{{0.5, 1.5}, {-0.2, 0.2}, {-0.2, 0.2}, {0.5, 2}} // γ, β, mean, var
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() != "BatchNormalization" {
			continue
		}
		for i, r := range ranges {
			name := n.GetInput()[i+1]
			dims := m.Initializer(name).GetDims()
			v := make([]float32, graph.NumElements(dims))
			for j := range v {
				v[j] = float32(r[0] + (r[1]-r[0])*rng.Float64())
			}
			m.SetInitializer(graph.FloatTensor(name, dims, v))
		}
	}
	return m
}

// checkONNX runs python3-onnx's full checker (shape inference included) on
// the files, in one interpreter.
func checkONNX(t *testing.T, paths ...string) {
	t.Helper()
	python := testenv.RequirePython(t, "onnx")
	args := append([]string{"-c", "import sys, onnx\nfor p in sys.argv[1:]: onnx.checker.check_model(onnx.load(p), full_check=True)"}, paths...)
	if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
}

// runFile runs a model file in ONNX Runtime (CPU) on a constant input of
// the given shape and returns its outputs and their names.
func runFile(t *testing.T, path string, shape ...int64) ([]ort.Tensor, []string) {
	t.Helper()
	s, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := ort.Tensor{Shape: shape, Data: make([]float32, graph.NumElements(shape))}
	for i := range x.Data {
		x.Data[i] = float32(i%17)/17 - 0.5
	}
	y, err := s.Run(x)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range s.Outputs() {
		names = append(names, o.Name)
	}
	return y, names
}

// countOps counts a model's nodes by operator.
func countOps(m *graph.Model) map[string]int {
	ops := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	return ops
}
