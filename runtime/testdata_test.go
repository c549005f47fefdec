package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// conformanceDir holds ONNX's operator conformance suite (Debian's
// libonnx-testdata): <test>/model.onnx and <test>/test_data_set_0/*.pb.
const conformanceDir = "/usr/share/libonnx-testdata/data/node"

// skipOrFail skips the test for a missing prerequisite, or fails it when $CI
// is "true": CI must run every test, not silently skip.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

// requireORT loads ONNX Runtime, skipping (or failing on CI) when it is not
// installed.
func requireORT(t *testing.T) {
	t.Helper()
	if err := Init(""); err != nil {
		skipOrFail(t, "ONNX Runtime not available: %v", err)
	}
}

// requireConformance returns the folder of one conformance test, skipping
// (or failing on CI) when the suite is not installed.
func requireConformance(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(conformanceDir, name)
	if _, err := os.Stat(filepath.Join(dir, "model.onnx")); err != nil {
		skipOrFail(t, "ONNX conformance data not available (Debian package libonnx-testdata): %v", err)
	}
	return dir
}

// namedTensor is a tensor read from a conformance .pb file, with the name of
// the graph input or output it belongs to.
type namedTensor struct {
	name string
	Tensor
}

// readTensorPB reads a float TensorProto file of the conformance suite, with
// its values in raw_data (little-endian float32) or float_data.
func readTensorPB(path string) (namedTensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return namedTensor{}, err
	}
	var tp onnx.TensorProto
	if err := proto.Unmarshal(b, &tp); err != nil {
		return namedTensor{}, fmt.Errorf("%s: decoding TensorProto: %w", path, err)
	}
	if tp.DataType != int32(onnx.TensorProto_FLOAT) {
		return namedTensor{}, fmt.Errorf("%s: expected data type FLOAT, found %s", path, onnx.TensorProto_DataType(tp.DataType))
	}
	count := int64(1)
	for _, d := range tp.Dims {
		count *= d
	}
	data := tp.FloatData
	if raw := tp.RawData; len(raw) > 0 {
		data = make([]float32, len(raw)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	}
	if int64(len(data)) != count {
		return namedTensor{}, fmt.Errorf("%s: shape %v holds %d values, found %d", path, tp.Dims, count, len(data))
	}
	return namedTensor{name: tp.Name, Tensor: Tensor{Shape: tp.Dims, Data: data}}, nil
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
