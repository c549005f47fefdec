package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/kernel"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// TrainSpec is one comparison of training throughput: bot-onnx's engine
// on Model (built from the peer's model name, variant, CHW input and
// class count, so that the peer can build the same network) beside the
// PyTorch peer, Runs times over.
type TrainSpec struct {
	Model   *graph.Model
	Name    string // the peer's model name, e.g. "resnet20"
	Variant string // A, B, C or D
	Batch   int
	Input   string // CxHxW
	Classes int    // 0: the model's default
	// Precision of bot-onnx's convolutions and the peer's autocast. With
	// BF16, bot-onnx's FP32 is measured in the same run too, for the
	// speed-up bf16 gives.
	Precision     kernel.Precision
	Warmup, Steps int
	Threads       int // bot-onnx's replicas, the peer's threads
	Runs          int // repetitions, interleaved; 0 means 1
	Peer          bool
	// Group, when set, spreads bot-onnx's steps over the processes of an
	// MPI world (Batch is theirs together, Threads each one's replicas).
	Group train.Group
}

// TrainRun is one run of a comparison.
type TrainRun struct {
	ImagesPerSecond float64   `json:"images_per_second"`
	StepMS          []float64 `json:"step_ms"`
	PeakRSSMiB      float64   `json:"peak_rss_mib"`
	// AllreduceMS is the time of each timed step spent summing the
	// gradients across the processes of a Group.
	AllreduceMS []float64 `json:"allreduce_ms,omitempty"`
	// FP32 is bot-onnx at fp32 in the same run, when Precision is BF16.
	FP32 *TrainRun `json:"fp32,omitempty"`
	// Torch lists the peer's configurations (NCHW, channels_last); Best is
	// the faster, the one Ratio is taken against.
	Torch []*TorchResult `json:"torch,omitempty"`
	Best  *TorchResult   `json:"-"`
	Ratio float64        `json:"ratio_to_torch,omitempty"`
}

// TrainSummary is a comparison's runs and their medians: of bot-onnx's
// images/s, of the peer's best configuration's, of the per-run ratios
// and, with bf16, of bot-onnx's fp32 images/s and the per-run speed-up of
// bf16 over it. Peak memory is the highest of the runs, for each side.
type TrainSummary struct {
	Runs                   []TrainRun `json:"runs"`
	ImagesPerSecond        float64    `json:"images_per_second"`
	PeakRSSMiB             float64    `json:"peak_rss_mib"`
	AllreduceMSPerStep     float64    `json:"allreduce_ms_per_step,omitempty"`
	FP32ImagesPerSecond    float64    `json:"fp32_images_per_second,omitempty"`
	BF16Speedup            float64    `json:"bf16_speedup,omitempty"`
	TorchImagesPerSecond   float64    `json:"torch_images_per_second,omitempty"`
	TorchPeakRSSMiB        float64    `json:"torch_peak_rss_mib,omitempty"`
	TorchBestMemoryFormats []string   `json:"torch_best_memory_formats,omitempty"`
	Ratio                  float64    `json:"ratio_to_torch,omitempty"`
	// TorchMedians are the median images/s of each of the peer's
	// configurations over the runs, in the order of each run's Torch.
	TorchMedians []float64 `json:"-"`
}

// CompareTraining measures s. Each run times bot-onnx (at fp32 too with
// bf16) and then each of the peer's configurations, so that a change in
// the machine's load spreads over both sides; progress, if not nil, is
// called before each run.
func CompareTraining(s TrainSpec, progress func(run int)) (*TrainSummary, error) {
	runs := max(s.Runs, 1)
	var sum TrainSummary
	for i := range runs {
		if progress != nil {
			progress(i)
		}
		r, err := ownRun(s, s.Precision)
		if err != nil {
			return nil, err
		}
		if s.Precision == kernel.BF16 {
			if r.FP32, err = ownRun(s, kernel.FP32); err != nil {
				return nil, err
			}
		}
		if s.Peer {
			for _, format := range MemoryFormats {
				t, err := TorchTrain(TrainOptions{Model: s.Name, Variant: s.Variant, Batch: s.Batch, Input: s.Input, Classes: s.Classes,
					Warmup: s.Warmup, Steps: s.Steps, Threads: s.Threads, MemoryFormat: format, Precision: s.Precision.String()})
				if err != nil {
					return nil, err
				}
				r.Torch = append(r.Torch, t)
				if r.Best == nil || t.ImagesPerSecond > r.Best.ImagesPerSecond {
					r.Best = t
				}
			}
			r.Ratio = r.ImagesPerSecond / r.Best.ImagesPerSecond
		}
		sum.Runs = append(sum.Runs, *r)
	}
	sum.summarise()
	return &sum, nil
}

// summarise fills the medians and peaks from the runs.
func (s *TrainSummary) summarise() {
	var own, fp32, speedup, torch, ratio, comm []float64
	for _, r := range s.Runs {
		own = append(own, r.ImagesPerSecond)
		comm = append(comm, r.AllreduceMS...)
		s.PeakRSSMiB = max(s.PeakRSSMiB, r.PeakRSSMiB)
		if r.FP32 != nil {
			fp32 = append(fp32, r.FP32.ImagesPerSecond)
			speedup = append(speedup, r.ImagesPerSecond/r.FP32.ImagesPerSecond)
		}
		if r.Best != nil {
			torch = append(torch, r.Best.ImagesPerSecond)
			ratio = append(ratio, r.Ratio)
			s.TorchBestMemoryFormats = append(s.TorchBestMemoryFormats, r.Best.MemoryFormat)
			for _, t := range r.Torch {
				s.TorchPeakRSSMiB = max(s.TorchPeakRSSMiB, t.PeakRSSMiB)
			}
		}
	}
	s.ImagesPerSecond, s.FP32ImagesPerSecond, s.BF16Speedup = Median(own), Median(fp32), Median(speedup)
	s.AllreduceMSPerStep = Median(comm)
	s.TorchImagesPerSecond, s.Ratio = Median(torch), Median(ratio)
	if len(s.Runs) > 0 {
		for i := range s.Runs[0].Torch {
			var rates []float64
			for _, r := range s.Runs {
				rates = append(rates, r.Torch[i].ImagesPerSecond)
			}
			s.TorchMedians = append(s.TorchMedians, Median(rates))
		}
	}
}

// Median returns the median of v (the mean of the middle two for an even
// count), or 0 for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ownRun times bot-onnx's training steps at precision p, with this
// process's peak memory reset first so that it is this run's alone.
func ownRun(s TrainSpec, p kernel.Precision) (*TrainRun, error) {
	resetPeakRSS()
	timing, err := train.StepTimes(s.Model, s.Batch, s.Threads, p, s.Warmup, s.Steps, nil, s.Group)
	if err != nil {
		return nil, err
	}
	r := &TrainRun{ImagesPerSecond: float64(s.Batch) / train.Median(timing.Steps).Seconds(), PeakRSSMiB: PeakRSSMiB()}
	ms := func(t time.Duration) float64 { return float64(t) / float64(time.Millisecond) }
	for _, t := range timing.Steps {
		r.StepMS = append(r.StepMS, ms(t))
	}
	for _, t := range timing.Allreduce {
		r.AllreduceMS = append(r.AllreduceMS, ms(t))
	}
	return r, nil
}

// resetPeakRSS returns freed memory to the system and resets the
// process's peak resident memory to what it holds now (Linux's
// clear_refs 5); elsewhere it does nothing. Gorgonia's tape machines
// carry finalizers, which keep a finished run's graph and buffers alive
// through one more collection: hence the collection before FreeOSMemory's.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// PeakRSSMiB reads the process's peak resident memory (VmHWM) on Linux;
// 0 where /proc is missing.
func PeakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// String describes the spec in one line, for progress and errors.
func (s TrainSpec) String() string {
	return fmt.Sprintf("%s-%s batch %d %s %s", s.Name, s.Variant, s.Batch, s.Input, s.Precision)
}

// TrainConfig is a training benchmark: a model of the zoo at a variant,
// CHW input and class count, trained on random data beside the PyTorch
// peer (CompareTraining) and, with Data, fed by the image-folder loader.
type TrainConfig struct {
	Model   string   // a models name, e.g. "resnet20"
	Variant string   // A, B, C or D, in either case
	Input   [3]int64 // C, H, W
	Classes int      // 0: the model's default
	Batch   int
	// Precision of bot-onnx's convolutions and the peer's autocast.
	Precision     kernel.Precision
	Warmup, Steps int
	Threads       int // bot-onnx's replicas, the peer's threads
	Runs          int // repetitions of the comparison
	Peer          bool
	// Data, "folder:DIR", also measures the loader of DIR/train (decoding
	// and the paper's augmentation) alone and feeding training, with
	// Workers goroutines.
	Data    string
	Workers int
	// Progress, if not nil, is called before each run of the comparison.
	Progress func(run int, s TrainSpec)
	// Group, when set, measures bot-onnx over the processes of an MPI
	// world: Batch is theirs together and images/s their aggregate; no
	// peer and no Data then.
	Group train.Group
}

// TrainResult is a training benchmark: the settings, the comparison's
// runs and medians, and the loader's figures with Data; what `bench train
// --json` prints.
type TrainResult struct {
	Model   string `json:"model"`
	Variant string `json:"variant"`
	Batch   int    `json:"batch"`
	Input   string `json:"input"`
	Threads int    `json:"threads"`
	// Processes is the size of the Group the steps ran over (absent: one).
	Processes int    `json:"processes,omitempty"`
	Precision string `json:"precision"`
	CPU       string `json:"cpu,omitempty"`
	ISA       string `json:"isa"`
	TrainSummary
	// With Data: the loader's rate alone, and training fed by it (the
	// loader's waits included) with its workers sharing the cores.
	Data                  string  `json:"data,omitempty"`
	Workers               int     `json:"workers,omitempty"`
	LoaderImagesPerSecond float64 `json:"loader_images_per_second,omitempty"`
	FedImagesPerSecond    float64 `json:"fed_images_per_second,omitempty"`
}

// Train builds cfg's model and measures it. Refused settings come back as
// *train.FieldError naming the TrainConfig field.
func Train(ctx context.Context, cfg TrainConfig) (*TrainResult, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"Steps", cfg.Steps}, {"Batch", cfg.Batch}, {"Threads", cfg.Threads}, {"Runs", cfg.Runs}} {
		if f.v < 1 {
			return nil, &train.FieldError{Field: f.name, Value: f.v, Want: "a positive count"}
		}
	}
	if cfg.Group != nil && cfg.Peer {
		return nil, &train.FieldError{Field: "Peer", Value: true, Want: "no peer across processes (PyTorch would run once in every process)"}
	}
	if cfg.Group != nil && cfg.Data != "" {
		return nil, &train.FieldError{Field: "Data", Value: cfg.Data, Want: "no loader measurement across processes"}
	}
	dir := ""
	if cfg.Data != "" {
		var err error
		if dir, err = loaderDir(cfg); err != nil {
			return nil, err
		}
	}
	c, h, w := cfg.Input[0], cfg.Input[1], cfg.Input[2]
	m, _, err := tweaks.Build(models.Config{Model: cfg.Model, Classes: cfg.Classes, InChannels: int(c), Height: int(h), Width: int(w)}, cfg.Variant)
	if err != nil {
		return nil, err
	}
	spec := TrainSpec{Model: m, Name: cfg.Model, Variant: strings.ToUpper(cfg.Variant), Batch: cfg.Batch,
		Input: fmt.Sprintf("%dx%dx%d", c, h, w), Classes: cfg.Classes, Precision: cfg.Precision, Warmup: cfg.Warmup, Steps: cfg.Steps,
		Threads: cfg.Threads, Runs: cfg.Runs, Peer: cfg.Peer, Group: cfg.Group}
	var progress func(int)
	if cfg.Progress != nil {
		progress = func(i int) { cfg.Progress(i, spec) }
	}
	sum, err := CompareTraining(spec, progress)
	if err != nil {
		return nil, err
	}
	res := &TrainResult{Model: spec.Name, Variant: spec.Variant, Batch: spec.Batch, Input: spec.Input, Threads: spec.Threads,
		Precision: cfg.Precision.String(), CPU: kernel.CPUName(), ISA: kernel.HostFeatures().ISA(), TrainSummary: *sum}
	if cfg.Group != nil {
		res.Processes = cfg.Group.Size()
	}
	if dir != "" {
		if err := measureLoader(ctx, cfg, dir, spec, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// WriteText writes the comparison as `bot-onnx bench train` prints it for
// a person to read: each run when there are several, then the medians,
// the loader's rates with Data, and the peer's configurations with their
// ratio; it returns the error of writing to w.
func (res *TrainResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cpu       %s (%s)\n", res.CPU, res.ISA)
	many := len(res.Runs) > 1
	for i, r := range res.Runs {
		if !many {
			break
		}
		fmt.Fprintf(&b, "run %d    bot-onnx %.1f images/s", i+1, r.ImagesPerSecond)
		if r.FP32 != nil {
			fmt.Fprintf(&b, " (fp32 %.1f, bf16 %.2f×)", r.FP32.ImagesPerSecond, r.ImagesPerSecond/r.FP32.ImagesPerSecond)
		}
		for _, t := range r.Torch {
			fmt.Fprintf(&b, ", PyTorch %s %.1f", t.MemoryFormat, t.ImagesPerSecond)
		}
		if r.Best != nil {
			fmt.Fprintf(&b, ": %.2f×", r.Ratio)
		}
		b.WriteString("\n")
	}
	var first TrainRun
	if len(res.Runs) > 0 {
		first = res.Runs[0]
	}
	of := fmt.Sprintf("median of %d steps", len(first.StepMS))
	if many {
		of = fmt.Sprintf("median of %d runs of %d steps", len(res.Runs), len(first.StepMS))
	}
	replicas := fmt.Sprintf("%d replicas", res.Threads)
	if res.Processes > 0 {
		replicas = fmt.Sprintf("%d processes × %d replicas, all together", res.Processes, res.Threads)
	}
	fmt.Fprintf(&b, "bot-onnx  %s-%s batch %d %s %s, %s: %.1f images/s (%s), peak RSS %.0f MiB\n",
		res.Model, res.Variant, res.Batch, res.Input, res.Precision, replicas, res.ImagesPerSecond, of, res.PeakRSSMiB)
	if res.Processes > 0 {
		fmt.Fprintf(&b, "allreduce %.2f ms per step (median; rank 0's wait for the others included)\n", res.AllreduceMSPerStep)
	}
	if res.FP32ImagesPerSecond > 0 {
		fmt.Fprintf(&b, "bot-onnx  fp32 in the same runs: %.1f images/s; bf16 is %.2f× fp32\n", res.FP32ImagesPerSecond, res.BF16Speedup)
	}
	if res.Data != "" {
		fmt.Fprintf(&b, "loader    %s, %d workers: %.1f images/s alone (%.2f× the trainer); training fed by it: %.1f images/s (%.2f× random data)\n",
			res.Data, res.Workers, res.LoaderImagesPerSecond, res.LoaderImagesPerSecond/res.ImagesPerSecond,
			res.FedImagesPerSecond, res.FedImagesPerSecond/res.ImagesPerSecond)
	}
	if len(first.Torch) > 0 {
		for i, t := range first.Torch {
			fmt.Fprintf(&b, "PyTorch   %s %s %s, %d threads: %.1f images/s\n", t.Torch, t.MemoryFormat, t.Precision, t.Threads, res.TorchMedians[i])
		}
		fmt.Fprintf(&b, "PyTorch   peak RSS %.0f MiB\n", res.TorchPeakRSSMiB)
		fmt.Fprintf(&b, "ratio     %.2f× PyTorch's faster configuration (%s)\n", res.Ratio, strings.Join(slices.Compact(slices.Sorted(slices.Values(res.TorchBestMemoryFormats))), ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
