package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/urfave/cli/v2"
)

// runtimeFlags are the ONNX Runtime options every command that runs a
// model takes.
func runtimeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "provider", Value: "auto", Usage: "execution provider: auto (CUDA, else WebGPU, else the CPU), cpu, cuda, tensorrt, webgpu"},
		&cli.IntFlag{Name: "device-id", Usage: "GPU used by the cuda and tensorrt providers"},
		&cli.StringSliceFlag{Name: "provider-option", Usage: "webgpu: an option of ONNX Runtime's WebGPU provider, key=value (repeatable; e.g. deviceId=1, powerPreference=high-performance)"},
		&cli.IntFlag{Name: "threads", Usage: "intra-op threads (0: ONNX Runtime's default)"},
		&cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (else $" + ort.LibraryEnv + ", the set-up cache, the system's)"},
	}
}

// runtimeOptions reads runtimeFlags.
func runtimeOptions(c *cli.Context) (ort.Options, error) {
	p, err := ort.ParseProvider(c.String("provider"))
	if err != nil {
		return ort.Options{}, fmt.Errorf("--provider: %w", err)
	}
	o := ort.Options{LibraryPath: c.String("ort-lib"), Provider: p, DeviceID: c.Int("device-id"), Threads: c.Int("threads")}
	if o.ProviderOptions, err = ort.ParseProviderOptions(c.StringSlice("provider-option")); err != nil {
		return ort.Options{}, fmt.Errorf("--provider-option: %w", err)
	}
	if len(o.ProviderOptions) > 0 && p != ort.ProviderWebGPU && p != ort.ProviderAuto {
		return ort.Options{}, fmt.Errorf("--provider-option has no effect with --provider %s (it sets the webgpu provider's options)", p)
	}
	return o, nil
}

// openModel opens the one model file a command takes as its argument in
// ONNX Runtime, with the options of runtimeFlags.
func openModel(c *cli.Context) (*ort.Session, error) {
	if c.NArg() != 1 {
		return nil, fmt.Errorf("%s: expected one model file, found %d arguments", strings.TrimPrefix(c.Command.HelpName, c.App.Name+" "), c.NArg())
	}
	opts, err := runtimeOptions(c)
	if err != nil {
		return nil, err
	}
	if err := ort.Init(opts.LibraryPath); err != nil {
		return nil, err
	}
	// Read by graph first, so that an empty, truncated or foreign file is
	// refused in bot-onnx's words rather than in ONNX Runtime's C++ ones.
	if _, err := graph.Load(c.Args().First()); err != nil {
		return nil, err
	}
	return ort.NewSession(c.Args().First(), opts)
}

// noteFallback says on w, in one short line, which provider auto took and
// why the ones before it did not start; the full reasons are in --json's
// fallback and in doctor. Commands call it once their input is checked,
// so that a bad input still gives one line.
func noteFallback(w io.Writer, sess *ort.Session) {
	if note := sess.FallbackNote(); note != "" {
		fmt.Fprintln(w, note)
	}
}

// predictFieldFlags are predict's flags by the bench.PredictOptions field
// each sets.
var predictFieldFlags = map[string]string{"Shape": "--input", "Runs": "--runs"}

func predictCommand() *cli.Command {
	return &cli.Command{
		Name:      "predict",
		Usage:     "run a model in ONNX Runtime on seeded random input; print output shape, provider and latency",
		UsageText: "bot-onnx predict model.onnx [--input 1x3x224x224] [--provider auto|cpu|cuda|tensorrt] [--runs N] [--json]",
		Flags: append(runtimeFlags(),
			&cli.StringFlag{Name: "input", Usage: "input shape NxCxHxW (default: the model's, with dynamic sizes set to 1)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the random input (standard normal values)"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "timed runs after one warm-up run; the median is reported"},
			&cli.StringFlag{Name: "against", Usage: "also run the same input once on this provider (e.g. cpu) and report each output's largest difference from it"},
			jsonFlag(),
		),
		Action: func(c *cli.Context) error {
			sess, err := openModel(c)
			if err != nil {
				return err
			}
			defer sess.Close()
			o := bench.PredictOptions{Seed: c.Uint64("seed"), Runs: c.Int("runs")}
			if c.IsSet("against") {
				opts, _ := runtimeOptions(c) // openModel read them already
				if opts.Provider, err = ort.ParseProvider(c.String("against")); err != nil {
					return fmt.Errorf("--against: %w", err)
				}
				opts.ProviderOptions = nil
				if o.Against, err = ort.NewSession(c.Args().First(), opts); err != nil {
					return fmt.Errorf("--against: %w", err)
				}
				defer o.Against.Close()
			}
			if s := c.String("input"); c.IsSet("input") {
				// Any number of sizes: Predict checks them against the model.
				if o.Shape, err = cmdline.Dims("input", s, strings.Count(strings.ToLower(s), "x")+1, "NxCxHxW"); err != nil {
					return err
				}
			}
			p, err := bench.Predict(sess, c.Args().First(), o)
			if err != nil {
				return cmdline.InFlags(err, predictFieldFlags)
			}
			if c.Bool("json") {
				return cmdline.PrintJSON(c.App.Writer, p)
			}
			noteFallback(c.App.ErrWriter, sess)
			return p.WriteText(c.App.Writer)
		},
	}
}
