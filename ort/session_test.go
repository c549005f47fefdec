package ort

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

func TestParseProvider(t *testing.T) {
	tests := []struct {
		in      string
		want    Provider
		wantErr bool
	}{
		{"auto", ProviderAuto, false},
		{"cpu", ProviderCPU, false},
		{"CUDA", ProviderCUDA, false},
		{" tensorrt ", ProviderTensorRT, false},
		{"", "", true},
		{"rocm", "", true},
		{"trt", "", true},
	}
	for _, tc := range tests {
		got, err := ParseProvider(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseProvider(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "auto, cpu, cuda, tensorrt") {
			t.Errorf("ParseProvider(%q) error %q does not list the accepted names", tc.in, err)
		}
	}
}

// TestConformance runs models of ONNX's operator conformance suite through
// ONNX Runtime and compares with the suite's expected outputs.
func TestConformance(t *testing.T) {
	requireORT(t)
	tests := []string{
		"test_relu",
		"test_add",
		"test_add_bcast",
		"test_conv_with_strides_padding",
		"test_conv_with_strides_no_padding",
		"test_gemm_default_no_bias",
		"test_batchnorm_example",
		"test_maxpool_2d_pads",
		"test_averagepool_2d_pads",
		"test_globalaveragepool",
		"test_flatten_axis1",
		"test_softmax_axis_1",
	}
	const tol = 1e-5
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			dir := requireConformance(t, name)
			data := filepath.Join(dir, "test_data_set_0")
			ins, err := readTensorPBs(data, "input")
			if err != nil {
				t.Fatal(err)
			}
			wants, err := readTensorPBs(data, "output")
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSession(filepath.Join(dir, "model.onnx"), Options{Provider: ProviderCPU, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Provider(); got != ProviderCPU {
				t.Errorf("Provider = %s, want cpu", got)
			}
			checkNames(t, "input", s.Inputs(), ins)
			checkNames(t, "output", s.Outputs(), wants)
			tensors := make([]Tensor, len(ins))
			for i, in := range ins {
				tensors[i] = in.Tensor
			}
			gots, err := s.Run(tensors...)
			if err != nil {
				t.Fatal(err)
			}
			if len(gots) != len(wants) {
				t.Fatalf("Run returned %d outputs, want %d", len(gots), len(wants))
			}
			for i, want := range wants {
				got := gots[i]
				if !slices.Equal(got.Shape, want.Shape) {
					t.Errorf("output %s: shape %v, want %v", want.name, got.Shape, want.Shape)
					continue
				}
				worst, at := 0.0, -1
				for j := range want.Data {
					if d := math.Abs(float64(got.Data[j]) - float64(want.Data[j])); d > worst || math.IsNaN(d) {
						worst, at = d, j
					}
				}
				if worst > tol || math.IsNaN(worst) {
					t.Errorf("output %s: value %d is %g, want %g (|diff| %g > %g)", want.name, at, got.Data[at], want.Data[at], worst, tol)
				}
			}
		})
	}
}

// checkNames checks that a session's inputs or outputs are, in order, the
// ones the conformance data names, with the same static shapes and float
// elements.
func checkNames(t *testing.T, what string, infos []ValueInfo, data []namedTensor) {
	t.Helper()
	if len(infos) != len(data) {
		t.Fatalf("session has %d %ss, test data %d", len(infos), what, len(data))
	}
	for i, info := range infos {
		if info.Name != data[i].name || info.ElementType != "float" || !slices.Equal(info.Shape, data[i].Shape) {
			t.Errorf("%s %d = %+v, want name %q, element type float, shape %v", what, i, info, data[i].name, data[i].Shape)
		}
	}
}

// tensorValue describes a graph input or output: name, ONNX element type and
// shape, with "" for a symbolic dimension.
func tensorValue(name string, elem onnx.TensorProto_DataType, dims ...any) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnx.TensorShapeProto_Dimension{}
		switch d := d.(type) {
		case int:
			dim.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
		case string:
			dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
		TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem), Shape: shape},
	}}}
}

// modelBytes serializes a one-graph model (opset 13) with the given nodes,
// inputs and outputs.
func modelBytes(t *testing.T, nodes []*onnx.NodeProto, inputs, outputs []*onnx.ValueInfoProto) []byte {
	t.Helper()
	m := &onnx.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnx.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph:       &onnx.GraphProto{Name: "test", Node: nodes, Input: inputs, Output: outputs},
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dynamicReluModel is y = Relu(x) with x and y of shape [N, 3].
func dynamicReluModel(t *testing.T) []byte {
	return modelBytes(t,
		[]*onnx.NodeProto{{Name: "relu", OpType: "Relu", Input: []string{"x"}, Output: []string{"y"}}},
		[]*onnx.ValueInfoProto{tensorValue("x", onnx.TensorProto_FLOAT, "N", 3)},
		[]*onnx.ValueInfoProto{tensorValue("y", onnx.TensorProto_FLOAT, "N", 3)})
}

func TestSessionFromBytesDynamicShape(t *testing.T) {
	requireORT(t)
	s, err := NewSessionFromBytes(dynamicReluModel(t), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantInfo := []ValueInfo{{Name: "x", Shape: []int64{-1, 3}, ElementType: "float"}}
	if got := s.Inputs(); !slices.EqualFunc(got, wantInfo, equalInfo) {
		t.Errorf("Inputs = %+v, want %+v", got, wantInfo)
	}
	wantInfo[0].Name = "y"
	if got := s.Outputs(); !slices.EqualFunc(got, wantInfo, equalInfo) {
		t.Errorf("Outputs = %+v, want %+v", got, wantInfo)
	}
	for _, n := range []int64{1, 4} {
		in := Tensor{Shape: []int64{n, 3}, Data: make([]float32, 3*n)}
		for i := range in.Data {
			in.Data[i] = float32(i) - 2
		}
		out, err := s.Run(in)
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		if !slices.Equal(out[0].Shape, in.Shape) {
			t.Errorf("batch %d: output shape %v, want %v", n, out[0].Shape, in.Shape)
		}
		for i, v := range out[0].Data {
			if want := max(in.Data[i], 0); v != want {
				t.Errorf("batch %d: y[%d] = %g, want %g", n, i, v, want)
			}
		}
	}
}

func equalInfo(a, b ValueInfo) bool {
	return a.Name == b.Name && a.ElementType == b.ElementType && slices.Equal(a.Shape, b.Shape)
}

func TestRunErrors(t *testing.T) {
	requireORT(t)
	relu, err := NewSessionFromBytes(dynamicReluModel(t), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer relu.Close()
	shapeOut, err := NewSessionFromBytes(modelBytes(t,
		[]*onnx.NodeProto{{Name: "shape", OpType: "Shape", Input: []string{"x"}, Output: []string{"s"}}},
		[]*onnx.ValueInfoProto{tensorValue("x", onnx.TensorProto_FLOAT, 2, 3)},
		[]*onnx.ValueInfoProto{tensorValue("s", onnx.TensorProto_INT64, 2)}), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer shapeOut.Close()
	boolOut, err := NewSessionFromBytes(modelBytes(t,
		[]*onnx.NodeProto{{Name: "nan", OpType: "IsNaN", Input: []string{"x"}, Output: []string{"b"}}},
		[]*onnx.ValueInfoProto{tensorValue("x", onnx.TensorProto_FLOAT, 2, 3)},
		[]*onnx.ValueInfoProto{tensorValue("b", onnx.TensorProto_BOOL, 2, 3)}), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer boolOut.Close()
	// An int64 output (a detector's classes) comes back in Ints.
	if outs, err := shapeOut.Run(Tensor{Shape: []int64{2, 3}, Data: make([]float32, 6)}); err != nil || !slices.Equal(outs[0].Ints, []int64{2, 3}) || outs[0].Data != nil {
		t.Errorf("Shape's int64 output: %+v, %v; want Ints [2 3]", outs, err)
	}
	int64In, err := NewSessionFromBytes(modelBytes(t,
		[]*onnx.NodeProto{{Name: "id", OpType: "Identity", Input: []string{"i"}, Output: []string{"o"}}},
		[]*onnx.ValueInfoProto{tensorValue("i", onnx.TensorProto_INT64, 2)},
		[]*onnx.ValueInfoProto{tensorValue("o", onnx.TensorProto_INT64, 2)}), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer int64In.Close()
	closed, err := NewSessionFromBytes(dynamicReluModel(t), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	tests := []struct {
		name   string
		s      *Session
		inputs []Tensor
		wantIn []string
	}{
		{"no inputs", relu, nil, []string{"expected 1 input tensors (x), found 0"}},
		{"two inputs", relu, []Tensor{{Shape: []int64{1, 3}, Data: make([]float32, 3)}, {}}, []string{"expected 1 input", "found 2"}},
		{"too few values", relu, []Tensor{{Shape: []int64{2, 3}, Data: make([]float32, 5)}}, []string{`input "x"`, "[2 3] holds 6 values, found 5"}},
		{"wrong fixed dimension", relu, []Tensor{{Shape: []int64{2, 4}, Data: make([]float32, 8)}}, []string{`input "x"`, "expected shape [-1 3]", "found shape [2 4]"}},
		{"wrong rank", relu, []Tensor{{Shape: []int64{6}, Data: make([]float32, 6)}}, []string{`input "x"`, "rank 2", "found shape [6]"}},
		{"negative dimension", relu, []Tensor{{Shape: []int64{-1, 3}, Data: make([]float32, 3)}}, []string{`input "x"`, "found shape [-1 3]"}},
		{"int64 input", int64In, []Tensor{{Shape: []int64{2}, Data: make([]float32, 2)}}, []string{`input "i"`, "int64", "float"}},
		{"bool output", boolOut, []Tensor{{Shape: []int64{2, 3}, Data: make([]float32, 6)}}, []string{`output "b"`, "bool", "float and int64"}},
		{"closed session", closed, []Tensor{{Shape: []int64{1, 3}, Data: make([]float32, 3)}}, []string{"closed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.Run(tc.inputs...)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
			for _, want := range append(tc.wantIn, "model (in memory") {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

func TestNewSessionErrors(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	notModel := touch(t, filepath.Join(dir, "empty.onnx"))
	tests := []struct {
		name   string
		open   func() (*Session, error)
		wantIn []string
	}{
		{"missing file", func() (*Session, error) {
			return NewSession(filepath.Join(dir, "missing.onnx"), Options{})
		}, []string{filepath.Join(dir, "missing.onnx"), "does not exist"}},
		{"not a model", func() (*Session, error) { return NewSession(notModel, Options{}) }, []string{notModel}},
		{"empty bytes", func() (*Session, error) { return NewSessionFromBytes(nil, Options{}) }, []string{"empty"}},
		{"garbage bytes", func() (*Session, error) { return NewSessionFromBytes([]byte("garbage"), Options{}) }, []string{"in memory", "protobuf"}},
		{"unknown provider", func() (*Session, error) {
			return NewSessionFromBytes(dynamicReluModel(t), Options{Provider: "rocm"})
		}, []string{`"rocm"`}},
		{"negative device", func() (*Session, error) {
			return NewSessionFromBytes(dynamicReluModel(t), Options{DeviceID: -1})
		}, []string{"device id", "-1"}},
		{"negative threads", func() (*Session, error) {
			return NewSessionFromBytes(dynamicReluModel(t), Options{Threads: -2})
		}, []string{"thread count", "-2"}},
		{"other library after Init", func() (*Session, error) {
			return NewSessionFromBytes(dynamicReluModel(t), Options{LibraryPath: notModel})
		}, []string{"already loaded", notModel}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.open()
			if err == nil {
				s.Close()
				t.Fatal("succeeded, want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error has several lines: %q", msg)
			}
			for _, want := range tc.wantIn {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
		})
	}
}

// TestProviders checks provider choice on the library loaded here. On a
// CPU-only build (the one scripts/fetch-onnxruntime.sh installs) explicit
// cuda and tensorrt fail with a one-line error and auto falls back to the CPU
// with a one-line reason; with a GPU build auto uses CUDA.
func TestProviders(t *testing.T) {
	requireORT(t)
	model := dynamicReluModel(t)
	in := Tensor{Shape: []int64{1, 3}, Data: []float32{-1, 0, 2}}

	auto, err := NewSessionFromBytes(model, Options{Provider: ProviderAuto})
	if err != nil {
		t.Fatal(err)
	}
	defer auto.Close()
	if out, err := auto.Run(in); err != nil || !slices.Equal(out[0].Data, []float32{0, 0, 2}) {
		t.Errorf("auto session Run = %v, %v; want [0 0 2]", out, err)
	}
	if auto.Provider() == ProviderCUDA {
		if auto.Fallback() != "" {
			t.Errorf("auto used CUDA but Fallback = %q", auto.Fallback())
		}
		t.Skipf("ONNX Runtime %s at %s has CUDA; the CPU-only checks do not apply", Version(), LoadedLibrary())
	}
	if got := auto.Provider(); got != ProviderCPU {
		t.Errorf("auto Provider = %s, want cpu", got)
	}
	reason := auto.Fallback()
	if reason == "" || strings.Contains(reason, "\n") || !strings.Contains(reason, "CUDA") {
		t.Errorf("auto Fallback = %q, want a one-line reason mentioning CUDA", reason)
	}
	t.Logf("auto fell back: %s", reason)

	for _, p := range []Provider{ProviderCUDA, ProviderTensorRT} {
		s, err := NewSessionFromBytes(model, Options{Provider: p, DeviceID: 0})
		if err == nil {
			s.Close()
			t.Errorf("%s on a CPU-only build succeeded, want an error", p)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || strings.Contains(msg, "[ONNXRuntimeError]") || strings.Contains(msg, ".cc:") {
			t.Errorf("%s error is not condensed to one line: %q", p, msg)
		}
		if !strings.Contains(msg, "provider unavailable") {
			t.Errorf("%s error %q does not say the provider is unavailable", p, msg)
		}
		t.Logf("%s: %s", p, msg)
	}
}

// TestConcurrentRunAndClose runs one session from several goroutines while it
// is closed, for the race detector: every goroutine runs once before Close,
// and later runs either succeed or report the closed session.
func TestConcurrentRunAndClose(t *testing.T) {
	requireORT(t)
	s, err := NewSessionFromBytes(dynamicReluModel(t), Options{Provider: ProviderCPU, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg, ran sync.WaitGroup
	errs := make(chan error, 8*20)
	ran.Add(8)
	for range 8 {
		wg.Go(func() {
			for i := range 20 {
				in := Tensor{Shape: []int64{2, 3}, Data: []float32{-1, 1, -2, 2, -3, 3}}
				out, err := s.Run(in)
				if i == 0 {
					ran.Done()
				}
				if err != nil {
					if !strings.Contains(err.Error(), "closed") {
						errs <- err
					}
					continue
				}
				if !slices.Equal(out[0].Data, []float32{0, 1, 0, 2, 0, 3}) {
					t.Errorf("Run = %v, want [0 1 0 2 0 3]", out[0].Data)
				}
			}
		})
	}
	ran.Wait()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVersion(t *testing.T) {
	requireORT(t)
	got, lib := Version(), LoadedLibrary()
	if got == "" || lib == "" {
		t.Fatalf("after Init: Version = %q, LoadedLibrary = %q; want both set", got, lib)
	}
	if dir, err := CacheDir(); err == nil && filepath.Dir(lib) == dir && got != ORTVersion {
		t.Errorf("Version = %q for the cached library %s, want %s", got, lib, ORTVersion)
	}
	t.Logf("ONNX Runtime %s from %s", got, lib)
}
