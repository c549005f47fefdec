package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

func ablateCommand() *cli.Command {
	var cfg ablation.Config
	return &cli.Command{
		Name:  "ablate",
		Usage: "run the paper's cumulative study (Tables 4 and 6): baseline, + efficient training, + cosine, + smoothing, + distillation / mixup",
		UsageText: "bot-onnx ablate --data fashion-mnist --model resnet20 --epochs N --out DIR [--variant D] [--teacher-model resnet56] [--train-limit N]\n" +
			"   [--batch 128] [--lr 0.1] [--steps baseline,efficient,…] [--seeds N] [--resume]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Destination: &cfg.Base.Data.Set, Required: true, Usage: "data set, as for train: " + train.DataSets},
			&cli.StringFlag{Name: "data-dir", Destination: &cfg.Base.Data.Dir, Usage: "folder of the data set's files (default: the set-up cache)"},
			&cli.StringFlag{Name: "model", Destination: &cfg.Student.Model, Value: "resnet20", Usage: "the student, a zoo name (bot-onnx models lists them)"},
			&cli.StringFlag{Name: "variant", Destination: &cfg.Variant, Value: "D", Usage: "ResNet variant of the student and the teacher: A, B, C or D"},
			&cli.StringFlag{Name: "teacher-model", Destination: &cfg.Teacher.Model, Usage: "the distillation teacher, a deeper zoo model (default: resnet56 for CIFAR-layout students, resnet152 otherwise)"},
			&cli.StringFlag{Name: "input", Usage: "input size CxHxW (default: 1x28x28 for MNIST and Fashion-MNIST, 3x32x32 for CIFAR-10, 3x224x224 for folders)"},
			&cli.IntFlag{Name: "classes", Destination: &cfg.Student.Classes, Value: 10, Usage: "number of classes"},
			&cli.IntFlag{Name: "width", Destination: &cfg.Student.BaseWidth, Usage: "channels of the first stage of both models (default: the layout's)"},
			&cli.IntFlag{Name: "epochs", Destination: &cfg.Base.Recipe.Epochs, Required: true, Usage: "the budget of every run; the paper's epochs (steps at 30/60/90 of 120, 5 warmup) are scaled to it"},
			&cli.IntFlag{Name: "train-limit", Destination: &cfg.Base.Data.TrainLimit, Usage: "train on this many training images drawn once (0: all)"},
			&cli.IntFlag{Name: "batch", Destination: &cfg.Base.Recipe.Batch, Value: 128},
			&cli.Float64Flag{Name: "lr", Destination: &cfg.Base.Recipe.LR, Value: 0.1, Usage: "base learning rate"},
			&cli.BoolFlag{Name: "linear-scaling", Destination: &cfg.Base.Recipe.LinearScaling, Usage: "scale the learning rate by batch/256"},
			&cli.Float64Flag{Name: "wd", Destination: &cfg.Base.Recipe.WeightDecay, Value: ablation.Paper.WeightDecay, Usage: "weight decay"},
			&cli.Float64Flag{Name: "momentum", Destination: &cfg.Base.Recipe.Momentum, Value: ablation.Paper.Momentum, Usage: "Nesterov momentum"},
			&cli.IntFlag{Name: "mixup-off-epochs", Destination: &cfg.MixupOffEpochs, Usage: "train the last N epochs of the mixup steps without mixup"},
			&cli.Float64Flag{Name: "temperature", Destination: &cfg.Base.Recipe.Distill.T, Value: ablation.Paper.Distill.T, Usage: "distillation temperature T"},
			&cli.Float64Flag{Name: "hard-weight", Destination: &cfg.Base.Recipe.Distill.Hard, Value: ablation.Paper.Distill.Hard, Usage: "weight of the loss against the labels in the distillation steps"},
			&cli.Float64Flag{Name: "distill-weight", Destination: &cfg.Base.Recipe.Distill.Soft, Value: ablation.Paper.Distill.Soft, Usage: "weight of T²·CE(teacher/T, student/T)"},
			&cli.StringFlag{Name: "steps", Usage: "steps to run, comma-separated (default: all): " + strings.Join(ablation.StepNames(), ",")},
			&cli.Uint64Flag{Name: "seed", Destination: &cfg.Base.Seed, Usage: "seed of the weights, the data order and the augmentation"},
			&cli.IntFlag{Name: "seeds", Destination: &cfg.Seeds, Value: 1, Usage: "run the whole study with this many seeds (--seed, --seed+1, …, each in DIR/seed-S): mean ± std per row and paired 95% intervals of the differences"},
			&cli.IntFlag{Name: "threads", Destination: &cfg.Base.Engine.Threads, Usage: "replicas per run (default: one per core)"},
			&cli.StringFlag{Name: "ort-lib", Destination: &cfg.Base.Engine.TeacherLib, Usage: "ONNX Runtime library for the teacher (else the usual search)"},
			&cli.StringFlag{Name: "out", Destination: &cfg.Out, Required: true, Usage: "study folder: one run folder per step, " + ablation.TableFile + ", " + ablation.JSONFile + ", plots"},
			&cli.BoolFlag{Name: "resume", Destination: &cfg.Resume, Usage: "continue the study in --out: finished runs are read back, an interrupted one resumes"},
		},
		Action: func(c *cli.Context) error {
			if err := ablateModels(c, &cfg); err != nil {
				return err
			}
			cfg.Steps = nil
			if s := strings.TrimSpace(c.String("steps")); s != "" {
				for _, name := range strings.Split(s, ",") {
					cfg.Steps = append(cfg.Steps, strings.TrimSpace(name))
				}
			}
			cfg.Log = c.App.ErrWriter
			ctx, stop := interruptible(c)
			defer stop()
			res, err := ablation.Run(ctx, cfg)
			if err != nil {
				// Base is the train.Config every run shares, and train names its fields as its own.
				flags := cmdline.FieldFlags(&cfg, c.Command.Flags, map[string]string{"Steps": "--steps", "Recipe.MixupOffEpochs": "--mixup-off-epochs"})
				for field, flag := range flags {
					if f, ok := strings.CutPrefix(field, "Base."); ok {
						flags[f] = flag
					}
				}
				return interrupted(ctx, cmdline.InFlags(err, flags), "run again with --resume to continue")
			}
			fmt.Fprint(c.App.Writer, cfg.Markdown(res))
			fmt.Fprintf(c.App.Writer, "\nwrote %s, %s and the plots %s, %s, %s\n",
				filepath.Join(cfg.Out, ablation.TableFile), ablation.JSONFile, ablation.LossPlot, ablation.AccuracyPlot, ablation.LRPlot)
			return nil
		},
	}
}

// ablateModels completes the student, whose name, classes and width the
// flags set, with its input and seed; ablation fills what is left out (the
// input, the teacher's settings but its name).
func ablateModels(c *cli.Context, cfg *ablation.Config) error {
	s := &cfg.Student
	if s.Classes < 1 || (c.IsSet("width") && s.BaseWidth < 1) {
		return fmt.Errorf("--classes and --width must be positive, found %d and %d", s.Classes, s.BaseWidth)
	}
	s.Seed, s.InChannels, s.Height, s.Width = cfg.Base.Seed, 0, 0, 0
	if c.IsSet("input") {
		dims, err := cmdline.Dims("input", c.String("input"), 3, "1x28x28")
		if err != nil {
			return err
		}
		s.InChannels, s.Height, s.Width = int(dims[0]), int(dims[1]), int(dims[2])
	}
	cfg.Teacher = models.Config{Model: cfg.Teacher.Model} // ablation gives it the rest of the student's
	return nil
}
