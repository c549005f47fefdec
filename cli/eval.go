package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/eval/classifier"
	"github.com/bot-onnx/bot-onnx/eval/detector"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/internal/progress"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/urfave/cli/v2"
)

func evalCommand() *cli.Command {
	var canvas data.CanvasOptions
	return &cli.Command{
		Name:  "eval",
		Usage: "top-1, top-5 and loss of a classifier, or the AP of a detector, on a data set's test split in ONNX Runtime, with the model's validation transform",
		UsageText: "bot-onnx eval model.onnx --data mnist|fashion-mnist|cifar10[:DIR]|folder:DIR [--data-dir DIR] [--batch B] [--limit N]\n" +
			"   [--provider auto|cpu|cuda|tensorrt] [--device-id N] [--threads T] [--ort-lib PATH] [--json]\n" +
			"   bot-onnx eval detector.onnx --data mnist-det [--test-canvases N] [--data-seed S] [--iou 0.5] [--out DIR] …",
		Flags: append(append(runtimeFlags(), canvasFlags(&canvas)...),
			&cli.StringFlag{Name: "data", Usage: "data set: " + train.DataSets + " (its test split; folders: DIR/val, with DIR/train naming the classes), or " + train.DetectionDataSets + " for a detector"},
			&cli.Float64Flag{Name: "iou", Value: 0.5, Usage: "detectors: the IoU threshold of the VOC metrics"},
			&cli.StringFlag{Name: "out", Usage: "detectors: folder for the truth and detections in COCO's formats and pictures of the first test images"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache)"},
			batchFlag(classifier.DefaultBatch),
			&cli.IntFlag{Name: "limit", Usage: "evaluate this many test images, drawn once with a fixed seed (0: all)"},
			&cli.Float64Flag{Name: "val-crop-ratio", Value: augment.DefaultCropRatio, Usage: "folders: images resized to size/ratio on the shorter side, then centre-cropped (as the model was trained)"},
			jsonFlag(),
		),
		Action: func(c *cli.Context) error {
			if c.String("data") == "" {
				return errors.New("eval: --data is required")
			}
			ctx, stop := interruptible(c)
			defer stop()
			sess, err := openModel(c)
			if err != nil {
				return err
			}
			defer sess.Close()
			if c.String("data") == "mnist-det" {
				return evalDetector(c, ctx, sess, canvas)
			}
			if err := dependentFlags(c); err != nil {
				return err
			}
			for _, f := range []string{"iou", "out"} {
				if c.IsSet(f) {
					return fmt.Errorf("--%s has no effect without --data %s", f, train.DetectionDataSets)
				}
			}
			e, err := classifier.Evaluate(ctx, sess, classifier.Request{Path: c.Args().First(), Data: c.String("data"), DataDir: c.String("data-dir"),
				ValCropRatio: c.Float64("val-crop-ratio"), Batch: c.Int("batch"), Limit: c.Int("limit"),
				Log: c.App.ErrWriter, Progress: evalBar(c.App.ErrWriter, sess)})
			if err != nil {
				return cmdline.InFlags(err, map[string]string{"Batch": "--batch", "Limit": "--limit"})
			}
			return cmdline.Print(c, e)
		},
	}
}

// evalDetector is eval of a detector on a detection set.
func evalDetector(c *cli.Context, ctx context.Context, sess *ort.Session, canvas data.CanvasOptions) error {
	if err := canvasOptions(c, &canvas, true); err != nil {
		return err
	}
	if canvas.Size == data.DefaultCanvasSize && !c.IsSet("canvas") {
		canvas.Size = 0
	}
	r, err := detector.Evaluate(ctx, sess, detector.Request{Path: c.Args().First(), Data: c.String("data"), DataDir: c.String("data-dir"),
		Canvas: canvas, Batch: c.Int("batch"), IoU: c.Float64("iou"), Out: c.String("out"), Pictures: 4,
		Log: c.App.ErrWriter, Progress: evalBar(c.App.ErrWriter, sess)})
	if err != nil {
		return cmdline.InFlags(err, map[string]string{"Batch": "--batch", "Data": "--data"})
	}
	return cmdline.Print(c, r)
}

// batchFlag is the --batch of eval and bench infer: 0, its default, takes
// the model's fixed batch size, else def.
func batchFlag(def int) cli.Flag {
	return &cli.IntFlag{Name: "batch", Usage: "images a run (0: the model's fixed batch size, else " + strconv.Itoa(def) + ")"}
}

// evalBar draws an evaluation's progress on w as a bar; with sess, it
// first says there where sess runs (noteFallback), at the first batch:
// once the input is checked, so that a bad input still gives one line.
func evalBar(w io.Writer, sess *ort.Session) func(eval.Progress) {
	var bar *progress.Bar
	done := 0
	return func(p eval.Progress) {
		if bar == nil {
			if sess != nil {
				noteFallback(w, sess)
			}
			bar = progress.New(w, "eval", int64(p.Total), "images")
		}
		bar.Add(int64(p.Done-done), p.Status)
		done = p.Done
	}
}
