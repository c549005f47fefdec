package cli

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// TestBenchTrainPeerConfigs runs `bench train --runs 2` against the
// PyTorch peer on a ResNet-D: in each run the peer runs in NCHW and in
// channels_last and the run's ratio is taken against the faster; the
// summary holds the medians, and the output names the faster format.
// Timings are not asserted.
func TestBenchTrainPeerConfigs(t *testing.T) {
	testenv.RequirePython(t, "torch", "torchvision")
	args := []string{"bench", "train", "--model", "resnet20", "--variant", "d", "--input", "3x32x32", "--batch", "4", "--steps", "2", "--warmup", "1", "--threads", "1", "--runs", "2"}
	code, stdout, stderr := run(append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res bench.TrainResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	if res.Variant != "D" || res.Precision != "fp32" || len(res.Runs) != 2 || len(res.TorchBestMemoryFormats) != 2 {
		t.Fatalf("result %s", stdout)
	}
	var own, ratios, torch []float64
	for i, r := range res.Runs {
		if len(r.Torch) != 2 || len(r.StepMS) != 2 || r.FP32 != nil {
			t.Fatalf("run %d: %+v", i, r)
		}
		fastest := r.Torch[0]
		for j, want := range []string{"nchw", "channels_last"} {
			tc := r.Torch[j]
			if tc.MemoryFormat != want || tc.Precision != "fp32" || len(tc.StepMS) != 2 || !(tc.ImagesPerSecond > 0) || !(tc.PeakRSSMiB > 0) {
				t.Errorf("run %d, peer configuration %d: %+v; want %s, fp32, 2 steps", i, j, *tc, want)
			}
			if tc.ImagesPerSecond > fastest.ImagesPerSecond {
				fastest = tc
			}
		}
		if res.TorchBestMemoryFormats[i] != fastest.MemoryFormat || math.Abs(r.Ratio-r.ImagesPerSecond/fastest.ImagesPerSecond) > 1e-9 {
			t.Errorf("run %d: best %s, ratio %v; want %s and the ratio to its %.1f images/s", i, res.TorchBestMemoryFormats[i], r.Ratio, fastest.MemoryFormat, fastest.ImagesPerSecond)
		}
		own, ratios, torch = append(own, r.ImagesPerSecond), append(ratios, r.Ratio), append(torch, fastest.ImagesPerSecond)
	}
	// Two runs: the medians are the means of the two.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"images/s", res.ImagesPerSecond, bench.Median(own)}, {"ratio", res.Ratio, bench.Median(ratios)}, {"peer images/s", res.TorchImagesPerSecond, bench.Median(torch)}} {
		if math.Abs(c.got-c.want) > 1e-9*c.want {
			t.Errorf("%s: summary %v, median of the runs %v", c.name, c.got, c.want)
		}
	}
	if !(res.PeakRSSMiB > 0) || !(res.TorchPeakRSSMiB > 0) {
		t.Errorf("peaks: own %v MiB, peer %v MiB", res.PeakRSSMiB, res.TorchPeakRSSMiB)
	}

	code, stdout, stderr = run(args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"resnet20-D batch 4 3x32x32 fp32", "median of 2 runs of 2 steps", " nchw fp32, 1 threads", " channels_last fp32, 1 threads", "PyTorch's faster configuration (", "run 2    bot-onnx"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output %q does not say %q", stdout, want)
		}
	}
	if !strings.Contains(stderr, "run 2/2: resnet20-D batch 4 3x32x32 fp32") {
		t.Errorf("progress %q", stderr)
	}
}

// TestBenchTrainBF16 measures bf16 beside bot-onnx's own fp32 in the same
// run, and refuses bf16 in one line on a CPU without bfloat16 arithmetic.
func TestBenchTrainBF16(t *testing.T) {
	args := []string{"bench", "train", "--model", "resnet20", "--input", "3x32x32", "--batch", "4", "--steps", "2", "--warmup", "1", "--threads", "1", "--precision", "bf16", "--peer", "none"}
	code, stdout, stderr := run(append(args, "--json")...)
	if err := kernel.BF16Support(); err != nil {
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "AVX512_BF16 or AMX-BF16") {
			t.Errorf("without bf16: exit %d, stderr %q; want the one-line refusal", code, stderr)
		}
		return
	}
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res bench.TrainResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%q: %v", stdout, err)
	}
	r := res.Runs[0]
	if res.Precision != "bf16" || r.FP32 == nil || !(r.FP32.ImagesPerSecond > 0) || math.Abs(res.BF16Speedup-r.ImagesPerSecond/r.FP32.ImagesPerSecond) > 1e-9 {
		t.Errorf("result %s", stdout)
	}
	if code, stdout, _ = run(args...); code != 0 || !strings.Contains(stdout, "bf16 is ") || !strings.Contains(stdout, "fp32 in the same runs") {
		t.Errorf("exit %d, output %q", code, stdout)
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
		{[]string{"--runs", "0"}, `--runs must be positive`},
	} {
		code, stdout, stderr := run(append([]string{"bench", "train", "--steps", "1"}, tc.args...)...)
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}
