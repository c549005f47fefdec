package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/urfave/cli/v2"
)

// inspection is what `inspect --json` prints: the file and graph's summary.
type inspection struct {
	Path string `json:"path"`
	graph.Summary
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a model's inputs, outputs, opset, parameters, MACs and operators",
		UsageText: "bot-onnx inspect model.onnx [--json]",
		Flags:     []cli.Flag{jsonFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: expected one model file, found %d arguments", c.NArg())
			}
			path := c.Args().First()
			m, err := graph.Load(path)
			if err != nil {
				return err
			}
			s := graph.Inspect(m)
			if c.Bool("json") {
				err = cmdline.PrintJSON(c.App.Writer, inspection{Path: path, Summary: s})
			} else {
				err = s.WriteText(c.App.Writer, path)
			}
			if err == nil && !s.Valid {
				err = fmt.Errorf("%s is invalid: %s", path, report.Plural(len(s.Problems), "1 problem", fmt.Sprintf("%d problems", len(s.Problems))))
			}
			return err
		},
	}
}
