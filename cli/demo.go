package cli

import (
	"fmt"
	"path/filepath"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/mnistdemo"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	flags := cmdline.Replace(runtimeFlags(),
		&cli.IntFlag{Name: "threads", Usage: "training replicas and ONNX Runtime's intra-op threads (0: one replica per core, ONNX Runtime's default)"})
	return &cli.Command{
		Name:  "demo",
		Usage: "the whole pipeline on MNIST: build A, tweak to D, train baseline and tricks, export, evaluate in ONNX Runtime, fine-tune for segmentation, write a report",
		UsageText: "bot-onnx demo [--out DIR] [--quick] [--threads T] [--provider auto|cpu|cuda|tensorrt] [--ort-lib PATH] [--data-dir DIR]\n\n" +
			"Run the same command again to continue an interrupted demo; finished stages are read back.",
		Description: "DIR receives models/ (ResNet-20-A and -D), runs/ (the training runs), exports/ (the exported classifiers\n" +
			"and backbones), segment/ (the segmentation fine-tuning of both D backbones), results.json, and report.md\n" +
			"and report.html with the tables, curves and segmentation examples.",
		Flags: append(flags,
			&cli.StringFlag{Name: "out", Value: "demo", Usage: "the demo folder"},
			&cli.BoolFlag{Name: "quick", Usage: "a small budget (a few minutes on 2 cores) that shows every stage; its figures compare nothing"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the MNIST files (default: the set-up cache)"},
		),
		Action: func(c *cli.Context) error {
			ropts, err := runtimeOptions(c)
			if err != nil {
				return err
			}
			budget := mnistdemo.Full
			if c.Bool("quick") {
				budget = mnistdemo.Quick
			}
			log := c.App.ErrWriter
			cfg := mnistdemo.Config{Budget: budget, Out: c.String("out"), DataDir: c.String("data-dir"), Threads: c.Int("threads"),
				Runtime: ropts, ProducerVersion: Version, Log: log,
				Stage:    func(n, total int, what string) { fmt.Fprintf(log, "== demo %d/%d: %s\n", n, total, what) },
				Notice:   func(msg string) { fmt.Fprintln(log, msg) },
				Progress: transferProgress(log)}
			ctx, stop := interruptible(c)
			defer stop()
			res, err := mnistdemo.Run(ctx, cfg)
			if err != nil {
				// The demo's runs are train's, and their refusals name train's fields.
				return interrupted(ctx, cmdline.InFlags(err, map[string]string{"Engine.Threads": "--threads", "Data.Dir": "--data-dir"}),
					"run the same command again to continue the demo")
			}
			fmt.Fprintf(c.App.Writer, "demo finished in %s: %s and %s\n", ablation.FormatDuration(res.Seconds),
				filepath.Join(cfg.Out, mnistdemo.ReportName+".md"), filepath.Join(cfg.Out, mnistdemo.ReportName+".html"))
			return nil
		},
	}
}
