package ort

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

// registration is one GPU provider a session asked for.
type registration struct {
	provider string
	options  map[string]string
}

func (r registration) String() string { return fmt.Sprintf("%s%v", r.provider, r.options) }

// recordingProviders stands in for ONNX Runtime's GPU providers: it records
// every registration and fails those named in fail. A registration that
// succeeds adds nothing, so the session still runs on the CPU: what is
// checked is which providers are asked for, with which options, and what
// the session makes of a failure.
type recordingProviders struct {
	calls []registration
	fail  map[string]error
}

func (r *recordingProviders) register(name string, options map[string]string) error {
	r.calls = append(r.calls, registration{name, maps.Clone(options)})
	return r.fail[name]
}

func (r *recordingProviders) appendCUDA(_ *ort.SessionOptions, options map[string]string) error {
	return r.register("CUDA", options)
}

func (r *recordingProviders) appendTensorRT(_ *ort.SessionOptions, options map[string]string) error {
	return r.register("TensorRT", options)
}

func (r *recordingProviders) appendWebGPU(_ *ort.SessionOptions, options map[string]string) error {
	return r.register("WebGPU", options)
}

// TestProviderRegistration checks, with recorded GPU providers, the
// provider options each choice builds and applies, the fallback of auto
// and the errors of an explicit GPU provider.
func TestProviderRegistration(t *testing.T) {
	requireORT(t)
	// As a CPU-only build answers (multi-line, with ONNX Runtime's header),
	// and as a GPU build without a usable device would.
	noGPUBuild := errors.New("[ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_shared.so with error: cannot open shared object file\nstack trace")
	noDevice := errors.New("CUDA failure 100: no CUDA-capable device is detected ; GPU=3")
	// As ONNX Runtime 1.24 answers when Dawn finds no adapter.
	noAdapter := errors.New("[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:63 operator() " +
		"status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\nstack trace")
	dev := func(id string) map[string]string { return map[string]string{"device_id": id} }
	tests := []struct {
		name         string
		opts         Options
		fail         map[string]error
		wantCalls    []registration
		wantProvider Provider
		wantFallback []string // substrings of Fallback; nil: no fallback
		wantNote     string   // FallbackNote
		wantErr      []string // substrings of the error; nil: no error
	}{
		{name: "cpu registers nothing", opts: Options{Provider: ProviderCPU, DeviceID: 2},
			wantProvider: ProviderCPU},
		{name: "cuda on device 3", opts: Options{Provider: ProviderCUDA, DeviceID: 3},
			wantCalls: []registration{{"CUDA", dev("3")}}, wantProvider: ProviderCUDA},
		{name: "tensorrt, then cuda for the rest, on device 1", opts: Options{Provider: ProviderTensorRT, DeviceID: 1},
			wantCalls: []registration{{"TensorRT", dev("1")}, {"CUDA", dev("1")}}, wantProvider: ProviderTensorRT},
		{name: "auto takes cuda when it registers", opts: Options{DeviceID: 2},
			wantCalls: []registration{{"CUDA", dev("2")}}, wantProvider: ProviderCUDA},
		{name: "auto takes webgpu on a build without CUDA", opts: Options{Provider: ProviderAuto},
			fail:      map[string]error{"CUDA": noGPUBuild},
			wantCalls: []registration{{"CUDA", dev("0")}, {"WebGPU", nil}}, wantProvider: ProviderWebGPU,
			wantFallback: []string{"cuda: CUDA provider unavailable", "no GPU providers", "$" + LibraryEnv, "libonnxruntime_providers_shared.so"},
			wantNote:     "provider auto: webgpu (cuda: not in this ONNX Runtime build)"},
		{name: "auto falls back to the CPU on a CPU-only build", opts: Options{Provider: ProviderAuto},
			fail:      map[string]error{"CUDA": noGPUBuild, "WebGPU": noAdapter},
			wantCalls: []registration{{"CUDA", dev("0")}, {"WebGPU", nil}}, wantProvider: ProviderCPU,
			wantFallback: []string{"cuda: CUDA provider unavailable", "no GPU providers", "webgpu: WebGPU provider unavailable: Failed to get a WebGPU adapter: No supported adapters"},
			wantNote:     "provider auto: cpu (cuda: not in this ONNX Runtime build; webgpu: no GPU adapter Dawn supports)"},
		{name: "auto falls back without a device", opts: Options{DeviceID: 3},
			fail:      map[string]error{"CUDA": noDevice, "WebGPU": noAdapter},
			wantCalls: []registration{{"CUDA", dev("3")}, {"WebGPU", nil}}, wantProvider: ProviderCPU,
			wantFallback: []string{"CUDA provider unavailable on device 3", "no CUDA-capable device"},
			wantNote:     "provider auto: cpu (cuda: no CUDA device; webgpu: no GPU adapter Dawn supports)"},
		{name: "webgpu with its options", opts: Options{Provider: ProviderWebGPU, ProviderOptions: map[string]string{"deviceId": "1", "powerPreference": "high-performance"}},
			wantCalls: []registration{{"WebGPU", map[string]string{"deviceId": "1", "powerPreference": "high-performance"}}}, wantProvider: ProviderWebGPU},
		{name: "explicit webgpu without an adapter", opts: Options{Provider: ProviderWebGPU},
			fail:      map[string]error{"WebGPU": noAdapter},
			wantCalls: []registration{{"WebGPU", nil}},
			wantErr:   []string{"model (in memory", "WebGPU provider unavailable: Failed to get a WebGPU adapter: No supported adapters"}},
		{name: "explicit cuda on a CPU-only build", opts: Options{Provider: ProviderCUDA},
			fail:      map[string]error{"CUDA": noGPUBuild},
			wantCalls: []registration{{"CUDA", dev("0")}},
			wantErr:   []string{"model (in memory", "CUDA provider unavailable", "no GPU providers", "$" + LibraryEnv}},
		{name: "explicit cuda without a device", opts: Options{Provider: ProviderCUDA, DeviceID: 3},
			fail:      map[string]error{"CUDA": noDevice},
			wantCalls: []registration{{"CUDA", dev("3")}},
			wantErr:   []string{"CUDA provider unavailable on device 3", "no CUDA-capable device"}},
		{name: "tensorrt missing stops before cuda", opts: Options{Provider: ProviderTensorRT},
			fail:      map[string]error{"TensorRT": noGPUBuild},
			wantCalls: []registration{{"TensorRT", dev("0")}},
			wantErr:   []string{"TensorRT provider unavailable", "no GPU providers"}},
		{name: "tensorrt present, cuda missing", opts: Options{Provider: ProviderTensorRT, DeviceID: 1},
			fail:      map[string]error{"CUDA": noDevice},
			wantCalls: []registration{{"TensorRT", dev("1")}, {"CUDA", dev("1")}},
			wantErr:   []string{"CUDA provider unavailable on device 1"}},
	}
	ortOwn := gpuProviders
	t.Cleanup(func() { gpuProviders = ortOwn })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingProviders{fail: tc.fail}
			gpuProviders = rec
			s, err := NewSessionFromBytes(dynamicReluModel(t), tc.opts)
			if !slices.EqualFunc(rec.calls, tc.wantCalls, func(a, b registration) bool {
				return a.provider == b.provider && maps.Equal(a.options, b.options)
			}) {
				t.Errorf("registrations %v, want %v", rec.calls, tc.wantCalls)
			}
			if tc.wantErr != nil {
				if err == nil {
					s.Close()
					t.Fatal("succeeded, want an error")
				}
				checkOneLine(t, "error", err.Error(), tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Provider() != tc.wantProvider {
				t.Errorf("Provider = %s, want %s", s.Provider(), tc.wantProvider)
			}
			if tc.wantFallback == nil {
				if s.Fallback() != "" {
					t.Errorf("Fallback = %q, want none", s.Fallback())
				}
			} else {
				checkOneLine(t, "fallback", s.Fallback(), tc.wantFallback)
			}
			if s.FallbackNote() != tc.wantNote {
				t.Errorf("FallbackNote = %q, want %q", s.FallbackNote(), tc.wantNote)
			}
			// Whatever was registered, the session runs.
			out, err := s.Run(Tensor{Shape: []int64{1, 3}, Data: []float32{-1, 0, 2}})
			if err != nil || !slices.Equal(out[0].Data, []float32{0, 0, 2}) {
				t.Errorf("Run = %v, %v; want [0 0 2]", out, err)
			}
		})
	}
}

// checkOneLine checks that msg is one line, free of ONNX Runtime's header,
// and mentions each of want.
func checkOneLine(t *testing.T, what, msg string, want []string) {
	t.Helper()
	if strings.Contains(msg, "\n") || strings.Contains(msg, "[ONNXRuntimeError]") {
		t.Errorf("%s is not condensed to one line: %q", what, msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%s %q does not mention %q", what, msg, w)
		}
	}
}

// TestParseProviderOptions reads key=value entries and refuses the
// malformed ones in one line naming the entry.
func TestParseProviderOptions(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    map[string]string
		wantErr string
	}{
		{in: nil, want: nil},
		{in: []string{"deviceId=1", " powerPreference = high-performance "}, want: map[string]string{"deviceId": "1", "powerPreference": "high-performance"}},
		{in: []string{"empty="}, want: map[string]string{"empty": ""}},
		{in: []string{"deviceId"}, wantErr: `"deviceId": expected key=value`},
		{in: []string{"=1"}, wantErr: `"=1": expected key=value`},
		{in: []string{"a=1", "a=2"}, wantErr: `"a=2": key "a" given twice`},
	} {
		got, err := ParseProviderOptions(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
