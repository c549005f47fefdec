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

// TestReportWriteText: a hand-made report reads as the aligned listing
// `bot-onnx doctor` prints, sizes in MiB or GiB and counts with commas; a
// library that does not load says why on its own line.
func TestReportWriteText(t *testing.T) {
	r := Report{Version: "v1", Go: "go1.26", OS: "linux", Arch: "amd64", CPUs: 8, GOMAXPROCS: 4,
		Memory: Memory{Total: 16 << 30, Available: 512 << 20},
		ORT:    ORT{Library: "/lib/libonnxruntime.so", FoundBy: "$BOT_ONNX_ORT_LIB", Error: "no symbol OrtGetApiBase"},
		Engine: Engine{Features: "avx2 fma", ISA: "avx2", Convolutions: "avx2", Elementwise: "avx2"},
		OpenBLAS: OpenBLAS{Library: "libopenblas.so.0", Config: "OpenBLAS 0.3.21", Threads: 4, Core: "Haswell", ISA: "avx2",
			CoreFrom: "OPENBLAS_CORETYPE", Requested: "Zen"},
		Data: []DataSet{{Name: "mnist", Dir: "/data/mnist", Present: true, Train: 60000, Test: 10000}, {Name: "cifar10", Error: "not found"}},
	}
	want := `bot-onnx:            v1
go:                  go1.26 linux/amd64
cores:               8 (GOMAXPROCS 4)
memory:              16.0 GiB total, 512 MiB available
cgroup limit:        none
onnx runtime:        /lib/libonnxruntime.so (found by $BOT_ONNX_ORT_LIB)
onnx runtime error:  no symbol OrtGetApiBase
cpu features:        avx2 fma
engine isa:          avx2, no bfloat16 arithmetic (train --precision bf16 is refused)
convolutions:        oneDNN avx2 (JIT kernels oneDNN picks from CPUID)
elementwise:         avx2 (BatchNorm, ReLU, Add: the copy picked from the features)
openblas:            OpenBLAS 0.3.21 (libopenblas.so.0)
openblas core:       Haswell: avx2 kernels, chosen by OPENBLAS_CORETYPE, which asked for Zen
openblas threads:    4
mnist:               /data/mnist (60,000 training, 10,000 test images)
cifar10:             missing: not found
`
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("text\n%s\nwant\n%s", b.String(), want)
	}
}
