// Package cli is the bot-onnx command line: thin commands over the stage
// packages. Each command parses its flags, calls one package, and prints a
// human summary or, with --json, one JSON object. Errors reach the user as
// one line on stderr with a non-zero exit status.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
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
			evalDetectionsCommand(),
			doctorCommand(),
		},
		// Usage errors come back as plain errors, printed once by Main.
		OnUsageError:    func(_ *cli.Context, err error, _ bool) error { return err },
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Before:          func(c *cli.Context) error { return refuseUnderMPI(c.Args().First()) },
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
	cmdline.OneDefault(app.Commands)
	for _, c := range app.Commands {
		c.OnUsageError = app.OnUsageError
	}
	if err := app.Run(cmdline.Interspersed(app, args)); err != nil {
		fmt.Fprintf(stderr, "bot-onnx: %s\n", cmdline.OneLine(err.Error()))
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

// interrupted is err, or where the command was stopped by SIGINT or
// SIGTERM (ctx is done) a message saying so and how to go on.
func interrupted(ctx context.Context, err error, howToGoOn string) error {
	if ctx.Err() != nil {
		return errors.New("interrupted; " + howToGoOn)
	}
	return err
}

// jsonFlag is the --json flag of a command that prints one JSON object.
func jsonFlag() cli.Flag { return &cli.BoolFlag{Name: "json", Usage: "print one JSON object"} }
