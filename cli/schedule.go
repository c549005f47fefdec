package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/plot"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "print the learning rate of every step, as the trainer computes it",
		UsageText: "bot-onnx schedule --epochs 120 --batch 1024 --lr 0.1 [--linear-scaling] [--warmup-epochs 5] [--lr-mode cosine|step] [--lr-steps 30,60,90] [--lr-factor 0.1] --steps-per-epoch N [--csv] [--png out.png]",
		Flags: append(scheduleFlags(120, 256, 0.1, "30,60,90"),
			&cli.IntFlag{Name: "steps-per-epoch", Required: true, Usage: "batches per epoch (training images / batch)"},
			&cli.BoolFlag{Name: "csv", Usage: "print step,epoch,lr for every step (else one line per epoch)"},
			&cli.StringFlag{Name: "png", Usage: "also plot the learning rate per step into this PNG file"},
		),
		Action: func(c *cli.Context) error {
			cosine, steps, err := readSchedule(c)
			if err != nil {
				return err
			}
			// Validated before scaling, so that a refused rate is the one given.
			s := train.Schedule{Base: c.Float64("lr"), StepsPerEpoch: c.Int("steps-per-epoch"), WarmupEpochs: c.Int("warmup-epochs"),
				DecayEpochs: steps, Factor: c.Float64("lr-factor"), Cosine: cosine, Epochs: c.Int("epochs")}
			if err := s.Validate(); err != nil {
				return inFlags(err, scheduleFieldFlags)
			}
			if c.Bool("linear-scaling") {
				if c.Int("batch") < 1 {
					return fmt.Errorf("--batch %d: expected at least 1 with --linear-scaling", c.Int("batch"))
				}
				s.Base = train.LinearScaling(s.Base, c.Int("batch"))
			}
			base := s.Base
			total := c.Int("epochs") * s.StepsPerEpoch
			if path := c.String("png"); path != "" {
				series := plot.Series{Name: c.String("lr-mode")}
				for t := 0; t < total; t++ {
					series.X = append(series.X, float64(t))
					series.Y = append(series.Y, s.LR(t))
				}
				img, err := plot.PNG(plot.Chart{Title: "learning rate per step", XLabel: "step", YLabel: "lr", Series: []plot.Series{series}})
				if err != nil {
					return err
				}
				if err := graph.WriteFileAtomic(path, img); err != nil {
					return err
				}
			}
			if c.Bool("csv") {
				fmt.Fprintln(c.App.Writer, "step,epoch,lr")
				for t := 0; t < total; t++ {
					fmt.Fprintf(c.App.Writer, "%d,%.6f,%.8g\n", t, float64(t)/float64(s.StepsPerEpoch), s.LR(t))
				}
				return nil
			}
			fmt.Fprintf(c.App.Writer, "base lr %g, %d steps per epoch, %d steps\n", base, s.StepsPerEpoch, total)
			for e := 0; e < c.Int("epochs"); e++ {
				first, last := e*s.StepsPerEpoch, (e+1)*s.StepsPerEpoch-1
				fmt.Fprintf(c.App.Writer, "epoch %3d: lr %.6g → %.6g\n", e+1, s.LR(first), s.LR(last))
			}
			return nil
		},
	}
}
