// Package detector scores an exported detector (boxes, scores and classes
// decoded in its graph, as export.AppendDetectorDecode makes it) in ONNX
// Runtime on a detection set's test split, with package eval's loop and
// package detection's metrics: the figures `bot-onnx eval` prints for a
// detector and `transfer --task detect` measures.
package detector

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/eval/classifier"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/segment"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// DefaultBatch is the batch size of a detector that takes any.
const DefaultBatch = 32

// Files Evaluate writes into Request.Out.
const (
	// TruthFile is the test split's objects as a COCO instances file, and
	// DetectionsFile the detector's boxes on it as a COCO results file:
	// what `bot-onnx eval-detections` scores.
	TruthFile      = "truth.json"
	DetectionsFile = "detections.json"
)

// pictureScore is the lowest score of a detection drawn in the pictures.
const pictureScore = 0.3

// Request is what Evaluate scores.
type Request struct {
	// Path is the detector file the session runs, read for its metadata.
	Path string
	// Data names the data set (train.DetectionDataSets), DataDir its
	// folder ("": the set-up cache) and Canvas its canvases (Size 0: the
	// detector's input size).
	Data, DataDir string
	Canvas        data.CanvasOptions
	// Mean and Std normalise the images (nil: the detector's metadata,
	// else the data set's defaults).
	Mean, Std []float64
	// Batch is the number of images a run (0: the model's fixed batch
	// size, else DefaultBatch).
	Batch int
	// IoU is the threshold of the VOC metrics (0: 0.5).
	IoU float64
	// Out, when set, is the folder (made if missing) that receives TruthFile,
	// DetectionsFile and Pictures pictures of the first test images.
	Out      string
	Pictures int
	// Log receives the data set's warnings; Progress, when set, is called
	// after each batch.
	Log      io.Writer
	Progress func(eval.Progress)
}

// Result is what Evaluate measured (`eval --json` for a detector).
type Result struct {
	Model string `json:"model"`
	Data  string `json:"data"`
	// Metrics are package detection's over the test split.
	detection.Result
	eval.Runtime
	// Files and Pictures are what was written into Request.Out.
	Files    []string `json:"files,omitempty"`
	Pictures []string `json:"pictures,omitempty"`
}

// WriteText writes r for a person: the metrics, then where and how fast
// ONNX Runtime ran.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s:\n", r.Model, r.Data)
	if err := r.Result.WriteText(&b); err != nil {
		return err
	}
	fmt.Fprintf(&b, "%s\n", r.Runtime)
	_, err := io.WriteString(w, b.String())
	return err
}

// Evaluate runs sess, the detector at req.Path, over the test split of
// req.Data, normalised as its metadata says, and scores its boxes
// (eval.Detection). It refuses a model without the outputs boxes, scores
// and classes, and a data set not labelled with boxes.
func Evaluate(ctx context.Context, sess *ort.Session, req Request) (*Result, error) {
	r := &Result{Model: req.Path, Data: req.Data, Runtime: eval.NewRuntime(sess)}
	ins := sess.Inputs()
	var outs []string
	for _, o := range sess.Outputs() {
		outs = append(outs, o.Name)
	}
	if len(ins) != 1 || len(ins[0].Shape) != 4 || slices.Min(ins[0].Shape[1:]) < 1 ||
		!slices.Equal(outs, []string{export.BoxesName, export.ScoresName, export.ClassesName}) {
		return nil, fmt.Errorf("%s: expected a detector with one image input [N C H W] of fixed size and the outputs %s, %s and %s (transfer --task detect writes one), found inputs %d and outputs %v",
			req.Path, export.BoxesName, export.ScoresName, export.ClassesName, len(ins), outs)
	}
	in := ins[0]
	switch fixed := int(max(in.Shape[0], 0)); {
	case req.Batch < 0:
		return nil, &train.FieldError{Field: "Batch", Value: req.Batch, Want: "a positive count, or 0 for the model's"}
	case fixed > 0 && req.Batch != 0 && req.Batch != fixed:
		return nil, &train.FieldError{Field: "Batch", Value: req.Batch, Want: fmt.Sprintf("the fixed batch size %d of the model's input", fixed)}
	case fixed > 0:
		r.Batch = fixed
	case req.Batch > 0:
		r.Batch = req.Batch
	default:
		r.Batch = DefaultBatch
	}
	m, err := graph.Load(req.Path)
	if err != nil {
		return nil, err
	}
	cfg := train.Config{Model: req.Path, Data: train.DataConfig{Set: req.Data, Dir: req.DataDir, Canvas: req.Canvas, Mean: req.Mean, Std: req.Std}, Log: req.Log}
	if cfg.Data.Canvas.Size == 0 {
		cfg.Data.Canvas.Size = int(in.Shape[2])
	}
	if cfg.Data.Mean == nil {
		if cfg.Data.Mean, cfg.Data.Std, err = classifier.ModelNorm(m); err != nil {
			return nil, err
		}
	}
	splits, err := train.OpenData(cfg, []int64{int64(r.Batch), in.Shape[1], in.Shape[2], in.Shape[3]})
	if err != nil {
		return nil, err
	}
	if !splits.Detection() {
		return nil, &train.FieldError{Field: "Data", Value: req.Data, Want: "a data set labelled with boxes (" + train.DetectionDataSets + ")"}
	}
	var names []string
	if v, ok := m.Metadata(export.MetaClassNames); ok {
		names = strings.Split(v, ",")
	}
	_, h, w := splits.DenseTest.Shape()
	score := eval.NewDetection(splits.TestObjects, names, 1, detection.DefaultTopK)
	shown := &firstDetections{max: req.Pictures}
	o := eval.Options{Batch: r.Batch, Workers: train.Workers(cfg), Progress: req.Progress}
	st, err := eval.Run(ctx, &eval.ORTDetector{Session: sess}, splits.DenseTest, o, score, shown)
	if err != nil {
		return nil, err
	}
	iou := req.IoU
	if iou == 0 {
		iou = 0.5
	}
	res, err := score.Result(iou)
	if err != nil {
		return nil, err
	}
	r.Result = *res
	r.Measured(st)
	if req.Out == "" {
		return r, nil
	}
	if err := os.MkdirAll(req.Out, 0o755); err != nil {
		return nil, err
	}
	if err := detection.WriteTruth(filepath.Join(req.Out, TruthFile), score.Truth()); err != nil {
		return nil, err
	}
	if err := detection.WriteDetections(filepath.Join(req.Out, DetectionsFile), score.Detections()); err != nil {
		return nil, err
	}
	r.Files = []string{TruthFile, DetectionsFile}
	for i, p := range shown.drawn {
		truth, err := splits.TestObjects.Objects(p.index)
		if err != nil {
			return nil, err
		}
		var boxes []segment.Box
		for _, o := range truth {
			b := o.Object()
			boxes = append(boxes, segment.Box{X1: b.X1, Y1: b.Y1, X2: b.X2, Y2: b.Y2})
		}
		name := fmt.Sprintf("prediction-%d.png", i+1)
		if err := segment.WriteBoxesPNG(filepath.Join(req.Out, name), p.image, len(p.image)/(h*w), h, w, 4, boxes, p.boxes); err != nil {
			return nil, err
		}
		r.Pictures = append(r.Pictures, name)
	}
	return r, nil
}

// firstDetections keeps the first max test images with their detections
// of pictureScore or more (an eval.Consumer of decoded detections).
type firstDetections struct {
	max   int
	drawn []shownImage
}

// shownImage is one test image to draw with its detections.
type shownImage struct {
	index int
	image []float32
	boxes []segment.Box
}

// Add keeps the batch's images while fewer than max are kept.
func (f *firstDetections) Add(out eval.Output, b *data.Batch) error {
	rows := int(out.Shape[1])
	c := len(b.Images) / max(b.N, 1)
	for i := 0; i < b.N && len(f.drawn) < f.max; i++ {
		s := shownImage{index: b.Indices[i], image: slices.Clone(b.Images[i*c : (i+1)*c])}
		for r := range slices.Chunk(out.Data[i*rows*eval.DetectionColumns:(i+1)*rows*eval.DetectionColumns], eval.DetectionColumns) {
			if r[4] >= pictureScore {
				s.boxes = append(s.boxes, segment.Box{X1: float64(r[0]), Y1: float64(r[1]), X2: float64(r[2]), Y2: float64(r[3]),
					Label: fmt.Sprintf("%d %.2f", int(r[5]), r[4])})
			}
		}
		f.drawn = append(f.drawn, s)
	}
	return nil
}
