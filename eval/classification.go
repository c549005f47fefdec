package eval

import (
	"fmt"
	"math"
	"slices"

	"github.com/bot-onnx/bot-onnx/train/data"
)

// Classification scores logits [N K] against the labels of a data set
// labelled per image: the mean softmax cross-entropy (the loss the trainer
// minimises), top-1 and top-5 accuracy. Make one with NewClassification.
type Classification struct {
	min, classes int
	images       int
	loss         float64
	top1, top5   int
}

// NewClassification returns an empty score for a data set of classes
// classes; the model may give more logits than that, not fewer.
func NewClassification(classes int) *Classification {
	return &Classification{min: classes}
}

// Add scores a batch's logits.
func (c *Classification) Add(out Output, b *data.Batch) error {
	if len(out.Shape) != 2 || out.Shape[1] < 1 {
		return fmt.Errorf("eval: output of shape %v: expected logits [N classes]", out.Shape)
	}
	k := int(out.Shape[1])
	if c.classes == 0 {
		if k < c.min {
			return fmt.Errorf("eval: the model gives %d classes, fewer than the data set's %d", k, c.min)
		}
		c.classes = k
	} else if k != c.classes {
		return fmt.Errorf("eval: logits of %d classes after batches of %d", k, c.classes)
	}
	for i, label := range b.Labels[:b.N] {
		if label < 0 || int(label) >= k {
			return fmt.Errorf("eval: label %d: expected a class from 0 to %d", label, k-1)
		}
		row := out.Data[i*k : (i+1)*k]
		top := slices.Max(row)
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v - top))
		}
		c.loss += math.Log(sum) - float64(row[label]-top)
		higher := 0
		for _, v := range row {
			if v > row[label] {
				higher++
			}
		}
		if higher == 0 {
			c.top1++
		}
		if higher < 5 && k > 5 {
			c.top5++
		}
	}
	c.images += b.N
	return nil
}

// Images returns the number of examples scored.
func (c *Classification) Images() int { return c.images }

// Classes returns the number of logits the model gives (0 before Add).
func (c *Classification) Classes() int { return c.classes }

// Loss returns the mean cross-entropy.
func (c *Classification) Loss() float64 { return c.loss / float64(max(c.images, 1)) }

// Top1 returns the share of examples whose label has the highest logit
// (a tie with another class counts as right, as only strictly higher
// logits are counted against the label).
func (c *Classification) Top1() float64 { return float64(c.top1) / float64(max(c.images, 1)) }

// Top5 returns the share whose label is among the 5 highest logits; 0
// with 5 classes or fewer, where it says nothing.
func (c *Classification) Top5() float64 { return float64(c.top5) / float64(max(c.images, 1)) }
