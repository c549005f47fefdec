package bench_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// requireTorch skips a test where Debian's Python cannot import PyTorch.
func requireTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(bench.Python, "-c", "import torch, torchvision").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch and torchvision: %v %s", bench.Python, err, strings.TrimSpace(string(out)))
	}
}

// layers lists m's conv and pool layers as torch_infer.py's --count-only
// does, sorted (the two frameworks order a block's shortcut differently).
func layers(t *testing.T, m *graph.Model) []string {
	t.Helper()
	shapes, err := graph.InferShapes(m)
	if err != nil {
		t.Fatal(err)
	}
	ix := graph.NewIndex(m.GetGraph())
	var out []string
	for _, n := range m.GetGraph().GetNode() {
		op := n.GetOpType()
		if op != "Conv" && op != "MaxPool" && op != "AveragePool" {
			continue
		}
		s := graph.IntsAttr(n, "strides", []int64{1, 1})
		y := shapes[n.GetOutput()[0]].Sizes()
		if op == "Conv" {
			w := ix.Constant(n.GetInput()[1]).GetDims()
			out = append(out, fmt.Sprintf("Conv %dx%d/%dx%d %d->%d out %dx%d", w[2], w[3], s[0], s[1], w[1], w[0], y[2], y[3]))
			continue
		}
		k := graph.IntsAttr(n, "kernel_shape", nil)
		out = append(out, fmt.Sprintf("%s %dx%d/%dx%d out %dx%dx%d", op, k[0], k[1], s[0], s[1], y[1], y[2], y[3]))
	}
	slices.Sort(out)
	return out
}

// TestTorchCountsMatchModels checks that the PyTorch peer builds the same
// network as bot-onnx for each variant: equal parameters, MACs per image
// and conv and pool layers (kernel, stride, channels, output size), the
// layers being what tells D from C. Figures from torchvision and the
// paper anchor ResNet-50's.
func TestTorchCountsMatchModels(t *testing.T) {
	requireTorch(t)
	tests := []struct {
		model, variant, input string
		classes               int
		params, macs          int64 // 0: not anchored
	}{
		{"resnet20", "A", "3x32x32", 0, 272_474, 40_813_184},
		{"resnet20", "B", "3x32x32", 0, 272_474, 40_813_184},
		{"resnet20", "C", "3x32x32", 0, 272_474, 40_813_184},
		{"resnet20", "D", "3x32x32", 0, 272_474, 40_813_184},
		{"resnet20", "D", "1x28x28", 4, 0, 0},
		{"resnet20", "D", "3x30x30", 0, 0, 0},
		{"resnet18", "A", "3x224x224", 0, 11_689_512, 0},
		{"resnet18", "D", "3x224x224", 0, 0, 0},
		{"resnet50", "A", "3x224x224", 0, 25_557_032, 3_857_973_248},
		{"resnet50", "B", "3x224x224", 0, 25_557_032, 4_089_184_256},
		{"resnet50", "C", "3x224x224", 0, 25_576_264, 0},
		{"resnet50", "D", "3x224x224", 0, 25_576_264, 0},
		{"resnet50", "D", "3x200x200", 10, 0, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%s-%s", tc.model, tc.variant, tc.input), func(t *testing.T) {
			var dims []int
			for _, s := range strings.Split(tc.input, "x") {
				d, _ := strconv.Atoi(s)
				dims = append(dims, d)
			}
			m, err := models.Build(models.Config{Model: tc.model, Classes: tc.classes, InChannels: dims[0], Height: dims[1], Width: dims[2]})
			if err != nil {
				t.Fatal(err)
			}
			passes, err := tweaks.ForVariant(tc.variant)
			if err != nil {
				t.Fatal(err)
			}
			if m, _, err = tweaks.Apply(m, passes, tweaks.Options{}); err != nil {
				t.Fatal(err)
			}
			want, err := graph.Count(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := bench.TorchCounts(tc.model, tc.variant, tc.input, tc.classes)
			if err != nil {
				t.Fatal(err)
			}
			if got.Params != want.Params || got.MACs != want.MACs {
				t.Errorf("PyTorch %d params, %d MACs; bot-onnx %d params, %d MACs", got.Params, got.MACs, want.Params, want.MACs)
			}
			if (tc.params != 0 && want.Params != tc.params) || (tc.macs != 0 && want.MACs != tc.macs) {
				t.Errorf("bot-onnx %d params, %d MACs; want %d, %d", want.Params, want.MACs, tc.params, tc.macs)
			}
			wantLayers := layers(t, m)
			slices.Sort(got.Layers)
			if !slices.Equal(got.Layers, wantLayers) {
				t.Errorf("layers differ:\nPyTorch  %q\nbot-onnx %q", got.Layers, wantLayers)
			}
		})
	}
}

// TestTorchPeakIsItsOwn checks that the peer reports its own peak memory,
// not its parent's: Linux carries getrusage's ru_maxrss across fork and
// exec, so a peer started by a process that has touched 2 GiB would
// report at least that much.
func TestTorchPeakIsItsOwn(t *testing.T) {
	requireTorch(t)
	const size = 2 << 30
	buf := make([]byte, size)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	var ownKiB int64
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			ownKiB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if ownKiB < size/1024 {
		t.Fatalf("this test's VmHWM is %d KiB after touching %d KiB; the buffer was not made resident", ownKiB, size/1024)
	}
	r, err := bench.TorchTrain(bench.TrainOptions{Model: "resnet20", Variant: "A", Batch: 2, Input: "3x32x32", Warmup: 1, Steps: 1, Threads: 1,
		MemoryFormat: "nchw", Precision: "fp32"})
	if err != nil {
		t.Fatal(err)
	}
	if r.PeakRSSMiB <= 0 || r.PeakRSSMiB > size/(1<<20)/2 {
		t.Errorf("peer's peak %.0f MiB; want its own, well below the parent's %d MiB", r.PeakRSSMiB, ownKiB/1024)
	}
	runtime.KeepAlive(buf)
}

// TestTorchTrainConfigs runs the peer's training in each memory format
// and precision bench train can ask for (bf16: torch.autocast on the
// CPU, which Debian's PyTorch 1.13 has) on a ResNet-D and checks that
// each reports the configuration it ran. Timings are not asserted.
func TestTorchTrainConfigs(t *testing.T) {
	requireTorch(t)
	for _, format := range bench.MemoryFormats {
		for _, precision := range []string{"fp32", "bf16"} {
			r, err := bench.TorchTrain(bench.TrainOptions{Model: "resnet20", Variant: "D", Batch: 2, Input: "3x32x32", Classes: 3, Warmup: 1, Steps: 2,
				Threads: 1, MemoryFormat: format, Precision: precision})
			if err != nil {
				t.Fatal(err)
			}
			if r.MemoryFormat != format || r.Precision != precision || len(r.StepMS) != 2 || !(r.ImagesPerSecond > 0) || r.Threads != 1 {
				t.Errorf("%s %s: %+v", format, precision, *r)
			}
		}
	}
	_, err := bench.TorchTrain(bench.TrainOptions{Model: "resnet20", Variant: "E", Batch: 2, Input: "3x32x32", Steps: 1, Threads: 1, MemoryFormat: "nchw", Precision: "fp32"})
	if err == nil || !strings.Contains(err.Error(), "variant 'E': expected A, B, C or D") {
		t.Errorf("variant E: %v; want the peer's refusal", err)
	}
}
