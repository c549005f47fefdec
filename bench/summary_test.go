package bench

import (
	"slices"
	"strings"
	"testing"
)

// TestSummarise: the summary's medians of three runs, the peaks, the
// faster peer configuration of each run, and each configuration's median.
func TestSummarise(t *testing.T) {
	run := func(own, nchw, cl, rss float64) TrainRun {
		a := &TorchResult{ImagesPerSecond: nchw, MemoryFormat: "nchw", PeakRSSMiB: 2 * rss}
		b := &TorchResult{ImagesPerSecond: cl, MemoryFormat: "channels_last", PeakRSSMiB: rss}
		best := a
		if cl > nchw {
			best = b
		}
		return TrainRun{ImagesPerSecond: own, PeakRSSMiB: rss, Torch: []*TorchResult{a, b}, Best: best, Ratio: own / best.ImagesPerSecond}
	}
	s := TrainSummary{Runs: []TrainRun{run(100, 50, 80, 10), run(120, 60, 40, 30), run(90, 45, 90, 20)}}
	s.summarise()
	if s.ImagesPerSecond != 100 || s.PeakRSSMiB != 30 || s.TorchPeakRSSMiB != 60 || s.TorchImagesPerSecond != 80 || s.Ratio != 1.25 ||
		!slices.Equal(s.TorchBestMemoryFormats, []string{"channels_last", "nchw", "channels_last"}) || !slices.Equal(s.TorchMedians, []float64{50, 80}) {
		t.Errorf("summary %+v", s)
	}
	if s.FP32ImagesPerSecond != 0 || s.BF16Speedup != 0 {
		t.Errorf("fp32 %v, speed-up %v without bf16", s.FP32ImagesPerSecond, s.BF16Speedup)
	}
}

// TestTrainResultWriteText: a hand-made two-run bf16 comparison with the
// loader and the peer reads as `bot-onnx bench train` prints it.
func TestTrainResultWriteText(t *testing.T) {
	nchw := func(ips float64) *TorchResult {
		return &TorchResult{ImagesPerSecond: ips, MemoryFormat: "nchw", Torch: "2.6.0", Precision: "bf16", Threads: 2}
	}
	cl := func(ips float64) *TorchResult {
		return &TorchResult{ImagesPerSecond: ips, MemoryFormat: "channels_last", Torch: "2.6.0", Precision: "bf16", Threads: 2}
	}
	a, b := cl(80), nchw(60)
	res := &TrainResult{Model: "resnet20", Variant: "A", Batch: 4, Input: "3x32x32", Threads: 2, Precision: "bf16", CPU: "Test CPU", ISA: "avx2",
		TrainSummary: TrainSummary{
			Runs: []TrainRun{
				{ImagesPerSecond: 100, StepMS: []float64{10, 10}, FP32: &TrainRun{ImagesPerSecond: 50}, Torch: []*TorchResult{nchw(40), a}, Best: a, Ratio: 1.25},
				{ImagesPerSecond: 120, StepMS: []float64{8, 9}, FP32: &TrainRun{ImagesPerSecond: 60}, Torch: []*TorchResult{b, cl(40)}, Best: b, Ratio: 2},
			},
			ImagesPerSecond: 110, PeakRSSMiB: 300.4, FP32ImagesPerSecond: 55, BF16Speedup: 2, TorchPeakRSSMiB: 400, Ratio: 1.6,
			TorchBestMemoryFormats: []string{"nchw", "channels_last"}, TorchMedians: []float64{50, 60},
		},
		Data: "folder:/d", Workers: 2, LoaderImagesPerSecond: 220, FedImagesPerSecond: 99,
	}
	want := `cpu       Test CPU (avx2)
run 1    bot-onnx 100.0 images/s (fp32 50.0, bf16 2.00×), PyTorch nchw 40.0, PyTorch channels_last 80.0: 1.25×
run 2    bot-onnx 120.0 images/s (fp32 60.0, bf16 2.00×), PyTorch nchw 60.0, PyTorch channels_last 40.0: 2.00×
bot-onnx  resnet20-A batch 4 3x32x32 bf16, 2 replicas: 110.0 images/s (median of 2 runs of 2 steps), peak RSS 300 MiB
bot-onnx  fp32 in the same runs: 55.0 images/s; bf16 is 2.00× fp32
loader    folder:/d, 2 workers: 220.0 images/s alone (2.00× the trainer); training fed by it: 99.0 images/s (0.90× random data)
PyTorch   2.6.0 nchw bf16, 2 threads: 50.0 images/s
PyTorch   2.6.0 channels_last bf16, 2 threads: 60.0 images/s
PyTorch   peak RSS 400 MiB
ratio     1.60× PyTorch's faster configuration (channels_last, nchw)
`
	var text strings.Builder
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if text.String() != want {
		t.Errorf("text\n%s\nwant\n%s", text.String(), want)
	}
}
