package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/urfave/cli/v2"
)

// tensorInfo is a graph input or output as inspect reports it: dims are
// numbers, or strings for symbolic ones ("batch"), or null when unknown.
type tensorInfo struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape []any  `json:"shape"`
}

// inspection is what `inspect --json` prints.
type inspection struct {
	Path      string            `json:"path"`
	IRVersion int64             `json:"ir_version"`
	Opset     int64             `json:"opset"`
	Producer  string            `json:"producer"`
	Inputs    []tensorInfo      `json:"inputs"`
	Outputs   []tensorInfo      `json:"outputs"`
	Params    int64             `json:"params"`
	MACs      *int64            `json:"macs"`
	FLOPs     *int64            `json:"flops"`
	MACsError string            `json:"macs_error,omitempty"`
	Nodes     int               `json:"nodes"`
	Ops       map[string]int    `json:"ops"`
	Metadata  map[string]string `json:"metadata"`
	Valid     bool              `json:"valid"`
	Problems  []string          `json:"problems,omitempty"`
}

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a model's inputs, outputs, opset, parameters, MACs and operators",
		UsageText: "bot-onnx inspect model.onnx [--json]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print one JSON object"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("inspect: expected one model file, found %d arguments", c.NArg())
			}
			path := c.Args().First()
			m, err := graph.Load(path)
			if err != nil {
				return err
			}
			in := inspect(path, m)
			if c.Bool("json") {
				return printJSON(c.App.Writer, in)
			}
			in.print(c.App.Writer)
			return nil
		},
	}
}

func inspect(path string, m *graph.Model) inspection {
	g := m.GetGraph()
	in := inspection{
		Path: path, IRVersion: m.GetIrVersion(), Opset: m.Opset(),
		Producer: strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion()),
		Ops:      graph.OpCounts(g), Metadata: map[string]string{},
		Nodes: len(g.GetNode()),
		Valid: true,
	}
	for _, v := range graph.DataInputs(g) {
		in.Inputs = append(in.Inputs, describe(v))
	}
	for _, v := range g.GetOutput() {
		in.Outputs = append(in.Outputs, describe(v))
	}
	for _, p := range m.GetMetadataProps() {
		in.Metadata[p.GetKey()] = p.GetValue()
	}
	counts, err := graph.Count(m)
	in.Params = counts.Params
	if err != nil {
		in.MACsError = err.Error()
	} else {
		flops := 2 * counts.MACs
		in.MACs, in.FLOPs = &counts.MACs, &flops
	}
	if err := graph.Validate(m); err != nil {
		in.Valid = false
		var verr *graph.ValidationError
		if errors.As(err, &verr) {
			in.Problems = verr.Problems
		} else {
			in.Problems = []string{err.Error()}
		}
	}
	return in
}

func describe(v *onnx.ValueInfoProto) tensorInfo {
	ti := tensorInfo{Name: v.GetName(), Shape: []any{}}
	s, elem, ok := graph.ShapeOf(v)
	ti.Type = onnx.TensorProto_DataType(elem).String()
	if !ok {
		ti.Shape = nil
	}
	for _, d := range s {
		switch {
		case d.Param != "":
			ti.Shape = append(ti.Shape, d.Param)
		case d.Known():
			ti.Shape = append(ti.Shape, d.Size)
		default:
			ti.Shape = append(ti.Shape, nil)
		}
	}
	return ti
}

func (in inspection) print(w io.Writer) {
	fmt.Fprintf(w, "%s\n  IR version %d, opset %d, producer %s\n", in.Path, in.IRVersion, in.Opset, in.Producer)
	for _, list := range []struct {
		label string
		ts    []tensorInfo
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
	ops := make([]string, 0, len(in.Ops))
	for op := range in.Ops {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if in.Ops[ops[i]] != in.Ops[ops[j]] {
			return in.Ops[ops[i]] > in.Ops[ops[j]]
		}
		return ops[i] < ops[j]
	})
	fmt.Fprintf(w, "  %d nodes:\n", in.Nodes)
	for _, op := range ops {
		fmt.Fprintf(w, "    %-20s %d\n", op, in.Ops[op])
	}
	keys := make([]string, 0, len(in.Metadata))
	for k := range in.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
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
