package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

func ablateCommand() *cli.Command {
	return &cli.Command{
		Name:  "ablate",
		Usage: "run the paper's cumulative study (Tables 4 and 6): baseline, + efficient training, + cosine, + smoothing, + distillation / mixup",
		UsageText: "bot-onnx ablate --data fashion-mnist --model resnet20 --epochs N --out DIR [--variant D] [--teacher-model resnet56] [--train-limit N]\n" +
			"   [--batch 128] [--lr 0.1] [--steps baseline,efficient,…] [--resume]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Required: true, Usage: "data set, as for train: " + train.DataSets},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache)"},
			&cli.StringFlag{Name: "model", Value: "resnet20", Usage: "the student, a zoo name (bot-onnx models lists them)"},
			&cli.StringFlag{Name: "variant", Value: "D", Usage: "ResNet variant of the student and the teacher: A, B, C or D"},
			&cli.StringFlag{Name: "teacher-model", Usage: "the distillation teacher, a deeper zoo model (default: resnet56 for CIFAR-layout students, resnet152 otherwise)"},
			&cli.StringFlag{Name: "input", Usage: "input size CxHxW (default: 1x28x28 for MNIST and Fashion-MNIST, 3x32x32 for CIFAR-10, 3x224x224 for folders)"},
			&cli.IntFlag{Name: "classes", Value: 10, Usage: "number of classes"},
			&cli.IntFlag{Name: "width", Usage: "channels of the first stage of both models (default: the layout's)"},
			&cli.IntFlag{Name: "epochs", Required: true, Usage: "the budget of every run; the paper's epochs (steps at 30/60/90 of 120, 5 warmup) are scaled to it"},
			&cli.IntFlag{Name: "train-limit", Usage: "train on this many training images drawn once (0: all)"},
			&cli.IntFlag{Name: "batch", Value: 128},
			&cli.Float64Flag{Name: "lr", Value: 0.1, Usage: "base learning rate"},
			&cli.BoolFlag{Name: "linear-scaling", Usage: "scale the learning rate by batch/256"},
			&cli.Float64Flag{Name: "wd", Value: ablation.Paper.WeightDecay, Usage: "weight decay"},
			&cli.Float64Flag{Name: "momentum", Value: ablation.Paper.Momentum, Usage: "Nesterov momentum"},
			&cli.IntFlag{Name: "mixup-off-epochs", Usage: "train the last N epochs of the mixup steps without mixup"},
			&cli.Float64Flag{Name: "temperature", Value: ablation.Paper.Distill.T, Usage: "distillation temperature T"},
			&cli.Float64Flag{Name: "hard-weight", Value: ablation.Paper.Distill.Hard, Usage: "weight of the loss against the labels in the distillation steps"},
			&cli.Float64Flag{Name: "distill-weight", Value: ablation.Paper.Distill.Soft, Usage: "weight of T²·CE(teacher/T, student/T)"},
			&cli.StringFlag{Name: "steps", Usage: "steps to run, comma-separated (default: all): " + strings.Join(ablation.StepNames(), ",")},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the weights, the data order and the augmentation"},
			&cli.IntFlag{Name: "threads", Usage: "replicas per run (default: one per core)"},
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime library for the teacher (else the usual search)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "study folder: one run folder per step, " + ablation.TableFile + ", " + ablation.JSONFile + ", plots"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the study in --out: finished runs are read back, an interrupted one resumes"},
		},
		Action: func(c *cli.Context) error {
			student, teacher, err := ablateModels(c)
			if err != nil {
				return err
			}
			var steps []string
			if s := strings.TrimSpace(c.String("steps")); s != "" {
				for _, name := range strings.Split(s, ",") {
					steps = append(steps, strings.TrimSpace(name))
				}
			}
			ctx, stop := interruptible(c)
			defer stop()
			cfg := ablation.Config{
				Base: train.Config{
					Seed: c.Uint64("seed"),
					Data: train.DataConfig{Set: c.String("data"), Dir: c.String("data-dir"), TrainLimit: c.Int("train-limit")},
					Recipe: train.Recipe{
						Epochs: c.Int("epochs"), Batch: c.Int("batch"), LR: c.Float64("lr"), LinearScaling: c.Bool("linear-scaling"),
						WeightDecay: c.Float64("wd"), Momentum: c.Float64("momentum"),
						Distill: train.Distillation{T: c.Float64("temperature"), Hard: c.Float64("hard-weight"), Soft: c.Float64("distill-weight")},
					},
					Engine: train.Engine{Threads: c.Int("threads"), TeacherLib: c.String("ort-lib")},
				},
				Student: student, Teacher: teacher, Variant: c.String("variant"), MixupOffEpochs: c.Int("mixup-off-epochs"),
				Steps: steps, Out: c.String("out"), Resume: c.Bool("resume"), Log: c.App.ErrWriter,
			}
			res, err := ablation.Run(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted; run again with --resume to continue")
				}
				return inFlags(err, ablateFieldFlags)
			}
			fmt.Fprint(c.App.Writer, cfg.Markdown(res))
			fmt.Fprintf(c.App.Writer, "\nwrote %s, %s and the plots %s, %s, %s\n",
				filepath.Join(cfg.Out, ablation.TableFile), ablation.JSONFile, ablation.LossPlot, ablation.AccuracyPlot, ablation.LRPlot)
			return nil
		},
	}
}

// ablateModels reads the student's architecture and the teacher's name;
// ablation fills what they leave out (the input, the teacher's defaults).
func ablateModels(c *cli.Context) (student, teacher models.Config, err error) {
	if c.Int("classes") < 1 || (c.IsSet("width") && c.Int("width") < 1) {
		return student, teacher, fmt.Errorf("--classes and --width must be positive, found %d and %d", c.Int("classes"), c.Int("width"))
	}
	student = models.Config{Model: c.String("model"), Classes: c.Int("classes"), BaseWidth: c.Int("width"), Seed: c.Uint64("seed")}
	if c.IsSet("input") {
		dims, err := parseDims("input", c.String("input"), 3, "1x28x28")
		if err != nil {
			return student, teacher, err
		}
		student.InChannels, student.Height, student.Width = int(dims[0]), int(dims[1]), int(dims[2])
	}
	if c.IsSet("teacher-model") {
		teacher = student
		teacher.Model = c.String("teacher-model")
	}
	return student, teacher, nil
}
