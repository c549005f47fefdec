package cli

import (
	"fmt"

	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/urfave/cli/v2"
)

// canvasFlags choose the digit canvases of --data mnist-seg and mnist-det (see
// data.MNISTCanvases) into o; dependentFlags refuses them with other data
// sets.
func canvasFlags(o *data.CanvasOptions) []cli.Flag {
	return []cli.Flag{
		&cli.Uint64Flag{Name: "data-seed", Destination: &o.Seed, Usage: "mnist-seg, mnist-det: seed of the canvases (the same seed gives the same canvases)"},
		&cli.IntFlag{Name: "canvas", Destination: &o.Size, Value: data.DefaultCanvasSize, Usage: "mnist-seg, mnist-det: side of a canvas in pixels (at least 28; the model's input size)"},
		&cli.IntFlag{Name: "canvases", Destination: &o.Train, Value: data.DefaultTrainCanvases, Usage: "mnist-seg, mnist-det: training canvases, from MNIST's training digits"},
		&cli.IntFlag{Name: "test-canvases", Destination: &o.Test, Value: data.DefaultTestCanvases, Usage: "mnist-seg, mnist-det: test canvases, from MNIST's test digits"},
	}
}

// canvasFlagNames are the names of canvasFlags.
var canvasFlagNames = []string{"data-seed", "canvas", "canvases", "test-canvases"}

// canvasOptions checks the options canvasFlags set in o for the canvas
// sets (--data mnist-seg, mnist-det), and clears them for other data sets, which take none. A
// canvas size of 0 is allowed only when sizeFromModel (the model gives it).
func canvasOptions(c *cli.Context, o *data.CanvasOptions, sizeFromModel bool) error {
	if !train.CanvasSet(c.String("data")) {
		*o = data.CanvasOptions{}
		return nil
	}
	if (o.Size < 1 && !(sizeFromModel && !c.IsSet("canvas"))) || o.Train < 1 || o.Test < 1 {
		return fmt.Errorf("--canvas, --canvases and --test-canvases must be positive, found %d, %d and %d", o.Size, o.Train, o.Test)
	}
	return nil
}
