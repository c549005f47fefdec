package kernel

import (
	"fmt"
	"math"
)

// IgnoreLabel marks a pixel that PixelCrossEntropy leaves out of the loss
// and its gradient: one without ground truth, such as an unannotated
// region or a blurred object boundary.
const IgnoreLabel int32 = -1

// PixelCrossEntropy is the loss of semantic segmentation (FCN): the
// softmax cross-entropy of per-pixel logits against a label map. Logits
// are N×K×H×W (class k of pixel p in image i at (i·K + k)·H·W + p) and
// labels N×H×W; the loss is the mean, over the pixels whose label is not
// IgnoreLabel, of −log softmax over the K classes at the pixel's label.
// Its scratch buffers (one image's per-pixel maximum and exponential sum)
// are allocated once, which makes it unsafe for concurrent use.
type PixelCrossEntropy[T Float] struct {
	n, classes, hw int
	peak, sum      []float64
}

// NewPixelCrossEntropy returns the loss for n images of hw pixels and the
// given number of classes.
func NewPixelCrossEntropy[T Float](n, classes, hw int) (*PixelCrossEntropy[T], error) {
	if n < 1 || classes < 1 || hw < 1 {
		return nil, fmt.Errorf("pixel cross-entropy: expected positive sizes, found N=%d K=%d HW=%d", n, classes, hw)
	}
	return &PixelCrossEntropy[T]{n: n, classes: classes, hw: hw, peak: make([]float64, hw), sum: make([]float64, hw)}, nil
}

// Forward returns the mean loss and the number of pixels it averages
// over. When dlogits is not nil it is overwritten with the gradient of the
// mean, (softmax − onehot(label))/count at each counted pixel and 0 at
// ignored ones. With no counted pixel the loss and the gradient are 0. A
// label outside [0, K) other than IgnoreLabel is an error naming the pixel.
func (c *PixelCrossEntropy[T]) Forward(logits []T, labels []int32, dlogits []T) (loss float64, count int, err error) {
	k, hw := c.classes, c.hw
	checkLen("PixelCrossEntropy.Forward", "logits", logits, c.n*k*hw)
	checkLen("PixelCrossEntropy.Forward", "labels", labels, c.n*hw)
	if dlogits != nil {
		checkLen("PixelCrossEntropy.Forward", "dlogits", dlogits, c.n*k*hw)
	}
	for i, l := range labels {
		switch {
		case l == IgnoreLabel:
		case l < 0 || int(l) >= k:
			return 0, 0, fmt.Errorf("pixel cross-entropy: label %d of image %d pixel %d is outside [0, %d) and is not the ignore label %d", l, i/hw, i%hw, k, IgnoreLabel)
		default:
			count++
		}
	}
	if count == 0 {
		if dlogits != nil {
			clear(dlogits)
		}
		return 0, 0, nil
	}
	inv := 1 / float64(count)
	for i := range c.n {
		z, lab := logits[i*k*hw:(i+1)*k*hw], labels[i*hw:(i+1)*hw]
		// Class planes are read whole, one after another, rather than
		// striding through the classes of each pixel.
		for p, v := range z[:hw] {
			c.peak[p] = float64(v)
		}
		for j := 1; j < k; j++ {
			for p, v := range z[j*hw : (j+1)*hw] {
				c.peak[p] = max(c.peak[p], float64(v))
			}
		}
		// The exponentials are kept in dlogits, when wanted, for the
		// gradient below.
		var d []T
		if dlogits != nil {
			d = dlogits[i*k*hw : (i+1)*k*hw]
		}
		clear(c.sum)
		for j := range k {
			zj := z[j*hw : (j+1)*hw]
			if d == nil {
				for p, v := range zj {
					c.sum[p] += math.Exp(float64(v) - c.peak[p])
				}
				continue
			}
			dj := d[j*hw : (j+1)*hw]
			for p, v := range zj {
				e := math.Exp(float64(v) - c.peak[p])
				c.sum[p] += e
				dj[p] = T(e)
			}
		}
		for p, l := range lab {
			if l != IgnoreLabel {
				loss += math.Log(c.sum[p]) + c.peak[p] - float64(z[int(l)*hw+p])
			}
		}
		if d == nil {
			continue
		}
		for j := range k {
			dj := d[j*hw : (j+1)*hw]
			for p, l := range lab {
				switch {
				case l == IgnoreLabel:
					dj[p] = 0
				case int(l) == j:
					dj[p] = T((float64(dj[p])/c.sum[p] - 1) * inv)
				default:
					dj[p] = T(float64(dj[p]) / c.sum[p] * inv)
				}
			}
		}
	}
	return loss * inv, count, nil
}
