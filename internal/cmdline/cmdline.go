// Package cmdline extends urfave/cli/v2 with what every bot-onnx command
// needs and the library does not give: flags after positional arguments,
// one default per flag in help, YAML recipes read under the command line,
// list and size values, library errors told in flag names, and output as
// indented JSON or one line. It knows nothing of the commands themselves.
package cmdline

import (
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// OneLine folds a multi-line message onto one line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// PrintJSON writes v as indented JSON.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Print writes v as indented JSON when the command's --json is set, else
// as v's own text.
func Print(c *cli.Context, v interface{ WriteText(io.Writer) error }) error {
	if c.Bool("json") {
		return PrintJSON(c.App.Writer, v)
	}
	return v.WriteText(c.App.Writer)
}

// Replace returns flags with each flag of with in place of the one of its
// name: a command that shares a set of flags but means one of them
// differently (transfer-study's --out, demo's --threads) says so in its
// own words.
func Replace(flags []cli.Flag, with ...cli.Flag) []cli.Flag {
	out := slices.Clone(flags)
	for i, f := range out {
		for _, w := range with {
			if w.Names()[0] == f.Names()[0] {
				out[i] = w
			}
		}
	}
	return out
}

// OneDefault moves a "(default: …)" at the end of a number or boolean
// flag's usage into its DefaultText, for every command and subcommand, so
// that help shows one default, that one, rather than it and urfave/cli's
// "0".
func OneDefault(cmds []*cli.Command) {
	const marker = " (default: "
	split := func(usage, text *string) {
		if i := strings.LastIndex(*usage, marker); i >= 0 && strings.HasSuffix(*usage, ")") {
			*usage, *text = (*usage)[:i], (*usage)[i+len(marker):len(*usage)-1]
		}
	}
	for _, c := range cmds {
		for _, f := range c.Flags {
			switch f := f.(type) {
			case *cli.IntFlag:
				split(&f.Usage, &f.DefaultText)
			case *cli.Int64Flag:
				split(&f.Usage, &f.DefaultText)
			case *cli.Uint64Flag:
				split(&f.Usage, &f.DefaultText)
			case *cli.Float64Flag:
				split(&f.Usage, &f.DefaultText)
			case *cli.BoolFlag:
				split(&f.Usage, &f.DefaultText)
			}
		}
		OneDefault(c.Subcommands)
	}
}

// Interspersed moves a command's flags ahead of its positional arguments,
// so that `bot-onnx export run/ --head none` parses like
// `bot-onnx export --head none run/`: urfave/cli stops reading flags at the
// first positional argument. A flag's value is kept next to it; `--` ends
// the flags as usual.
func Interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	at := 1
	for ; at < len(args); at++ {
		if !strings.HasPrefix(args[at], "-") {
			cmd = app.Command(args[at])
			break
		}
	}
	if cmd == nil {
		return args
	}
	for at+1 < len(args) {
		sub := cmd.Command(args[at+1])
		if sub == nil {
			break
		}
		cmd, at = sub, at+1
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, name := range f.Names() {
			takesValue[name] = !isBool
		}
	}
	out := append([]string(nil), args[:at+1]...)
	var positional []string
	rest := args[at+1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		name := strings.TrimLeft(a, "-")
		if !strings.HasPrefix(a, "-") || a == "-" || name == "" {
			positional = append(positional, a)
			continue
		}
		out = append(out, a)
		if value, known := takesValue[name]; known && value && !strings.Contains(name, "=") && i+1 < len(rest) {
			i++
			out = append(out, rest[i])
		}
	}
	return append(out, positional...)
}
