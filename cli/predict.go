package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/urfave/cli/v2"
)

// runtimeFlags are the ONNX Runtime options every command that runs a
// model takes.
func runtimeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "provider", Value: "auto", Usage: "execution provider: auto (CUDA if available, else CPU), cpu, cuda, tensorrt"},
		&cli.IntFlag{Name: "device-id", Usage: "GPU used by the cuda and tensorrt providers"},
		&cli.IntFlag{Name: "threads", Usage: "intra-op threads (0: ONNX Runtime's default)"},
		&cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (else $" + ort.LibraryEnv + ", the set-up cache, the system's)"},
	}
}

// runtimeFlagsWithThreads are runtimeFlags with --threads defaulting to
// value and described by usage.
func runtimeFlagsWithThreads(value int, usage string) []cli.Flag {
	flags := runtimeFlags()
	for i, f := range flags {
		if f.Names()[0] == "threads" {
			flags[i] = &cli.IntFlag{Name: "threads", Value: value, Usage: usage}
		}
	}
	return flags
}

// runtimeOptions reads runtimeFlags.
func runtimeOptions(c *cli.Context) (ort.Options, error) {
	p, err := ort.ParseProvider(c.String("provider"))
	if err != nil {
		return ort.Options{}, fmt.Errorf("--provider: %w", err)
	}
	return ort.Options{
		LibraryPath: c.String("ort-lib"),
		Provider:    p,
		DeviceID:    c.Int("device-id"),
		Threads:     c.Int("threads"),
	}, nil
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
	return ort.NewSession(c.Args().First(), opts)
}

// noteFallback says on w, in one line, that the auto provider fell back to
// the CPU and why; commands call it once their input is checked, so that a
// bad input still gives one line.
func noteFallback(w io.Writer, sess *ort.Session) {
	if reason := sess.Fallback(); reason != "" {
		fmt.Fprintf(w, "provider auto: CUDA unavailable, using the CPU (%s)\n", reason)
	}
}

// prediction is what `predict --json` prints.
type prediction struct {
	Model       string    `json:"model"`
	Provider    string    `json:"provider"`
	Fallback    string    `json:"fallback,omitempty"`
	InputName   string    `json:"input_name"`
	InputShape  []int64   `json:"input_shape"`
	OutputName  string    `json:"output_name"`
	OutputShape []int64   `json:"output_shape"`
	Runs        int       `json:"runs"`
	LatencyMS   float64   `json:"latency_ms_median"`
	ImagesPerS  float64   `json:"images_per_second"`
	LatenciesMS []float64 `json:"latencies_ms"`
	First       []float32 `json:"first_values"`
}

func predictCommand() *cli.Command {
	return &cli.Command{
		Name:      "predict",
		Usage:     "run a model in ONNX Runtime on seeded random input; print output shape, provider and latency",
		UsageText: "bot-onnx predict model.onnx [--input 1x3x224x224] [--provider auto|cpu|cuda|tensorrt] [--runs N] [--json]",
		Flags: append(runtimeFlags(),
			&cli.StringFlag{Name: "input", Usage: "input shape NxCxHxW (default: the model's, with dynamic sizes set to 1)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the random input (standard normal values)"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "timed runs after one warm-up run; the median is reported"},
			jsonFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.Int("runs") < 1 {
				return fmt.Errorf("--runs: expected at least 1, found %d", c.Int("runs"))
			}
			sess, err := openModel(c)
			if err != nil {
				return err
			}
			defer sess.Close()
			p, err := predict(c, sess, c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, p)
			}
			noteFallback(c.App.ErrWriter, sess)
			fmt.Fprintf(c.App.Writer, "%s on %s: %s %v → %s %v, median latency %.2f ms over %d runs (%.1f images/s)\n",
				p.Model, p.Provider, p.InputName, p.InputShape, p.OutputName, p.OutputShape, p.LatencyMS, p.Runs, p.ImagesPerS)
			fmt.Fprintf(c.App.Writer, "first values: %v\n", p.First)
			return nil
		},
	}
}

func predict(c *cli.Context, sess *ort.Session, path string) (prediction, error) {
	ins, outs := sess.Inputs(), sess.Outputs()
	if len(ins) != 1 {
		return prediction{}, fmt.Errorf("%s: predict feeds models with one input, found %d", path, len(ins))
	}
	in := ins[0]
	if in.ElementType != "float" {
		return prediction{}, fmt.Errorf("%s: input %q has element type %s, predict feeds float", path, in.Name, in.ElementType)
	}
	shape := make([]int64, len(in.Shape))
	for i, d := range in.Shape {
		shape[i] = max(d, 1)
	}
	if c.IsSet("input") {
		dims, err := parseDims("input", c.String("input"), len(in.Shape), exampleDims(in.Shape))
		if err != nil {
			return prediction{}, err
		}
		for i, d := range in.Shape {
			if d > 0 && dims[i] != d {
				return prediction{}, fmt.Errorf("--input %s: model input %q has fixed size %d in dimension %d, found %d", c.String("input"), in.Name, d, i, dims[i])
			}
		}
		shape = dims
	}
	p := prediction{Model: path, Provider: string(sess.Provider()), Fallback: sess.Fallback(),
		InputName: in.Name, InputShape: shape, OutputName: outs[0].Name, Runs: c.Int("runs")}
	tm, err := sess.Time(ort.RandomInput(shape, c.Uint64("seed")), 1, p.Runs)
	if err != nil {
		return p, err
	}
	y := tm.Outputs[0]
	p.OutputShape, p.First = y.Shape, y.Data[:min(5, len(y.Data))]
	p.LatenciesMS, p.LatencyMS = tm.Milliseconds(), tm.MedianMilliseconds()
	if p.LatencyMS > 0 && len(shape) > 0 {
		p.ImagesPerS = float64(shape[0]) / (p.LatencyMS / 1000)
	}
	return p, nil
}

// exampleDims writes a model's input shape as a --input example, with 1
// for dynamic sizes.
func exampleDims(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(max(d, 1))
	}
	return strings.Join(parts, "x")
}
