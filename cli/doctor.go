package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/bot-onnx/bot-onnx/doctor"
	"github.com/bot-onnx/bot-onnx/internal/report"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

// doctorCommand reports the machine as bot-onnx sees it, to check a set-up
// or to attach to a bug report; a missing ONNX Runtime fails it, after
// the rest is printed.
func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:      "doctor",
		Usage:     "report what bot-onnx finds on this machine: Go, cores, memory, ONNX Runtime, OpenBLAS, the data cache",
		UsageText: "bot-onnx doctor [--ort-lib PATH] [--json]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ort-lib", Usage: "ONNX Runtime library to check (else the usual search: $" + ort.LibraryEnv + ", the user cache, the system's folders)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		},
		Action: func(c *cli.Context) error {
			r := doctor.Diagnose(c.String("ort-lib"), Version)
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, r); err != nil {
					return err
				}
			} else if err := printDoctor(c.App.Writer, r); err != nil {
				return err
			}
			if r.ORT.Error != "" {
				return errors.New(r.ORT.Error)
			}
			return nil
		},
	}
}

// printDoctor writes the report as an aligned key: value listing.
func printDoctor(w io.Writer, r doctor.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(key, format string, args ...any) {
		fmt.Fprintf(tw, "%s:\t%s\n", key, fmt.Sprintf(format, args...))
	}
	line("bot-onnx", "%s", r.Version)
	line("go", "%s %s/%s", r.Go, r.OS, r.Arch)
	line("cores", "%d (GOMAXPROCS %d)", r.CPUs, r.GOMAXPROCS)
	printMemory(r.Memory, line)
	printORT(r.ORT, line)
	printEngine(r.Engine, line)
	printOpenBLAS(r.OpenBLAS, line)
	for _, d := range r.Data {
		if d.Present {
			line(d.Name, "%s (%s training, %s test images)", d.Dir, report.Thousands(int64(d.Train)), report.Thousands(int64(d.Test)))
		} else {
			line(d.Name, "missing: %s", d.Error)
		}
	}
	return tw.Flush()
}

// printEngine writes the engine's lines of the listing.
func printEngine(e doctor.Engine, line func(key, format string, args ...any)) {
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

// printOpenBLAS writes the OpenBLAS lines of the listing.
func printOpenBLAS(o doctor.OpenBLAS, line func(key, format string, args ...any)) {
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

// printMemory writes the memory lines of the listing.
func printMemory(m doctor.Memory, line func(key, format string, args ...any)) {
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

// printORT writes the ONNX Runtime lines of the listing: the library and
// what it offers, or why it is missing or does not load.
func printORT(o doctor.ORT, line func(key, format string, args ...any)) {
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
		line("auto provider", "%s (%s)", o.Auto, o.Fallback)
	default:
		line("auto provider", "%s", o.Auto)
	}
}
