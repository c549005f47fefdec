package segment

import (
	"encoding/json"
	"fmt"
	"math"
)

// Confusion is a confusion matrix over the pixels of label maps: how many
// pixels of each true class were predicted as each class. The zero value is
// not usable; make one with NewConfusion.
type Confusion struct {
	classes int
	ignore  int32
	// counts[t·classes + p] is the number of pixels of true class t
	// predicted as p.
	counts []int64
}

// NewConfusion makes an empty confusion matrix for classes classes. True
// labels equal to ignore mark pixels that are not labelled: Add skips them.
// ignore should lie outside [0, classes) (−1 or 255 are usual).
func NewConfusion(classes int, ignore int32) (*Confusion, error) {
	if classes < 2 {
		return nil, fmt.Errorf("segment: %d classes: expected at least 2", classes)
	}
	if ignore >= 0 && int(ignore) < classes {
		return nil, fmt.Errorf("segment: ignore label %d is one of the %d classes: expected a label outside 0 to %d", ignore, classes, classes-1)
	}
	return &Confusion{classes: classes, ignore: ignore, counts: make([]int64, classes*classes)}, nil
}

// Classes returns the number of classes.
func (c *Confusion) Classes() int { return c.classes }

// At returns the number of pixels of true class truth predicted as pred.
func (c *Confusion) At(truth, pred int) int64 { return c.counts[truth*c.classes+pred] }

// Add counts the pixels of a predicted label map against the true one, of
// the same length (one image, or a batch laid end to end). It counts
// nothing when it fails: a label map of another length, a true label that
// is neither a class nor the ignore label, or a prediction that is not a
// class.
func (c *Confusion) Add(pred, truth []int32) error {
	if len(pred) != len(truth) {
		return fmt.Errorf("segment: %d predicted labels for %d true labels: expected label maps of one size", len(pred), len(truth))
	}
	for i, t := range truth {
		if t == c.ignore {
			continue
		}
		if t < 0 || int(t) >= c.classes {
			return fmt.Errorf("segment: true label %d at pixel %d: expected 0 to %d or the ignore label %d", t, i, c.classes-1, c.ignore)
		}
		if p := pred[i]; p < 0 || int(p) >= c.classes {
			return fmt.Errorf("segment: predicted label %d at pixel %d: expected 0 to %d", p, i, c.classes-1)
		}
	}
	for i, t := range truth {
		if t != c.ignore {
			c.counts[int(t)*c.classes+int(pred[i])]++
		}
	}
	return nil
}

// Merge adds the counts of o, a matrix for the same classes, to c: the
// evaluation of a set split between workers.
func (c *Confusion) Merge(o *Confusion) error {
	if o.classes != c.classes {
		return fmt.Errorf("segment: merging a confusion matrix of %d classes into one of %d", o.classes, c.classes)
	}
	for i, n := range o.counts {
		c.counts[i] += n
	}
	return nil
}

// Labelled returns the number of labelled pixels counted.
func (c *Confusion) Labelled() int64 {
	var n int64
	for _, v := range c.counts {
		n += v
	}
	return n
}

// PixelAccuracy returns correctly classified pixels / labelled pixels; NaN
// when no pixel is labelled.
func (c *Confusion) PixelAccuracy() float64 {
	var correct int64
	for k := range c.classes {
		correct += c.At(k, k)
	}
	return float64(correct) / float64(c.Labelled())
}

// IoU returns each class's TP / (TP + FP + FN); NaN for a class absent from
// both the true and the predicted labels.
func (c *Confusion) IoU() []float64 {
	iou := make([]float64, c.classes)
	for k := range c.classes {
		var truth, pred int64 // pixels labelled k, pixels predicted k
		for j := range c.classes {
			truth += c.At(k, j)
			pred += c.At(j, k)
		}
		tp := c.At(k, k)
		if union := truth + pred - tp; union > 0 {
			iou[k] = float64(tp) / float64(union)
		} else {
			iou[k] = math.NaN()
		}
	}
	return iou
}

// MeanIoU returns the mean IoU over the classes present in the true or the
// predicted labels, and how many those are; NaN and 0 when there are none.
func (c *Confusion) MeanIoU() (mean float64, counted int) {
	var sum float64
	for _, v := range c.IoU() {
		if !math.IsNaN(v) {
			sum += v
			counted++
		}
	}
	if counted == 0 {
		return math.NaN(), 0
	}
	return sum / float64(counted), counted
}

// Metrics are a confusion matrix's figures, as a report prints them.
type Metrics struct {
	PixelAccuracy float64
	MeanIoU       float64
	// IoU holds each class's IoU, NaN for a class absent from both the true
	// and the predicted labels.
	IoU []float64
	// Counted is the number of classes MeanIoU averages.
	Counted int
	// Labelled is the number of labelled pixels.
	Labelled int64
}

// Metrics returns c's figures.
func (c *Confusion) Metrics() Metrics {
	m := Metrics{PixelAccuracy: c.PixelAccuracy(), IoU: c.IoU(), Labelled: c.Labelled()}
	m.MeanIoU, m.Counted = c.MeanIoU()
	return m
}

// MarshalJSON writes the metrics with snake_case keys, and null for the NaN
// of an absent class (or of an empty matrix), which JSON cannot hold.
func (m Metrics) MarshalJSON() ([]byte, error) {
	iou := make([]*float64, len(m.IoU))
	for i := range m.IoU {
		iou[i] = finite(m.IoU[i])
	}
	return json.Marshal(struct {
		PixelAccuracy *float64   `json:"pixel_accuracy"`
		MeanIoU       *float64   `json:"mean_iou"`
		IoU           []*float64 `json:"iou"`
		Counted       int        `json:"classes_counted"`
		Labelled      int64      `json:"labelled_pixels"`
	}{finite(m.PixelAccuracy), finite(m.MeanIoU), iou, m.Counted, m.Labelled})
}

// finite returns &v, or nil for NaN.
func finite(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}
