package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/tweaks"
	"github.com/urfave/cli/v2"
)

// tweakResult is what `tweak --json` prints.
type tweakResult struct {
	Input   string          `json:"input"`
	Output  string          `json:"output"`
	Variant string          `json:"variant"`
	Reports []tweaks.Report `json:"passes"`
	Before  graph.Counts    `json:"before"`
	After   graph.Counts    `json:"after"`
}

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
			in := c.Args().First()
			m, err := graph.Load(in)
			if err != nil {
				return err
			}
			out, reports, err := tweaks.Apply(m, passes, tweaks.Options{Seed: c.Uint64("seed")})
			if err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			res := tweakResult{Input: in, Output: c.String("output"), Reports: reports}
			res.Variant, _ = out.Metadata(metaVariant)
			if res.Before, err = graph.Count(m); err != nil {
				return err
			}
			if res.After, err = graph.Count(out); err != nil {
				return err
			}
			if err := out.Save(res.Output); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			printReports(c, reports)
			fmt.Fprintf(c.App.Writer, "wrote %s: variant %s, %s → %s parameters, %.3f → %.3f G MACs per image\n",
				res.Output, res.Variant, report.Thousands(res.Before.Params), report.Thousands(res.After.Params),
				float64(res.Before.MACs)/1e9, float64(res.After.MACs)/1e9)
			return nil
		},
	}
}

// printReports writes each pass's changes, or why it changed nothing.
func printReports(c *cli.Context, reports []tweaks.Report) {
	for _, r := range reports {
		if len(r.Changes) == 0 {
			fmt.Fprintf(c.App.Writer, "pass %s: %s\n", r.Pass, r.Note)
			continue
		}
		fmt.Fprintf(c.App.Writer, "pass %s: %d %s\n", r.Pass, len(r.Changes), report.Plural(len(r.Changes), "change", "changes"))
		for _, ch := range r.Changes {
			fmt.Fprintf(c.App.Writer, "  %-9s %s\n", ch.Block, ch.What)
		}
	}
}
