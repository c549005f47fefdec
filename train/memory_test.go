package train

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
)

// tinyClassifier builds x[N,1,4,4] → Conv 3×3 (2 filters, pad 1, bias) →
// Relu → GlobalAveragePool → Flatten → Gemm (3 classes, bias).
func tinyClassifier(t *testing.T) *graph.Model {
	t.Helper()
	b := graph.NewBuilder("tiny", 17)
	x := b.Input("x", graph.Shape{{Param: "N"}, {Size: 1}, {Size: 4}, {Size: 4}})
	w := b.Param("w", []int64{2, 1, 3, 3}, make([]float32, 18))
	bias := b.Param("b", []int64{2}, make([]float32, 2))
	y := b.Conv("conv", x, w, bias, graph.ConvAttrs{Kernel: [2]int64{3, 3}, Pads: [4]int64{1, 1, 1, 1}})
	y = b.Flatten("flat", b.GlobalAveragePool("gap", b.Relu("relu", y)), 1)
	fc := b.Param("fc.w", []int64{3, 2}, make([]float32, 6))
	fcb := b.Param("fc.b", []int64{3}, make([]float32, 3))
	b.Output(b.Gemm("fc", y, fc, fcb), "logits")
	m, err := b.Finish("test", "0")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEstimateMemory checks the estimate of the tiny classifier against a
// hand count: 18+2+6+3 = 29 parameters; per image, outputs of 2·4·4 = 32
// (conv), 32 (relu), 2 (pool), 2 (flatten) and 3 (fc) = 71 values.
func TestEstimateMemory(t *testing.T) {
	const params, outputs = 29, 71
	tests := []struct {
		name          string
		plan          MemoryPlan
		pass          int // images a training pass
		weightsCopies int
	}{
		{"one replica, whole batch", MemoryPlan{Batch: 8, Replicas: 1, DataBytes: 1000}, 8, 4 + 4 + 2 + 1},
		{"two replicas, micro-batches", MemoryPlan{Batch: 8, MicroBatch: 4, Replicas: 2, DataBytes: 1000}, 4, 4 + 4 + 2*2 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := EstimateMemory(tinyClassifier(t), tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			want := MemoryEstimate{
				Plan:     tc.plan,
				Weights:  4 * params * int64(tc.weightsCopies),
				Training: int64(math.Ceil(4 * 0.8 * outputs * float64(tc.pass))),
				Testing:  int64(math.Ceil(4 * 0.2 * outputs * 8)),
				Data:     1000,
				Base:     32 << 20,
			}
			if e != want {
				t.Errorf("EstimateMemory = %+v\nwant %+v", e, want)
			}
			if sum := want.Weights + want.Training + want.Testing + want.Data + want.Base; e.Total() != sum {
				t.Errorf("Total = %d, want %d", e.Total(), sum)
			}
		})
	}
}

// TestEstimateMemoryNeedsStaticShapes refuses a graph with an output whose
// shape inference cannot know, naming the node.
func TestEstimateMemoryNeedsStaticShapes(t *testing.T) {
	m := tinyClassifier(t)
	m.GetGraph().Node = append(m.GetGraph().Node, &onnx.NodeProto{Name: "where", OpType: "NonZero", Input: []string{"logits"}, Output: []string{"nz"}})
	_, err := EstimateMemory(m, MemoryPlan{Batch: 1, Replicas: 1})
	if err == nil || !strings.Contains(err.Error(), `node "where" (NonZero)`) {
		t.Fatalf("EstimateMemory: %v; expected an error naming the node", err)
	}
}

func TestMemoryEstimateString(t *testing.T) {
	e := MemoryEstimate{Plan: MemoryPlan{Batch: 1024, MicroBatch: 256, Replicas: 2}, Weights: 400 << 20, Training: 5 << 30, Testing: 10 << 30, Data: 700 << 20, Base: 32 << 20}
	want := "about 16.1 GiB (weights+grads+momentum 400 MiB, activations 15.0 GiB: training 5.00 GiB at micro-batch 256 in 2 replicas, testing 10.0 GiB at batch 1024; data 700 MiB, runtime 32 MiB)"
	if got := e.String(); got != want {
		t.Errorf("String =\n%s\nwant\n%s", got, want)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 MiB"},
		{512 << 20, "512 MiB"},
		{1<<30 - 1<<20, "1023 MiB"},
		{1 << 30, "1.00 GiB"},
		{1255 << 20, "1.23 GiB"},
		{10 << 30, "10.0 GiB"},
		{3124 << 30 / 100, "31.2 GiB"},
	}
	for _, tc := range tests {
		if got := FormatBytes(tc.in); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "4GiB", want: 4 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: "1.5G", want: 3 << 29},
		{in: "2 gb", want: 2e9},
		{in: "100k", want: 100 << 10},
		{in: "123", want: 123},
		{in: "64B", want: 64},
		{in: "", bad: true},
		{in: "0GiB", bad: true},
		{in: "-1G", bad: true},
		{in: "lots", bad: true},
		{in: "4 XB", bad: true},
		{in: "1e30GiB", bad: true},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		switch {
		case tc.bad && err == nil:
			t.Errorf("ParseBytes(%q) = %d, want an error", tc.in, got)
		case !tc.bad && (err != nil || got != tc.want):
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// TestReadSystemMemory reads fake /proc and cgroup trees: v2 and v1
// limits, the tightest along the group's ancestors, "no limit" in both
// forms, and what room each leaves a process holding 100 MiB.
func TestReadSystemMemory(t *testing.T) {
	const meminfo = "MemTotal:        8388608 kB\nMemFree:  1 kB\nMemAvailable:    6291456 kB\n"
	const status = "Name:\tbot-onnx\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	tests := []struct {
		name      string
		cgroup    string            // /proc/self/cgroup
		files     map[string]string // under the cgroup root
		limit     int64
		usage     int64
		limitFile string
		room      int64
		bound     string
	}{
		{"v2 limit", "0::/user.slice/job\n",
			map[string]string{"user.slice/job/memory.max": "2147483648\n", "user.slice/job/memory.current": "1073741824\n", "user.slice/memory.max": "max\n"},
			2 << 30, 1 << 30, "user.slice/job/memory.max", 1<<30 + 100<<20, "the cgroup limit 2.00 GiB"},
		{"v2 tighter ancestor", "0::/a/b\n",
			map[string]string{"a/b/memory.max": "4294967296", "a/b/memory.current": "1", "a/memory.max": "3221225472", "a/memory.current": "2147483648"},
			3 << 30, 2 << 30, "a/memory.max", 1<<30 + 100<<20, "the cgroup limit 3.00 GiB"},
		{"v2 no limit", "0::/a\n", map[string]string{"a/memory.max": "max\n", "memory.max": "max"},
			0, 0, "", 6<<30 + 100<<20, "MemAvailable"},
		{"v1 limit at the mount's root (container)", "5:cpu,cpuacct:/docker/x\n4:memory:/docker/x\n0::/\n",
			map[string]string{"memory/memory.limit_in_bytes": "1073741824\n", "memory/memory.usage_in_bytes": "536870912\n"},
			1 << 30, 512 << 20, "memory/memory.limit_in_bytes", 612 << 20, "the cgroup limit 1.00 GiB"},
		{"v1 unlimited", "4:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"},
			0, 0, "", 6<<30 + 100<<20, "MemAvailable"},
		{"limit above what is available", "0::/\n", map[string]string{"memory.max": "17179869184", "memory.current": "1048576"},
			16 << 30, 1 << 20, "memory.max", 6<<30 + 100<<20, "MemAvailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			proc, cg := filepath.Join(root, "proc"), filepath.Join(root, "cgroup")
			files := map[string]string{
				filepath.Join(proc, "meminfo"):        meminfo,
				filepath.Join(proc, "self", "status"): status,
				filepath.Join(proc, "self", "cgroup"): tc.cgroup,
			}
			for name, content := range tc.files {
				files[filepath.Join(cg, name)] = content
			}
			for path, content := range files {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m, err := readSystemMemory(proc, cg)
			if err != nil {
				t.Fatal(err)
			}
			want := SystemMemory{Total: 8 << 30, Available: 6 << 30, CgroupLimit: tc.limit, CgroupUsage: tc.usage, Resident: 100 << 20}
			if tc.limitFile != "" {
				want.CgroupFile = filepath.Join(cg, tc.limitFile)
			}
			if m != want {
				t.Errorf("readSystemMemory = %+v\nwant %+v", m, want)
			}
			if room, bound := m.Room(); room != tc.room || bound != tc.bound {
				t.Errorf("Room = %d (%s), want %d (%s)", room, bound, tc.room, tc.bound)
			}
		})
	}
}

// TestReadSystemMemoryOfThisMachine reads the real files: the figures must
// be positive and ordered.
func TestReadSystemMemoryOfThisMachine(t *testing.T) {
	m, err := ReadSystemMemory()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if m.Total <= 0 || m.Available <= 0 || m.Available > m.Total || m.Resident <= 0 {
		t.Errorf("ReadSystemMemory = %+v; expected 0 < Available ≤ Total and a resident size", m)
	}
}

// TestTrainChecksMemory runs Train under a limit it cannot fit in, which
// refuses it before it writes anything, and under one it fits in, which
// logs the estimate.
func TestTrainChecksMemory(t *testing.T) {
	dataDir, model := fixture(t, 10)
	tests := []struct {
		name    string
		limit   int64
		wantErr []string
		wantLog string
	}{
		{"over the limit", 1 << 20, []string{"training " + model + " needs about ", "weights+grads+momentum", "at batch 32 in 2 replicas",
			"but 1 MiB is available (Engine.MemoryLimit); lower Recipe.Batch or use Engine.MicroBatch"}, ""},
		{"within the limit", 64 << 30, nil, "memory: needs about "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			cfg := config(dataDir, model, out, 1)
			cfg.Engine.MemoryLimit = tc.limit
			var log bytes.Buffer
			cfg.Log = &log
			_, err := Train(context.Background(), cfg)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(log.String(), tc.wantLog) || !strings.Contains(log.String(), "of 64.0 GiB available (Engine.MemoryLimit)") {
					t.Errorf("log does not give the estimate:\n%s", log.String())
				}
				return
			}
			if err == nil {
				t.Fatal("Train succeeded; expected a refusal")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the refused run left %s behind (%v)", out, err)
			}
		})
	}
}
