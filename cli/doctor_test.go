package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/doctor"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// TestDoctorWarnsOnGenericBLAS forces OpenBLAS onto its generic Prescott
// kernels, as its own CPU table does on a CPU newer than the build: on a
// CPU with AVX2 or more, doctor then warns in one line naming the core and
// the CPU's instruction set, and says who chose the core.
func TestDoctorWarnsOnGenericBLAS(t *testing.T) {
	f := kernel.HostFeatures()
	if f.ISA() == "sse" {
		t.Skip("this CPU has no AVX2: Prescott's kernels are its best")
	}
	cmd := exec.Command(os.Args[0], "doctor", "--json")
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1", "OPENBLAS_CORETYPE=Prescott")
	out, _ := cmd.Output()
	var r doctor.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	want := "openblas core Prescott runs sse kernels on a CPU with " + f.ISA()
	if len(r.Engine.Warnings) != 1 || !strings.HasPrefix(r.Engine.Warnings[0], want) || strings.Contains(r.Engine.Warnings[0], "\n") {
		t.Errorf("warnings %q; expected one line starting %q", r.Engine.Warnings, want)
	}
	if r.OpenBLAS.Core != "Prescott" || !strings.Contains(r.OpenBLAS.CoreFrom, "OPENBLAS_CORETYPE") {
		t.Errorf("openblas %+v; expected core Prescott chosen by OPENBLAS_CORETYPE", r.OpenBLAS)
	}
}

// TestDoctorWarnsOnNarrowOneDNN lowers oneDNN's instruction set with its
// own DNNL_MAX_CPU_ISA, as an old oneDNN on a new CPU would fall short: on
// a CPU with AVX-512, doctor names oneDNN's set and warns in one line.
func TestDoctorWarnsOnNarrowOneDNN(t *testing.T) {
	f := kernel.HostFeatures()
	if !f.HasAVX512() {
		t.Skip("this CPU has no AVX-512: AVX2 is oneDNN's best here")
	}
	cmd := exec.Command(os.Args[0], "doctor", "--json")
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1", "DNNL_MAX_CPU_ISA=AVX2")
	out, _ := cmd.Output()
	var r doctor.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	want := "oneDNN (convolutions) avx2 runs avx2 kernels on a CPU with " + f.ISA() + ": narrower than the CPU allows"
	if r.Engine.Convolutions != "avx2" || !slices.ContainsFunc(r.Engine.Warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("convolutions %q, warnings %q; expected avx2 and a line starting %q", r.Engine.Convolutions, r.Engine.Warnings, want)
	}
}

// TestDoctor runs doctor as a person and as a script would, with ONNX
// Runtime found and with --ort-lib naming a missing library: the latter
// exits non-zero with a one-line message and still reports everything
// else.
func TestDoctor(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so")
	tests := []struct {
		name     string
		args     []string
		needsORT bool
		wantCode int
		stderr   string
	}{
		{"found", []string{"doctor"}, true, 0, ""},
		{"found, JSON", []string{"doctor", "--json"}, true, 0, ""},
		{"missing library", []string{"doctor", "--ort-lib", missing}, false, 1, "bot-onnx: ONNX Runtime library " + missing + " does not exist\n"},
		{"missing library, JSON", []string{"doctor", "--json", "--ort-lib", missing}, false, 1, "bot-onnx: ONNX Runtime library " + missing + " does not exist\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsORT {
				requireORT(t)
			}
			code, stdout, stderr := run(tc.args...)
			if code != tc.wantCode || stderr != tc.stderr {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, stderr, tc.wantCode, tc.stderr)
			}
			if slices.Contains(tc.args, "--json") {
				checkDoctorJSON(t, stdout, tc.needsORT, missing)
			} else {
				checkDoctorText(t, stdout, tc.needsORT, missing)
			}
		})
	}
}

// checkDoctorJSON checks doctor --json's figures against this process's;
// found says whether ONNX Runtime was found, else missing is the library
// --ort-lib named.
func checkDoctorJSON(t *testing.T, stdout string, found bool, missing string) {
	t.Helper()
	var r doctor.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, stdout)
	}
	if r.Go != runtime.Version() || r.CPUs != runtime.NumCPU() || r.GOMAXPROCS != runtime.GOMAXPROCS(0) || r.Version != Version {
		t.Errorf("go %q, %d cpus, GOMAXPROCS %d, version %q; want %q, %d, %d, %q",
			r.Go, r.CPUs, r.GOMAXPROCS, r.Version, runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), Version)
	}
	if r.Memory.Total <= 0 || r.Memory.Available <= 0 || r.Memory.Available > r.Memory.Total {
		t.Errorf("memory %+v; expected 0 < available ≤ total", r.Memory)
	}
	if !strings.Contains(r.OpenBLAS.Config, "OpenBLAS") || r.OpenBLAS.Core == "" || r.OpenBLAS.Threads < 1 {
		t.Errorf("openblas %+v; expected its build string, core and threads", r.OpenBLAS)
	}
	// The engine's kernels match the CPU they run on (unless the user forced
	// an OpenBLAS core): the ISA named is the CPU's, and nothing warns.
	if f := kernel.HostFeatures(); r.Engine.ISA != f.ISA() || r.Engine.BF16 != f.HasBF16() {
		t.Errorf("engine %+v; expected ISA %s and bf16 %v for features %s", r.Engine, f.ISA(), f.HasBF16(), f)
	}
	if r.Engine.Elementwise != kernel.VecISA() || r.Engine.Convolutions != kernel.DNNLISA() {
		t.Errorf("engine %+v; expected elementwise %s and convolutions %s", r.Engine, kernel.VecISA(), kernel.DNNLISA())
	}
	if strings.HasPrefix(r.OpenBLAS.CoreFrom, "the CPU's features") && (len(r.Engine.Warnings) > 0 || r.OpenBLAS.ISA != kernel.BLASCoreISA(kernel.BLASCoreFor(kernel.HostFeatures()))) {
		t.Errorf("openblas %+v, warnings %q: expected the core chosen for this CPU, with no warning", r.OpenBLAS, r.Engine.Warnings)
	}
	names := make([]string, len(r.Data))
	for i, d := range r.Data {
		names[i] = d.Name
		if d.Present != (d.Error == "") || (d.Present && (d.Train <= 0 || d.Test <= 0)) {
			t.Errorf("data set %+v: expected sizes when present, an error when not", d)
		}
	}
	if !slices.Equal(names, []string{"mnist", "fashion-mnist", "cifar10"}) {
		t.Errorf("data sets %q", names)
	}
	ort := r.ORT
	switch {
	case !found && (ort.Library != "" || !strings.Contains(ort.Error, missing)):
		t.Errorf("onnx runtime %+v; expected the missing library named", ort)
	case found && (ort.Error != "" || ort.Library == "" || ort.FoundBy == "" || ort.Version == "" ||
		!slices.Contains(ort.Providers, "CPUExecutionProvider") || !slices.Contains([]string{"cpu", "cuda", "webgpu"}, ort.Auto)):
		t.Errorf("onnx runtime %+v; expected its library, how it was found, version, providers and auto's choice", ort)
	case found:
		// Every provider is checked; the CPU's always starts, and the
		// library set-up installs has WebGPU compiled in. Where it does not
		// start, the reason is the missing Vulkan loader or Dawn's.
		var checked []string
		for _, c := range ort.Checks {
			checked = append(checked, c.Provider)
			switch {
			case c.Provider == "cpu" && !(c.CompiledIn && c.Starts):
				t.Errorf("cpu provider %+v: expected compiled in and starting", c)
			case c.Provider == "webgpu" && (!c.CompiledIn || !c.Starts && !strings.Contains(c.Reason, "WebGPU adapter") && !strings.Contains(c.Reason, "no Vulkan loader")):
				t.Errorf("webgpu provider %+v: expected compiled in, and starting or failing for want of an adapter", c)
			case !c.Starts && (c.Reason == "" || strings.Contains(c.Reason, "\n")):
				t.Errorf("%s provider %+v: expected one line of reason", c.Provider, c)
			}
		}
		if !slices.Equal(checked, []string{"cpu", "cuda", "tensorrt", "webgpu"}) {
			t.Errorf("providers checked %v", checked)
		}
	}
}

// checkDoctorText checks doctor's listing: aligned key: value lines, the
// keys every report has, the figures of this process, and ONNX Runtime
// as found or missing.
func checkDoctorText(t *testing.T, stdout string, found bool, missing string) {
	t.Helper()
	column := -1
	values := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		value := strings.TrimLeft(rest, " ")
		at := len(line) - len(value)
		if !ok || value == "" || (column >= 0 && at != column) {
			t.Fatalf("line %q is not an aligned key: value\n%s", line, stdout)
		}
		column, values[key] = at, value
	}
	want := map[string]string{
		"bot-onnx": Version,
		"go":       runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		"cores":    fmt.Sprintf("%d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)),
	}
	if !found {
		want["onnx runtime"] = "missing: ONNX Runtime library " + missing + " does not exist"
	}
	for key, v := range want {
		if values[key] != v {
			t.Errorf("%s: %q, want %q", key, values[key], v)
		}
	}
	keys := []string{"memory", "cgroup limit", "openblas", "openblas core", "openblas threads", "mnist", "fashion-mnist", "cifar10"}
	if found {
		keys = append(keys, "onnx runtime version", "providers", "auto provider", "provider cpu", "provider webgpu")
		if !strings.Contains(values["onnx runtime"], " (found by ") || !strings.Contains(values["providers"], "CPUExecutionProvider") {
			t.Errorf("onnx runtime: %q, providers: %q", values["onnx runtime"], values["providers"])
		}
	}
	for _, key := range keys {
		if values[key] == "" {
			t.Errorf("no %q line in\n%s", key, stdout)
		}
	}
}
