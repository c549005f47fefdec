package export

import (
	"fmt"
	"io"
	"strings"

	"github.com/bot-onnx/bot-onnx/internal/report"
)

// WriteText writes the export's summary as `bot-onnx export` prints it
// for a person to read: the file written and from what, its head,
// precision, opset and size, its inputs and outputs (a backbone's with
// their strides), the BatchNorms folded and kept, and the verification's
// figures; it returns the error of writing to w.
func (res *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	head, precision, from := "classifier", "float32", ""
	if res.Head == Backbone {
		head = "backbone"
	}
	if res.FP16 {
		precision = "float16"
	}
	if res.Source != "" {
		from = " from " + res.Source
	}
	fmt.Fprintf(&b, "wrote %s%s: %s, %s, opset %d, %.1f MB\n", res.Output, from, head, precision, res.Opset, float64(res.Bytes)/1e6)
	for _, v := range res.Inputs {
		fmt.Fprintf(&b, "  input  %-13s %-7s %s\n", v.Name, v.Type, v.Shape)
	}
	for i, v := range res.Outputs {
		note := ""
		if i < len(res.Features) {
			note = fmt.Sprintf("  stride %d", res.Features[i].Stride)
		}
		fmt.Fprintf(&b, "  output %-13s %-7s %s%s\n", v.Name, v.Type, v.Shape, note)
	}
	if f := res.Fold; f != nil {
		fmt.Fprintf(&b, "folded %d BatchNormalization %s into the preceding Conv; %d kept\n", f.Folded, report.Plural(f.Folded, "node", "nodes"), len(f.Kept))
		for _, k := range f.Kept {
			fmt.Fprintf(&b, "  kept %s\n", k)
		}
	}
	v := res.Verified
	fmt.Fprintf(&b, "verified in ONNX Runtime against the source on seeded input %v (seed %d):\n", v.InputShape, v.Seed)
	for _, p := range v.Outputs {
		fmt.Fprintf(&b, "  %-13s max |diff| %.2g (bound %.2g, max |source| %.3g)\n", p.Output, p.MaxAbsDiff, p.Bound, p.MaxAbsRef)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
