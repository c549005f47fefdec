// Package doctor reports the machine as bot-onnx sees it: Go and the
// cores, memory and its cgroup limit, the ONNX Runtime library and the
// providers it offers, the instruction sets the training engine's kernels
// run (and whether they fall short of the CPU), OpenBLAS, and the data
// cache. It is what `bot-onnx doctor` prints and what a bug report should
// carry; it only reads, and it never fails: what it cannot find, it says
// in the field's Error.
package doctor

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// Report is what Diagnose finds; its JSON form is what `bot-onnx doctor
// --json` prints, so its field names are kept stable.
type Report struct {
	Version    string    `json:"version"`
	Go         string    `json:"go"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Memory     Memory    `json:"memory"`
	ORT        ORT       `json:"onnx_runtime"`
	Engine     Engine    `json:"engine"`
	OpenBLAS   OpenBLAS  `json:"openblas"`
	Data       []DataSet `json:"data"`
}

// Memory is the machine's memory and the process's cgroup limit, in
// bytes.
type Memory struct {
	Total       int64  `json:"total,omitempty"`
	Available   int64  `json:"available,omitempty"`
	CgroupLimit int64  `json:"cgroup_limit,omitempty"`
	CgroupFile  string `json:"cgroup_file,omitempty"`
	Error       string `json:"error,omitempty"`
}

// ORT is the ONNX Runtime library, how it was found, and what it
// offers; Error says why it could not be found or loaded.
type ORT struct {
	Library   string   `json:"library,omitempty"`
	FoundBy   string   `json:"found_by,omitempty"`
	Version   string   `json:"version,omitempty"`
	Providers []string `json:"providers,omitempty"`
	// Auto is the provider --provider auto starts here; Skipped the ones
	// it tried first, and Fallback why they did not start.
	Auto     string   `json:"auto_provider,omitempty"`
	Skipped  []string `json:"skipped,omitempty"`
	Fallback string   `json:"fallback,omitempty"`
	// Checks say, for each provider bot-onnx can ask for, whether the
	// library has it and whether a session on it starts here.
	Checks []ProviderCheck `json:"provider_checks,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// ProviderCheck is one execution provider as the loaded library offers
// it: compiled in (listed by ONNX Runtime under ExecutionProvider), and
// whether a session of a one-node model starts on it, with the reason
// when not.
type ProviderCheck struct {
	Provider          string `json:"provider"`
	ExecutionProvider string `json:"execution_provider"`
	CompiledIn        bool   `json:"compiled_in"`
	Starts            bool   `json:"starts"`
	Reason            string `json:"reason,omitempty"`
}

// Engine is the CPU as the training engine sees it: the features
// it picks kernels by and what its libraries run.
type Engine struct {
	CPU      string `json:"cpu,omitempty"`
	Features string `json:"cpu_features"`
	// ISA is the widest instruction set the CPU gives the kernels.
	ISA  string `json:"isa"`
	BF16 bool   `json:"bf16"`
	// Convolutions is the instruction set oneDNN's JIT kernels run (its own
	// names), Elementwise the copy of the BatchNorm, ReLU and Add kernels
	// chosen from the features.
	Convolutions string `json:"convolution_isa"`
	Elementwise  string `json:"elementwise_isa"`
	// Warnings name kernels that fall back to a narrower instruction set
	// than ISA, one line each.
	Warnings []string `json:"warnings,omitempty"`
}

// OpenBLAS is the OpenBLAS library the training kernels call.
type OpenBLAS struct {
	Library   string `json:"library,omitempty"`
	Config    string `json:"config,omitempty"`
	Threads   int    `json:"threads,omitempty"`
	Core      string `json:"core,omitempty"`
	ISA       string `json:"isa,omitempty"`
	CoreFrom  string `json:"core_chosen_by,omitempty"`
	Requested string `json:"core_requested,omitempty"`
	Error     string `json:"error,omitempty"`
}

// DataSet is one data set of the data cache: its folder, and its size
// when it reads, or why it does not.
type DataSet struct {
	Name    string `json:"name"`
	Dir     string `json:"dir,omitempty"`
	Present bool   `json:"present"`
	Train   int    `json:"train,omitempty"`
	Test    int    `json:"test,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Diagnose gathers the report. ortLib names the ONNX Runtime library to
// check, or "" for the usual search (ort.LocateLibrary); version is the
// caller's version string, recorded in the report and in the probe model.
func Diagnose(ortLib, version string) Report {
	r := Report{
		Version: version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Memory: memory(),
		ORT:    onnxRuntime(ortLib, version),
		Data:   dataSets(),
	}
	r.Engine, r.OpenBLAS = engine()
	return r
}

// engine reads the CPU's features and loads OpenBLAS as training
// does, and warns of kernels narrower than the CPU allows.
func engine() (Engine, OpenBLAS) {
	f := kernel.HostFeatures()
	e := Engine{CPU: kernel.CPUName(), Features: f.String(), ISA: f.ISA(), BF16: f.HasBF16(),
		Convolutions: kernel.DNNLISA(), Elementwise: kernel.VecISA()}
	for _, k := range []struct{ what, isa string }{
		{"oneDNN (convolutions) " + e.Convolutions, kernel.DNNLISAFamily()},
		{"elementwise kernels", e.Elementwise},
	} {
		if w := kernel.ISAWarning(k.what, k.isa, f); w != "" {
			e.Warnings = append(e.Warnings, w)
		}
	}
	info, err := kernel.LoadBLAS()
	if err != nil {
		return e, OpenBLAS{Error: err.Error()}
	}
	if w := kernel.ISAWarning("openblas core "+info.Core, info.ISA, f); w != "" {
		e.Warnings = append(e.Warnings, w)
	}
	return e, OpenBLAS{Library: info.Library, Config: info.Config, Threads: kernel.BLASThreads(), Core: info.Core,
		ISA: info.ISA, CoreFrom: info.CoreFrom, Requested: info.Requested}
}

// memory reads the machine's memory and the cgroup limit.
func memory() Memory {
	m, err := train.ReadSystemMemory()
	if err != nil {
		return Memory{Error: err.Error()}
	}
	return Memory{Total: m.Total, Available: m.Available, CgroupLimit: m.CgroupLimit, CgroupFile: m.CgroupFile}
}

// onnxRuntime finds and loads ONNX Runtime as the other commands do, and
// asks it for its version and providers, and which provider auto starts.
func onnxRuntime(ortLib, version string) ORT {
	lib, err := ort.LocateLibrary(ortLib)
	if err != nil {
		return ORT{Error: oneLine(err.Error())}
	}
	r := ORT{Library: lib.Path, FoundBy: string(lib.Source)}
	if err := ort.Init(lib.Path); err != nil {
		r.Error = oneLine(err.Error())
		return r
	}
	r.Version = ort.Version()
	if r.Providers, err = ort.AvailableProviders(); err != nil {
		r.Error = oneLine(err.Error())
		return r
	}
	for _, p := range ort.Providers() {
		if p == ort.ProviderAuto {
			continue
		}
		c := ProviderCheck{Provider: string(p), ExecutionProvider: p.ExecutionProvider(), CompiledIn: slices.Contains(r.Providers, p.ExecutionProvider())}
		if _, err := ort.Probe(ort.Options{LibraryPath: lib.Path, Provider: p}); err != nil {
			// The session's error names the in-memory model first.
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			c.Reason = oneLine(err.Error())
		} else {
			c.Starts = true
		}
		r.Checks = append(r.Checks, c)
	}
	s, err := ort.Probe(ort.Options{LibraryPath: lib.Path, Provider: ort.ProviderAuto})
	if err != nil {
		r.Error = oneLine(fmt.Sprintf("starting a session with provider auto: %v", err))
		return r
	}
	r.Auto, r.Fallback = string(s.Provider()), s.Fallback()
	for _, p := range s.Skipped() {
		r.Skipped = append(r.Skipped, string(p))
	}
	return r
}

// dataSets reads each data set of the data cache.
func dataSets() []DataSet {
	sets := []struct {
		name string
		dir  func() (string, error)
		read func(string) (data.Dataset, data.Dataset, error)
	}{
		{"mnist", data.DefaultDir, data.MNIST},
		{"fashion-mnist", data.FashionMNISTDefaultDir, data.FashionMNIST},
		{"cifar10", data.CIFAR10DefaultDir, data.CIFAR10},
	}
	out := make([]DataSet, len(sets))
	for i, s := range sets {
		out[i] = DataSet{Name: s.name}
		dir, err := s.dir()
		var trainSet, testSet data.Dataset
		if err == nil {
			out[i].Dir = dir
			trainSet, testSet, err = s.read(dir)
		}
		if err != nil {
			out[i].Error = oneLine(err.Error())
			continue
		}
		out[i].Present, out[i].Train, out[i].Test = true, trainSet.Len(), testSet.Len()
	}
	return out
}

// oneLine joins an error's lines, so that each field prints on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
