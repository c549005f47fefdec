package eval

import (
	"image"
	"math"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/data"
)

// objectSet is a hand-made data.ObjectSet.
type objectSet [][]data.CanvasObject

func (s objectSet) Objects(i int) ([]data.CanvasObject, error) { return s[i], nil }
func (s objectSet) ObjectClasses() int                         { return 2 }

// TestDetectionHandWorked scores decoded detections of two images whose
// AP is worked by hand. Class 1 has an object in each image; ranked by
// score its detections are a hit (0.9), a miss (0.8, on nothing) and a hit
// (0.7), so precision is 1 up to recall 0.5 and 2/3 at recall 1:
// all-point AP 0.5·1 + 0.5·2/3 = 5/6, VOC07's 11 points (6·1 + 5·2/3)/11
// = 28/33. Class 0 has no object, so its false positive changes no mean.
// A box of negative size is kept as an empty box, which hits nothing.
func TestDetectionHandWorked(t *testing.T) {
	set := objectSet{
		{{Class: 1, Box: image.Rect(2, 3, 12, 15)}},
		{{Class: 1, Box: image.Rect(20, 20, 30, 28)}},
	}
	d := NewDetection(set, []string{"zero", "one"}, 4, 3)
	row := func(x1, y1, x2, y2, score, class float32) []float32 { return []float32{x1, y1, x2, y2, score, class} }
	var rows []float32
	for _, r := range [][]float32{
		row(2, 3, 12, 15, 0.9, 1), row(40, 40, 50, 50, 0.6, 0), row(9, 9, 5, 5, 0.1, 1),
		row(20, 20, 30, 28, 0.7, 1), row(0, 0, 4, 4, 0.8, 1), row(0, 0, 0, 0, 0, 0),
	} {
		rows = append(rows, r...)
	}
	b := &data.Batch{N: 2, Indices: []int{0, 1}}
	if err := d.Add(Output{Shape: []int64{2, 3, DetectionColumns}, Data: rows}, b); err != nil {
		t.Fatal(err)
	}
	res, err := d.Result(0.5)
	if err != nil {
		t.Fatal(err)
	}
	// The detection of negative size (score 0.1) ranks last: a miss after
	// recall 1, which changes neither AP.
	if math.Abs(res.VOCAP50-5.0/6) > 1e-12 || math.Abs(res.VOC07AP50-28.0/33) > 1e-12 {
		t.Errorf("VOC AP %.12g, VOC07 AP %.12g; want 5/6 and 28/33", res.VOCAP50, res.VOC07AP50)
	}
	if res.Images != 2 || res.Objects != 2 || res.Detections != 6 || len(res.PerClass) != 1 || res.PerClass["one"] != res.VOCAP50 {
		t.Errorf("images %d, objects %d, detections %d, per class %v", res.Images, res.Objects, res.Detections, res.PerClass)
	}
	if got := d.Detections()[2].BBox; got[2] != 0 || got[3] != 0 {
		t.Errorf("the box of negative size became %v; want width and height 0", got)
	}
	if !math.IsNaN(d.Loss()) {
		t.Errorf("decoded detections carry no loss, got %g", d.Loss())
	}
	if err := d.Add(Output{Shape: []int64{2, 7}, Data: make([]float32, 14)}, b); err == nil {
		t.Error("an output of shape [2 7] was accepted")
	}
}
