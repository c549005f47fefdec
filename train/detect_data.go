package train

import (
	"context"
	"fmt"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// detectionData is what a run on a detection set trains and evaluates
// with beyond the images: each example's objects.
type detectionData struct {
	train, test data.ObjectSet
	testImages  data.DenseDataset
	classes     int
	// batch holds the objects of the batch in progress, by image.
	batch [][]detection.Object
}

// gather reads the objects of batch b's images into d.batch and returns
// their number.
func (d *detectionData) gather(b *data.Batch) (int, error) {
	d.batch = d.batch[:0]
	total := 0
	for _, index := range b.Indices[:b.N] {
		objs, err := d.train.Objects(index)
		if err != nil {
			return 0, err
		}
		converted := make([]detection.Object, len(objs))
		for k, o := range objs {
			converted[k] = o.Object()
		}
		d.batch = append(d.batch, converted)
		total += len(objs)
	}
	return total, nil
}

// evaluate runs the evaluation net over the test split and sets m's
// detection figures and test loss.
func (d *detectionData) evaluate(ctx context.Context, net evalNet, o eval.Options, input []int64, m *Metrics) error {
	stride := int(input[2]) / net.net.logits.Shape()[2]
	score := eval.NewDetection(d.test, nil, stride, detection.DefaultTopK)
	if _, err := eval.Run(ctx, net, d.testImages, o, score); err != nil {
		return err
	}
	res, err := score.Result(0.5)
	if err != nil {
		return err
	}
	m.TestLoss, m.VOC07AP50, m.VOCAP50, m.COCOAP, m.COCOAP50, m.COCOAP75 = score.Loss(), res.VOC07AP50, res.VOCAP50, res.COCOAP, res.COCOAP50, res.COCOAP75
	return nil
}

// checkDetector checks that a model trained on a detection set ends in a
// CenterNet head for the set's classes, [N classes+4 h w] at one stride
// of the input, and refuses the tricks defined on per-image targets.
func (r *run) checkDetector(shape []int) error {
	k := r.det.classes
	in := r.input
	if len(shape) != 4 || shape[1] != k+4 || in[2]%int64(shape[2]) != 0 || in[3]%int64(shape[3]) != 0 || in[2]/int64(shape[2]) != in[3]/int64(shape[3]) {
		return refuse("Data.Set", r.cfg.Data.Set, fmt.Sprintf("a model ending in a CenterNet head for %d classes, [N %d h w] one stride below its input %d×%d (as package transfer's detect task makes): %s outputs %v",
			k, k+4, in[2], in[3], r.cfg.Model, shape))
	}
	if r.cfg.Recipe.LabelSmoothing > 0 || r.cfg.Recipe.Mixup > 0 || r.cfg.Recipe.Teacher != "" {
		return fmt.Errorf("%s: label smoothing, mixup and distillation act on per-image targets; the model is a detector", r.cfg.Model)
	}
	r.classes = k
	return nil
}
