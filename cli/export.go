package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

func exportCommand() *cli.Command {
	var opts export.Options
	return &cli.Command{
		Name:  "export",
		Usage: "write a trained model as a verified ONNX classifier or backbone (BatchNorm folding, float16, opset, batch and input size)",
		UsageText: "bot-onnx export RUN_DIR|model.onnx -o out.onnx [--head classifier [--softmax] | --head none [--features c2,c3,c4,c5]]\n" +
			"   [--fold-bn] [--fp16 [--fp16-io]] [--opset N] [--dynamic-batch=false [--batch N]] [--input-size HxW|dynamic] [--json]",
		Description: "A backbone's outputs are the ends of the network's stages, found by structure: c<k> is the\n" +
			"stage with stride 2^k, so the ImageNet layout gives c2, c3, c4, c5 (strides 4, 8, 16, 32) and\n" +
			"the CIFAR layout c0, c1, c2 (strides 1, 2, 4). Every export is verified before it is written:\n" +
			"it must pass the validator, load in ONNX Runtime, and match the source model run in ONNX\n" +
			"Runtime on seeded random input (float32: max |diff| <= 1e-4 x max(1, max |source|); float16:\n" +
			"<= 1e-2 x max |source|).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "the .onnx file to write"},
			&cli.StringFlag{Name: "head", Value: string(export.Classifier), Usage: "classifier (input → logits) or none (a backbone ending in stage feature maps)"},
			&cli.BoolFlag{Name: "softmax", Destination: &opts.Softmax, Usage: "classifier: add a probabilities output, the softmax of the logits"},
			&cli.StringFlag{Name: "features", Usage: "backbone: the stages to output, e.g. c3,c4,c5 (default: all)"},
			&cli.BoolFlag{Name: "fold-bn", Destination: &opts.FoldBN, Usage: "fold each BatchNormalization after a Conv into the Conv's weight and bias"},
			&cli.BoolFlag{Name: "fp16", Destination: &opts.FP16, Usage: "float16 weights and activations, float32 input and outputs (Cast at the borders)"},
			&cli.BoolFlag{Name: "fp16-io", Destination: &opts.FP16IO, Usage: "with --fp16: float16 input and outputs too"},
			&cli.Int64Flag{Name: "opset", Destination: &opts.Opset, Usage: fmt.Sprintf("declare this default-domain opset (%d..%d; 0 keeps the model's)", graph.MinOpset, graph.MaxOpset)},
			&cli.BoolFlag{Name: "dynamic-batch", Value: true, Usage: "symbolic batch size; =false fixes it to --batch"},
			&cli.Int64Flag{Name: "batch", Value: 1, Usage: "with --dynamic-batch=false: the fixed batch size"},
			&cli.StringFlag{Name: "input-size", Usage: "HxW: fixed input height and width, or dynamic (default: the model's)"},
			&cli.Uint64Flag{Name: "seed", Destination: &opts.Seed, Usage: "seed of the verification input"},
			&cli.IntFlag{Name: "threads", Destination: &opts.Runtime.Threads, Usage: "ONNX Runtime intra-op threads for the verification (0: its default)"},
			&cli.StringFlag{Name: "ort-lib", Destination: &opts.Runtime.LibraryPath, Usage: "path of libonnxruntime.so for the verification"},
			&cli.StringFlag{Name: "provider", Value: "cpu", Usage: "execution provider the export is verified on (cpu, cuda, tensorrt, webgpu), against the source model on the CPU"},
			jsonFlag(),
		},
		Action: func(c *cli.Context) error { return runExport(c, &opts) },
	}
}

func runExport(c *cli.Context, opts *export.Options) error {
	if c.NArg() != 1 {
		return fmt.Errorf("export: expected one run folder or model file, found %d arguments", c.NArg())
	}
	if err := exportOptions(c, opts); err != nil {
		return err
	}
	src, err := train.ModelPath(c.Args().First())
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	out := c.String("output")
	res, err := export.FromPath(src, out, *opts)
	if errors.Is(err, export.ErrOutputIsSource) {
		return fmt.Errorf("export: -o %s names the source model itself; write the export elsewhere", out)
	} else if err != nil {
		return err
	}
	return cmdline.Print(c, res)
}

// exportOptions completes opts, which the flags set, with the settings
// read by conversion, refusing flags that mean nothing without another.
func exportOptions(c *cli.Context, opts *export.Options) error {
	opts.Head, opts.ProducerVersion = export.Head(c.String("head")), Version
	opts.Features, opts.Batch, opts.DynamicSize, opts.InputSize = nil, 0, false, nil // set below, afresh each run
	p, err := ort.ParseProvider(c.String("provider"))
	if err != nil {
		return fmt.Errorf("--provider: %w", err)
	}
	opts.Runtime.Provider = p
	if c.IsSet("opset") && opts.Opset == 0 {
		return fmt.Errorf("--opset 0: expected %d..%d", graph.MinOpset, graph.MaxOpset)
	}
	if c.IsSet("features") {
		for _, f := range strings.Split(c.String("features"), ",") {
			opts.Features = append(opts.Features, strings.ToLower(strings.TrimSpace(f)))
		}
	}
	switch {
	case c.Bool("dynamic-batch") && c.IsSet("batch"):
		return fmt.Errorf("--batch fixes the batch size: use it with --dynamic-batch=false")
	case !c.Bool("dynamic-batch"):
		if c.Int64("batch") < 1 {
			return fmt.Errorf("--batch: expected a positive size, found %d", c.Int64("batch"))
		}
		opts.Batch = c.Int64("batch")
	}
	switch size := strings.ToLower(strings.TrimSpace(c.String("input-size"))); {
	case !c.IsSet("input-size"):
	case size == "dynamic":
		opts.DynamicSize = true
	default:
		dims, err := cmdline.Dims("input-size", size, 2, "224x224, or dynamic")
		if err != nil {
			return err
		}
		opts.InputSize = dims
	}
	return nil
}
