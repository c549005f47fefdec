package graph

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// TensorInfo is a graph input or output as Inspect reports it: dims are
// numbers, or strings for symbolic ones ("batch"), or nil when unknown;
// Shape is nil when the value carries no shape at all.
type TensorInfo struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape []any  `json:"shape"`
}

// Summary is what a model is, as `bot-onnx inspect` shows it: its
// versions, inputs and outputs, counts, operators, metadata and whether
// it passes Validate.
type Summary struct {
	IRVersion int64        `json:"ir_version"`
	Opset     int64        `json:"opset"`
	Producer  string       `json:"producer"`
	Inputs    []TensorInfo `json:"inputs"`
	Outputs   []TensorInfo `json:"outputs"`
	Params    int64        `json:"params"`
	// MACs and FLOPs (2 × MACs) per image are nil when Count cannot count
	// them; MACsError says why.
	MACs      *int64            `json:"macs"`
	FLOPs     *int64            `json:"flops"`
	MACsError string            `json:"macs_error,omitempty"`
	Nodes     int               `json:"nodes"`
	Ops       map[string]int    `json:"ops"`
	Metadata  map[string]string `json:"metadata"`
	Valid     bool              `json:"valid"`
	Problems  []string          `json:"problems,omitempty"`
}

// Inspect summarises m: its data inputs (initializers left out), outputs,
// parameter and MAC counts, operators, metadata and validation problems.
func Inspect(m *Model) Summary {
	g := m.GetGraph()
	s := Summary{
		IRVersion: m.GetIrVersion(), Opset: m.Opset(),
		Producer: strings.TrimSpace(m.GetProducerName() + " " + m.GetProducerVersion()),
		Ops:      OpCounts(g), Metadata: map[string]string{},
		Nodes: len(g.GetNode()),
		Valid: true,
	}
	for _, v := range DataInputs(g) {
		s.Inputs = append(s.Inputs, Describe(v))
	}
	for _, v := range g.GetOutput() {
		s.Outputs = append(s.Outputs, Describe(v))
	}
	for _, p := range m.GetMetadataProps() {
		s.Metadata[p.GetKey()] = p.GetValue()
	}
	counts, err := Count(m)
	s.Params = counts.Params
	if err != nil {
		s.MACsError = err.Error()
	} else {
		flops := 2 * counts.MACs
		s.MACs, s.FLOPs = &counts.MACs, &flops
	}
	if err := Validate(m); err != nil {
		s.Valid = false
		var verr *ValidationError
		if errors.As(err, &verr) {
			s.Problems = verr.Problems
		} else {
			s.Problems = []string{err.Error()}
		}
	}
	return s
}

// WriteText writes the summary of the model at path as `bot-onnx
// inspect` prints it for a person to read: versions, inputs and outputs,
// counts with commas, operators (the most frequent first), metadata and
// the validator's verdict; it returns the error of writing to w.
func (s Summary) WriteText(w io.Writer, path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n  IR version %d, opset %d, producer %s\n", path, s.IRVersion, s.Opset, s.Producer)
	for _, list := range []struct {
		label string
		ts    []TensorInfo
	}{{"input ", s.Inputs}, {"output", s.Outputs}} {
		for _, t := range list.ts {
			fmt.Fprintf(&b, "  %s %-12s %s %v\n", list.label, t.Name, t.Type, t.Shape)
		}
	}
	fmt.Fprintf(&b, "  parameters %s\n", thousands(s.Params))
	if s.MACs != nil {
		fmt.Fprintf(&b, "  MACs       %s per image (%.3f G; FLOPs = 2 × MACs)\n", thousands(*s.MACs), float64(*s.MACs)/1e9)
	} else {
		fmt.Fprintf(&b, "  MACs       unknown: %s\n", s.MACsError)
	}
	ops := slices.SortedFunc(maps.Keys(s.Ops), func(a, b string) int { return cmp.Or(s.Ops[b]-s.Ops[a], strings.Compare(a, b)) })
	fmt.Fprintf(&b, "  %d nodes:\n", s.Nodes)
	for _, op := range ops {
		fmt.Fprintf(&b, "    %-20s %d\n", op, s.Ops[op])
	}
	for _, k := range slices.Sorted(maps.Keys(s.Metadata)) {
		fmt.Fprintf(&b, "  metadata %s = %s\n", k, s.Metadata[k])
	}
	if s.Valid {
		b.WriteString("  valid\n")
	} else {
		problems := "problems"
		if len(s.Problems) == 1 {
			problems = "problem"
		}
		fmt.Fprintf(&b, "  INVALID: %d %s\n", len(s.Problems), problems)
		for _, p := range s.Problems {
			fmt.Fprintf(&b, "    %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// thousands writes n with comma separators, 1234567 as "1,234,567", as
// report.Thousands does for the rest of the project (graph cannot import
// package report, which imports graph).
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Describe gives a value's name, element type and shape as a TensorInfo.
func Describe(v *onnx.ValueInfoProto) TensorInfo {
	ti := TensorInfo{Name: v.GetName(), Shape: []any{}}
	s, elem, ok := ShapeOf(v)
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
