package kernel

import (
	"strings"
	"testing"
)

// The CPUs the engine meets, as feature sets: what CPUID says on each.
var (
	baseline  = Features{}
	avx2      = Features{AVX2: true, FMA: true}
	avx512    = Features{AVX2: true, FMA: true, AVX512F: true, AVX512BW: true, AVX512DQ: true, AVX512VL: true}
	avx512bf  = Features{AVX2: true, FMA: true, AVX512F: true, AVX512BW: true, AVX512DQ: true, AVX512VL: true, AVX512BF16: true}
	amxOnly   = Features{AVX2: true, FMA: true, AMXTile: true, AMXBF16: true}
	knlLike   = Features{AVX2: true, FMA: true, AVX512F: true} // AVX-512F without BW/DQ/VL
	sapphire  = Features{AVX2: true, FMA: true, AVX512F: true, AVX512BW: true, AVX512DQ: true, AVX512VL: true, AVX512BF16: true, AMXTile: true, AMXBF16: true}
	avx2NoFMA = Features{AVX2: true}
)

func TestKernelChoiceFromFeatures(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Features
		isa  string
		core string
		bf16 bool
	}{
		{"baseline", baseline, "sse", "", false},
		{"avx2 without fma", avx2NoFMA, "sse", "", false},
		{"avx2 (Zen 2/3, Haswell to Skylake)", avx2, "avx2", "Haswell", false},
		{"avx512f only", knlLike, "avx2", "Haswell", false},
		{"avx512 (Skylake-SP, Zen 4 without bf16)", avx512, "avx512", "SkylakeX", false},
		{"avx512 with bf16 (Cooper Lake, Zen 4)", avx512bf, "avx512_bf16", "Cooperlake", true},
		{"amx without avx512", amxOnly, "avx2", "Haswell", true},
		{"sapphire rapids", sapphire, "avx512_bf16", "Cooperlake", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.ISA(); got != tc.isa {
				t.Errorf("ISA() = %q, expected %q", got, tc.isa)
			}
			if got := BLASCoreFor(tc.f); got != tc.core {
				t.Errorf("BLASCoreFor = %q, expected %q", got, tc.core)
			}
			if got := tc.f.HasBF16(); got != tc.bf16 {
				t.Errorf("HasBF16() = %v, expected %v", got, tc.bf16)
			}
			// The core chosen for a CPU never draws the warning on it.
			if core := BLASCoreFor(tc.f); core != "" {
				if w := ISAWarning("openblas", BLASCoreISA(core), tc.f); w != "" {
					t.Errorf("core %s warned on its own CPU: %s", core, w)
				}
			}
		})
	}
}

func TestISAWarning(t *testing.T) {
	for _, tc := range []struct {
		core string
		f    Features
		warn bool
	}{
		{"Prescott", avx512bf, true}, // Debian's OpenBLAS 0.3.21 on a Xeon it does not know
		{"Prescott", avx2, true},
		{"Prescott", baseline, false},
		{"Haswell", avx512, true},
		{"Zen", avx2, false},
		{"SkylakeX", avx512bf, false}, // fp32 GEMMs gain nothing from bf16 support
		{"SkylakeX", avx512, false},
		{"Cooperlake", avx512bf, false},
		{"SapphireRapids", sapphire, false},
		{"Nehalem", avx2, true},
	} {
		w := ISAWarning("openblas core "+tc.core, BLASCoreISA(tc.core), tc.f)
		if (w != "") != tc.warn {
			t.Errorf("core %s on %s: warning %q, expected one: %v", tc.core, tc.f, w, tc.warn)
		}
		if tc.warn && (!strings.Contains(w, tc.core) || !strings.Contains(w, tc.f.ISA()) || strings.Contains(w, "\n")) {
			t.Errorf("warning %q should name the core and the CPU's %s in one line", w, tc.f.ISA())
		}
	}
}

// TestDNNLISAWarning maps oneDNN's instruction-set names onto the engine's
// and warns where oneDNN runs narrower kernels than the features allow.
func TestDNNLISAWarning(t *testing.T) {
	for _, tc := range []struct {
		dnnl, family string
		f            Features
		warn         bool
	}{
		{"avx512_core_amx", "avx512_bf16", sapphire, false},
		{"avx512_core_bf16", "avx512_bf16", avx512bf, false},
		{"avx512_core_vnni", "avx512", avx512bf, false}, // fp32 convolutions gain nothing from bf16
		{"avx512_core", "avx512", avx512, false},
		{"avx2", "avx2", avx512bf, true}, // DNNL_MAX_CPU_ISA=AVX2, or an old oneDNN
		{"avx2_vnni", "avx2", avx2, false},
		{"avx512_mic", "avx2", avx512, true},
		{"sse41", "sse", avx2, true},
		{"all", "sse", baseline, false},
	} {
		if got := dnnlISAFamily(tc.dnnl); got != tc.family {
			t.Errorf("oneDNN %s: family %s, expected %s", tc.dnnl, got, tc.family)
		}
		if w := ISAWarning("oneDNN "+tc.dnnl, tc.family, tc.f); (w != "") != tc.warn {
			t.Errorf("oneDNN %s on %s: warning %q, expected one: %v", tc.dnnl, tc.f, w, tc.warn)
		}
	}
}

// TestLoadedBLASMatchesCPU: on the machine the tests run on, the OpenBLAS
// kernels that run use the widest instruction set the CPU has (unless the
// user forced a core), which is what doctor reports.
func TestLoadedBLASMatchesCPU(t *testing.T) {
	info, err := LoadBLAS()
	if err != nil {
		t.Fatal(err)
	}
	f := HostFeatures()
	if !strings.HasPrefix(info.CoreFrom, "the CPU's features") {
		t.Skipf("core chosen by %s", info.CoreFrom)
	}
	if info.Requested != BLASCoreFor(f) {
		t.Errorf("requested core %q, expected %q for %s", info.Requested, BLASCoreFor(f), f)
	}
	if w := ISAWarning("openblas core "+info.Core, info.ISA, f); w != "" {
		t.Errorf("%s (features %s, requested %s)", w, f, info.Requested)
	}
	t.Logf("CPU %s: openblas core %s (%s), requested %s", f, info.Core, info.ISA, info.Requested)
}

func TestBF16Support(t *testing.T) {
	for _, f := range []Features{baseline, avx2, avx512, knlLike} {
		err := bf16Support(f)
		if err == nil || !strings.Contains(err.Error(), "AVX512_BF16 or AMX-BF16") {
			t.Errorf("%s: %v; expected a refusal naming the missing features", f, err)
		}
	}
	for _, f := range []Features{avx512bf, amxOnly, sapphire} {
		if err := bf16Support(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, s := range []string{"fp32", "bf16"} {
		if p, err := ParsePrecision(s); err != nil || p.String() != s {
			t.Errorf("ParsePrecision(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePrecision("fp16"); err == nil || !strings.Contains(err.Error(), `"fp16"`) {
		t.Errorf("ParsePrecision(fp16): %v; expected an error naming the value", err)
	}
}
