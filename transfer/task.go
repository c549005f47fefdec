package transfer

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/stats"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/segment"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// Figures are a task's evaluation results by name ("top1", "loss",
// "pixel_accuracy", "mean_iou", …), as the engine and ONNX Runtime measure
// them; metrics.json and a study's table show them.
type Figures map[string]float64

// Column is one figure in a table: its key in Figures and its header;
// Percent figures print as percentages.
type Column struct {
	Key, Header string
	Percent     bool
}

// Format prints the figure of c in f, or "—" when f has none.
func (c Column) Format(f Figures) string {
	v, ok := f[c.Key]
	switch {
	case !ok:
		return "—"
	case c.Percent:
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%.4f", v)
}

// FormatSpread prints the mean of c's figure over seeds with its standard
// deviation, "93.65 ± 0.12%" or "0.7718 ± 0.0031", or "—" without it.
func (c Column) FormatSpread(mean, std Figures) string {
	v, ok := mean[c.Key]
	switch {
	case !ok:
		return "—"
	case c.Percent:
		return fmt.Sprintf("%.2f ± %.2f%%", 100*v, 100*std[c.Key])
	}
	return fmt.Sprintf("%.4f ± %.4f", v, std[c.Key])
}

// FormatInterval prints a paired difference of c's figure: in points for
// a percentage, else in the figure's units.
func (c Column) FormatInterval(iv stats.Interval) string {
	if c.Percent {
		return iv.Format(100, 2)
	}
	return iv.Format(1, 4)
}

// Labelling is how a data set labels its examples, which a task trains on.
type Labelling int

// The labellings of the data sets train opens.
const (
	PerImage Labelling = iota // one class an image (train.DataSets)
	PerPixel                  // a class every pixel (train.SegmentationDataSets)
	Boxes                     // a box and a class every object (train.DetectionDataSets)
)

// labelling returns how the opened splits are labelled.
func labelling(s *train.Splits) Labelling {
	switch {
	case s.Detection():
		return Boxes
	case s.Dense():
		return PerPixel
	}
	return PerImage
}

func (l Labelling) String() string {
	switch l {
	case PerPixel:
		return "per pixel"
	case Boxes:
		return "with boxes"
	}
	return "per image"
}

// dataSets lists the data sets labelled l.
func (l Labelling) dataSets() string {
	switch l {
	case PerPixel:
		return train.SegmentationDataSets
	case Boxes:
		return train.DetectionDataSets
	}
	return train.DataSets
}

// Task is one downstream task: the head it grafts onto a backbone, the
// labelling it trains on, how its figures are read from the engine's last
// evaluation and measured in ONNX Runtime. A new task (detection, say) is
// one more entry in Tasks.
type Task struct {
	Name, About string
	// Labels is the labelling of the data sets it trains on.
	Labels Labelling
	// Columns are its headline figures, in table order.
	Columns []Column
	// head grafts the task's head onto a backbone's feature.
	head func(backbone *graph.Model, feature string, classes int, seed uint64) (*graph.Model, error)
	// engine reads its figures from the trainer's last evaluation.
	engine func(m train.Metrics, classes int) Figures
	// evaluate measures its figures in ONNX Runtime over the test split.
	evaluate func(ctx context.Context, env evalEnv) (evaluation, error)
}

// evalEnv is what a task's ONNX Runtime evaluation works with: the
// exported model's session and the options it was opened with, the test
// split opened for it and the data settings that opened it, the batch
// size, the transfer folder (for pictures) and where progress goes.
type evalEnv struct {
	sess          *ort.Session
	runtime       ort.Options
	model         string
	splits        *train.Splits
	data, dataDir string
	canvas        data.CanvasOptions
	batch         int
	workers       int
	out           string
	progress      func(eval.Progress)
}

// evaluation is what a task measured in ONNX Runtime: its figures, the
// pictures and other files it wrote into the transfer folder, and any
// further detail for metrics.json.
type evaluation struct {
	figures       Figures
	images, files []string
	detail        any
}

// Tasks are the tasks a Config may name.
var Tasks = []Task{
	{
		Name: "classify", About: "a new classifier, global average pool and a fully connected layer, trained on another data set",
		Labels: PerImage, Columns: []Column{{"top1", "top-1", true}, {"top5", "top-5", true}, {"loss", "loss", false}},
		head: ClassifierHead,
		engine: func(m train.Metrics, classes int) Figures {
			f := Figures{"top1": m.TestTop1, "loss": m.TestLoss}
			if classes > 5 {
				f["top5"] = m.TestTop5
			}
			return f
		},
		evaluate: evaluateClassifier,
	},
	{
		Name: "segment", About: "an FCN head, 3×3 conv, BatchNorm, ReLU, 1×1 conv and bilinear upsampling, trained per pixel",
		Labels:  PerPixel,
		Columns: []Column{{"pixel_accuracy", "pixel accuracy", true}, {"mean_iou", "mean IoU", false}, {"loss", "loss", false}},
		head:    FCNHead,
		engine: func(m train.Metrics, _ int) Figures {
			return Figures{"pixel_accuracy": m.PixelAccuracy, "mean_iou": m.MeanIoU, "loss": m.TestLoss}
		},
		evaluate: evaluateSegmenter,
	},
	{
		Name: "detect", About: "a CenterNet head, heatmap, size and offset branches of 3×3 conv, ReLU and 1×1 conv, exported whole with its decoding as " + DetectorFile,
		Labels: Boxes,
		// The engine's loss is in metrics.json; an exported detector,
		// which decodes its boxes, has none to show beside it.
		Columns: []Column{{"voc07_ap50", "VOC07 AP50", false}, {"coco_ap", "COCO AP", false}, {"coco_ap50", "COCO AP50", false},
			{"coco_ap75", "COCO AP75", false}},
		head: CenterNetHead,
		engine: func(m train.Metrics, _ int) Figures {
			return Figures{"voc07_ap50": m.VOC07AP50, "voc_ap50": m.VOCAP50, "coco_ap": m.COCOAP, "coco_ap50": m.COCOAP50, "coco_ap75": m.COCOAP75, "loss": m.TestLoss}
		},
		evaluate: evaluateDetector,
	},
}

// LookupTask returns the task named name.
func LookupTask(name string) (*Task, error) {
	for i := range Tasks {
		if Tasks[i].Name == name {
			return &Tasks[i], nil
		}
	}
	return nil, &train.FieldError{Field: "Task", Value: name, Err: fmt.Errorf("unknown task; expected one of %s", strings.Join(taskNames(), ", "))}
}

// TaskSummary lists the tasks with what each grafts and trains, "name
// (about); …", for a usage text.
func TaskSummary() string {
	parts := make([]string, len(Tasks))
	for i, t := range Tasks {
		parts[i] = t.Name + " (" + t.About + ")"
	}
	return strings.Join(parts, "; ")
}

// taskNames lists the tasks' names.
func taskNames() []string {
	names := make([]string, len(Tasks))
	for i, t := range Tasks {
		names[i] = t.Name
	}
	return names
}

// evaluateClassifier scores a classifier's logits (eval.Classification).
func evaluateClassifier(ctx context.Context, env evalEnv) (evaluation, error) {
	at := max(slices.IndexFunc(env.sess.Outputs(), func(o ort.ValueInfo) bool { return o.Name == LogitsName }), 0)
	score := eval.NewClassification(env.splits.Test.Classes())
	o := eval.Options{Batch: env.batch, Workers: env.workers, Progress: env.progress}
	if _, err := eval.Run(ctx, eval.ORT{Session: env.sess, Output: at}, env.splits.Test, o, score); err != nil {
		return evaluation{}, err
	}
	f := Figures{"top1": score.Top1(), "loss": score.Loss()}
	if score.Classes() > 5 {
		f["top5"] = score.Top5()
	}
	return evaluation{figures: f}, nil
}

// pictures is the number of test examples evaluateSegmenter draws beside
// their ground truth, one PNG each.
const pictures = 4

// evaluateSegmenter scores per-pixel logits (eval.Segmentation) and draws
// the first test examples beside their ground truth.
func evaluateSegmenter(ctx context.Context, env evalEnv) (evaluation, error) {
	d := env.splits.DenseTest
	score := eval.NewSegmentation(d.Classes(), train.IgnoreLabel)
	panels := &firstPanels{max: pictures}
	o := eval.Options{Batch: env.batch, Workers: env.workers, Progress: env.progress}
	if _, err := eval.Run(ctx, eval.ORT{Session: env.sess}, d, o, score, panels); err != nil {
		return evaluation{}, err
	}
	m := score.Metrics()
	if m.Labelled == 0 || math.IsNaN(m.MeanIoU) {
		return evaluation{}, fmt.Errorf("%s: the test split has no labelled pixel to evaluate", env.model)
	}
	_, h, w := d.Shape()
	var images []string
	for i, p := range panels.drawn {
		name := fmt.Sprintf("prediction-%d.png", i+1)
		if err := segment.WritePNG(filepath.Join(env.out, name), []segment.Panel{p}, h, w, 4); err != nil {
			return evaluation{}, err
		}
		images = append(images, name)
	}
	return evaluation{figures: Figures{"pixel_accuracy": m.PixelAccuracy, "mean_iou": m.MeanIoU, "loss": score.Loss()}, images: images, detail: m}, nil
}

// firstPanels keeps the first max test examples of a segmentation with
// their ground truth and predicted label maps (an eval.Consumer).
type firstPanels struct {
	max   int
	drawn []segment.Panel
}

// Add keeps the batch's examples while fewer than max are kept.
func (p *firstPanels) Add(out eval.Output, b *data.Batch) error {
	k, h, w := out.Shape[1], int(out.Shape[2]), int(out.Shape[3])
	c := len(b.Images) / max(b.N, 1) / (h * w)
	for i := 0; i < b.N && len(p.drawn) < p.max; i++ {
		pred := make([]int32, h*w)
		plane := out.Data[i*int(k)*h*w : (i+1)*int(k)*h*w]
		if err := segment.Argmax(plane, []int64{1, k, int64(h), int64(w)}, pred); err != nil {
			return err
		}
		p.drawn = append(p.drawn, segment.Panel{Image: slices.Clone(b.Images[i*c*h*w : (i+1)*c*h*w]), Channels: c,
			Truth: slices.Clone(b.Dense[i*h*w : (i+1)*h*w]), Pred: pred})
	}
	return nil
}
