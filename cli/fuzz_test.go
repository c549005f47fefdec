package cli

import (
	"io"
	"math"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

// FuzzTrainSettings feeds train's numeric flags arbitrary strings, reads
// them as train does (trainConfig) and checks them as Train does first
// (train.Validate). Nothing may panic, and a configuration that passes
// must be one a run can start with: every number finite and in its range,
// checked here independently of validate's own code.
func FuzzTrainSettings(f *testing.F) {
	f.Add("0.1", "0.9", "1e-4", "0", "0", "0.1", "0", "3", "32", "0", "0")
	f.Add("NaN", "0.9", "1e-4", "0", "0", "0.1", "0", "3", "32", "0", "0")
	f.Add("0.1", "NaN", "Inf", "0.1", "Inf", "NaN", "5", "-5", "32", "-1", "10")
	f.Add("1e309", "1", "-0", "1", "-0.2", "2", "-1", "1", "0", "2", "3")
	f.Fuzz(func(t *testing.T, lr, momentum, wd, smoothing, mixup, factor, warmup, epochs, batch, threads, micro string) {
		args := []string{"bot-onnx", "train", "--model", "m.onnx", "--data", "mnist", "--out", t.TempDir(),
			"--lr", lr, "--momentum", momentum, "--wd", wd, "--label-smoothing", smoothing, "--mixup", mixup,
			"--lr-factor", factor, "--lr-steps", "1", "--warmup-epochs", warmup, "--epochs", epochs, "--batch", batch,
			"--threads", threads, "--micro-batch", micro}
		var cfg train.Config
		var readErr error
		cmd := trainCommandInto(&cfg)
		cmd.Action = func(c *cli.Context) error {
			readErr = trainConfig(c, &cfg, true)
			return readErr
		}
		app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{cmd}}
		err := app.Run(args)
		if err != nil && strings.Contains(err.Error(), "not defined") {
			t.Fatalf("the harness passes a flag train does not have: %v", err)
		}
		if err != nil || readErr != nil {
			return // refused while reading the flags: a one-line error, no run
		}
		if train.Validate(cfg) != nil {
			return
		}
		r := cfg.Recipe
		finite := func(name string, v, lo, hi float64) {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi {
				t.Errorf("%s %v accepted (want finite, in [%g, %g])", name, v, lo, hi)
			}
		}
		finite("lr", r.LR, math.SmallestNonzeroFloat64, math.MaxFloat64)
		finite("momentum", r.Momentum, 0, 1)
		finite("wd", r.WeightDecay, 0, math.MaxFloat64)
		finite("label-smoothing", r.LabelSmoothing, 0, 1)
		finite("mixup", r.Mixup, 0, math.MaxFloat64)
		finite("lr-factor", r.DecayFactor, math.SmallestNonzeroFloat64, 1)
		if r.Momentum == 1 || r.LabelSmoothing == 1 {
			t.Errorf("momentum %v, label smoothing %v accepted: both must be below 1", r.Momentum, r.LabelSmoothing)
		}
		switch e := cfg.Engine; {
		case r.Epochs < 1, r.Batch < 1, r.WarmupEpochs < 0, r.WarmupEpochs > r.Epochs:
			t.Errorf("epochs %d, batch %d, warmup %d accepted", r.Epochs, r.Batch, r.WarmupEpochs)
		case e.Threads < 0, e.MicroBatch < 0, e.MicroBatch > 0 && r.Batch%e.MicroBatch != 0:
			t.Errorf("threads %d, micro-batch %d of batch %d accepted", e.Threads, e.MicroBatch, r.Batch)
		}
	})
}
