package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

// scheduleFieldFlags are schedule's flags by the train.Schedule field each sets.
var scheduleFieldFlags = map[string]string{
	"Base": "--lr", "StepsPerEpoch": "--steps-per-epoch", "WarmupEpochs": "--warmup-epochs", "Factor": "--lr-factor",
	"DecayEpochs": "--lr-steps", "Cosine": "--lr-mode cosine", "Epochs": "--epochs",
}

func scheduleCommand() *cli.Command {
	var recipe train.Recipe
	return &cli.Command{
		Name:      "schedule",
		Usage:     "print the learning rate of every step, as the trainer computes it",
		UsageText: "bot-onnx schedule --epochs 120 --batch 1024 --lr 0.1 [--linear-scaling] [--warmup-epochs 5] [--lr-mode cosine|step] [--lr-steps 30,60,90] [--lr-factor 0.1] --steps-per-epoch N [--csv] [--png out.png]",
		Flags: append(scheduleFlags(&recipe, 120, 256, 0.1, "30,60,90"),
			&cli.IntFlag{Name: "steps-per-epoch", Required: true, Usage: "batches per epoch (training images / batch)"},
			&cli.BoolFlag{Name: "csv", Usage: "print step,epoch,lr for every step (else one line per epoch)"},
			&cli.StringFlag{Name: "png", Usage: "also plot the learning rate per step into this PNG file"},
		),
		Action: func(c *cli.Context) (err error) {
			if recipe.Cosine, recipe.DecayEpochs, err = readSchedule(c); err != nil {
				return err
			}
			s := recipe.Schedule(c.Int("steps-per-epoch"))
			if err := s.Validate(); err != nil {
				return cmdline.InFlags(err, scheduleFieldFlags)
			}
			if recipe.LinearScaling {
				if recipe.Batch < 1 {
					return fmt.Errorf("--batch %d: expected at least 1 with --linear-scaling", recipe.Batch)
				}
				s.Base = train.LinearScaling(s.Base, recipe.Batch)
			}
			if path := c.String("png"); path != "" {
				img, err := s.PNG(c.String("lr-mode"))
				if err == nil {
					err = graph.WriteFileAtomic(path, img)
				}
				if err != nil {
					return err
				}
			}
			if c.Bool("csv") {
				return s.WriteCSV(c.App.Writer)
			}
			return s.WriteText(c.App.Writer)
		},
	}
}
