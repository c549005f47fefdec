package segment

import (
	"fmt"
	"math"
)

// Argmax turns logits of shape [N, C, H, W] (NCHW, as a segmentation
// model's `logits` output and ort.Tensor hold them) into N label maps
// of H×W in dst, each pixel the class of its largest logit. Ties go to the
// lower class, as numpy's and PyTorch's argmax do; a NaN logit never wins,
// so a pixel whose logits are all NaN gets class 0.
func Argmax(logits []float32, shape []int64, dst []int32) error {
	if len(shape) != 4 || shape[0] < 0 || shape[1] < 1 || shape[2] < 0 || shape[3] < 0 {
		return fmt.Errorf("segment: logits of shape %v: expected [N C H W] with at least one class", shape)
	}
	n, classes, plane := int(shape[0]), int(shape[1]), int(shape[2]*shape[3])
	if len(logits) != n*classes*plane {
		return fmt.Errorf("segment: %d logits for shape %v: expected %d", len(logits), shape, n*classes*plane)
	}
	if len(dst) != n*plane {
		return fmt.Errorf("segment: a label buffer of %d for logits of shape %v: expected %d×%d×%d = %d",
			len(dst), shape, n, shape[2], shape[3], n*plane)
	}
	best := make([]float32, plane)
	for i := range n {
		labels := dst[i*plane : (i+1)*plane]
		clear(labels)
		for p := range best {
			best[p] = float32(math.Inf(-1))
		}
		for c := range classes {
			for p, v := range logits[(i*classes+c)*plane : (i*classes+c+1)*plane] {
				if v > best[p] {
					best[p], labels[p] = v, int32(c)
				}
			}
		}
	}
	return nil
}
