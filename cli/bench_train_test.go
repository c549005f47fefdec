package cli

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestBenchTrainPeerConfigs runs `bench train` against the PyTorch peer on
// a ResNet-D: the peer runs in NCHW and in channels_last, and the ratio is
// taken against the faster, which the output names. Timings are not
// asserted.
func TestBenchTrainPeerConfigs(t *testing.T) {
	testenv.RequirePython(t, "torch", "torchvision")
	args := []string{"bench", "train", "--model", "resnet20", "--variant", "d", "--input", "3x32x32", "--batch", "4", "--steps", "2", "--warmup", "1", "--threads", "1"}
	code, stdout, stderr := run(append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res trainBench
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	if res.Variant != "D" || res.Precision != "fp32" || len(res.TorchConfigs) != 2 || res.Torch == nil {
		t.Fatalf("result %s", stdout)
	}
	fastest := res.TorchConfigs[0]
	for i, want := range []string{"nchw", "channels_last"} {
		tc := res.TorchConfigs[i]
		if tc.MemoryFormat != want || tc.Precision != "fp32" || len(tc.StepMS) != 2 || !(tc.ImagesPerSecond > 0) || !(tc.PeakRSSMiB > 0) {
			t.Errorf("peer configuration %d: %+v; want %s, fp32, 2 steps", i, *tc, want)
		}
		if tc.ImagesPerSecond > fastest.ImagesPerSecond {
			fastest = tc
		}
	}
	if res.Torch.MemoryFormat != fastest.MemoryFormat || res.Torch.ImagesPerSecond != fastest.ImagesPerSecond || math.Abs(res.Ratio-res.ImagesPerSecond/fastest.ImagesPerSecond) > 1e-9 {
		t.Errorf("torch %s %.1f images/s, ratio %v; want the faster configuration, %s %.1f images/s, and the ratio to it",
			res.Torch.MemoryFormat, res.Torch.ImagesPerSecond, res.Ratio, fastest.MemoryFormat, fastest.ImagesPerSecond)
	}

	code, stdout, stderr = run(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"resnet20-D batch 4 3x32x32 fp32", " nchw fp32, 1 threads", " channels_last fp32, 1 threads", "PyTorch's faster configuration ("} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output %q does not say %q", stdout, want)
		}
	}
}

func TestBenchTrainBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--precision", "fp16"}, `--precision "fp16": expected fp32 or bf16`},
		{[]string{"--peer", "jax"}, `--peer "jax": expected torch or none`},
		{[]string{"--variant", "E"}, `unknown variant "E"`},
	} {
		code, stdout, stderr := run(append([]string{"bench", "train", "--steps", "1"}, tc.args...)...)
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
