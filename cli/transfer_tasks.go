package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/progress"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/segment"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/transfer"
)

// figures are a task's evaluation results by name ("top1", "loss",
// "pixel_accuracy", "mean_iou", …), as the engine and ONNX Runtime measure
// them; metrics.json and the study's table print them.
type figures map[string]float64

// column is one figure in a table: its key in figures and its header;
// percent figures print as percentages.
type column struct {
	key, header string
	percent     bool
}

// format prints the figure of c in f, or "—" when f has none.
func (c column) format(f figures) string {
	v, ok := f[c.key]
	switch {
	case !ok:
		return "—"
	case c.percent:
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%.4f", v)
}

// evalEnv is what a task's ONNX Runtime evaluation works with: the
// exported model's session, the test split opened for it, the batch size
// and the transfer folder (for pictures).
type evalEnv struct {
	sess    *ort.Session
	model   string
	data    string
	splits  *train.Splits
	batch   int
	workers int
	out     string
	log     io.Writer
}

// transferTask is one downstream task of `bot-onnx transfer`: the head it
// grafts onto a backbone, the kind of data set it trains on, how its
// figures are read from the engine's last evaluation and measured in ONNX
// Runtime. A new task (detection, say) is one more entry in transferTasks.
type transferTask struct {
	name  string
	about string
	// head grafts the task's head onto a backbone's feature (package transfer).
	head func(backbone *graph.Model, feature string, classes int, seed uint64) (*graph.Model, error)
	// dense says the task trains on a data set labelled per pixel.
	dense bool
	// columns are its headline figures, in table order.
	columns []column
	// engine reads its figures from the trainer's last evaluation.
	engine func(m train.Metrics, classes int) figures
	// evaluate measures its figures in ONNX Runtime over the test split; it
	// may write pictures into env.out and returns their names and any
	// further detail for metrics.json.
	evaluate func(ctx context.Context, env evalEnv) (f figures, images []string, detail any, err error)
}

// transferTasks are the tasks `bot-onnx transfer --task` takes.
var transferTasks = []transferTask{
	{
		name: "classify", about: "a new classifier, global average pool and a fully connected layer, trained on another data set",
		head: transfer.ClassifierHead, columns: []column{{"top1", "top-1", true}, {"top5", "top-5", true}, {"loss", "loss", false}},
		engine: func(m train.Metrics, classes int) figures {
			f := figures{"top1": m.TestTop1, "loss": m.TestLoss}
			if classes > 5 {
				f["top5"] = m.TestTop5
			}
			return f
		},
		evaluate: evaluateClassifier,
	},
	{
		name: "segment", about: "an FCN head, 3×3 conv, BatchNorm, ReLU, 1×1 conv and bilinear upsampling, trained per pixel",
		head: transfer.FCNHead, dense: true,
		columns: []column{{"pixel_accuracy", "pixel accuracy", true}, {"mean_iou", "mean IoU", false}, {"loss", "loss", false}},
		engine: func(m train.Metrics, _ int) figures {
			return figures{"pixel_accuracy": m.PixelAccuracy, "mean_iou": m.MeanIoU, "loss": m.TestLoss}
		},
		evaluate: evaluateSegmenter,
	},
}

// lookupTask returns the task named name.
func lookupTask(name string) (*transferTask, error) {
	var names []string
	for i := range transferTasks {
		if transferTasks[i].name == name {
			return &transferTasks[i], nil
		}
		names = append(names, transferTasks[i].name)
	}
	return nil, fmt.Errorf("--task %q: unknown task; expected one of %s", name, strings.Join(names, ", "))
}

// taskNames lists the tasks for usage texts.
func taskNames() string {
	var names []string
	for _, t := range transferTasks {
		names = append(names, t.name+" ("+t.about+")")
	}
	return strings.Join(names, "; ")
}

// evaluateClassifier scores a classifier as `bot-onnx eval` does (score).
func evaluateClassifier(ctx context.Context, env evalEnv) (figures, []string, any, error) {
	e := evaluation{Model: env.model, Data: env.data, Batch: env.batch, Provider: string(env.sess.Provider())}
	at := max(slices.IndexFunc(env.sess.Outputs(), func(o ort.ValueInfo) bool { return o.Name == transfer.LogitsName }), 0)
	if err := score(ctx, env.log, env.sess, at, env.splits.Test, env.workers, 0, &e); err != nil {
		return nil, nil, nil, err
	}
	f := figures{"top1": e.Top1, "loss": e.Loss}
	if e.Classes > 5 {
		f["top5"] = e.Top5
	}
	return f, nil, nil, nil
}

// pictures is the number of test examples drawn beside their ground truth
// by evaluateSegmenter, one PNG each.
const pictures = 4

// evaluateSegmenter runs a per-pixel model over the test split in ONNX
// Runtime and scores every pixel as the trainer does (train.PixelScore);
// the first test examples are drawn beside their ground truth.
func evaluateSegmenter(ctx context.Context, env evalEnv) (figures, []string, any, error) {
	d := env.splits.DenseTest
	loader, err := data.NewDenseLoader(d, data.LoaderConfig{BatchSize: env.batch, Workers: env.workers})
	if err != nil {
		return nil, nil, nil, err
	}
	it, err := loader.Epoch(ctx, 0, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	defer it.Close()
	c, h, w := d.Shape()
	var s *train.PixelScore
	var panels []segment.Panel
	bar := progress.New(env.log, "eval", int64(d.Len()), "images")
	done := 0
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, nil, fmt.Errorf("evaluation interrupted after %d of %d images", done, d.Len())
			}
			return nil, nil, nil, err
		}
		x := ort.Tensor{Shape: []int64{int64(b.N), int64(c), int64(h), int64(w)}, Data: b.Images}
		outs, err := env.sess.Run(x)
		if err != nil {
			return nil, nil, nil, err
		}
		y := outs[0]
		if len(y.Shape) != 4 || y.Shape[0] != int64(b.N) || y.Shape[2] != int64(h) || y.Shape[3] != int64(w) {
			return nil, nil, nil, fmt.Errorf("%s: output %q has shape %v for input %v; expected per-pixel logits [%d K %d %d]",
				env.model, env.sess.Outputs()[0].Name, y.Shape, x.Shape, b.N, h, w)
		}
		if s == nil {
			if y.Shape[1] < int64(d.Classes()) {
				return nil, nil, nil, fmt.Errorf("%s: the model gives %d classes, fewer than the %d of %s", env.model, y.Shape[1], d.Classes(), env.data)
			}
			if s, err = train.NewPixelScore(int(y.Shape[1])); err != nil {
				return nil, nil, nil, err
			}
		}
		if err := s.Add(y.Data, y.Shape, b.Dense); err != nil {
			return nil, nil, nil, err
		}
		for i := 0; i < b.N && len(panels) < pictures; i++ {
			pred := make([]int32, h*w)
			plane := y.Data[i*len(y.Data)/b.N : (i+1)*len(y.Data)/b.N]
			if err := segment.Argmax(plane, []int64{1, y.Shape[1], int64(h), int64(w)}, pred); err != nil {
				return nil, nil, nil, err
			}
			panels = append(panels, segment.Panel{Image: slices.Clone(b.Images[i*c*h*w : (i+1)*c*h*w]), Channels: c,
				Truth: slices.Clone(b.Dense[i*h*w : (i+1)*h*w]), Pred: pred})
		}
		done += b.N
		bar.Add(int64(b.N), "")
	}
	m := s.Confusion.Metrics()
	if m.Labelled == 0 || math.IsNaN(m.MeanIoU) {
		return nil, nil, nil, fmt.Errorf("%s: the test split has no labelled pixel to evaluate", env.data)
	}
	var images []string
	for i, p := range panels {
		name := fmt.Sprintf("prediction-%d.png", i+1)
		if err := segment.WritePNG(filepath.Join(env.out, name), []segment.Panel{p}, h, w, 4); err != nil {
			return nil, nil, nil, err
		}
		images = append(images, name)
	}
	return figures{"pixel_accuracy": m.PixelAccuracy, "mean_iou": m.MeanIoU, "loss": s.Loss()}, images, m, nil
}
