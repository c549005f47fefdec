package cli

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
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
			in := inspection{Path: path, Summary: graph.Inspect(m)}
			if c.Bool("json") {
				return printJSON(c.App.Writer, in)
			}
			in.print(c.App.Writer)
			return nil
		},
	}
}

func (in inspection) print(w io.Writer) {
	fmt.Fprintf(w, "%s\n  IR version %d, opset %d, producer %s\n", in.Path, in.IRVersion, in.Opset, in.Producer)
	for _, list := range []struct {
		label string
		ts    []graph.TensorInfo
	}{{"input ", in.Inputs}, {"output", in.Outputs}} {
		for _, t := range list.ts {
			fmt.Fprintf(w, "  %s %-12s %s %v\n", list.label, t.Name, t.Type, t.Shape)
		}
	}
	fmt.Fprintf(w, "  parameters %s\n", report.Thousands(in.Params))
	if in.MACs != nil {
		fmt.Fprintf(w, "  MACs       %s per image (%.3f G; FLOPs = 2 × MACs)\n", report.Thousands(*in.MACs), float64(*in.MACs)/1e9)
	} else {
		fmt.Fprintf(w, "  MACs       unknown: %s\n", in.MACsError)
	}
	// The most frequent operators first, then by name.
	ops := slices.SortedFunc(maps.Keys(in.Ops), func(a, b string) int { return cmp.Or(in.Ops[b]-in.Ops[a], strings.Compare(a, b)) })
	fmt.Fprintf(w, "  %d nodes:\n", in.Nodes)
	for _, op := range ops {
		fmt.Fprintf(w, "    %-20s %d\n", op, in.Ops[op])
	}
	for _, k := range slices.Sorted(maps.Keys(in.Metadata)) {
		fmt.Fprintf(w, "  metadata %s = %s\n", k, in.Metadata[k])
	}
	if in.Valid {
		fmt.Fprintln(w, "  valid")
	} else {
		fmt.Fprintf(w, "  INVALID: %d problems\n", len(in.Problems))
		for _, p := range in.Problems {
			fmt.Fprintf(w, "    %s\n", p)
		}
	}
}
