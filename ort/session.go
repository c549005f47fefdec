package ort

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Options configures a Session. The zero value loads the library FindLibrary
// finds, uses the auto provider on device 0 and ONNX Runtime's default thread
// count.
type Options struct {
	// LibraryPath is the ONNX Runtime shared library to load (a command-line
	// flag); empty means FindLibrary's search. See Init.
	LibraryPath string
	// Provider is the execution provider; empty means ProviderAuto.
	Provider Provider
	// DeviceID is the GPU the CUDA and TensorRT providers use.
	DeviceID int
	// Threads is the number of intra-op threads; 0 leaves ONNX Runtime's
	// default (one per physical core).
	Threads int
	// ProviderOptions are passed to the WebGPU provider as ONNX Runtime's
	// key-value provider options (e.g. "deviceId", "powerPreference").
	ProviderOptions map[string]string
}

// ValueInfo describes one input or output of a model, as ONNX Runtime reads
// it from the model.
type ValueInfo struct {
	// Name is the graph input's or output's name.
	Name string
	// Shape is the tensor's shape, -1 for a dynamic (symbolic or unknown)
	// dimension; nil for values that are not tensors.
	Shape []int64
	// ElementType is ONNX's name for the element type in lower case
	// ("float", "double", "int64", "float16", ...), or the kind of value
	// ("sequence", "map", ...) for values that are not tensors.
	ElementType string
}

// Tensor is a dense tensor in row-major order: the values Session.Run
// takes and returns. A float32 tensor holds its values in Data; an int64
// output (a detector's classes) in Ints instead. The length of the one
// used is the product of Shape.
type Tensor struct {
	Shape []int64
	Data  []float32
	Ints  []int64
}

// Session is a model loaded into ONNX Runtime. Run may be called from several
// goroutines at once; Close waits for running calls.
type Session struct {
	mu       sync.RWMutex
	ort      *ort.DynamicAdvancedSession // nil once closed
	source   string                      // the model, as errors name it
	inputs   []ValueInfo
	outputs  []ValueInfo
	provider Provider
	// skipped are the providers auto tried before provider, with why
	// each did not start.
	skipped []skip
}

// skip is a provider ProviderAuto passed over, and why.
type skip struct {
	provider Provider
	reason   string
}

// NewSession loads the .onnx file at path into ONNX Runtime (calling Init
// with opts.LibraryPath first) on the provider opts asks for.
func NewSession(path string, opts Options) (*Session, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("model %s does not exist", path)
		}
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	return newSession(path, opts,
		func() ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
			return ort.GetInputOutputInfo(path)
		},
		func(in, out []string, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, error) {
			return ort.NewDynamicAdvancedSession(path, in, out, so)
		})
}

// NewSessionFromBytes is NewSession for a model held in memory (the
// serialized ModelProto), as export and train produce them.
func NewSessionFromBytes(model []byte, opts Options) (*Session, error) {
	source := fmt.Sprintf("(in memory, %d bytes)", len(model))
	if len(model) == 0 {
		return nil, errors.New("model (in memory) is empty")
	}
	return newSession(source, opts,
		func() ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
			return ort.GetInputOutputInfoWithONNXData(model)
		},
		func(in, out []string, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, error) {
			return ort.NewDynamicAdvancedSessionWithONNXData(model, in, out, so)
		})
}

// newSession checks opts, loads the library, reads the model's inputs and
// outputs with info, and creates the session with create on the chosen
// provider, trying CUDA, WebGPU and the CPU in turn for ProviderAuto.
func newSession(source string, opts Options,
	info func() ([]ort.InputOutputInfo, []ort.InputOutputInfo, error),
	create func(in, out []string, so *ort.SessionOptions) (*ort.DynamicAdvancedSession, error),
) (*Session, error) {
	provider := ProviderAuto
	if opts.Provider != "" {
		p, err := ParseProvider(string(opts.Provider))
		if err != nil {
			return nil, err
		}
		provider = p
	}
	if opts.DeviceID < 0 {
		return nil, fmt.Errorf("device id must be 0 or more, found %d", opts.DeviceID)
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("thread count must be 0 (ONNX Runtime's default) or more, found %d", opts.Threads)
	}
	if err := Init(opts.LibraryPath); err != nil {
		return nil, err
	}
	ins, outs, err := info()
	if err != nil {
		return nil, fmt.Errorf("model %s: reading its inputs and outputs: %s", source, firstLine(err))
	}
	s := &Session{source: source, inputs: valueInfos(ins), outputs: valueInfos(outs)}
	inNames, outNames := names(s.inputs), names(s.outputs)

	open := func(p Provider) (*ort.DynamicAdvancedSession, error) {
		so, err := sessionOptions(p, opts)
		if err != nil {
			return nil, err
		}
		defer so.Destroy()
		sess, err := create(inNames, outNames, so)
		if err != nil {
			return nil, fmt.Errorf("creating an ONNX Runtime session (%s provider): %s", p, firstLine(err))
		}
		return sess, nil
	}

	s.provider = provider
	if provider == ProviderAuto {
		for _, p := range autoOrder {
			s.provider = p
			if s.ort, err = open(p); err == nil || p == ProviderCPU {
				break
			}
			s.skipped = append(s.skipped, skip{p, err.Error()})
		}
	} else {
		s.ort, err = open(provider)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", source, err)
	}
	return s, nil
}

// valueInfos converts onnxruntime_go's descriptions to ValueInfos.
func valueInfos(infos []ort.InputOutputInfo) []ValueInfo {
	out := make([]ValueInfo, len(infos))
	for i, info := range infos {
		out[i].Name = info.Name
		if info.OrtValueType != ort.ONNXTypeTensor {
			out[i].ElementType = strings.ToLower(strings.TrimPrefix(info.OrtValueType.String(), "ONNX_TYPE_"))
			continue
		}
		out[i].ElementType = strings.ToLower(strings.TrimPrefix(info.DataType.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
		out[i].Shape = make([]int64, len(info.Dimensions))
		for j, d := range info.Dimensions {
			out[i].Shape[j] = max(d, -1)
		}
	}
	return out
}

func names(infos []ValueInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Name
	}
	return out
}

func cloneInfos(infos []ValueInfo) []ValueInfo {
	out := slices.Clone(infos)
	for i := range out {
		out[i].Shape = slices.Clone(out[i].Shape)
	}
	return out
}

// Inputs describes the model's inputs, in the order Run takes them.
func (s *Session) Inputs() []ValueInfo { return cloneInfos(s.inputs) }

// Outputs describes the model's outputs, in the order Run returns them.
func (s *Session) Outputs() []ValueInfo { return cloneInfos(s.outputs) }

// Provider returns the execution provider the session actually uses: cpu,
// cuda, tensorrt or webgpu, never auto.
func (s *Session) Provider() Provider { return s.provider }

// Fallback returns, on one line, why ProviderAuto passed over the providers
// it tried before the one that runs ("cuda: …; webgpu: …": e.g. the
// loaded library has no CUDA provider, Dawn found no adapter), or "" if
// the first one started.
func (s *Session) Fallback() string {
	parts := make([]string, len(s.skipped))
	for i, k := range s.skipped {
		parts[i] = fmt.Sprintf("%s: %s", k.provider, k.reason)
	}
	return strings.Join(parts, "; ")
}

// Skipped returns the providers ProviderAuto tried, in order, before the
// one that runs.
func (s *Session) Skipped() []Provider {
	out := make([]Provider, len(s.skipped))
	for i, k := range s.skipped {
		out[i] = k.provider
	}
	return out
}

// FallbackNote says in one short line which provider ProviderAuto took
// and, in a few words each, why the ones before it did not start
// ("provider auto: cpu (cuda: not in this ONNX Runtime build; webgpu: no
// Vulkan loader (libvulkan.so.1))"); "" if the first one started.
func (s *Session) FallbackNote() string {
	if len(s.skipped) == 0 {
		return ""
	}
	parts := make([]string, len(s.skipped))
	for i, k := range s.skipped {
		parts[i] = fmt.Sprintf("%s: %s", k.provider, shortReason(k.reason))
	}
	return fmt.Sprintf("provider auto: %s (%s)", s.provider, strings.Join(parts, "; "))
}

// Run runs the model on inputs, one Tensor per model input in the order of
// Inputs, and returns one Tensor per output in the order of Outputs. Inputs
// must match the model's float32 inputs in rank and in every fixed dimension;
// ONNX Runtime allocates the outputs, so their shapes may depend on the
// inputs'. The input slices are read, never written or kept.
func (s *Session) Run(inputs ...Tensor) ([]Tensor, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ort == nil {
		return nil, fmt.Errorf("model %s: session is closed", s.source)
	}
	if len(inputs) != len(s.inputs) {
		return nil, fmt.Errorf("model %s: expected %d input tensors (%s), found %d",
			s.source, len(s.inputs), strings.Join(names(s.inputs), ", "), len(inputs))
	}
	ins := make([]ort.Value, len(inputs))
	outs := make([]ort.Value, len(s.outputs))
	defer destroyAll(ins)
	defer destroyAll(outs)
	for i, in := range inputs {
		if err := checkInput(s.inputs[i], in); err != nil {
			return nil, fmt.Errorf("model %s: %w", s.source, err)
		}
		t, err := ort.NewTensor(ort.NewShape(in.Shape...), in.Data)
		if err != nil {
			return nil, fmt.Errorf("model %s: input %q: %s", s.source, s.inputs[i].Name, firstLine(err))
		}
		ins[i] = t
	}
	if err := s.ort.Run(ins, outs); err != nil {
		return nil, fmt.Errorf("model %s: running on the %s provider: %s", s.source, s.provider, firstLine(err))
	}
	result := make([]Tensor, len(outs))
	for i, v := range outs {
		switch t := v.(type) {
		case *ort.Tensor[float32]:
			result[i] = Tensor{Shape: slices.Clone([]int64(t.GetShape())), Data: t.GetData()}
		case *ort.Tensor[int64]:
			result[i] = Tensor{Shape: slices.Clone([]int64(t.GetShape())), Ints: t.GetData()}
		default:
			return nil, fmt.Errorf("model %s: output %q is of type %s; Run returns float and int64 tensors only",
				s.source, s.outputs[i].Name, s.outputs[i].ElementType)
		}
	}
	return result, nil
}

// checkInput checks that t fits the model input described by info.
func checkInput(info ValueInfo, t Tensor) error {
	if info.ElementType != "float" {
		return fmt.Errorf("input %q: the model expects %s values; Run supports float (float32) inputs only", info.Name, info.ElementType)
	}
	if len(t.Shape) != len(info.Shape) {
		return fmt.Errorf("input %q: expected shape %v (rank %d), found shape %v", info.Name, info.Shape, len(info.Shape), t.Shape)
	}
	if len(t.Shape) == 0 {
		return fmt.Errorf("input %q: scalar (rank 0) inputs are not supported", info.Name)
	}
	count := int64(1)
	for i, d := range t.Shape {
		if d < 0 || (info.Shape[i] >= 0 && d != info.Shape[i]) {
			return fmt.Errorf("input %q: expected shape %v (-1: any size), found shape %v", info.Name, info.Shape, t.Shape)
		}
		if d != 0 && count > math.MaxInt64/d {
			return fmt.Errorf("input %q: shape %v is too large", info.Name, t.Shape)
		}
		count *= d
	}
	if count != int64(len(t.Data)) {
		return fmt.Errorf("input %q: shape %v holds %d values, found %d", info.Name, t.Shape, count, len(t.Data))
	}
	return nil
}

// destroyAll releases the ONNX Runtime values in vs that are set.
func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

// Close releases the session. It waits for running calls of Run; later calls
// of Run return an error. Closing twice is harmless.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ort == nil {
		return nil
	}
	err := s.ort.Destroy()
	s.ort = nil
	if err != nil {
		return fmt.Errorf("model %s: closing the session: %w", s.source, err)
	}
	return nil
}
