package eval

import (
	"fmt"
	"math"

	"github.com/bot-onnx/bot-onnx/segment"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// Segmentation scores per-pixel logits [N K H W] against the label maps of
// a data set labelled per pixel: the confusion matrix (pixel accuracy, IoU
// and mean IoU as package segment defines them) and the mean softmax
// cross-entropy over the labelled pixels, the loss the trainer minimises.
// Make one with NewSegmentation.
type Segmentation struct {
	min       int
	ignore    int32
	confusion *segment.Confusion
	loss      float64
	pixels    int64
	pred      []int32
}

// NewSegmentation returns an empty score for a data set of classes classes
// whose label maps mark unlabelled pixels with ignore; the model may give
// more classes than that, not fewer.
func NewSegmentation(classes int, ignore int32) *Segmentation {
	return &Segmentation{min: classes, ignore: ignore}
}

// Add scores a batch's per-pixel logits.
func (s *Segmentation) Add(out Output, b *data.Batch) error {
	shape := out.Shape
	if len(shape) != 4 {
		return fmt.Errorf("eval: output of shape %v: expected per-pixel logits [N classes H W]", shape)
	}
	k, plane := int(shape[1]), int(shape[2]*shape[3])
	if s.confusion == nil {
		if k < s.min {
			return fmt.Errorf("eval: the model gives %d classes, fewer than the data set's %d", k, s.min)
		}
		c, err := segment.NewConfusion(k, s.ignore)
		if err != nil {
			return err
		}
		s.confusion = c
	}
	if k != s.confusion.Classes() {
		return fmt.Errorf("eval: per-pixel logits of %d classes after batches of %d", k, s.confusion.Classes())
	}
	if len(b.Dense) != b.N*plane {
		return fmt.Errorf("eval: output of shape %v for %d label maps of %d pixels: expected one logit a class and pixel",
			shape, b.N, len(b.Dense)/max(b.N, 1))
	}
	labels := b.Dense
	if cap(s.pred) < len(labels) {
		s.pred = make([]int32, len(labels))
	}
	pred := s.pred[:len(labels)]
	if err := segment.Argmax(out.Data, shape, pred); err != nil {
		return err
	}
	if err := s.confusion.Add(pred, labels); err != nil {
		return err
	}
	for i, label := range labels {
		if label == s.ignore {
			continue
		}
		n, p := i/plane, i%plane
		at := func(c int) float64 { return float64(out.Data[(n*k+c)*plane+p]) }
		top := math.Inf(-1)
		for c := range k {
			top = max(top, at(c))
		}
		sum := 0.0
		for c := range k {
			sum += math.Exp(at(c) - top)
		}
		s.loss += math.Log(sum) + top - at(int(label))
		s.pixels++
	}
	return nil
}

// Metrics returns the confusion matrix's figures; NaN ones before Add.
func (s *Segmentation) Metrics() segment.Metrics {
	if s.confusion == nil {
		return segment.Metrics{PixelAccuracy: math.NaN(), MeanIoU: math.NaN()}
	}
	return s.confusion.Metrics()
}

// Loss returns the mean cross-entropy over the labelled pixels (0 when
// there are none).
func (s *Segmentation) Loss() float64 { return s.loss / float64(max(s.pixels, 1)) }
