package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/progress"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/augment"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/urfave/cli/v2"
)

// evaluation is what `eval --json` prints.
type evaluation struct {
	Model   string  `json:"model"`
	Data    string  `json:"data"`
	Images  int     `json:"images"`
	Classes int     `json:"classes"`
	Top1    float64 `json:"top1"`
	Top5    float64 `json:"top5,omitempty"`
	Loss    float64 `json:"loss"`
	// Mean and Std are the normalisation applied, in [0,1] units, and
	// Normalization where they came from: the model's metadata or the data
	// set's defaults.
	Mean          []float64 `json:"mean"`
	Std           []float64 `json:"std"`
	Normalization string    `json:"normalization"`
	Provider      string    `json:"provider"`
	Fallback      string    `json:"fallback,omitempty"`
	Batch         int       `json:"batch"`
	// ImagesPerSecond counts ONNX Runtime's time only; Seconds is the
	// whole evaluation, data loading included.
	ImagesPerSecond float64 `json:"images_per_second"`
	Seconds         float64 `json:"seconds"`
	// TrainedTop1 is the top-1 the trainer last measured, from the model's
	// metadata, where present.
	TrainedTop1 *float64 `json:"trained_top1,omitempty"`
}

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "top-1, top-5 and loss of a classifier on a data set's test split in ONNX Runtime, with the model's validation transform",
		UsageText: "bot-onnx eval model.onnx --data mnist|fashion-mnist|cifar10[:DIR]|folder:DIR [--data-dir DIR] [--batch B] [--limit N]\n" +
			"   [--provider auto|cpu|cuda|tensorrt] [--device-id N] [--threads T] [--ort-lib PATH] [--json]",
		Flags: append(runtimeFlags(),
			&cli.StringFlag{Name: "data", Usage: "data set: " + train.DataSets + " (its test split; folders: DIR/val, with DIR/train naming the classes)"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder of the data set's files (default: the set-up cache)"},
			&cli.IntFlag{Name: "batch", Value: 32, Usage: "images a run (a model with a fixed batch size takes only its own)"},
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
			e, err := evaluate(ctx, c, sess)
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

// evaluate runs the session over the test split of --data, fitted and
// normalised for the model as the trainer evaluates it, and scores the
// logits as the trainer does (train.Score).
func evaluate(ctx context.Context, c *cli.Context, sess *ort.Session) (evaluation, error) {
	return evaluateModel(ctx, evalRequest{Path: c.Args().First(), Data: c.String("data"), DataDir: c.String("data-dir"),
		Batch: c.Int("batch"), BatchSet: c.IsSet("batch"), Limit: c.Int("limit"), ValCropRatio: c.Float64("val-crop-ratio"),
		Log: c.App.ErrWriter}, sess)
}

// evalRequest is what `eval` scores: the model file run by the session,
// the data set, the batch size (BatchSet: given by the user, so a model
// with another fixed batch is refused) and how many test images (0: all).
type evalRequest struct {
	Path, Data, DataDir string
	Batch               int
	BatchSet            bool
	Limit               int
	ValCropRatio        float64
	Log                 io.Writer
}

// evaluateModel is evaluate without the command line.
func evaluateModel(ctx context.Context, req evalRequest, sess *ort.Session) (evaluation, error) {
	e := evaluation{Model: req.Path, Data: req.Data, Provider: string(sess.Provider()), Fallback: sess.Fallback()}
	in, out, at, err := classifierIO(sess, req.Path)
	if err != nil {
		return e, err
	}
	if e.Batch, err = evalBatch(req.Batch, req.BatchSet, in); err != nil {
		return e, err
	}
	m, err := graph.Load(req.Path)
	if err != nil {
		return e, err
	}
	cfg := train.Config{Model: req.Path, Data: e.Data, DataDir: req.DataDir, ValCropRatio: req.ValCropRatio, Log: req.Log}
	if cfg.Mean, cfg.Std, err = modelNorm(m); err != nil {
		return e, err
	}
	e.Normalization = "data set default"
	if cfg.Mean != nil {
		e.Normalization = "model metadata"
	}
	if top1, ok := m.Metadata(train.MetaTop1); ok {
		if v, err := strconv.ParseFloat(top1, 64); err == nil {
			e.TrainedTop1 = &v
		}
	}
	splits, err := train.OpenData(cfg, []int64{int64(e.Batch), in.Shape[1], in.Shape[2], in.Shape[3]})
	if err != nil {
		return e, err
	}
	if splits.Dense() {
		return e, fmt.Errorf("eval scores classifiers; --data %s is labelled per pixel (bot-onnx transfer --task segment evaluates models on it)", e.Data)
	}
	e.Mean, e.Std = splits.Mean, splits.Std
	if err := checkClasses(m, req.Path, e.Data, out, splits); err != nil {
		return e, err
	}
	test := splits.Test
	if req.Limit > 0 {
		if test, err = data.RandomSubset(test, req.Limit, 0); err != nil {
			return e, err
		}
	}
	noteFallback(req.Log, sess)
	return e, score(ctx, req.Log, sess, at, test, train.Workers(cfg), fixedBatch(in), &e)
}

// classifierIO returns the model's image input, which must be [N C H W]
// float with C, H and W fixed, and its logits output and that output's
// index: the one named "logits", else the first.
func classifierIO(sess *ort.Session, path string) (in, out ort.ValueInfo, at int, err error) {
	ins, outs := sess.Inputs(), sess.Outputs()
	if len(ins) != 1 {
		return in, out, 0, fmt.Errorf("%s: %d inputs; expected a classifier with one image input", path, len(ins))
	}
	in = ins[0]
	if len(in.Shape) != 4 || in.ElementType != "float" || slices.Min(in.Shape[1:]) < 1 {
		return in, out, 0, fmt.Errorf("%s: input %q is %s %v; expected float images [N C H W] with C, H and W fixed",
			path, in.Name, in.ElementType, in.Shape)
	}
	at = max(slices.IndexFunc(outs, func(o ort.ValueInfo) bool { return o.Name == "logits" }), 0)
	out = outs[at]
	if len(out.Shape) != 2 {
		return in, out, 0, fmt.Errorf("%s: output %q has shape %v; expected logits [N classes]", path, out.Name, out.Shape)
	}
	return in, out, at, nil
}

// fixedBatch returns the model's fixed batch size, or 0 for a dynamic one.
func fixedBatch(in ort.ValueInfo) int { return int(max(in.Shape[0], 0)) }

// evalBatch returns the batch size: --batch, which a model with a fixed
// batch size must match (and which then defaults to it).
func evalBatch(b int, set bool, in ort.ValueInfo) (int, error) {
	if n := fixedBatch(in); n > 0 {
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

// modelNorm reads the mean and std a trained model carries (train.MetaMean
// and train.MetaStd); nil, nil when it carries none.
func modelNorm(m *graph.Model) (mean, std []float64, err error) {
	meanS, hasMean := m.Metadata(train.MetaMean)
	stdS, hasStd := m.Metadata(train.MetaStd)
	if !hasMean && !hasStd {
		return nil, nil, nil
	}
	read := func(key, s string) ([]float64, error) {
		var v []float64
		for part := range strings.SplitSeq(s, ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, fmt.Errorf("model metadata %s = %q: expected comma-separated numbers", key, s)
			}
			v = append(v, x)
		}
		return v, nil
	}
	if mean, err = read(train.MetaMean, meanS); err != nil {
		return nil, nil, err
	}
	if std, err = read(train.MetaStd, stdS); err != nil {
		return nil, nil, err
	}
	if len(mean) != len(std) {
		return nil, nil, fmt.Errorf("model metadata: %s = %q and %s = %q have different lengths", train.MetaMean, meanS, train.MetaStd, stdS)
	}
	return mean, std, nil
}

// checkClasses checks that the model has a logit for every class of the
// data set, and, where both name their classes, that the names agree.
func checkClasses(m *graph.Model, path, set string, out ort.ValueInfo, splits *train.Splits) error {
	want := splits.Test.Classes()
	if n := out.Shape[1]; n > 0 && n < int64(want) {
		return fmt.Errorf("%s: output %q has %d classes, fewer than the %d of %s", path, out.Name, n, want, set)
	}
	names, ok := m.Metadata(train.MetaClasses)
	if ok && splits.ClassNames != nil && names != strings.Join(splits.ClassNames, ",") {
		return fmt.Errorf("%s: the model was trained on classes %s; %s has %s", path, abbreviate(names), set,
			abbreviate(strings.Join(splits.ClassNames, ",")))
	}
	return nil
}

// abbreviate shortens a long comma-separated list for a message.
func abbreviate(list string) string {
	if parts := strings.Split(list, ","); len(parts) > 5 {
		return strings.Join(parts[:5], ",") + ",…"
	}
	return list
}

// score runs sess over d in batches of e.Batch (padded with zeros to fixed
// when the model's batch size is fixed), reads the logits from output at,
// and fills e's figures, showing progress on log. Cancelling ctx stops it
// with an error that says how far it got.
func score(ctx context.Context, log io.Writer, sess *ort.Session, at int, d data.Dataset, workers, fixed int, e *evaluation) error {
	loader, err := data.NewLoader(d, data.LoaderConfig{BatchSize: e.Batch, Workers: workers})
	if err != nil {
		return err
	}
	it, err := loader.Epoch(ctx, 0, 0)
	if err != nil {
		return err
	}
	defer it.Close()
	c, h, w := d.Shape()
	size := c * h * w
	bar := progress.New(log, "eval", int64(d.Len()), "images")
	start := time.Now()
	var inference time.Duration
	var loss, top1, top5 float64
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("eval interrupted after %d of %d images (top-1 so far %.2f%%)", e.Images, d.Len(), 100*top1/float64(max(e.Images, 1)))
			}
			return err
		}
		x := ort.Tensor{Shape: []int64{int64(b.N), int64(c), int64(h), int64(w)}, Data: b.Images[:b.N*size]}
		if fixed > 0 && b.N < fixed {
			x.Shape[0], x.Data = int64(fixed), slices.Concat(x.Data, make([]float32, (fixed-b.N)*size))
		}
		runStart := time.Now()
		outs, err := sess.Run(x)
		if err != nil {
			return err
		}
		inference += time.Since(runStart)
		y := outs[at]
		if len(y.Shape) != 2 || y.Shape[0] != x.Shape[0] || y.Shape[1] < 1 {
			return fmt.Errorf("%s: output %q has shape %v for input %v; expected [%d classes]", e.Model, sess.Outputs()[at].Name, y.Shape, x.Shape, x.Shape[0])
		}
		logits := y.Data[:b.N*int(y.Shape[1])]
		if e.Classes == 0 {
			if e.Classes = len(logits) / b.N; e.Classes < d.Classes() {
				return fmt.Errorf("%s: the model gives %d classes, fewer than the %d of %s", e.Model, e.Classes, d.Classes(), e.Data)
			}
		}
		l, t1, t5 := train.Score(logits, b.Labels[:b.N], e.Classes)
		n := float64(b.N)
		loss, top1, top5 = loss+l*n, top1+math.Round(t1*n), top5+math.Round(t5*n)
		e.Images += b.N
		bar.Add(int64(b.N), fmt.Sprintf("top-1 %.2f%%", 100*top1/float64(e.Images)))
	}
	n := float64(e.Images)
	e.Loss, e.Top1, e.Top5 = loss/n, top1/n, top5/n
	e.ImagesPerSecond = n / inference.Seconds()
	e.Seconds = time.Since(start).Seconds()
	return nil
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
