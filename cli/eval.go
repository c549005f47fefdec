package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/eval/classifier"
	"github.com/bot-onnx/bot-onnx/internal/progress"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/urfave/cli/v2"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "top-1, top-5 and loss of a classifier on a data set's test split in ONNX Runtime, with the model's validation transform",
		UsageText: "bot-onnx eval model.onnx --data mnist|fashion-mnist|cifar10[:DIR]|folder:DIR [--data-dir DIR] [--batch B] [--limit N]\n" +
			"   [--provider auto|cpu|cuda|tensorrt] [--device-id N] [--threads T] [--ort-lib PATH] [--json]",
		Flags: append(runtimeFlags(),
			&cli.StringFlag{Name: "data", Usage: "data set: " + train.DataSets + " (its test split; folders: DIR/val, with DIR/train naming the classes)"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache)"},
			&cli.IntFlag{Name: "batch", Value: classifier.DefaultBatch, Usage: "images a run (a model with a fixed batch size takes only its own)"},
			&cli.IntFlag{Name: "limit", Usage: "evaluate this many test images, drawn once with a fixed seed (0: all)"},
			&cli.Float64Flag{Name: "val-crop-ratio", Value: augment.DefaultCropRatio, Usage: "folders: images resized to size/ratio on the shorter side, then centre-cropped (as the model was trained)"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		),
		Action: func(c *cli.Context) error {
			if c.String("data") == "" {
				return errors.New("eval: --data is required")
			}
			if c.Int("limit") < 0 {
				return fmt.Errorf("--limit: expected 0 (all) or more, found %d", c.Int("limit"))
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			sess, err := openModel(c)
			if err != nil {
				return err
			}
			defer sess.Close()
			req := evalRequest{Path: c.Args().First(), Data: c.String("data"), DataDir: c.String("data-dir"),
				Limit: c.Int("limit"), ValCropRatio: c.Float64("val-crop-ratio"), Log: c.App.ErrWriter}
			in, _, _, err := classifierIO(sess, req.Path)
			if err != nil {
				return err
			}
			if req.Batch, err = evalBatch(c.Int("batch"), c.IsSet("batch"), in); err != nil {
				return err
			}
			e, err := evaluateModel(ctx, req, sess)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, e)
			}
			printEvaluation(c.App.Writer, e)
			return nil
		},
	}
}

// evaluation is what `eval --json` prints.
type evaluation = classifier.Result

// evalRequest is a classifier.Request whose messages and progress go to
// Log (cli/demo.go makes one, as eval does).
type evalRequest struct {
	Path, Data, DataDir string
	Batch, Limit        int
	ValCropRatio        float64
	Log                 io.Writer
}

// evaluateModel scores the classifier sess runs with package classifier,
// saying on req.Log where it runs and how far it got.
func evaluateModel(ctx context.Context, req evalRequest, sess *ort.Session) (evaluation, error) {
	bar, noted := evalBar(req.Log), false
	report := func(p eval.Progress) {
		// Noted at the first batch, once the input is checked, so that a
		// bad input still gives one line.
		if !noted {
			noteFallback(req.Log, sess)
			noted = true
		}
		bar(p)
	}
	return classifier.Evaluate(ctx, sess, classifier.Request{Path: req.Path, Data: req.Data, DataDir: req.DataDir,
		ValCropRatio: req.ValCropRatio, Batch: req.Batch, Limit: req.Limit, Log: req.Log, Progress: report})
}

// evalBar draws an evaluation's progress on w as a bar.
func evalBar(w io.Writer) func(eval.Progress) {
	var bar *progress.Bar
	done := 0
	return func(p eval.Progress) {
		if bar == nil {
			bar = progress.New(w, "eval", int64(p.Total), "images")
		}
		bar.Add(int64(p.Done-done), p.Status)
		done = p.Done
	}
}

// classifierIO is classifier.IO, which eval and bench infer check their
// model with.
func classifierIO(sess *ort.Session, path string) (in, out ort.ValueInfo, at int, err error) {
	return classifier.IO(sess, path)
}

// evalBatch returns the batch size: --batch, which a model with a fixed
// batch size must match (and which then defaults to it).
func evalBatch(b int, set bool, in ort.ValueInfo) (int, error) {
	if n := int(max(in.Shape[0], 0)); n > 0 {
		if set && b != n {
			return 0, fmt.Errorf("--batch %d: the model's input %q has a fixed batch size of %d", b, in.Name, n)
		}
		b = n
	}
	if b < 1 {
		return 0, fmt.Errorf("--batch: expected at least 1, found %d", b)
	}
	return b, nil
}

// printEvaluation prints e for a person.
func printEvaluation(w io.Writer, e evaluation) {
	top5 := ""
	if e.Classes > 5 {
		top5 = fmt.Sprintf(", top-5 %.2f%%", 100*e.Top5)
	}
	fmt.Fprintf(w, "%s on %s: %d images, %d classes: top-1 %.2f%%%s, loss %.4f\n",
		e.Model, e.Data, e.Images, e.Classes, 100*e.Top1, top5, e.Loss)
	fmt.Fprintf(w, "normalised with mean %v, std %v (%s)\n", e.Mean, e.Std, e.Normalization)
	fmt.Fprintf(w, "ONNX Runtime on %s, batch %d: %.1f images/s (inference alone), %.1f s in all\n",
		e.Provider, e.Batch, e.ImagesPerSecond, e.Seconds)
	if e.TrainedTop1 != nil {
		fmt.Fprintf(w, "the trainer's last top-1 (model metadata): %.2f%%\n", 100**e.TrainedTop1)
	}
}
