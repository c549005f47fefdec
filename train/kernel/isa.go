package kernel

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/cpu"
)

// Features is the part of the CPU's feature set (CPUID, with the operating
// system's consent for the wide registers) that the engine picks its
// kernels by. Kernels are chosen from these bits alone, never from a table
// of CPU model numbers: a library that looks up the model falls back to
// generic code on a CPU newer than itself (docs/cpu-features.md).
type Features struct {
	AVX2, FMA                             bool
	AVX512F, AVX512BW, AVX512DQ, AVX512VL bool
	AVX512BF16                            bool
	AMXTile, AMXBF16                      bool
}

// HostFeatures reads the features of the CPU this process runs on.
func HostFeatures() Features {
	x := cpu.X86
	return Features{
		AVX2: x.HasAVX2, FMA: x.HasFMA,
		AVX512F: x.HasAVX512F, AVX512BW: x.HasAVX512BW, AVX512DQ: x.HasAVX512DQ, AVX512VL: x.HasAVX512VL,
		AVX512BF16: x.HasAVX512BF16,
		AMXTile:    x.HasAMXTile, AMXBF16: x.HasAMXBF16,
	}
}

// HasAVX512 reports the AVX-512 subsets the Skylake-server generation of
// kernels needs (F, BW, DQ, VL).
func (f Features) HasAVX512() bool { return f.AVX512F && f.AVX512BW && f.AVX512DQ && f.AVX512VL }

// HasBF16 reports bfloat16 arithmetic: AVX512_BF16's dot products or AMX's
// bfloat16 tiles.
func (f Features) HasBF16() bool {
	return (f.HasAVX512() && f.AVX512BF16) || (f.AMXTile && f.AMXBF16)
}

// ISA names the widest vector instruction set the features allow the
// engine's kernels, in the words of Intel's manuals: "avx512_bf16",
// "avx512", "avx2" or "sse" (the x86-64 baseline).
func (f Features) ISA() string {
	switch {
	case f.HasAVX512() && f.AVX512BF16:
		return "avx512_bf16"
	case f.HasAVX512():
		return "avx512"
	case f.AVX2 && f.FMA:
		return "avx2"
	}
	return "sse"
}

// String lists the features that are present, for logs and errors.
func (f Features) String() string {
	var s []string
	for _, b := range []struct {
		on   bool
		name string
	}{{f.AVX2, "avx2"}, {f.FMA, "fma"}, {f.AVX512F, "avx512f"}, {f.AVX512BW, "avx512bw"}, {f.AVX512DQ, "avx512dq"},
		{f.AVX512VL, "avx512vl"}, {f.AVX512BF16, "avx512_bf16"}, {f.AMXTile, "amx_tile"}, {f.AMXBF16, "amx_bf16"}} {
		if b.on {
			s = append(s, b.name)
		}
	}
	if len(s) == 0 {
		return "none beyond x86-64's SSE2"
	}
	return strings.Join(s, " ")
}

// BLASCoreFor returns the OpenBLAS core (a name OPENBLAS_CORETYPE takes)
// whose kernels use the widest instruction set the features allow, or ""
// when only the baseline is there and OpenBLAS's own choice is as good.
// Cooperlake is SkylakeX's kernels built with bfloat16 support; every
// OpenBLAS since 0.3.11 with DYNAMIC_ARCH has both.
func BLASCoreFor(f Features) string {
	switch f.ISA() {
	case "avx512_bf16":
		return "Cooperlake"
	case "avx512":
		return "SkylakeX"
	case "avx2":
		return "Haswell"
	}
	return ""
}

// blasCoreISA is the instruction set each OpenBLAS x86-64 core's kernels
// are written for, by the names of corename's answer (lower case). A core
// missing here is an older generation: SSE at best.
var blasCoreISA = map[string]string{
	"sapphirerapids": "avx512_bf16",
	"cooperlake":     "avx512_bf16",
	"skylakex":       "avx512",
	"haswell":        "avx2",
	"skylake":        "avx2",
	"zen":            "avx2",
	"excavator":      "avx2",
}

// BLASCoreISA returns the instruction set an OpenBLAS core's kernels use.
func BLASCoreISA(core string) string {
	if isa, ok := blasCoreISA[strings.ToLower(core)]; ok {
		return isa
	}
	return "sse"
}

// isaRank orders instruction sets by width.
var isaRank = map[string]int{"sse": 0, "avx2": 1, "avx512": 2, "avx512_bf16": 3}

// ISAWarning returns a one-line warning when a library's kernels (what
// names them, e.g. "openblas core Prescott") use a narrower instruction set
// than the CPU's features allow, and "" when they use the CPU's best. A
// bfloat16-capable core on a CPU without bfloat16 is no fault: its fp32
// kernels are the AVX-512 ones; nor is an AVX-512 one on a CPU with
// AVX512_BF16, for fp32 work.
func ISAWarning(what, kernelISA string, f Features) string {
	have := f.ISA()
	if isaRank[kernelISA] >= isaRank[have] || (kernelISA == "avx512" && have == "avx512_bf16") {
		return ""
	}
	if kernelISA == "sse" {
		return fmt.Sprintf("%s runs sse kernels on a CPU with %s: a generic fallback, several times slower than it could be", what, have)
	}
	return fmt.Sprintf("%s runs %s kernels on a CPU with %s: narrower than the CPU allows, slower than it could be", what, kernelISA, have)
}

// DNNLISAFamily returns the instruction set of oneDNN's kernels (DNNLISA)
// in the words ISA uses: "avx512_bf16", "avx512", "avx2" or "sse".
func DNNLISAFamily() string { return dnnlISAFamily(DNNLISA()) }

// dnnlISAFamily maps one of oneDNN's names to ISA's words. Knights
// Landing's avx512_mic lacks the BW, DQ and VL extensions ISA's "avx512"
// needs, so it counts as avx2.
func dnnlISAFamily(name string) string {
	switch {
	case strings.HasPrefix(name, "avx512_core_bf16"), strings.HasPrefix(name, "avx512_core_amx"):
		return "avx512_bf16"
	case strings.HasPrefix(name, "avx512_core"):
		return "avx512"
	case strings.HasPrefix(name, "avx2"), strings.HasPrefix(name, "avx512_mic"):
		return "avx2"
	}
	return "sse"
}

// CPUName returns the CPU's model name as Linux reports it (lscpu's "Model
// name"), for stating beside a measured figure; "" where unknown.
func CPUName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
