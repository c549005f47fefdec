package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/urfave/cli/v2"
)

// canvasFlags choose the digit canvases of --data mnist-seg (see
// data.MNISTCanvases); dependentFlags refuses them with other data sets.
func canvasFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Uint64Flag{Name: "data-seed", Usage: "mnist-seg: seed of the canvases (the same seed gives the same canvases)"},
		&cli.IntFlag{Name: "canvas", Value: data.DefaultCanvasSize, Usage: "mnist-seg: side of a canvas in pixels (at least 28; the model's input size)"},
		&cli.IntFlag{Name: "canvases", Value: data.DefaultTrainCanvases, Usage: "mnist-seg: training canvases, from MNIST's training digits"},
		&cli.IntFlag{Name: "test-canvases", Value: data.DefaultTestCanvases, Usage: "mnist-seg: test canvases, from MNIST's test digits"},
	}
}

// canvasFlagNames are the names of canvasFlags.
var canvasFlagNames = []string{"data-seed", "canvas", "canvases", "test-canvases"}

// canvasOptions reads canvasFlags for --data mnist-seg; other data sets
// get the zero options.
func canvasOptions(c *cli.Context) (data.CanvasOptions, error) {
	if c.String("data") != "mnist-seg" {
		return data.CanvasOptions{}, nil
	}
	o := data.CanvasOptions{Seed: c.Uint64("data-seed"), Size: c.Int("canvas"), Train: c.Int("canvases"), Test: c.Int("test-canvases")}
	if o.Size < 1 || o.Train < 1 || o.Test < 1 {
		return o, fmt.Errorf("--canvas, --canvases and --test-canvases must be positive, found %d, %d and %d", o.Size, o.Train, o.Test)
	}
	return o, nil
}
