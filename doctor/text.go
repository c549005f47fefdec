package doctor

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/train"
)

// lineFunc writes one key: value line of the listing.
type lineFunc func(key, format string, args ...any)

// WriteText writes the report as an aligned key: value listing, as
// `bot-onnx doctor` prints it for a person to read; it returns the error
// of writing to w.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", key, fmt.Sprintf(format, args...))
	}
	line("bot-onnx", "%s", r.Version)
	line("go", "%s %s/%s", r.Go, r.OS, r.Arch)
	line("cores", "%d (GOMAXPROCS %d)", r.CPUs, r.GOMAXPROCS)
	r.Memory.writeText(line)
	r.ORT.writeText(line)
	r.Engine.writeText(line)
	r.OpenBLAS.writeText(line)
	for _, d := range r.Data {
		if d.Present {
			line(d.Name, "%s (%s training, %s test images)", d.Dir, report.Thousands(int64(d.Train)), report.Thousands(int64(d.Test)))
		} else {
			line(d.Name, "missing: %s", d.Error)
		}
	}
	tw.Flush() // into b, which does not fail
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText writes the engine's lines of the listing.
func (e Engine) writeText(line lineFunc) {
	if e.CPU != "" {
		line("cpu", "%s", e.CPU)
	}
	line("cpu features", "%s", e.Features)
	bf16 := "no bfloat16 arithmetic (train --precision bf16 is refused)"
	if e.BF16 {
		bf16 = "bfloat16 arithmetic (train --precision bf16)"
	}
	line("engine isa", "%s, %s", e.ISA, bf16)
	line("convolutions", "oneDNN %s (JIT kernels oneDNN picks from CPUID)", e.Convolutions)
	line("elementwise", "%s (BatchNorm, ReLU, Add: the copy picked from the features)", e.Elementwise)
	for _, w := range e.Warnings {
		line("warning", "%s", w)
	}
}

// writeText writes the OpenBLAS lines of the listing.
func (o OpenBLAS) writeText(line lineFunc) {
	if o.Error != "" {
		line("openblas", "missing: %s", o.Error)
		return
	}
	line("openblas", "%s (%s)", o.Config, o.Library)
	from := o.CoreFrom
	if o.Requested != "" && !strings.EqualFold(o.Requested, o.Core) {
		from += ", which asked for " + o.Requested
	}
	line("openblas core", "%s: %s kernels, chosen by %s", o.Core, o.ISA, from)
	line("openblas threads", "%d", o.Threads)
}

// writeText writes the memory lines of the listing.
func (m Memory) writeText(line lineFunc) {
	if m.Error != "" {
		line("memory", "unknown: %s", m.Error)
		return
	}
	line("memory", "%s total, %s available", train.FormatBytes(m.Total), train.FormatBytes(m.Available))
	if m.CgroupLimit > 0 {
		line("cgroup limit", "%s (%s)", train.FormatBytes(m.CgroupLimit), m.CgroupFile)
	} else {
		line("cgroup limit", "none")
	}
}

// writeText writes the ONNX Runtime lines of the listing: the library and
// what it offers, or why it is missing or does not load.
func (o ORT) writeText(line lineFunc) {
	if o.Library == "" {
		line("onnx runtime", "missing: %s", o.Error)
		return
	}
	line("onnx runtime", "%s (found by %s)", o.Library, o.FoundBy)
	if o.Version == "" {
		line("onnx runtime error", "%s", o.Error)
		return
	}
	line("onnx runtime version", "%s", o.Version)
	line("providers", "%s", strings.Join(o.Providers, ", "))
	switch {
	case o.Auto == "":
		line("auto provider", "unknown: %s", o.Error)
	case o.Fallback != "":
		// The reasons are on the providers' own lines below.
		line("auto provider", "%s (%s did not start)", o.Auto, strings.Join(o.Skipped, " and "))
	default:
		line("auto provider", "%s", o.Auto)
	}
	for _, c := range o.Checks {
		state := "not compiled in"
		if c.CompiledIn {
			state = "compiled in"
		}
		if c.Starts {
			line("provider "+c.Provider, "%s, starts", state)
		} else {
			line("provider "+c.Provider, "%s, does not start: %s", state, c.Reason)
		}
	}
}
