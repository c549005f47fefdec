package eval

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/bot-onnx/bot-onnx/detection"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// DetectionColumns is the width of a row of decoded detections in an
// Output of shape [N, K, DetectionColumns]: x1, y1, x2, y2 (input pixels),
// score, class.
const DetectionColumns = 6

// Detection scores a detector against the objects of a test split: every
// image's detections are collected with its truth, and Result computes
// package detection's metrics (VOC07 and VOC AP at an IoU, COCO's AP) over
// the whole split. It reads either a CenterNet head's raw output
// [N, classes+4, h, w] (package detection's layout), which it decodes as
// the exported detector's graph does (detection.Decode, TopK best) and on
// which it also measures CenterNet's loss, or detections already decoded,
// [N, K, DetectionColumns], as ORTDetector packs an exported detector's
// outputs. Make one with NewDetection.
type Detection struct {
	objects      data.ObjectSet
	stride, topK int
	truth        detection.Truth
	dets         []detection.Detection
	// losses are CenterNet's loss by batch size; lossSum the batches'
	// losses weighted by their objects, over lossObjects objects.
	losses      map[int]*detection.Loss
	lossSum     float64
	lossObjects int
	decoded     bool
}

// NewDetection returns an empty score over the objects of a test split
// (by the indices its batches carry), for a head of stride input pixels a
// cell whose detections are decoded topK best; classNames name the
// objects' classes (nil: their numbers).
func NewDetection(objects data.ObjectSet, classNames []string, stride, topK int) *Detection {
	d := &Detection{objects: objects, stride: stride, topK: topK, losses: map[int]*detection.Loss{}}
	for k := range objects.ObjectClasses() {
		name := strconv.Itoa(k)
		if k < len(classNames) {
			name = classNames[k]
		}
		d.truth.Categories = append(d.truth.Categories, detection.Category{ID: int64(k), Name: name})
	}
	return d
}

// Add collects the detections and truth of a batch.
func (d *Detection) Add(out Output, b *data.Batch) error {
	s := out.Shape
	if len(s) != 4 && !(len(s) == 3 && s[2] == DetectionColumns) {
		return fmt.Errorf("eval: output of shape %v: expected a CenterNet head's [N %d H W] or decoded detections [N K %d]", s, d.objects.ObjectClasses()+4, DetectionColumns)
	}
	if len(b.Indices) < b.N {
		return fmt.Errorf("eval: a batch of %d images carries %d indices; detection needs each image's index for its objects", b.N, len(b.Indices))
	}
	truth := make([][]detection.Object, b.N)
	for i, index := range b.Indices[:b.N] {
		objs, err := d.objects.Objects(index)
		if err != nil {
			return err
		}
		id := int64(index)
		d.truth.Images = append(d.truth.Images, detection.Image{ID: id, FileName: strconv.Itoa(index)})
		for _, o := range objs {
			r := o.Box
			d.truth.Annotations = append(d.truth.Annotations, detection.Annotation{ID: int64(len(d.truth.Annotations) + 1), ImageID: id, CategoryID: int64(o.Class),
				BBox: detection.BBox{float64(r.Min.X), float64(r.Min.Y), float64(r.Dx()), float64(r.Dy())}, Area: float64(r.Dx() * r.Dy())})
			truth[i] = append(truth[i], o.Object())
		}
	}
	if len(s) == 4 {
		return d.addHead(out, b, truth)
	}
	d.decoded = true
	per := int(s[1]) * DetectionColumns
	for i := range b.N {
		for r := range slices.Chunk(out.Data[i*per:(i+1)*per], DetectionColumns) {
			d.add(b.Indices[i], detection.Det{X1: r[0], Y1: r[1], X2: r[2], Y2: r[3], Score: r[4], Class: int(r[5])})
		}
	}
	return nil
}

// addHead decodes a head's output and measures its loss against truth.
func (d *Detection) addHead(out Output, b *data.Batch, truth [][]detection.Object) error {
	k := d.objects.ObjectClasses()
	c, h, w := int(out.Shape[1]), int(out.Shape[2]), int(out.Shape[3])
	if c != k+4 {
		return fmt.Errorf("eval: a CenterNet head of %d channels for %d classes: expected %d (heatmap, size, offset)", c, k, k+4)
	}
	plane := h * w
	for i := range b.N {
		img := out.Data[i*c*plane : (i+1)*c*plane]
		for _, det := range detection.Decode(img[:k*plane], img[k*plane:(k+2)*plane], img[(k+2)*plane:], k, h, w, d.stride, d.topK) {
			d.add(b.Indices[i], det)
		}
	}
	l := d.losses[b.N]
	if l == nil {
		l = detection.NewLoss(k, b.N, h, w, d.stride)
		d.losses[b.N] = l
	}
	objects, err := l.Draw(truth)
	if err != nil {
		return err
	}
	d.lossSum += float64(objects) * l.Compute(out.Data[:b.N*c*plane], nil)
	d.lossObjects += objects
	return nil
}

// add keeps one decoded detection of image index. A box whose predicted
// size is negative (x2 < x1 or y2 < y1, which nothing in the head rules
// out) is kept with a width or height of 0: it overlaps nothing.
func (d *Detection) add(index int, det detection.Det) {
	d.dets = append(d.dets, detection.Detection{ImageID: int64(index), CategoryID: int64(det.Class), Score: float64(det.Score),
		BBox: detection.BBox{float64(det.X1), float64(det.Y1), max(0, float64(det.X2-det.X1)), max(0, float64(det.Y2-det.Y1))}})
}

// Result returns the metrics of everything added, VOC's at IoU.
func (d *Detection) Result(iou float64) (*detection.Result, error) {
	return detection.Evaluate(&d.truth, d.dets, iou)
}

// Loss returns the mean CenterNet loss per object over the batches of a
// head's raw output (each batch's loss, normalised by its objects as the
// trainer's is, weighted by them); NaN for decoded detections, which
// carry no loss.
func (d *Detection) Loss() float64 {
	if d.decoded || d.lossObjects == 0 {
		return math.NaN()
	}
	return d.lossSum / float64(d.lossObjects)
}

// Truth returns the truth collected so far, as a COCO instances file
// holds it, and Detections the detections, as a COCO results file lists
// them.
func (d *Detection) Truth() *detection.Truth { return &d.truth }

// Detections returns the detections collected so far.
func (d *Detection) Detections() []detection.Detection { return d.dets }

// ORTDetector is an exported detector run by ONNX Runtime (export's
// AppendDetectorDecode: outputs boxes [N K 4], scores [N K], classes
// [N K] of int64), its three outputs packed into one Output [N, K,
// DetectionColumns] for Detection.
type ORTDetector struct {
	Session *ort.Session
	packed  []float32
}

// Batch returns the fixed batch size of the session's input, or 0.
func (m *ORTDetector) Batch() int { return ORT{Session: m.Session}.Batch() }

// Run runs the detector and packs its outputs.
func (m *ORTDetector) Run(images []float32, shape []int64) (Output, error) {
	outs, err := m.Session.Run(ort.Tensor{Shape: shape, Data: images})
	if err != nil {
		return Output{}, err
	}
	names := m.Session.Outputs()
	byName := map[string]ort.Tensor{}
	for i, o := range outs {
		byName[names[i].Name] = o
	}
	boxes, scores, classes := byName["boxes"], byName["scores"], byName["classes"]
	if len(boxes.Shape) != 3 || boxes.Shape[2] != 4 || len(scores.Shape) != 2 || !slices.Equal(classes.Shape, scores.Shape) || classes.Ints == nil ||
		!slices.Equal(boxes.Shape[:2], scores.Shape) {
		return Output{}, fmt.Errorf("eval: expected a detector's outputs boxes [N K 4], scores [N K] and classes [N K] (int64), found %v, %v and %v",
			boxes.Shape, scores.Shape, classes.Shape)
	}
	n, k := int(scores.Shape[0]), int(scores.Shape[1])
	m.packed = slices.Grow(m.packed[:0], n*k*DetectionColumns)[:n*k*DetectionColumns]
	for i := range n * k {
		row := m.packed[i*DetectionColumns : (i+1)*DetectionColumns]
		copy(row, boxes.Data[i*4:(i+1)*4])
		row[4], row[5] = scores.Data[i], float32(classes.Ints[i])
	}
	return Output{Shape: []int64{int64(n), int64(k), DetectionColumns}, Data: m.packed}, nil
}
