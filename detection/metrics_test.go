package detection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// object is one annotation of a test truth: its image, category id, box
// and crowd flag.
type object struct {
	img, cat int64
	box      BBox
	crowd    int
}

// truthOf builds a truth with the given images, categories named cats
// (ids 1, 2, …) and objects (ids 1, 2, … in order, area w×h).
func truthOf(images []int64, cats []string, objs ...object) *Truth {
	t := &Truth{}
	for _, id := range images {
		t.Images = append(t.Images, Image{ID: id, FileName: fmt.Sprintf("%d.jpg", id), Width: 640, Height: 480})
	}
	for i, name := range cats {
		t.Categories = append(t.Categories, Category{ID: int64(i + 1), Name: name})
	}
	for i, o := range objs {
		t.Annotations = append(t.Annotations, Annotation{
			ID: int64(i + 1), ImageID: o.img, CategoryID: o.cat, BBox: o.box,
			Area: o.box[2] * o.box[3], IsCrowd: o.crowd,
		})
	}
	return t
}

// det is a detection of a test.
func det(img, cat int64, box BBox, score float64) Detection {
	return Detection{ImageID: img, CategoryID: cat, BBox: box, Score: score}
}

// TestEvaluateHandWorked pins every metric on small cases worked by hand.
// Boxes that match are copies of the object's box (IoU 1) unless said
// otherwise; boxes that miss are far away (IoU 0).
//
// Worked values used more than once, with a single object: detections
// FP then TP give recall [0 1] and precision [0 ½]; VOC07's 11 points
// each see precision ½ at recall 1, so ½; all-point: one rise 0→1 at
// envelope ½, so ½; COCO: the envelope is [½ ½] and every recall point
// lands on one of them, so ½. Detections TP then FP give recall [1 1],
// precision [1 ½], envelope [1 ½]: every recall point finds index 0, so
// 1 in all three.
func TestEvaluateHandWorked(t *testing.T) {
	a := BBox{0, 0, 10, 10}
	far := BBox{50, 50, 10, 10}
	for _, tc := range []struct {
		name  string
		truth *Truth
		dets  []Detection
		iou   float64
		// voc07, voc: VOC at iou; coco, coco50, coco75: COCO.
		voc07, voc, coco, coco50, coco75 float64
		perClass                         map[string]float64
	}{
		{
			// Every object found once: precision 1 at every recall.
			name: "perfect",
			truth: truthOf([]int64{1, 2}, []string{"a", "b"},
				object{1, 1, a, 0}, object{1, 2, BBox{20, 20, 10, 10}, 0}, object{2, 1, BBox{5, 5, 20, 20}, 0}),
			dets: []Detection{
				det(1, 1, a, 0.9), det(1, 2, BBox{20, 20, 10, 10}, 0.8), det(2, 1, BBox{5, 5, 20, 20}, 0.7),
			},
			iou:   0.5,
			voc07: 1, voc: 1, coco: 1, coco50: 1, coco75: 1,
			perClass: map[string]float64{"a": 1, "b": 1},
		},
		{
			// One detection, IoU 0: recall [0], precision [0]. VOC: no
			// recall ≥ 0.1 and precision 0 at recall 0, so 0; COCO: recall
			// point 0 finds index 0, precision 0; the rest find none.
			name:  "all wrong",
			truth: truthOf([]int64{1}, []string{"a"}, object{1, 1, a, 0}),
			dets:  []Detection{det(1, 1, far, 0.9)},
			iou:   0.5,
			voc07: 0, voc: 0, coco: 0, coco50: 0, coco75: 0,
			perClass: map[string]float64{"a": 0},
		},
		{
			// a is found (AP 1), b has no detection (AP 0 in every
			// metric): every mean is ½.
			name: "category with no detections",
			truth: truthOf([]int64{1}, []string{"a", "b"},
				object{1, 1, a, 0}, object{1, 2, BBox{20, 20, 10, 10}, 0}),
			dets:  []Detection{det(1, 1, a, 0.9)},
			iou:   0.5,
			voc07: 0.5, voc: 0.5, coco: 0.5, coco50: 0.5, coco75: 0.5,
			perClass: map[string]float64{"a": 1, "b": 0},
		},
		{
			// Category c has detections but no object: left out of every
			// mean and of per_class. Image 2 has no object: the 0.9 there
			// is a false positive before the 0.8 true one: FP then TP, ½.
			name:  "detection on an image with no truth",
			truth: truthOf([]int64{1, 2}, []string{"a", "c"}, object{1, 1, a, 0}),
			dets:  []Detection{det(2, 1, a, 0.9), det(1, 1, a, 0.8), det(1, 2, a, 0.7)},
			iou:   0.5,
			voc07: 0.5, voc: 0.5, coco: 0.5, coco50: 0.5, coco75: 0.5,
			perClass: map[string]float64{"a": 0.5},
		},
		{
			// Objects g1, g2; detections g1 (0.9), g1 again (0.8), g2 (0.7):
			// TP FP TP, recall [½ ½ 1], precision [1 ½ ⅔].
			// VOC07: t = 0…0.5 (6 points) see precision 1, t = 0.6…1 (5)
			// see ⅔: (6 + 10/3)/11 = 28/33.
			// All-point: rises 0→½ at envelope 1, ½→1 at ⅔: ½ + ⅓ = 5/6.
			// COCO, at every IoU: envelope [1 ⅔ ⅔]; recall points 0…0.50
			// (51) find index 0, 0.51…1 (50) find index 2:
			// (51 + 50·⅔)/101 = 253/303.
			name: "duplicate detections of one object",
			truth: truthOf([]int64{1}, []string{"a"},
				object{1, 1, a, 0}, object{1, 1, BBox{50, 0, 10, 10}, 0}),
			dets:  []Detection{det(1, 1, a, 0.9), det(1, 1, a, 0.8), det(1, 1, BBox{50, 0, 10, 10}, 0.7)},
			iou:   0.5,
			voc07: 28.0 / 33, voc: 5.0 / 6, coco: 253.0 / 303, coco50: 253.0 / 303, coco75: 253.0 / 303,
			perClass: map[string]float64{"a": 5.0 / 6},
		},
		{
			// Equal scores in one image: both keep the order of dets, FP
			// (far) then TP: ½ everywhere.
			name:  "tied scores in one image",
			truth: truthOf([]int64{1}, []string{"a"}, object{1, 1, a, 0}),
			dets:  []Detection{det(1, 1, far, 0.5), det(1, 1, a, 0.5)},
			iou:   0.5,
			voc07: 0.5, voc: 0.5, coco: 0.5, coco50: 0.5, coco75: 0.5,
			perClass: map[string]float64{"a": 0.5},
		},
		{
			// Equal scores in two images, the FP on image 2 listed first.
			// VOC keeps the order of dets: FP then TP, ½. COCO sorts
			// image by image in id order, then stably by score: image 1's
			// TP comes first, TP then FP, 1.
			name:  "tied scores across images",
			truth: truthOf([]int64{1, 2}, []string{"a"}, object{1, 1, a, 0}),
			dets:  []Detection{det(2, 1, a, 0.5), det(1, 1, a, 0.5)},
			iou:   0.5,
			voc07: 0.5, voc: 0.5, coco: 1, coco50: 1, coco75: 1,
			perClass: map[string]float64{"a": 0.5},
		},
		{
			// IoU 72.5/100 = 0.725: a TP at 0.50…0.70 (5 thresholds, AP 1
			// each), a FP at 0.75…0.95 (AP 0): COCO AP ½, AP75 0.
			name:  "loose box",
			truth: truthOf([]int64{1}, []string{"a"}, object{1, 1, a, 0}),
			dets:  []Detection{det(1, 1, BBox{0, 0, 10, 7.25}, 0.9)},
			iou:   0.5,
			voc07: 1, voc: 1, coco: 0.5, coco50: 1, coco75: 0,
			perClass: map[string]float64{"a": 1},
		},
		{
			// IoU exactly 50/100: matches at 0.5 (≥), so VOC 1 and COCO's
			// first threshold only: AP 1/10.
			name:  "IoU exactly at the threshold",
			truth: truthOf([]int64{1}, []string{"a"}, object{1, 1, a, 0}),
			dets:  []Detection{det(1, 1, BBox{0, 0, 10, 5}, 0.9)},
			iou:   0.5,
			voc07: 1, voc: 1, coco: 0.1, coco50: 1, coco75: 0,
			perClass: map[string]float64{"a": 1},
		},
		{
			// g1 at [0,10], g2 at [4,14]; d1 = g1 (0.9), d2 at [1,11]
			// (0.8): IoU(d2, g1) = 90/110 = 0.818, IoU(d2, g2) = 70/130 =
			// 0.538. VOC: d2's best object is g1, already matched: FP.
			// TP FP: recall [½ ½], precision [1 ½]: VOC07 6/11 (t ≤ 0.5
			// see 1), all-point ½.
			// COCO takes the best object not yet matched: g2 at 0.50
			// (≥ 0.538? yes): TP TP, AP 1; at 0.55…0.95 d2 is a FP:
			// recall points 0…0.50 (51) see 1, the rest 0: 51/101.
			// AP = (1 + 9·51/101)/10 = 56/101.
			name: "best object already matched",
			truth: truthOf([]int64{1}, []string{"a"},
				object{1, 1, a, 0}, object{1, 1, BBox{4, 0, 10, 10}, 0}),
			dets:  []Detection{det(1, 1, a, 0.9), det(1, 1, BBox{1, 0, 10, 10}, 0.8)},
			iou:   0.5,
			voc07: 6.0 / 11, voc: 0.5, coco: 56.0 / 101, coco50: 1, coco75: 51.0 / 101,
			perClass: map[string]float64{"a": 0.5},
		},
		{
			// g1 at [0,10], g2 at [4,14]; d1 at [2,12] (0.9) overlaps both
			// by 80/120 = ⅔ exactly; d2 = g2 (0.8), IoU(d2, g1) = 60/140.
			// VOC: d1 takes the first of equals, g1; d2 takes g2: TP TP,
			// 1 and 1.
			// COCO: d1 takes the last of equals, g2, wherever ⅔ ≥ t
			// (0.50…0.65, 4 thresholds); d2 then finds g2 taken and g1
			// too far: TP FP, recall points 0…0.50 see 1: 51/101. At
			// 0.70…0.95 (6) d1 is a FP and d2 a TP: recall [0 ½],
			// precision [0 ½], envelope ½ for points 0…0.50: 25.5/101.
			// AP = (4·51 + 6·25.5)/1010 = 357/1010.
			name: "equal IoU with two objects",
			truth: truthOf([]int64{1}, []string{"a"},
				object{1, 1, a, 0}, object{1, 1, BBox{4, 0, 10, 10}, 0}),
			dets:  []Detection{det(1, 1, BBox{2, 0, 10, 10}, 0.9), det(1, 1, BBox{4, 0, 10, 10}, 0.8)},
			iou:   0.5,
			voc07: 1, voc: 1, coco: 357.0 / 1010, coco50: 51.0 / 101, coco75: 25.5 / 101,
			perClass: map[string]float64{"a": 1},
		},
		{
			// 10 objects in a row, 3 found: recall [0.1 0.2 0.3] at
			// precision 1. VOC07's points are np.arange's: the fourth is
			// 0.30000000000000004, above the recall 3/10, so only 0, 0.1
			// and 0.2 see precision 1: 3/11. All-point: 0.3. COCO's
			// recall point 0.30 is 0.3 exactly: points 0…0.30 (31) see 1:
			// 31/101.
			name:  "recall 3/10 against the 11 points",
			truth: truthOf([]int64{1}, []string{"a"}, row(10)...),
			dets:  found(3),
			iou:   0.5,
			voc07: 3.0 / 11, voc: 0.3, coco: 31.0 / 101, coco50: 31.0 / 101, coco75: 31.0 / 101,
			perClass: map[string]float64{"a": 0.3},
		},
		{
			// 20 objects in a row, 7 found: recall 0.05…0.35 at precision
			// 1. VOC07: points 0…0.3 (4) see 1: 4/11. All-point: 0.35.
			// COCO's recall point 0.35 is np.linspace's
			// 0.35000000000000003, above 7/20: points 0…0.34 (35) see 1:
			// 35/101.
			name:  "recall 7/20 against the 101 points",
			truth: truthOf([]int64{1}, []string{"a"}, row(20)...),
			dets:  found(7),
			iou:   0.5,
			voc07: 4.0 / 11, voc: 0.35, coco: 35.0 / 101, coco50: 35.0 / 101, coco75: 35.0 / 101,
			perClass: map[string]float64{"a": 0.35},
		},
		{
			// g1 ordinary, g2 a crowd [20,0,100,100]; d1 = g1 (0.9), d2
			// [30,10,10,10] inside the crowd (0.8).
			// VOC counts the crowd as an object: 2 objects, d2's IoU with
			// it 100/10000 < ½: TP FP, recall [½ ½], precision [1 ½]:
			// VOC07 6/11, all-point ½.
			// COCO ignores the crowd: d2's IoU with it is 100/100 (its own
			// area), so d2 is matched to it and ignored; one object, one
			// TP: 1.
			name: "crowd",
			truth: truthOf([]int64{1}, []string{"a"},
				object{1, 1, a, 0}, object{1, 1, BBox{20, 0, 100, 100}, 1}),
			dets:  []Detection{det(1, 1, a, 0.9), det(1, 1, BBox{30, 10, 10, 10}, 0.8)},
			iou:   0.5,
			voc07: 6.0 / 11, voc: 0.5, coco: 1, coco50: 1, coco75: 1,
			perClass: map[string]float64{"a": 0.5},
		},
		{
			// 100 false positives at 0.9, then the true one at 0.1. VOC
			// keeps all 101: recall reaches 1 at precision 1/101, which
			// every point and the one rise see: 1/101. COCO keeps 100 per
			// image and category: the TP is dropped, AP 0.
			name:  "more than 100 detections in an image",
			truth: truthOf([]int64{1}, []string{"a"}, object{1, 1, a, 0}),
			dets: append(repeat(det(1, 1, far, 0.9), 100),
				det(1, 1, a, 0.1)),
			iou:   0.5,
			voc07: 1.0 / 101, voc: 1.0 / 101, coco: 0, coco50: 0, coco75: 0,
			perClass: map[string]float64{"a": 1.0 / 101},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Evaluate(tc.truth, tc.dets, tc.iou)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				key       string
				got, want float64
			}{
				{"voc07_ap50", r.VOC07AP50, tc.voc07},
				{"voc_ap50", r.VOCAP50, tc.voc},
				{"coco_ap", r.COCOAP, tc.coco},
				{"coco_ap50", r.COCOAP50, tc.coco50},
				{"coco_ap75", r.COCOAP75, tc.coco75},
			} {
				if math.Abs(c.got-c.want) > 1e-12 {
					t.Errorf("%s = %.15g, want %.15g", c.key, c.got, c.want)
				}
			}
			if len(r.PerClass) != len(tc.perClass) {
				t.Errorf("per_class = %v, want %v", r.PerClass, tc.perClass)
			}
			for name, want := range tc.perClass {
				if got, ok := r.PerClass[name]; !ok || math.Abs(got-want) > 1e-12 {
					t.Errorf("per_class[%s] = %v, want %v", name, got, want)
				}
			}
			if r.Images != len(tc.truth.Images) || r.Objects != len(tc.truth.Annotations) || r.Detections != len(tc.dets) {
				t.Errorf("counts %d %d %d, want %d %d %d", r.Images, r.Objects, r.Detections,
					len(tc.truth.Images), len(tc.truth.Annotations), len(tc.dets))
			}
		})
	}
}

// row is n objects of category 1 in image 1, 10×10 boxes 20 apart.
func row(n int) []object {
	objs := make([]object, n)
	for i := range objs {
		objs[i] = object{1, 1, BBox{float64(20 * i), 0, 10, 10}, 0}
	}
	return objs
}

// found is exact detections of the first n objects of row, scores
// decreasing.
func found(n int) []Detection {
	dets := make([]Detection, n)
	for i, o := range row(n) {
		dets[i] = det(o.img, o.cat, o.box, 1-float64(i)/100)
	}
	return dets
}

// repeat is n copies of d.
func repeat(d Detection, n int) []Detection {
	out := make([]Detection, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// Rafael Padilla's worked example of the VOC metric (README of
// github.com/rafaelpadilla/Object-Detection-Metrics, and "A Survey on
// Performance Metrics for Object-Detection Algorithms", 2020): 7 images,
// 15 objects, 24 detections, one class. The boxes are the repository's
// groundtruths/0000N.txt and detections/0000N.txt ("person [score] x y w
// h"), image N there being image N here, detections in file order.
var (
	padillaObjects = [][]BBox{
		1: {{25, 16, 38, 56}, {129, 123, 41, 62}},
		2: {{123, 11, 43, 55}, {38, 132, 59, 45}},
		3: {{16, 14, 35, 48}, {123, 30, 49, 44}, {99, 139, 47, 47}},
		4: {{53, 42, 40, 52}, {154, 43, 31, 34}},
		5: {{59, 31, 44, 51}, {48, 128, 34, 52}},
		6: {{36, 89, 52, 76}, {62, 58, 44, 67}},
		7: {{28, 31, 55, 63}, {58, 67, 50, 58}},
	}
	padillaDetections = []Detection{
		det(1, 1, BBox{5, 67, 31, 48}, .88), det(1, 1, BBox{119, 111, 40, 67}, .70), det(1, 1, BBox{124, 9, 49, 67}, .80),
		det(2, 1, BBox{64, 111, 64, 58}, .71), det(2, 1, BBox{26, 140, 60, 47}, .54), det(2, 1, BBox{19, 18, 43, 35}, .74),
		det(3, 1, BBox{109, 15, 77, 39}, .18), det(3, 1, BBox{86, 63, 46, 45}, .67), det(3, 1, BBox{160, 62, 36, 53}, .38),
		det(3, 1, BBox{105, 131, 47, 47}, .91), det(3, 1, BBox{18, 148, 40, 44}, .44),
		det(4, 1, BBox{83, 28, 28, 26}, .35), det(4, 1, BBox{28, 68, 42, 67}, .78), det(4, 1, BBox{87, 89, 25, 39}, .45),
		det(4, 1, BBox{10, 155, 60, 26}, .14),
		det(5, 1, BBox{50, 38, 28, 46}, .62), det(5, 1, BBox{95, 11, 53, 28}, .44), det(5, 1, BBox{29, 131, 72, 29}, .95),
		det(5, 1, BBox{29, 163, 72, 29}, .23),
		det(6, 1, BBox{43, 48, 74, 38}, .45), det(6, 1, BBox{17, 155, 29, 35}, .84), det(6, 1, BBox{95, 110, 25, 42}, .43),
		det(7, 1, BBox{16, 20, 101, 88}, .48), det(7, 1, BBox{33, 116, 37, 49}, .95),
	}
)

// padillaTruth is the example's ground truth.
func padillaTruth() *Truth {
	var objs []object
	for img, boxes := range padillaObjects {
		for _, b := range boxes {
			objs = append(objs, object{int64(img), 1, b, 0})
		}
	}
	return truthOf([]int64{1, 2, 3, 4, 5, 6, 7}, []string{"person"}, objs...)
}

// TestEvaluatePadilla checks the published worked example.
//
// Padilla's table of TP and FP is at IoU ≥ 30% with pixel-counting IoU
// (lib/Evaluator.py adds 1 to widths and heights). In continuous
// coordinates, as here, every IoU of the example is at least 0.31 or at
// most 0.28 except detection G's (0.18, image 3): 0.2953 here, 0.3026
// there. A threshold of 0.29 therefore gives the published table exactly:
// sorted by score the detections go R Y J A U C M F D B H P E X N T K Q V
// I L S G O, the true positives being R J B P E X G, over 15 objects.
//
//   - 11-point: precision 1 up to recall 1/15; the best at recall ≥ 0.1
//     is ⅔ (J); at ≥ 0.2, 0.3 and 0.4, 6/14 = 3/7 (X); none at ≥ 0.5:
//     (1 + ⅔ + 3·3/7)/11 = 62/231 = 0.268398, published as 26.84%.
//   - all-point: 1/15·1 + 1/15·⅔ + 4/15·3/7 + 1/15·7/23 (G) = 0.245687,
//     published as 24.56% in the README (its sum of rounded terms) and as
//     24.57% in results/results.txt.
//
// At the threshold 0.30, G is a false positive here: the last term goes
// and the all-point AP is 1/15 + 2/45 + 4/35 = 0.225397, the 11-point
// unchanged.
func TestEvaluatePadilla(t *testing.T) {
	for _, tc := range []struct {
		iou                    float64
		voc07, voc             float64
		published07, published []float64
	}{
		{0.29, 62.0 / 231, 1.0/15 + 2.0/45 + 4.0/35 + 7.0/345, []float64{0.2684}, []float64{0.2456, 0.2457}},
		{0.30, 62.0 / 231, 1.0/15 + 2.0/45 + 4.0/35, nil, nil},
	} {
		r, err := Evaluate(padillaTruth(), padillaDetections, tc.iou)
		if err != nil {
			t.Fatal(err)
		}
		if r.Objects != 15 || r.Detections != 24 || r.Images != 7 {
			t.Fatalf("counts %d images, %d objects, %d detections; want 7, 15, 24", r.Images, r.Objects, r.Detections)
		}
		if math.Abs(r.VOC07AP50-tc.voc07) > 1e-12 || math.Abs(r.VOCAP50-tc.voc) > 1e-12 {
			t.Errorf("iou %v: VOC07 %.15g, all-point %.15g; want %.15g, %.15g", tc.iou, r.VOC07AP50, r.VOCAP50, tc.voc07, tc.voc)
		}
		for _, p := range tc.published07 {
			if math.Abs(r.VOC07AP50-p) > 1e-4 {
				t.Errorf("iou %v: VOC07 %.6f, published %.4f", tc.iou, r.VOC07AP50, p)
			}
		}
		for _, p := range tc.published {
			if math.Abs(r.VOCAP50-p) > 1e-4 {
				t.Errorf("iou %v: all-point %.6f, published %.4f", tc.iou, r.VOCAP50, p)
			}
		}
	}
}

// TestEvaluateRefusals checks each refusal's one-line message.
func TestEvaluateRefusals(t *testing.T) {
	good := func() *Truth { return truthOf([]int64{1}, []string{"a"}, object{1, 1, BBox{0, 0, 10, 10}, 0}) }
	ok := []Detection{det(1, 1, BBox{0, 0, 10, 10}, 0.9)}
	for _, tc := range []struct {
		name  string
		truth *Truth
		dets  []Detection
		iou   float64
		want  string
	}{
		{"iou 0", good(), ok, 0, "iou 0: expected a threshold above 0 and at most 1"},
		{"iou above 1", good(), ok, 1.5, "iou 1.5: expected a threshold above 0 and at most 1"},
		{"iou NaN", good(), ok, math.NaN(), "iou NaN: expected a threshold above 0 and at most 1"},
		{"no truth", nil, ok, 0.5, "no truth to evaluate against"},
		{"no objects", truthOf([]int64{1}, []string{"a"}), ok, 0.5,
			"truth: no annotations: average precision needs at least one object"},
		{"unknown image", good(), []Detection{ok[0], ok[0], ok[0], det(99, 1, BBox{0, 0, 1, 1}, 0.5)}, 0.5,
			"detection 3: image_id 99 is not an image of the truth"},
		{"unknown category", good(), []Detection{det(1, 4, BBox{0, 0, 1, 1}, 0.5)}, 0.5,
			"detection 0: category_id 4 is not a category of the truth"},
		{"NaN score", good(), []Detection{det(1, 1, BBox{0, 0, 1, 1}, math.NaN())}, 0.5,
			"detection 0: score NaN: expected a finite number"},
		{"negative height", good(), []Detection{det(1, 1, BBox{1, 2, 3, -4}, 0.5)}, 0.5,
			"detection 0: bbox [1 2 3 -4]: expected a width and height of 0 or more"},
		{"infinite box", good(), []Detection{det(1, 1, BBox{math.Inf(1), 2, 3, 4}, 0.5)}, 0.5,
			"detection 0: bbox [+Inf 2 3 4]: expected finite numbers"},
		{"invalid truth", truthOf([]int64{1}, []string{"a"}, object{1, 1, BBox{1, 2, -3, 4}, 0}), ok, 0.5,
			"truth: annotation 1: bbox [1 2 -3 4]: expected a width and height of 0 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(tc.truth, tc.dets, tc.iou)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestEvaluateNoOrdinaryObject: a truth of crowds only has VOC APs but no
// COCO AP, which COCOeval reports as -1.
func TestEvaluateNoOrdinaryObject(t *testing.T) {
	truth := truthOf([]int64{1}, []string{"a"}, object{1, 1, BBox{0, 0, 10, 10}, 1})
	r, err := Evaluate(truth, []Detection{det(1, 1, BBox{0, 0, 10, 10}, 0.9)}, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if r.VOCAP50 != 1 || r.COCOAP != -1 || r.COCOAP50 != -1 || r.COCOAP75 != -1 {
		t.Errorf("VOC %v, COCO %v %v %v; want 1, -1 -1 -1", r.VOCAP50, r.COCOAP, r.COCOAP50, r.COCOAP75)
	}
}

// TestResultJSONAndText pins the JSON keys and the text table.
func TestResultJSONAndText(t *testing.T) {
	r, err := Evaluate(padillaTruth(), padillaDetections, 0.29)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	want := "coco_ap coco_ap50 coco_ap75 detections images objects per_class voc07_ap50 voc_ap50"
	if g := strings.Join(slices.Sorted(maps.Keys(keys)), " "); g != want {
		t.Errorf("JSON keys %q, want %q", g, want)
	}
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`images 7, objects 15, detections 24

metric                    AP
VOC07 11-point, IoU 0.29  0.2684
VOC all-point, IoU 0.29   0.2457
COCO, IoU 0.50:0.95       %.4f
COCO, IoU 0.50            %.4f
COCO, IoU 0.75            %.4f

category  AP (VOC all-point, IoU 0.29)
person    0.2457
`, r.COCOAP, r.COCOAP50, r.COCOAP75)
	if buf.String() != text {
		t.Errorf("text:\n%s\nwant:\n%s", buf.String(), text)
	}
}

// randomCase makes a truth and detections to compare implementations on:
// images with ids out of order, four categories (one with no object),
// crowds, integer boxes (so that IoUs tie and land on thresholds), scores
// in steps of 0.05 (so that they tie), near and far detections, and one
// image with more than 100 detections of a category.
func randomCase(seed uint64) (*Truth, []Detection) {
	rng := rand.New(rand.NewPCG(seed, 7))
	truth := &Truth{Categories: []Category{{ID: 3, Name: "cat"}, {ID: 1, Name: "dog"}, {ID: 7, Name: "bird"}, {ID: 5, Name: "none"}}}
	var dets []Detection
	score := func() float64 { return float64(1+rng.IntN(20)) * 0.05 }
	n := int64(1)
	for i := range 12 {
		img := int64(100 - 7*i)
		truth.Images = append(truth.Images, Image{ID: img, FileName: fmt.Sprint(img, ".jpg"), Width: 256, Height: 256})
		for range rng.IntN(7) {
			cat := []int64{3, 1, 7}[rng.IntN(3)]
			b := BBox{float64(rng.IntN(200)), float64(rng.IntN(200)), float64(5 + rng.IntN(60)), float64(5 + rng.IntN(60))}
			crowd := 0
			if rng.IntN(10) == 0 {
				crowd = 1
			}
			truth.Annotations = append(truth.Annotations, Annotation{ID: n, ImageID: img, CategoryID: cat, BBox: b,
				Area: math.Round(b[2] * b[3] * (0.5 + rng.Float64()/2)), IsCrowd: crowd})
			n++
			for range rng.IntN(4) {
				j := func(v float64) float64 { return float64(rng.IntN(int(v/3)+1) - int(v/6)) }
				d := BBox{b[0] + j(b[2]), b[1] + j(b[3]), max(1, b[2]+j(b[2])), max(1, b[3]+j(b[3]))}
				c := cat
				if rng.IntN(8) == 0 {
					c = []int64{3, 1, 7, 5}[rng.IntN(4)]
				}
				dets = append(dets, det(img, c, d, score()))
			}
		}
		for range rng.IntN(4) {
			b := BBox{float64(rng.IntN(200)), float64(rng.IntN(200)), float64(5 + rng.IntN(60)), float64(5 + rng.IntN(60))}
			dets = append(dets, det(img, []int64{3, 1, 7, 5}[rng.IntN(4)], b, score()))
		}
	}
	// Image 100 gets 110 more detections of category 3 around one box.
	for range 110 {
		b := BBox{float64(40 + rng.IntN(20)), float64(40 + rng.IntN(20)), float64(20 + rng.IntN(20)), float64(20 + rng.IntN(20))}
		dets = append(dets, det(100, 3, b, score()))
	}
	truth.Annotations = append(truth.Annotations, Annotation{ID: n, ImageID: 100, CategoryID: 3, BBox: BBox{45, 45, 30, 30}, Area: 900})
	// Shuffle the detections so that their order is not the images'.
	rng.Shuffle(len(dets), func(i, j int) { dets[i], dets[j] = dets[j], dets[i] })
	return truth, dets
}

// numpyEval implements the definitions Evaluate documents, independently,
// in numpy: python3 numpyEval truth.json results.json iou prints the
// Result's JSON.
const numpyEval = `
import json, sys
import numpy as np

truth = json.load(open(sys.argv[1]))
dets = json.load(open(sys.argv[2]))
thr = float(sys.argv[3])
anns = truth["annotations"]
img_ids = sorted(im["id"] for im in truth["images"])

def ious(d, g, crowd):
    """IoU of boxes d (D x 4) against g (G x 4), [x y w h] continuous, as
    pycocotools' bbIou; for a crowd g, over d's area alone."""
    d = np.asarray(d, float).reshape(-1, 4)
    g = np.asarray(g, float).reshape(-1, 4)
    iw = np.minimum(d[:, None, 2] + d[:, None, 0], g[None, :, 2] + g[None, :, 0]) - np.maximum(d[:, None, 0], g[None, :, 0])
    ih = np.minimum(d[:, None, 3] + d[:, None, 1], g[None, :, 3] + g[None, :, 1]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = iw * ih
    da = (d[:, 2] * d[:, 3])[:, None]
    ga = (g[:, 2] * g[:, 3])[None, :]
    union = np.where(np.asarray(crowd, bool)[None, :], da, da + ga - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((iw > 0) & (ih > 0), inter / union, 0.0)

def voc(cat):
    gts = {}
    for a in anns:
        if a["category_id"] == cat:
            gts.setdefault(a["image_id"], []).append(a["bbox"])
    npos = sum(len(v) for v in gts.values())
    ds = [d for d in dets if d["category_id"] == cat]
    order = np.argsort([-d["score"] for d in ds], kind="stable")
    used = {k: np.zeros(len(v), bool) for k, v in gts.items()}
    tp = np.zeros(len(ds))
    for k, i in enumerate(order):
        d = ds[i]
        g = gts.get(d["image_id"])
        if g is None:
            continue
        ov = ious([d["bbox"]], g, [False] * len(g))[0]
        j = int(np.argmax(ov))
        if ov[j] >= thr and not used[d["image_id"]][j]:
            tp[k] = 1
            used[d["image_id"]][j] = True
    fp = np.cumsum(1 - tp)
    tp = np.cumsum(tp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    ap07 = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        p = np.max(prec[rec >= t]) if np.sum(rec >= t) > 0 else 0.0
        ap07 += p / 11.0
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return ap07, float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))

T = np.linspace(0.5, 0.95, 10)
R = np.linspace(0.0, 1.0, 101)

def coco(cat):
    """Precision at T x R, or None when the category has no object that is
    not ignored."""
    scores, matched, ignored = [], [], []
    npig = 0
    for img in img_ids:
        g = [a for a in anns if a["image_id"] == img and a["category_id"] == cat]
        d = [x for x in dets if x["image_id"] == img and x["category_id"] == cat]
        if not g and not d:
            continue
        gig = np.array([a.get("iscrowd", 0) == 1 or a["area"] > 1e10 for a in g], bool)
        go = np.argsort(gig, kind="stable")
        g = [g[i] for i in go]
        gig = gig[go]
        crowd = np.array([a.get("iscrowd", 0) == 1 for a in g], bool)
        npig += int(np.sum(~gig))
        do = np.argsort([-x["score"] for x in d], kind="stable")[:100]
        d = [d[i] for i in do]
        ov = ious([x["bbox"] for x in d], [a["bbox"] for a in g], crowd)
        m = np.zeros((len(T), len(d)), bool)
        ig = np.zeros((len(T), len(d)), bool)
        for ti, t in enumerate(T):
            taken = np.zeros(len(g), bool)
            for k in range(len(d)):
                ok = (~taken | crowd) & (ov[k] >= min(t, 1 - 1e-10))
                # The best ordinary object, else the best ignored one; the
                # last of equals.
                for pool in (ok & ~gig, ok & gig):
                    if pool.any():
                        cand = np.where(pool)[0]
                        best = cand[ov[k][cand] == ov[k][cand].max()][-1]
                        m[ti, k] = True
                        ig[ti, k] = gig[best]
                        taken[best] = True
                        break
        area = np.array([x["bbox"][2] * x["bbox"][3] for x in d]) if d else np.zeros(0)
        ig |= ~m & (area > 1e10)[None, :]
        scores += [x["score"] for x in d]
        matched.append(m)
        ignored.append(ig)
    if npig == 0:
        return None
    order = np.argsort(-np.array(scores), kind="mergesort")
    m = np.concatenate(matched, axis=1)[:, order]
    ig = np.concatenate(ignored, axis=1)[:, order]
    tps = np.cumsum(m & ~ig, axis=1).astype(float)
    fps = np.cumsum(~m & ~ig, axis=1).astype(float)
    q = np.zeros((len(T), len(R)))
    for t in range(len(T)):
        rc = tps[t] / npig
        pr = tps[t] / (fps[t] + tps[t] + np.spacing(1))
        pr = np.maximum.accumulate(pr[::-1])[::-1]
        idx = np.searchsorted(rc, R, side="left")
        q[t] = [pr[i] if i < len(pr) else 0.0 for i in idx]
    return q

out = {"per_class": {}, "images": len(truth["images"]), "objects": len(anns), "detections": len(dets)}
v07, v, qs = [], [], []
for c in truth["categories"]:
    if not any(a["category_id"] == c["id"] for a in anns):
        continue
    a07, a = voc(c["id"])
    v07.append(a07)
    v.append(a)
    out["per_class"][c["name"]] = a
    q = coco(c["id"])
    if q is not None:
        qs.append(q)
out["voc07_ap50"] = float(np.mean(v07))
out["voc_ap50"] = float(np.mean(v))
if qs:
    s = np.stack(qs, axis=2)
    out["coco_ap"] = float(np.mean(s))
    out["coco_ap50"] = float(np.mean(s[0]))
    out["coco_ap75"] = float(np.mean(s[5]))
else:
    out["coco_ap"] = out["coco_ap50"] = out["coco_ap75"] = -1.0
print(json.dumps(out))
`

// cocoEval runs pycocotools' COCOeval: python3 cocoEval truth.json
// results.json prints {"coco_ap", "coco_ap50", "coco_ap75"}.
const cocoEval = `
import contextlib, io, json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1])
    dt = gt.loadRes(sys.argv[2])
    e = COCOeval(gt, dt, "bbox")
    e.evaluate()
    e.accumulate()
    e.summarize()
print(json.dumps({"coco_ap": e.stats[0], "coco_ap50": e.stats[1], "coco_ap75": e.stats[2]}))
`

// runPython runs script with args under python and decodes the JSON it
// prints into a map.
func runPython(t *testing.T, python, script string, args ...string) map[string]any {
	t.Helper()
	out, err := exec.Command(python, append([]string{"-c", script}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s", python, err, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("python printed %q: %v", out, err)
	}
	return m
}

// TestEvaluateAgainstNumpy compares every key of Evaluate's result with an
// independent numpy implementation of the same definitions, on random
// cases and on Padilla's example, and, where pycocotools is installed,
// the COCO keys with COCOeval itself.
func TestEvaluateAgainstNumpy(t *testing.T) {
	python := testenv.RequirePython(t, "numpy")
	haveCOCO := exec.Command(python, "-c", "import pycocotools.cocoeval").Run() == nil
	if !haveCOCO {
		t.Log("pycocotools is not importable: COCOeval itself is not compared")
	}
	type testCase struct {
		name  string
		truth *Truth
		dets  []Detection
		iou   float64
	}
	var cases []testCase
	for seed := range uint64(3) {
		truth, dets := randomCase(seed)
		cases = append(cases, testCase{fmt.Sprint("seed ", seed), truth, dets, []float64{0.5, 0.7, 0.35}[seed]})
	}
	cases = append(cases, testCase{"padilla", padillaTruth(), padillaDetections, 0.3})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			truthPath, detsPath := filepath.Join(dir, "truth.json"), filepath.Join(dir, "results.json")
			if err := WriteTruth(truthPath, tc.truth); err != nil {
				t.Fatal(err)
			}
			if err := WriteDetections(detsPath, tc.dets); err != nil {
				t.Fatal(err)
			}
			r, err := Evaluate(tc.truth, tc.dets, tc.iou)
			if err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			want := runPython(t, python, numpyEval, truthPath, detsPath, fmt.Sprint(tc.iou))
			compareJSON(t, "numpy", got, want)
			if haveCOCO {
				want := runPython(t, python, cocoEval, truthPath, detsPath)
				for k := range want {
					compareJSON(t, "COCOeval", map[string]any{k: got[k]}, map[string]any{k: want[k]})
				}
			}
		})
	}
}

// compareJSON checks that got and want hold the same keys with numbers
// equal to 1e-9, maps compared key by key.
func compareJSON(t *testing.T, source string, got, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("keys %v, %s has %v", slices.Sorted(maps.Keys(got)), source, slices.Sorted(maps.Keys(want)))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing, %s has %v", k, source, w)
			continue
		}
		if wm, ok := w.(map[string]any); ok {
			gm, _ := g.(map[string]any)
			for name, wv := range wm {
				gv, _ := gm[name].(float64)
				if math.Abs(gv-wv.(float64)) > 1e-9 {
					t.Errorf("%s[%s] = %.15g, %s %.15g", k, name, gv, source, wv)
				}
			}
			if len(gm) != len(wm) {
				t.Errorf("%s has %v, %s %v", k, slices.Sorted(maps.Keys(gm)), source, slices.Sorted(maps.Keys(wm)))
			}
			continue
		}
		if gv, _ := g.(float64); math.Abs(gv-w.(float64)) > 1e-9 {
			t.Errorf("%s = %.15g, %s %.15g", k, gv, source, w)
		}
	}
}
