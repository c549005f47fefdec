package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// conformanceDir holds ONNX's operator conformance suite (Debian's
// libonnx-testdata): <test>/model.onnx and <test>/test_data_set_0/*.pb.
const conformanceDir = "/usr/share/libonnx-testdata/data/node"

// requireORT loads ONNX Runtime, skipping (or failing on CI) when it is not
// installed.
func requireORT(t *testing.T) {
	t.Helper()
	if err := Init(""); err != nil {
		testenv.Missing(t, "ONNX Runtime not available: %v", err)
	}
}

// requireConformance returns the folder of one conformance test, skipping
// (or failing on CI) when the suite is not installed.
func requireConformance(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(conformanceDir, name)
	if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err != nil {
		testenv.Missing(t, "ONNX conformance data not available (Debian package libonnx-testdata): %v", err)
	}
	return dir
}

// namedTensor is a tensor read from a conformance .pb file, with the name of
// the graph input or output it belongs to.
type namedTensor struct {
	name string
	Tensor
}

// readTensorPB reads a float TensorProto file of the conformance suite.
func readTensorPB(path string) (namedTensor, error) {
	tp, err := graph.LoadTensor(path)
	if err != nil {
		return namedTensor{}, err
	}
	data, err := graph.Floats(tp)
	if err != nil {
		return namedTensor{}, fmt.Errorf("%s: %w", path, err)
	}
	return namedTensor{name: tp.GetName(), Tensor: Tensor{Shape: tp.GetDims(), Data: data}}, nil
}

// readTensorPBs reads <dir>/<prefix>_0.pb, <prefix>_1.pb, ... until the next
// file is missing.
func readTensorPBs(dir, prefix string) ([]namedTensor, error) {
	var out []namedTensor
	for i := 0; ; i++ {
		path := filepath.Join(dir, fmt.Sprintf("%s_%d.pb", prefix, i))
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		t, err := readTensorPB(path)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
}
