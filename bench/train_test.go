package bench_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// TestTrainRefusals: Train refuses settings as *train.FieldError naming
// the TrainConfig field, before it builds or times anything.
func TestTrainRefusals(t *testing.T) {
	ok := bench.TrainConfig{Model: "resnet20", Variant: "A", Input: [3]int64{3, 32, 32}, Batch: 2, Steps: 1, Threads: 1, Runs: 1, Workers: 1,
		Progress: func(int, bench.TrainSpec) { t.Error("a refused benchmark ran") }}
	for _, tc := range []struct {
		field string
		edit  func(*bench.TrainConfig)
	}{
		{"Steps", func(c *bench.TrainConfig) { c.Steps = 0 }},
		{"Runs", func(c *bench.TrainConfig) { c.Runs = 0 }},
		{"Data", func(c *bench.TrainConfig) { c.Data = "cifar10" }},
		{"Input", func(c *bench.TrainConfig) { c.Data, c.Input = "folder:x", [3]int64{3, 32, 24} }},
		{"Input", func(c *bench.TrainConfig) { c.Data, c.Input = "folder:x", [3]int64{2, 32, 32} }},
		{"Workers", func(c *bench.TrainConfig) { c.Data, c.Workers = "folder:x", 0 }},
	} {
		cfg := ok
		tc.edit(&cfg)
		var fe *train.FieldError
		if _, err := bench.Train(context.Background(), cfg); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a FieldError on %s", cfg, err, tc.field)
		}
	}
}

// TestTrainWithoutPeer times a small ResNet-20-D alone: one run of the
// asked steps, its settings in the result. Timings are not asserted.
func TestTrainWithoutPeer(t *testing.T) {
	runs := 0
	res, err := bench.Train(context.Background(), bench.TrainConfig{Model: "resnet20", Variant: "d", Input: [3]int64{3, 32, 32}, Batch: 2,
		Precision: kernel.FP32, Warmup: 1, Steps: 2, Threads: 1, Runs: 1, Progress: func(int, bench.TrainSpec) { runs++ }})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || res.Variant != "D" || res.Input != "3x32x32" || res.Precision != "fp32" || len(res.Runs) != 1 || len(res.Runs[0].StepMS) != 2 ||
		!(res.ImagesPerSecond > 0) || res.Runs[0].Torch != nil || res.Data != "" || res.ISA == "" {
		t.Errorf("result %+v", res)
	}
}
