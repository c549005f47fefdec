// Package classifier scores an ONNX classifier in ONNX Runtime on a data
// set's test split, fitted and normalised as the trainer evaluated it (the
// mean, std and class names the model's metadata carries), with package
// eval's loop and metric: the figures `bot-onnx eval` prints.
package classifier

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// DefaultBatch is the batch size of a model that takes any.
const DefaultBatch = 32

// Request is what Evaluate scores.
type Request struct {
	// Path is the model file the session runs, read for its metadata.
	Path string
	// Data names the data set (train.DataSets) and DataDir its folder
	// ("": the set-up cache); ValCropRatio is the validation crop of image
	// folders (train.Config.Data.ValCropRatio).
	Data, DataDir string
	ValCropRatio  float64
	// Batch is the number of images a run (0: the model's fixed batch
	// size, else DefaultBatch); a model with a fixed batch size refuses
	// another (see BatchSize).
	Batch int
	// Limit evaluates that many test images, drawn once with a fixed seed
	// (0: all).
	Limit int
	// Log receives the data set's warnings (train.Config.Log); Progress,
	// when set, is called after each batch with the top-1 so far.
	Log      io.Writer
	Progress func(eval.Progress)
}

// Result is what Evaluate measured (`eval --json`).
type Result struct {
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
	eval.Runtime
	// TrainedTop1 is the top-1 the trainer last measured, from the model's
	// metadata, where present.
	TrainedTop1 *float64 `json:"trained_top1,omitempty"`
}

// WriteText writes r for a person: the figures, the normalisation, where
// and how fast ONNX Runtime ran, and the trainer's own top-1 where the
// model carries it (what `bot-onnx eval` prints without --json).
func (r Result) WriteText(w io.Writer) error {
	top5 := ""
	if r.Classes > 5 {
		top5 = fmt.Sprintf(", top-5 %.2f%%", 100*r.Top5)
	}
	_, err := fmt.Fprintf(w, "%s on %s: %d images, %d classes: top-1 %.2f%%%s, loss %.4f\n"+
		"normalised with mean %v, std %v (%s)\n"+
		"%s\n",
		r.Model, r.Data, r.Images, r.Classes, 100*r.Top1, top5, r.Loss, r.Mean, r.Std, r.Normalization, r.Runtime)
	if err == nil && r.TrainedTop1 != nil {
		_, err = fmt.Fprintf(w, "the trainer's last top-1 (model metadata): %.2f%%\n", 100**r.TrainedTop1)
	}
	return err
}

// Evaluate runs sess, the classifier at req.Path, over the test split of
// req.Data, fitted and normalised for the model as the trainer evaluates
// it, and scores its logits as the trainer does (eval.Classification).
// A refused Batch or Limit comes back as a *train.FieldError naming the
// Request field. Cancelling ctx stops it with an error that says how far
// it got.
func Evaluate(ctx context.Context, sess *ort.Session, req Request) (Result, error) {
	r := Result{Model: req.Path, Data: req.Data, Runtime: eval.NewRuntime(sess)}
	if req.Limit < 0 {
		return r, &train.FieldError{Field: "Limit", Value: req.Limit, Want: "0 (all) or more"}
	}
	in, out, at, err := IO(sess, req.Path)
	if err != nil {
		return r, err
	}
	if r.Batch, err = BatchSize(in, req.Batch, DefaultBatch); err != nil {
		return r, err
	}
	m, err := graph.Load(req.Path)
	if err != nil {
		return r, err
	}
	cfg := train.Config{Model: req.Path, Data: train.DataConfig{Set: req.Data, Dir: req.DataDir, ValCropRatio: req.ValCropRatio}, Log: req.Log}
	if cfg.Data.Mean, cfg.Data.Std, err = ModelNorm(m); err != nil {
		return r, err
	}
	r.Normalization = "data set default"
	if cfg.Data.Mean != nil {
		r.Normalization = "model metadata"
	}
	if top1, ok := m.Metadata(train.MetaTop1); ok {
		if v, err := strconv.ParseFloat(top1, 64); err == nil {
			r.TrainedTop1 = &v
		}
	}
	splits, err := train.OpenData(cfg, []int64{int64(r.Batch), in.Shape[1], in.Shape[2], in.Shape[3]})
	if err != nil {
		return r, err
	}
	if splits.Dense() {
		return r, fmt.Errorf("%s is labelled per pixel; a classifier is scored on a data set labelled per image (transfer's segment task evaluates per-pixel models)", r.Data)
	}
	r.Mean, r.Std = splits.Mean, splits.Std
	if err := checkClasses(m, req.Path, r.Data, out, splits); err != nil {
		return r, err
	}
	test := splits.Test
	if req.Limit > 0 {
		if test, err = data.RandomSubset(test, req.Limit, 0); err != nil {
			return r, err
		}
	}
	score := eval.NewClassification(test.Classes())
	o := eval.Options{Batch: r.Batch, Workers: train.Workers(cfg)}
	if req.Progress != nil {
		o.Progress = func(p eval.Progress) {
			p.Status = fmt.Sprintf("top-1 %.2f%%", 100*score.Top1())
			req.Progress(p)
		}
	}
	st, err := eval.Run(ctx, eval.ORT{Session: sess, Output: at}, test, o, score)
	if err != nil && ctx.Err() != nil {
		return r, fmt.Errorf("%w (top-1 so far %.2f%%)", err, 100*score.Top1())
	}
	if err != nil {
		return r, err
	}
	r.Images, r.Classes = score.Images(), score.Classes()
	r.Loss, r.Top1, r.Top5 = score.Loss(), score.Top1(), score.Top5()
	r.Measured(st)
	return r, nil
}

// IO returns a classifier's image input, which must be [N C H W] float
// with C, H and W fixed, and its logits output and that output's index:
// the one named "logits", else the first.
func IO(sess *ort.Session, path string) (in, out ort.ValueInfo, at int, err error) {
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

// BatchSize returns the batch size a classifier whose image input is in
// (IO's) runs: the model's fixed one, which a requested b must match, else
// b, or def when b is 0. Evaluate and bench.Infer share it, so that both
// refuse a batch alike: as a *train.FieldError on "Batch", their options'
// field.
func BatchSize(in ort.ValueInfo, b, def int) (int, error) {
	switch fixed := int(max(in.Shape[0], 0)); {
	case b < 0:
		return 0, &train.FieldError{Field: "Batch", Value: b, Want: "a positive count, or 0 for the model's"}
	case fixed > 0 && b != 0 && b != fixed:
		return 0, &train.FieldError{Field: "Batch", Value: b, Want: fmt.Sprintf("the fixed batch size %d of the model's input %q", fixed, in.Name)}
	case fixed > 0:
		return fixed, nil
	case b == 0:
		b = def
	}
	// The loader fills two batches ahead of the one ONNX Runtime runs.
	per := 1.0
	for _, d := range in.Shape[1:] {
		per *= float64(max(d, 1))
	}
	if err := train.CheckRoom("Batch", b, 3*4*per*float64(b), "batches of input"); err != nil {
		return 0, err
	}
	return b, nil
}

// ModelNorm reads the mean and std a trained model carries (train.MetaMean
// and train.MetaStd); nil, nil when it carries none.
func ModelNorm(m *graph.Model) (mean, std []float64, err error) {
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

// checkClasses checks that the model has one logit for each class of the
// data set — more would score classes the data set has no image of — and,
// where both name their classes, that the names agree.
func checkClasses(m *graph.Model, path, set string, out ort.ValueInfo, splits *train.Splits) error {
	want := splits.Test.Classes()
	if n := out.Shape[1]; n > 0 && n != int64(want) {
		return fmt.Errorf("%s: output %q has %d classes, the data set %s %d", path, out.Name, n, set, want)
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
