package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train an ONNX ResNet in Go with the paper's recipes (baseline, efficient training, refinements)",
		UsageText: "bot-onnx train --model m.onnx --data mnist [--data-dir DIR] --epochs N --batch B --lr 0.1 [--lr-mode step] [--lr-steps 30,60,90] [--lr-factor 0.1]\n" +
			"   [--warmup-epochs K] [--linear-scaling] [--wd 1e-4] [--momentum 0.9] [--seed S] [--threads T] [--init trained.onnx] --out DIR [--resume]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "a YAML recipe whose keys are these flags' names; flags given on the command line win"},
			&cli.StringFlag{Name: "model", Usage: "the .onnx model to train (BatchNorm as nodes)"},
			&cli.StringFlag{Name: "init", Usage: "an .onnx whose weights, matched by name and shape, start the run (fine-tuning)"},
			&cli.StringFlag{Name: "data", Usage: "data set: mnist, fashion-mnist, or cifar10[:DIR] (CIFAR-10 binary batches)"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache)"},
			&cli.IntFlag{Name: "epochs", Value: 1},
			&cli.IntFlag{Name: "batch", Value: 128},
			&cli.Float64Flag{Name: "lr", Value: 0.1, Usage: "base learning rate"},
			&cli.StringFlag{Name: "lr-mode", Value: "step", Usage: "learning-rate schedule: step, or cosine (per batch, after warmup)"},
			&cli.StringFlag{Name: "lr-steps", Usage: "epochs at which the step schedule decays, e.g. 30,60,90"},
			&cli.Float64Flag{Name: "lr-factor", Value: 0.1, Usage: "decay factor of the step schedule"},
			&cli.IntFlag{Name: "warmup-epochs", Usage: "linear warmup from 0 over this many epochs, counted in batches"},
			&cli.BoolFlag{Name: "linear-scaling", Usage: "scale the learning rate by batch/256"},
			&cli.Float64Flag{Name: "wd", Value: 1e-4, Usage: "weight decay (L2 term of the gradient)"},
			&cli.BoolFlag{Name: "no-wd-bias", Usage: "no weight decay on rank-1 parameters (biases, BatchNorm γ and β)"},
			&cli.Float64Flag{Name: "momentum", Value: 0.9, Usage: "Nesterov momentum (LARS: heavy-ball momentum)"},
			&cli.StringFlag{Name: "optimizer", Value: "nag", Usage: "nag, or lars (layer-wise rates for very large batches; rank-1 parameters excluded)"},
			&cli.Float64Flag{Name: "lars-trust", Value: 0.001, Usage: "LARS trust coefficient η"},
			&cli.BoolFlag{Name: "zero-gamma", Usage: "start the last BatchNorm of every residual block at γ = 0"},
			&cli.Float64Flag{Name: "label-smoothing", Usage: "label smoothing ε (0: off)"},
			&cli.StringFlag{Name: "smoothing", Value: "uniform", Usage: "uniform: ε/K on every class (GluonCV, timm, torchvision); paper: ε/(K−1) on each wrong class"},
			&cli.Float64Flag{Name: "mixup", Usage: "mixup α: λ ~ Beta(α, α) per batch, the batch mixed with itself reversed (0: off)"},
			&cli.IntFlag{Name: "mixup-off-epochs", Usage: "train the last N epochs without mixup"},
			&cli.StringFlag{Name: "teacher", Usage: "an .onnx classifier to distil from, run in ONNX Runtime on each (mixed) batch"},
			&cli.Float64Flag{Name: "temperature", Value: 20, Usage: "distillation temperature T"},
			&cli.Float64Flag{Name: "hard-weight", Value: 1, Usage: "weight of the loss against the labels (paper 1, GluonCV 0.5)"},
			&cli.Float64Flag{Name: "distill-weight", Value: 1, Usage: "weight of T²·CE(softmax(teacher/T), softmax(student/T)) (paper 1, GluonCV 0.5)"},
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime library for the teacher (else the usual search)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the data order"},
			&cli.IntFlag{Name: "threads", Usage: "replicas, each on its share of the batch (default: one per core)"},
			&cli.IntFlag{Name: "micro-batch", Usage: "run the batch in chunks of this size and accumulate their gradients (must divide --batch)"},
			&cli.StringFlag{Name: "out", Usage: "run folder: model.onnx, metrics.jsonl, checkpoint.bin"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the run in --out from its last checkpoint"},
		},
		Action: func(c *cli.Context) error {
			if c.IsSet("config") {
				if err := applyRecipe(c, c.String("config")); err != nil {
					return err
				}
			}
			for _, required := range []string{"model", "data", "out"} {
				if c.String(required) == "" {
					return fmt.Errorf("--%s is required (on the command line or in --config)", required)
				}
			}
			cosine, steps, err := scheduleFlags(c)
			if err != nil {
				return err
			}
			smoothing, err := train.ParseSmoothing(c.String("smoothing"))
			if err != nil {
				return fmt.Errorf("--smoothing: %w", err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg := train.Config{
				Model: c.String("model"), Init: c.String("init"), Data: c.String("data"), DataDir: c.String("data-dir"),
				Epochs: c.Int("epochs"), Batch: c.Int("batch"), LR: c.Float64("lr"), LinearScaling: c.Bool("linear-scaling"),
				DecayEpochs: steps, DecayFactor: c.Float64("lr-factor"), Cosine: cosine, WarmupEpochs: c.Int("warmup-epochs"),
				WeightDecay: c.Float64("wd"), Momentum: c.Float64("momentum"), Seed: c.Uint64("seed"), Threads: c.Int("threads"), MicroBatch: c.Int("micro-batch"),
				NoWDBias: c.Bool("no-wd-bias"), ZeroGamma: c.Bool("zero-gamma"), Optimizer: c.String("optimizer"), LARSTrust: c.Float64("lars-trust"),
				LabelSmoothing: c.Float64("label-smoothing"), Smoothing: smoothing, Mixup: c.Float64("mixup"), MixupOffEpochs: c.Int("mixup-off-epochs"),
				Teacher: c.String("teacher"), TeacherLib: c.String("ort-lib"),
				Distill: train.Distillation{T: c.Float64("temperature"), Hard: c.Float64("hard-weight"), Soft: c.Float64("distill-weight")},
				Out:     c.String("out"), Resume: c.Bool("resume"), Log: c.App.ErrWriter,
			}
			metrics, err := train.Train(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; run again with --resume to continue from the last completed epoch")
				}
				return err
			}
			last := metrics[len(metrics)-1]
			fmt.Fprintf(c.App.Writer, "wrote %s: %d epochs, test top-1 %.2f%%, loss %.4f; metrics in %s\n",
				filepath.Join(cfg.Out, train.ModelFile), last.Epoch, 100*last.TestTop1, last.TestLoss, filepath.Join(cfg.Out, train.MetricsFile))
			return nil
		},
	}
}

// scheduleFlags reads --lr-mode and --lr-steps.
func scheduleFlags(c *cli.Context) (cosine bool, steps []int, err error) {
	switch mode := c.String("lr-mode"); mode {
	case "step":
	case "cosine":
		cosine = true
	default:
		return false, nil, fmt.Errorf("--lr-mode %q: expected step or cosine", mode)
	}
	steps, err = parseInts("lr-steps", c.String("lr-steps"))
	if cosine && len(steps) > 0 {
		return false, nil, fmt.Errorf("--lr-steps %s: the cosine schedule takes no decay epochs", c.String("lr-steps"))
	}
	return cosine, steps, err
}

// parseInts reads a comma-separated list of positive integers.
func parseInts(flag, s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: expected positive integers like 30,60,90, found %q", flag, s, part)
		}
		out = append(out, n)
	}
	return out, nil
}
