package graph

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

const conformanceDir = "/usr/share/libonnx-testdata/data/node"

// TestInferShapesMatchesConformanceModels checks shape inference against
// the output shapes declared in ONNX's own operator conformance models
// (Debian libonnx-testdata), covering strides, pads, auto_pad, dilations,
// ceil_mode, Gemm transposition and broadcasting, Flatten and Concat axes.
func TestInferShapesMatchesConformanceModels(t *testing.T) {
	testenv.RequireFile(t, conformanceDir, "Debian's libonnx-testdata")
	var paths []string
	for _, pattern := range []string{"test_conv_*", "test_averagepool_2d_*", "test_maxpool_2d_*", "test_globalaveragepool*",
		"test_gemm_*", "test_relu", "test_add*", "test_flatten_*", "test_concat_*", "test_batchnorm_example", "test_batchnorm_epsilon"} {
		found, err := filepath.Glob(filepath.Join(conformanceDir, pattern, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, found...)
	}
	if len(paths) < 40 {
		t.Fatalf("found only %d conformance models", len(paths))
	}
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			m, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(name, "uint8") || strings.Contains(name, "int8") {
				t.Skip("integer element type")
			}
			shapes, err := InferShapes(m)
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range m.GetGraph().GetOutput() {
				want, _, ok := ShapeOf(out)
				if !ok {
					continue
				}
				got, inferred := shapes[out.GetName()]
				if !inferred || got.String() != want.String() {
					t.Errorf("%s: inferred [%v], model declares [%v]", out.GetName(), got, want)
				}
			}
		})
	}
}
