package transfer

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/segment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// Files the detect task writes into the transfer folder beside the
// fine-tuned model.
const (
	// DetectorFile is the fine-tuned model with its head decoded in the
	// graph (export.AppendDetectorDecode): boxes, scores and classes.
	DetectorFile = "detector.onnx"
	// TruthFile is the test split's objects as a COCO instances file, and
	// DetectionsFile the detector's boxes on it as a COCO results file:
	// what `bot-onnx eval-detections` scores.
	TruthFile      = "truth.json"
	DetectionsFile = "detections.json"
)

// pictureScore is the lowest score of a detection drawn in the pictures.
const pictureScore = 0.3

// evaluateDetector makes DetectorFile from the fine-tuned model, runs it
// in ONNX Runtime over the test split, scores its boxes (eval.Detection,
// VOC's at IoU 0.5), writes the truth and the detections in COCO's formats
// and draws the first test canvases with their true and detected boxes.
func evaluateDetector(ctx context.Context, env evalEnv) (evaluation, error) {
	m, err := graph.Load(env.model)
	if err != nil {
		return evaluation{}, err
	}
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return evaluation{}, fmt.Errorf("%s: %w", env.model, err)
	}
	head, in := shapes[LogitsName], graph.DataInputs(m.GetGraph())
	input, _, _ := graph.ShapeOf(in[0])
	objects := env.splits.TestObjects
	k := objects.ObjectClasses()
	if len(head) != 4 || head[1].Size != int64(k+4) || !head[2:].Known() || !input[2:].Known() {
		return evaluation{}, fmt.Errorf("%s: output %q [%v]: expected a CenterNet head [N %d h w] of fixed size", env.model, LogitsName, head, k+4)
	}
	stride := int(input[2].Size / head[2].Size)
	names := make([]string, k)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	if err := export.AppendDetectorDecode(m, export.Decode{Head: LogitsName, Classes: k, Stride: stride, ClassNames: names}); err != nil {
		return evaluation{}, fmt.Errorf("%s: %w", env.model, err)
	}
	out := filepath.Join(env.out, DetectorFile)
	if err := m.Save(out); err != nil {
		return evaluation{}, err
	}
	sess, err := ort.NewSession(out, env.runtime)
	if err != nil {
		return evaluation{}, err
	}
	defer sess.Close()
	score := eval.NewDetection(objects, names, stride, detection.DefaultTopK)
	shown := &firstDetections{max: pictures}
	o := eval.Options{Batch: env.batch, Workers: env.workers, Progress: env.progress}
	if _, err := eval.Run(ctx, &eval.ORTDetector{Session: sess}, env.splits.DenseTest, o, score, shown); err != nil {
		return evaluation{}, err
	}
	res, err := score.Result(0.5)
	if err != nil {
		return evaluation{}, err
	}
	if err := detection.WriteTruth(filepath.Join(env.out, TruthFile), score.Truth()); err != nil {
		return evaluation{}, err
	}
	if err := detection.WriteDetections(filepath.Join(env.out, DetectionsFile), score.Detections()); err != nil {
		return evaluation{}, err
	}
	_, h, w := env.splits.DenseTest.Shape()
	var images []string
	for i, p := range shown.drawn {
		truth, err := objects.Objects(p.index)
		if err != nil {
			return evaluation{}, err
		}
		var boxes []segment.Box
		for _, o := range truth {
			boxes = append(boxes, segment.Box{X1: float64(o.Box.Min.X), Y1: float64(o.Box.Min.Y), X2: float64(o.Box.Max.X), Y2: float64(o.Box.Max.Y)})
		}
		name := fmt.Sprintf("prediction-%d.png", i+1)
		if err := segment.WriteBoxesPNG(filepath.Join(env.out, name), p.image, len(p.image)/(h*w), h, w, 4, boxes, p.boxes); err != nil {
			return evaluation{}, err
		}
		images = append(images, name)
	}
	f := Figures{"voc07_ap50": res.VOC07AP50, "voc_ap50": res.VOCAP50, "coco_ap": res.COCOAP, "coco_ap50": res.COCOAP50, "coco_ap75": res.COCOAP75}
	return evaluation{figures: f, images: images, files: []string{DetectorFile, TruthFile, DetectionsFile}, detail: res}, nil
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
