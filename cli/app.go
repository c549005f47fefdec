// Package cli is the bot-onnx command line: thin commands over the stage
// packages. Each command parses its flags, calls one package, and prints a
// human summary or, with --json, one JSON object. Errors reach the user as
// one line on stderr with a non-zero exit status.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/urfave/cli/v2"
)

// Version is the bot-onnx version, set at link time with
// -ldflags "-X github.com/bot-onnx/bot-onnx/cli.Version=...".
var Version = "dev"

// NewApp returns the bot-onnx application writing to stdout and stderr.
func NewApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "bot-onnx",
		Usage:     `apply the "Bag of Tricks" (He et al., CVPR 2019) to ResNets, around ONNX`,
		Version:   Version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			demoCommand(),
			modelsCommand(),
			buildCommand(),
			tweakCommand(),
			trainCommand(),
			ablateCommand(),
			exportCommand(),
			transferCommand(),
			transferStudyCommand(),
			benchCommand(),
			scheduleCommand(),
			dataCommand(),
			inspectCommand(),
			predictCommand(),
			evalCommand(),
			doctorCommand(),
		},
		// Usage errors come back as plain errors, printed once by Main.
		OnUsageError:    func(_ *cli.Context, err error, _ bool) error { return err },
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
	}
}

// Main runs the application on args (os.Args form) and returns the exit status.
//
// SIGINT and SIGTERM end a command that does not watch for them (build,
// tweak, export, …) with status 130, after removing the temporary file of
// any model being written; a command that does (interruptible) stops by
// itself and says how to resume.
func Main(args []string, stdout, stderr io.Writer) int {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		for range signals {
			if !graceful.Load() {
				graph.RemovePendingWrites()
				fmt.Fprintln(stderr, "bot-onnx: interrupted; nothing was written")
				os.Exit(130)
			}
		}
	}()
	app := NewApp(stdout, stderr)
	defaultsInUsage(app.Commands)
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	if err := app.Run(interspersed(app, args)); err != nil {
		fmt.Fprintf(stderr, "bot-onnx: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

// graceful is set by a command that stops by itself on SIGINT and SIGTERM.
var graceful atomic.Bool

// interruptible returns the context of a command that stops by itself on
// SIGINT and SIGTERM, at a point where what it wrote can be resumed from.
func interruptible(c *cli.Context) (context.Context, context.CancelFunc) {
	graceful.Store(true)
	return signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// replaceFlags returns flags with each flag of with in place of the one of
// its name: a command that shares a set of flags but means one of them
// differently (transfer-study's --out, demo's --threads) says so in its
// own words.
func replaceFlags(flags []cli.Flag, with ...cli.Flag) []cli.Flag {
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

// defaultsInUsage moves a "(default: …)" at the end of a number or
// boolean flag's usage into its DefaultText, for every command, so that
// help shows one default, that one, rather than it and urfave/cli's "0".
func defaultsInUsage(cmds []*cli.Command) {
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
		defaultsInUsage(c.Subcommands)
	}
}

// jsonFlag is the --json flag of a command that prints one JSON object.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print one JSON object"} }

// parseDims parses "3x224x224" into sizes; want is the number of
// dimensions expected and what names them in errors.
func parseDims(flag, s string, want int, form string) ([]int64, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "x")
	if len(parts) != want {
		return nil, fmt.Errorf("--%s %q: expected %d sizes like %s, found %d", flag, s, want, form, len(parts))
	}
	dims := make([]int64, want)
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--%s %q: expected positive integers like %s, found %q", flag, s, form, p)
		}
		dims[i] = n
	}
	return dims, nil
}

// interspersed moves a command's flags ahead of its positional arguments,
// so that `bot-onnx export run/ --head none` parses like
// `bot-onnx export --head none run/`: urfave/cli stops reading flags at the
// first positional argument. A flag's value is kept next to it; `--` ends
// the flags as usual.
func interspersed(app *cli.App, args []string) []string {
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
