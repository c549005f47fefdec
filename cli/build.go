package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
	"github.com/urfave/cli/v2"
)

func modelsCommand() *cli.Command {
	return &cli.Command{
		Name:  "models",
		Usage: "list the model names build accepts",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print a JSON array"}},
		Action: func(c *cli.Context) error {
			if c.Bool("json") {
				return cmdline.PrintJSON(c.App.Writer, models.Names())
			}
			for _, name := range models.Names() {
				arch, _ := models.Lookup(name)
				fmt.Fprintf(c.App.Writer, "%-10s %s\n", name, arch.Describe())
			}
			return nil
		},
	}
}

func buildCommand() *cli.Command {
	var cfg models.Config
	return &cli.Command{
		Name:      "build",
		Usage:     "build a freshly initialised ResNet as an ONNX model",
		UsageText: "bot-onnx build --model resnet50 [--variant A] [--classes 1000] [--input 3x224x224] [--width 64] [--seed N] -o out.onnx",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Destination: &cfg.Model, Required: true, Usage: "model name (bot-onnx models lists them)"},
			&cli.StringFlag{Name: "variant", Value: "A", Usage: "ResNet variant A, B, C or D: A is built, the others are A rewritten by the tweak passes (D = B + C + D)"},
			&cli.IntFlag{Name: "classes", Destination: &cfg.Classes, Usage: "number of classes (default 1000 ImageNet layout, 10 CIFAR layout)"},
			&cli.StringFlag{Name: "input", Usage: "input size CxHxW (default 3x224x224 ImageNet layout, 3x32x32 CIFAR layout)"},
			&cli.IntFlag{Name: "width", Destination: &cfg.BaseWidth, Usage: "channels of the first stage (default 64 ImageNet layout, 16 CIFAR layout)"},
			&cli.Uint64Flag{Name: "seed", Destination: &cfg.Seed, Usage: "seed of the weight initialisation"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "the .onnx file to write"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as JSON"},
		},
		Action: func(c *cli.Context) error {
			cfg.InChannels, cfg.Height, cfg.Width = 0, 0, 0
			if _, err := models.Lookup(cfg.Model); err != nil {
				return err
			}
			if c.IsSet("input") {
				dims, err := cmdline.Dims("input", c.String("input"), 3, "3x224x224")
				if err != nil {
					return err
				}
				cfg.InChannels, cfg.Height, cfg.Width = int(dims[0]), int(dims[1]), int(dims[2])
			}
			if (c.IsSet("classes") && cfg.Classes < 1) || (c.IsSet("width") && cfg.BaseWidth < 1) {
				return fmt.Errorf("--classes and --width must be positive, found %d and %d", cfg.Classes, cfg.BaseWidth)
			}
			res, err := tweaks.BuildFile(cfg, c.String("variant"), c.String("output"), Version)
			if err != nil {
				return err
			}
			return cmdline.Print(c, res)
		},
	}
}
