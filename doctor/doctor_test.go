package doctor

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// TestDiagnoseMissingLibrary: a library path that does not exist is
// reported in ORT.Error, on one line, and the rest of the report is still
// gathered from the machine.
func TestDiagnoseMissingLibrary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libonnxruntime.so")
	r := Diagnose(missing, "test-version")
	if r.ORT.Library != "" || !strings.Contains(r.ORT.Error, missing) || strings.Contains(r.ORT.Error, "\n") {
		t.Errorf("ORT %+v; expected no library and a one-line error naming %s", r.ORT, missing)
	}
	if r.Version != "test-version" || r.CPUs != runtime.NumCPU() || r.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("version %q, cpus %d, gomaxprocs %d; expected test-version, %d, %d", r.Version, r.CPUs, r.GOMAXPROCS, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	}
	f := kernel.HostFeatures()
	if r.Engine.ISA != f.ISA() || r.Engine.Elementwise != kernel.VecISA() || r.Engine.Convolutions != kernel.DNNLISA() {
		t.Errorf("engine %+v; expected ISA %s, elementwise %s, convolutions %s", r.Engine, f.ISA(), kernel.VecISA(), kernel.DNNLISA())
	}
	names := make([]string, len(r.Data))
	for i, d := range r.Data {
		names[i] = d.Name
	}
	if got := strings.Join(names, ","); got != "mnist,fashion-mnist,cifar10" {
		t.Errorf("data sets %s; expected mnist,fashion-mnist,cifar10", got)
	}
}
