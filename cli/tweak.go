package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/tweaks"
	"github.com/urfave/cli/v2"
)

func tweakCommand() *cli.Command {
	return &cli.Command{
		Name:      "tweak",
		Usage:     "rewrite a ResNet ONNX model into ResNet-B, -C or -D (the paper's section 4)",
		UsageText: "bot-onnx tweak (--variant B|C|D | --passes b,c,d) in.onnx -o out.onnx [--seed N] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "variant", Usage: "target variant; cumulative as in the paper: C = B + C, D = B + C + D"},
			&cli.StringFlag{Name: "passes", Usage: "exactly these passes, e.g. b,d (run in the order B, C, D)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the weights pass C creates"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "the .onnx file to write"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("tweak: expected one model file, found %d arguments", c.NArg())
			}
			var passes []tweaks.Pass
			var err error
			switch {
			case c.IsSet("variant") == c.IsSet("passes"):
				return fmt.Errorf("tweak: expected exactly one of --variant and --passes")
			case c.IsSet("variant"):
				passes, err = tweaks.ForVariant(c.String("variant"))
			default:
				passes, err = tweaks.ParsePasses(c.String("passes"))
			}
			if err != nil {
				return err
			}
			res, err := tweaks.RewriteFile(c.Args().First(), c.String("output"), passes, tweaks.Options{Seed: c.Uint64("seed")})
			if err != nil {
				return err
			}
			return cmdline.Print(c, res)
		},
	}
}
