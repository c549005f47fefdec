package ort

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Provider names an ONNX Runtime execution provider: where a session's
// nodes run.
type Provider string

const (
	// ProviderAuto tries CUDA, then WebGPU, then the CPU, taking the first
	// that starts and recording why the ones before it did not
	// (Session.Fallback). The zero Provider means the same.
	ProviderAuto Provider = "auto"
	// ProviderCPU runs everything on the CPU; every ONNX Runtime build has it.
	ProviderCPU Provider = "cpu"
	// ProviderCUDA runs on an NVIDIA GPU; it needs a GPU build of ONNX
	// Runtime (onnxruntime-gpu) and is an error where that is missing.
	ProviderCUDA Provider = "cuda"
	// ProviderTensorRT runs through TensorRT, with CUDA registered after it
	// for the nodes TensorRT does not take; it needs a GPU build of ONNX
	// Runtime with TensorRT and is an error where that is missing.
	ProviderTensorRT Provider = "tensorrt"
	// ProviderWebGPU runs on any GPU with a Vulkan driver (on Linux)
	// through ONNX Runtime's WebGPU provider, built on Dawn, which the
	// library set-up installs already contains; it is an error where Dawn
	// finds no adapter.
	ProviderWebGPU Provider = "webgpu"
)

// Providers returns the accepted provider names, for flag help texts.
func Providers() []Provider {
	return []Provider{ProviderAuto, ProviderCPU, ProviderCUDA, ProviderTensorRT, ProviderWebGPU}
}

// ExecutionProvider returns the name ONNX Runtime gives p in its list of
// available providers (AvailableProviders): "CUDAExecutionProvider", …;
// "" for ProviderAuto.
func (p Provider) ExecutionProvider() string {
	return map[Provider]string{ProviderCPU: "CPUExecutionProvider", ProviderCUDA: "CUDAExecutionProvider",
		ProviderTensorRT: "TensorrtExecutionProvider", ProviderWebGPU: "WebGpuExecutionProvider"}[p]
}

// autoOrder is the order ProviderAuto tries the providers in.
var autoOrder = []Provider{ProviderCUDA, ProviderWebGPU, ProviderCPU}

// ParseProvider turns a user's provider name (any case, surrounding spaces
// ignored) into a Provider, with an error listing the accepted names.
func ParseProvider(s string) (Provider, error) {
	p := Provider(strings.ToLower(strings.TrimSpace(s)))
	known := Providers()
	if slices.Contains(known, p) {
		return p, nil
	}
	names := make([]string, len(known))
	for i, k := range known {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown execution provider %q: expected one of %s", s, strings.Join(names, ", "))
}

// ParseProviderOptions reads provider options given as key=value, each
// key once, refusing an entry without "=" or with an empty key.
func ParseProviderOptions(entries []string) (map[string]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, e := range entries {
		k, v, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("%q: expected key=value", e)
		case out[k] != "":
			return nil, fmt.Errorf("%q: key %q given twice", e, k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// sessionOptions builds ONNX Runtime session options for one provider
// (auto is resolved by the caller to cuda or cpu). A failure to register the
// provider is returned condensed to one line.
func sessionOptions(p Provider, opts Options) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("creating ONNX Runtime session options: %s", firstLine(err))
	}
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("setting %d intra-op threads: %s", opts.Threads, firstLine(err))
		}
	}
	switch p {
	case ProviderCUDA:
		err = appendCUDA(so, opts.DeviceID)
	case ProviderTensorRT:
		err = appendTensorRT(so, opts.DeviceID)
		if err == nil {
			err = appendCUDA(so, opts.DeviceID)
		}
	case ProviderWebGPU:
		if err = gpuProviders.appendWebGPU(so, opts.ProviderOptions); err != nil {
			err = fmt.Errorf("WebGPU provider unavailable: %s", adapterError(err))
		}
	}
	if err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

// appendCUDA registers the CUDA execution provider on device id.
func appendCUDA(so *ort.SessionOptions, id int) error {
	if err := gpuProviders.appendCUDA(so, map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
		return providerError("CUDA", id, err)
	}
	return nil
}

// appendTensorRT registers the TensorRT execution provider on device id.
func appendTensorRT(so *ort.SessionOptions, id int) error {
	if err := gpuProviders.appendTensorRT(so, map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
		return providerError("TensorRT", id, err)
	}
	return nil
}

// registrar registers GPU execution providers, with ONNX Runtime's
// provider options as key-value pairs, on session options.
type registrar interface {
	appendCUDA(so *ort.SessionOptions, options map[string]string) error
	appendTensorRT(so *ort.SessionOptions, options map[string]string) error
	appendWebGPU(so *ort.SessionOptions, options map[string]string) error
}

// gpuProviders is the registrar sessions use: ONNX Runtime's own. Tests put
// a recording one in its place to check, on machines without a GPU, which
// providers a session asks for, with which options, in which order, and
// what it does when one is missing.
var gpuProviders registrar = ortProviders{}

// ortProviders registers providers through onnxruntime_go.
type ortProviders struct{}

func (ortProviders) appendCUDA(so *ort.SessionOptions, options map[string]string) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer co.Destroy()
	if err := co.Update(options); err != nil {
		return err
	}
	return so.AppendExecutionProviderCUDA(co)
}

func (ortProviders) appendTensorRT(so *ort.SessionOptions, options map[string]string) error {
	to, err := ort.NewTensorRTProviderOptions()
	if err != nil {
		return err
	}
	defer to.Destroy()
	if err := to.Update(options); err != nil {
		return err
	}
	return so.AppendExecutionProviderTensorRT(to)
}

// appendWebGPU registers ONNX Runtime's WebGPU provider by its name, as
// the C API's generic SessionOptionsAppendExecutionProvider takes it.
func (ortProviders) appendWebGPU(so *ort.SessionOptions, options map[string]string) error {
	if err := vulkanLoader(); err != nil {
		return fmt.Errorf("no Vulkan loader for Dawn (%s)", err)
	}
	printed, err := captureStderr(func() error { return so.AppendExecutionProvider("WebGPU", options) })
	// Dawn warns once per process; later failures repeat its reason.
	dawnMu.Lock()
	if printed != "" {
		dawnSaid = printed
	} else if err != nil {
		printed = dawnSaid
	}
	dawnMu.Unlock()
	switch {
	case err != nil && printed != "":
		// Dawn's own first line says what is missing; ONNX Runtime's error
		// only that no adapter was found.
		return fmt.Errorf("%s (%s)", firstLine(err), firstLine(errors.New(strings.TrimPrefix(printed, "Warning: "))))
	case err != nil:
		return err
	case printed != "":
		fmt.Fprintln(os.Stderr, printed)
	}
	return nil
}

// dawnSaid is what Dawn printed at the process's first WebGPU session.
var (
	dawnMu   sync.Mutex
	dawnSaid string
)

// adapterError is ONNX Runtime's WebGPU error on one line without its
// source location and failed condition: from "Failed to get a WebGPU
// adapter: No supported adapters" on.
func adapterError(err error) string {
	msg := firstLine(err)
	if _, after, ok := strings.Cut(msg, " was false. "); ok {
		return after
	}
	return msg
}

// providerError condenses a failure to register a GPU provider to one line.
// ONNX Runtime loads its GPU providers through libonnxruntime_providers_shared.so
// beside the main library; CPU-only builds lack it, and the error says so.
func providerError(name string, id int, err error) error {
	msg := firstLine(err)
	if strings.Contains(msg, "libonnxruntime_providers_shared") {
		return fmt.Errorf("%s provider unavailable: the loaded ONNX Runtime library has no GPU providers (a CPU-only build?); set $%s to a GPU build's libonnxruntime.so (%s)",
			name, LibraryEnv, msg)
	}
	return fmt.Errorf("%s provider unavailable on device %d: %s", name, id, msg)
}

// shortReason condenses why a provider did not start to a few words for
// a one-line note, from the messages ONNX Runtime, CUDA and Dawn give; an
// unknown message is cut to its first 80 characters.
func shortReason(msg string) string {
	switch {
	case strings.Contains(msg, "libonnxruntime_providers_shared"):
		return "not in this ONNX Runtime build"
	case strings.Contains(msg, "no CUDA-capable device"):
		return "no CUDA device"
	case strings.Contains(msg, "no Vulkan loader"), strings.Contains(msg, "Couldn't load Vulkan"):
		return "no Vulkan loader (libvulkan.so.1)"
	case strings.Contains(msg, "No supported adapters"):
		return "no GPU adapter Dawn supports"
	}
	if len(msg) > 80 {
		msg = msg[:77] + "..."
	}
	return msg
}
