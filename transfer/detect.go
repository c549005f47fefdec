package transfer

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/bot-onnx/bot-onnx/eval/detector"
	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
)

// DetectorFile is the fine-tuned model with its head decoded in the graph
// (export.AppendDetectorDecode: boxes, scores and classes), which the
// detect task writes into the transfer folder beside the fine-tuned model.
const DetectorFile = "detector.onnx"

// evaluateDetector makes DetectorFile from the fine-tuned model and scores
// it in ONNX Runtime over the test split (detector.Evaluate: VOC's metrics
// at IoU 0.5, COCO's AP), writing the truth and the detections in COCO's
// formats and pictures of the first test canvases.
func evaluateDetector(ctx context.Context, env evalEnv) (evaluation, error) {
	m, err := graph.Load(env.model)
	if err != nil {
		return evaluation{}, err
	}
	k := env.splits.TestObjects.ObjectClasses()
	if err := decodeDetections(m, k); err != nil {
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
	res, err := detector.Evaluate(ctx, sess, detector.Request{Path: out, Data: env.data, DataDir: env.dataDir, Canvas: env.canvas,
		Batch: env.batch, Out: env.out, Pictures: pictures, Progress: env.progress})
	if err != nil {
		return evaluation{}, err
	}
	f := Figures{"voc07_ap50": res.VOC07AP50, "voc_ap50": res.VOCAP50, "coco_ap": res.COCOAP, "coco_ap50": res.COCOAP50, "coco_ap75": res.COCOAP75}
	return evaluation{figures: f, images: res.Pictures, files: append([]string{DetectorFile}, res.Files...), detail: res.Result}, nil
}

// decodeDetections makes m, a model ending in a CenterNet head of classes
// classes (CenterNetHead's LogitsName output), decode its own detections,
// its classes named by their numbers (the digits of mnist-det).
func decodeDetections(m *graph.Model, classes int) error {
	shapes, err := graph.InferShapes(m)
	if err != nil {
		return err
	}
	head := shapes[LogitsName]
	input, _, _ := graph.ShapeOf(graph.DataInputs(m.GetGraph())[0])
	if len(head) != 4 || head[1].Size != int64(classes+4) || !head[2:].Known() || !input[2:].Known() || head[2].Size < 1 {
		return fmt.Errorf("output %q [%v]: expected a CenterNet head [N %d h w] of fixed size", LogitsName, head, classes+4)
	}
	names := make([]string, classes)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return export.AppendDetectorDecode(m, export.Decode{Head: LogitsName, Classes: classes, Stride: int(input[2].Size / head[2].Size), ClassNames: names})
}
