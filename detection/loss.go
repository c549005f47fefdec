package detection

import "fmt"

// CenterNet's loss weights, those published with the reference code
// (xingyizhou/CenterNet's opts: hm_weight 1, wh_weight 0.1, off_weight 1),
// which RegL1Loss's normalisation was tuned with.
const (
	SizeWeight   = 0.1
	OffsetWeight = 1
)

// Loss is CenterNet's whole training loss on the output of a head for a
// batch of n images, [n, classes+4, h, w] in NCHW order: per image, the
// classes heatmap logits, then the box width and height, then the centre's
// x and y offset (Targets' layout). It is
//
//	FocalLoss(heatmaps) + SizeWeight·RegL1Loss(size) + OffsetWeight·RegL1Loss(offset)
//
// over the batch at once, so each term is normalised by the batch's
// objects, as the reference's is. A Loss keeps its buffers between calls:
// Draw the batch's targets, then Compute as often as needed.
type Loss struct {
	classes, n, h, w, stride int
	targets                  []Targets
	// heat, size, offset and mask are the batch's targets; pred* the
	// head's output gathered by head; grad* their gradients.
	heat, size, offset, mask       []float32
	predHeat, predSize, predOffset []float32
	gradHeat, gradSize, gradOffset []float32
	objects                        int
}

// NewLoss returns the loss of a head with classes heatmap planes on maps
// of h×w cells, stride input pixels each, for batches of n images. It
// panics if a size is not positive.
func NewLoss(classes, n, h, w, stride int) *Loss {
	if classes <= 0 || n <= 0 || h <= 0 || w <= 0 || stride <= 0 {
		panic(fmt.Sprintf("detection: a CenterNet loss of %d classes for %d images of %d×%d cells, stride %d: expected positive values", classes, n, h, w, stride))
	}
	plane := h * w
	l := &Loss{classes: classes, n: n, h: h, w: w, stride: stride, targets: make([]Targets, n)}
	for _, s := range []*[]float32{&l.heat, &l.predHeat, &l.gradHeat} {
		*s = make([]float32, n*classes*plane)
	}
	for _, s := range []*[]float32{&l.size, &l.offset, &l.predSize, &l.predOffset, &l.gradSize, &l.gradOffset} {
		*s = make([]float32, n*2*plane)
	}
	l.mask = make([]float32, n*plane)
	window := func(s []float32, i, per int) []float32 { return s[i*per : (i+1)*per : (i+1)*per] }
	for i := range l.targets {
		t := &l.targets[i]
		t.Heatmap, t.Size, t.Offset, t.Mask = window(l.heat, i, classes*plane), window(l.size, i, 2*plane), window(l.offset, i, 2*plane), window(l.mask, i, plane)
	}
	return l
}

// Draw draws the targets of the batch, objects[i] those of image i
// (Targets.Draw's rules), and returns the number of objects drawn. It
// refuses a batch of another size and an object of a class out of range.
func (l *Loss) Draw(objects [][]Object) (int, error) {
	if len(objects) != l.n {
		return 0, fmt.Errorf("detection: objects of %d images for a loss over batches of %d", len(objects), l.n)
	}
	l.objects = 0
	for i, objs := range objects {
		for _, o := range objs {
			if o.Class < 0 || o.Class >= l.classes {
				return 0, fmt.Errorf("detection: image %d has an object of class %d: expected 0 to %d", i, o.Class, l.classes-1)
			}
		}
		l.targets[i].Draw(objs, l.classes, l.h, l.w, l.stride)
		l.objects += l.targets[i].Objects
	}
	return l.objects, nil
}

// Objects returns the number of objects the last Draw drew.
func (l *Loss) Objects() int { return l.objects }

// Compute returns the loss of the head's output against the drawn
// targets and, if grad is not nil, writes its gradient there (as long as
// out). It panics if the lengths do not fit the batch.
func (l *Loss) Compute(out, grad []float32) float64 {
	k, plane := l.classes, l.h*l.w
	per := (k + 4) * plane
	if len(out) != l.n*per || grad != nil && len(grad) != len(out) {
		panic(fmt.Sprintf("detection: CenterNet loss of an output of %d values (gradient %d) for %d images of [%d %d %d]", len(out), len(grad), l.n, k+4, l.h, l.w))
	}
	for i := range l.n {
		img := out[i*per : (i+1)*per]
		copy(l.predHeat[i*k*plane:(i+1)*k*plane], img[:k*plane])
		copy(l.predSize[i*2*plane:(i+1)*2*plane], img[k*plane:(k+2)*plane])
		copy(l.predOffset[i*2*plane:(i+1)*2*plane], img[(k+2)*plane:])
	}
	gHeat, gSize, gOffset := l.gradHeat, l.gradSize, l.gradOffset
	if grad == nil {
		gHeat, gSize, gOffset = nil, nil, nil
	}
	loss := FocalLoss(l.predHeat, l.heat, gHeat) +
		SizeWeight*RegL1Loss(l.predSize, l.size, l.mask, 2, l.n, gSize) +
		OffsetWeight*RegL1Loss(l.predOffset, l.offset, l.mask, 2, l.n, gOffset)
	if grad != nil {
		for i := range l.n {
			d := grad[i*per : (i+1)*per]
			copy(d[:k*plane], l.gradHeat[i*k*plane:(i+1)*k*plane])
			scale(d[k*plane:(k+2)*plane], l.gradSize[i*2*plane:(i+1)*2*plane], SizeWeight)
			scale(d[(k+2)*plane:], l.gradOffset[i*2*plane:(i+1)*2*plane], OffsetWeight)
		}
	}
	return loss
}

// scale sets dst to s × src.
func scale(dst, src []float32, s float32) {
	for i, x := range src {
		dst[i] = s * x
	}
}
