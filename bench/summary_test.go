package bench

import (
	"slices"
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
