package detection

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"text/tabwriter"
)

// Result is the average precision of a set of detections against a truth,
// as Evaluate computes it. Every AP is a fraction in [0, 1], but for COCO's
// -1 (see COCOAP). The JSON keys are fixed; the VOC keys are named for the
// usual threshold 0.5 but hold the AP at the threshold Evaluate was given
// (IoU, which the JSON leaves out).
type Result struct {
	// VOC07AP50 is VOC2007's 11-point interpolated AP at IoU, the mean over
	// the categories with at least one object in the truth.
	VOC07AP50 float64 `json:"voc07_ap50"`
	// VOCAP50 is the all-point AP of VOC2010 and later at IoU (the area
	// under the precision envelope), the same mean.
	VOCAP50 float64 `json:"voc_ap50"`
	// COCOAP is COCO's AP: the mean over the IoU thresholds
	// 0.50:0.05:0.95, 101 recall points and the categories with at least
	// one object that is not a crowd; -1 when no category has one, as
	// COCOeval reports.
	COCOAP float64 `json:"coco_ap"`
	// COCOAP50 is COCO's AP at the IoU threshold 0.50 alone.
	COCOAP50 float64 `json:"coco_ap50"`
	// COCOAP75 is COCO's AP at the IoU threshold 0.75 alone.
	COCOAP75 float64 `json:"coco_ap75"`
	// PerClass maps the name of each category with at least one object
	// in the truth to its all-point VOC AP at IoU.
	PerClass map[string]float64 `json:"per_class"`
	// Images, Objects and Detections count the truth's images and
	// annotations and the detections evaluated.
	Images     int `json:"images"`
	Objects    int `json:"objects"`
	Detections int `json:"detections"`
	// IoU is the threshold the VOC metrics used; not in the JSON.
	IoU float64 `json:"-"`
}

// Evaluate scores dets against truth: the VOC metrics at the IoU threshold
// iou (0.5 for VOC's own), COCO's at its ten thresholds whatever iou is.
// It refuses a truth that Validate refuses or that has no object, a
// detection that is not finite or whose image or category the truth does
// not have, and an iou outside (0, 1].
//
// # VOC
//
// Per category, as py-faster-rcnn's voc_eval.py and VOC's devkit
// (VOCevaldet.m) do: the category's detections are sorted by score, highest
// first, with a stable sort, so that detections of equal score keep the
// order of dets (voc_eval.py's np.argsort leaves that order unspecified).
// Each detection is then taken in turn: among the category's objects in its
// image it finds the one of highest IoU (the first listed, on a tie); if
// that IoU is iou or more (≥, as the devkit; voc_eval.py has >) and the
// object is not yet matched, the detection is a true positive and the
// object matched; otherwise, an object already matched included, it is a
// false positive. A detection on an image with no object of its category
// is a false positive. Crowd annotations count as ordinary objects, and
// nothing is "difficult": VOC's difficult flag has no place in COCO's
// format. Recall is true positives / objects of the category, precision
// true positives / detections so far.
//
// The 11-point AP (VOC2007, voc_ap with use_07_metric) averages, over
// t = 0, 0.1, …, 1, the highest precision at a recall of t or more (0 if
// none). The points are float64(i)*0.1 as np.arange(0., 1.1, 0.1) makes
// them, so 0.3 is 0.30000000000000004 and a recall of exactly 3/10 does
// not reach it, as in voc_eval.py and the code that copies it (detectron2,
// mmdetection).
//
// The all-point AP (VOC2010 on, voc_ap without use_07_metric) sums, over
// the recalls at which recall changes, the change in recall times the
// precision envelope there, the envelope being the highest precision at
// that recall or any higher one, with recall 1 at precision 0 appended.
//
// # COCO
//
// As pycocotools' COCOeval (cocoeval.py) computes the bbox AP at maxDets
// 100 and area range "all", per category:
//
//   - evaluateImg: in each image, the category's detections are sorted by
//     score with a stable sort (np.argsort kind='mergesort') and the first
//     100 kept, per image and category, not per image; objects that are
//     crowds, or whose area field lies outside "all", [0, 1e10], are
//     "ignored" and put after the others (stable). At each threshold t in
//     0.50:0.05:0.95 each detection in turn takes, among the objects not
//     yet matched (crowds may be matched again), the one of highest IoU of
//     at least min(t, 1-1e-10), the last listed on a tie, and stops
//     looking at ignored objects once it holds an ordinary one. Unlike
//     VOC's rule, a detection whose best object is taken falls back on the
//     next best. A detection matched to an ignored object, or unmatched
//     and of area (width × height) outside [0, 1e10], is ignored: neither
//     true nor false positive. The IoU with a crowd is the intersection
//     over the detection's own area.
//   - accumulate: the images' kept detections, images in increasing id,
//     are sorted together by score with a stable sort, so that equal
//     scores go in image id order, then in the order of dets. Recall is
//     true positives / objects not ignored, precision true positives /
//     (true + false positives + 2⁻⁵²), the envelope is taken from the
//     right, and the precision at each recall point r in 0:0.01:1 is the
//     envelope at the first detection whose recall is r or more
//     (np.searchsorted, side left), 0 when recall never reaches r.
//   - A category with objects but no detection has AP 0; one with no
//     object that is not ignored is left out of the mean (COCOeval's -1).
//
// The thresholds and recall points are np.linspace's values, start +
// i*step, as COCOeval's Params makes them (0.8999999999999999 for 0.9,
// 0.35000000000000003 for 0.35, …), so that a recall or IoU that falls on
// one is compared as COCOeval compares it. COCOeval counts a match to an
// annotation of id 0 as none (dtMatches holds the id); here ids are not
// used so, and such an annotation is matched like any other.
func Evaluate(truth *Truth, dets []Detection, iou float64) (*Result, error) {
	if !(iou > 0 && iou <= 1) {
		return nil, fmt.Errorf("iou %v: expected a threshold above 0 and at most 1", iou)
	}
	if truth == nil {
		return nil, fmt.Errorf("no truth to evaluate against")
	}
	ix, err := truth.index()
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	if len(truth.Annotations) == 0 {
		return nil, fmt.Errorf("truth: no annotations: average precision needs at least one object")
	}
	classes := map[int64]*class{}
	get := func(id int64) *class {
		c := classes[id]
		if c == nil {
			c = &class{objects: map[int64][]int{}, detsByImage: map[int64][]int{}}
			classes[id] = c
		}
		return c
	}
	for i, d := range dets {
		if err := d.check(); err != nil {
			return nil, fmt.Errorf("detection %d: %w", i, err)
		}
		if _, ok := ix.images[d.ImageID]; !ok {
			return nil, fmt.Errorf("detection %d: image_id %d is not an image of the truth", i, d.ImageID)
		}
		if _, ok := ix.categories[d.CategoryID]; !ok {
			return nil, fmt.Errorf("detection %d: category_id %d is not a category of the truth", i, d.CategoryID)
		}
		c := get(d.CategoryID)
		c.dets = append(c.dets, i)
		c.detsByImage[d.ImageID] = append(c.detsByImage[d.ImageID], i)
	}
	for i, a := range truth.Annotations {
		c := get(a.CategoryID)
		c.objects[a.ImageID] = append(c.objects[a.ImageID], i)
		c.count++
	}
	imageIDs := make([]int64, len(truth.Images))
	for i, im := range truth.Images {
		imageIDs[i] = im.ID
	}
	slices.Sort(imageIDs)

	r := &Result{
		PerClass:   map[string]float64{},
		Images:     len(truth.Images),
		Objects:    len(truth.Annotations),
		Detections: len(dets),
		IoU:        iou,
	}
	var vocN, cocoN int
	coco := make([]float64, len(cocoIoUs))
	for _, cat := range truth.Categories {
		c := classes[cat.ID]
		if c == nil || c.count == 0 {
			continue
		}
		ap07, ap := c.voc(truth.Annotations, dets, iou)
		r.VOC07AP50 += ap07
		r.VOCAP50 += ap
		r.PerClass[cat.Name] = ap
		vocN++
		if aps, ok := c.coco(truth.Annotations, dets, imageIDs); ok {
			for t := range aps {
				coco[t] += aps[t]
			}
			cocoN++
		}
	}
	r.VOC07AP50 /= float64(vocN)
	r.VOCAP50 /= float64(vocN)
	r.COCOAP, r.COCOAP50, r.COCOAP75 = -1, -1, -1
	if cocoN > 0 {
		sum := 0.0
		for _, v := range coco {
			sum += v
		}
		r.COCOAP = sum / float64(len(coco)) / float64(cocoN)
		r.COCOAP50 = coco[cocoIoU50] / float64(cocoN)
		r.COCOAP75 = coco[cocoIoU75] / float64(cocoN)
	}
	return r, nil
}

// class holds one category's share of the truth and the detections, as
// positions in Truth.Annotations and in the detections, each list in the
// order of its source.
type class struct {
	objects     map[int64][]int // image id → the category's annotations there
	count       int             // annotations of the category
	dets        []int           // the category's detections
	detsByImage map[int64][]int // image id → the category's detections there
}

// boxIoU is the intersection over union of a detection's box d and an
// object's box g, as pycocotools' bbIou (common/maskApi.c) computes it,
// operation for operation; for a crowd object, the union is d's area
// alone. The float64 conversions keep the compiler from fusing a multiply
// and add, which would round differently from that C code.
func boxIoU(d, g BBox, crowd bool) float64 {
	w := min(d[2]+d[0], g[2]+g[0]) - max(d[0], g[0])
	if w <= 0 {
		return 0
	}
	h := min(d[3]+d[1], g[3]+g[1]) - max(d[1], g[1])
	if h <= 0 {
		return 0
	}
	inter := float64(w * h)
	da := float64(d[2] * d[3])
	if crowd {
		return inter / da
	}
	return inter / (da + float64(g[2]*g[3]) - inter)
}

// byScore orders detection positions by score, highest first; with a
// stable sort, equal scores keep their order.
func byScore(dets []Detection) func(a, b int) int {
	return func(a, b int) int { return cmp.Compare(dets[b].Score, dets[a].Score) }
}

// voc returns the category's 11-point and all-point AP at threshold thr,
// as Evaluate documents.
func (c *class) voc(anns []Annotation, dets []Detection, thr float64) (ap07, ap float64) {
	order := slices.Clone(c.dets)
	slices.SortStableFunc(order, byScore(dets))
	matched := map[int64][]bool{}
	for img, objs := range c.objects {
		matched[img] = make([]bool, len(objs))
	}
	rec := make([]float64, len(order))
	prec := make([]float64, len(order))
	tp, fp := 0, 0
	for k, di := range order {
		d := dets[di]
		best, j := math.Inf(-1), -1
		for o, ai := range c.objects[d.ImageID] {
			if v := boxIoU(d.BBox, anns[ai].BBox, false); v > best {
				best, j = v, o
			}
		}
		if j >= 0 && best >= thr && !matched[d.ImageID][j] {
			matched[d.ImageID][j] = true
			tp++
		} else {
			fp++
		}
		rec[k] = float64(tp) / float64(c.count)
		prec[k] = float64(tp) / float64(tp+fp)
	}
	return voc07AP(rec, prec), vocAllPointAP(rec, prec)
}

// voc07AP is VOC2007's 11-point AP of a precision/recall curve
// (voc_eval.py's voc_ap with use_07_metric): the mean over
// t = float64(i)*0.1, i = 0…10, of the highest precision at a recall of t
// or more, 0 where there is none.
func voc07AP(rec, prec []float64) float64 {
	ap := 0.0
	for i := range 11 {
		t := float64(float64(i) * 0.1)
		p := 0.0
		for k := range rec {
			if rec[k] >= t && prec[k] > p {
				p = prec[k]
			}
		}
		ap += p / 11
	}
	return ap
}

// vocAllPointAP is the all-point AP of a precision/recall curve
// (voc_eval.py's voc_ap without use_07_metric): with recall 0 and 1 put
// at the ends at precision 0, the precision made non-increasing from the
// right, the sum over each rise in recall of the rise times the precision
// where it ends.
func vocAllPointAP(rec, prec []float64) float64 {
	n := len(rec)
	mrec := make([]float64, n+2)
	mpre := make([]float64, n+2)
	copy(mrec[1:], rec)
	copy(mpre[1:], prec)
	mrec[n+1] = 1
	for i := n + 1; i > 0; i-- {
		mpre[i-1] = max(mpre[i-1], mpre[i])
	}
	ap := 0.0
	for i := 0; i <= n; i++ {
		if mrec[i+1] != mrec[i] {
			ap += (mrec[i+1] - mrec[i]) * mpre[i+1]
		}
	}
	return ap
}

// COCOeval's parameters for boxes (Params.setDetParams): its IoU
// thresholds and recall points as np.linspace computes them, the most
// detections kept per image and category, and the upper bound of area
// range "all".
var (
	cocoIoUs    = linspace(0.5, 0.95, 10)
	cocoRecalls = linspace(0, 1, 101)
)

const (
	cocoIoU50   = 0 // cocoIoUs[cocoIoU50] == 0.5
	cocoIoU75   = 5 // cocoIoUs[cocoIoU75] == 0.75
	cocoMaxDets = 100
	cocoAreaMax = 1e5 * 1e5
)

// cocoEps is np.spacing(1), which COCOeval adds to precision's
// denominator.
var cocoEps = math.Nextafter(1, 2) - 1

// linspace is np.linspace(start, stop, n): start + i*step with
// step = (stop-start)/(n-1), the last value stop itself.
func linspace(start, stop float64, n int) []float64 {
	step := (stop - start) / float64(n-1)
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(float64(i)*step) + start
	}
	v[n-1] = stop
	return v
}

// cocoDet is one kept detection of a category in an image, with its
// outcome at each IoU threshold.
type cocoDet struct {
	score   float64
	matched []bool // per threshold: matched to an object
	ignored []bool // per threshold: neither true nor false positive
}

// coco returns the category's AP at each of cocoIoUs, as Evaluate
// documents, and false when the category has no object that is not
// ignored. imageIDs are the truth's image ids in increasing order.
func (c *class) coco(anns []Annotation, dets []Detection, imageIDs []int64) ([]float64, bool) {
	T := len(cocoIoUs)
	// Validate has refused negative areas, so "all" only ever drops an
	// area above its upper bound.
	ignore := func(ai int) bool {
		a := anns[ai]
		return a.IsCrowd == 1 || a.Area > cocoAreaMax
	}
	var kept []cocoDet
	npig := 0
	for _, img := range imageIDs {
		objs := slices.Clone(c.objects[img])
		ds := slices.Clone(c.detsByImage[img])
		if len(objs) == 0 && len(ds) == 0 {
			continue
		}
		slices.SortStableFunc(objs, func(a, b int) int {
			return cmp.Compare(b2i(ignore(a)), b2i(ignore(b)))
		})
		for _, ai := range objs {
			if !ignore(ai) {
				npig++
			}
		}
		slices.SortStableFunc(ds, byScore(dets))
		if len(ds) > cocoMaxDets {
			ds = ds[:cocoMaxDets]
		}
		ious := make([][]float64, len(ds))
		for k, di := range ds {
			ious[k] = make([]float64, len(objs))
			for o, ai := range objs {
				ious[k][o] = boxIoU(dets[di].BBox, anns[ai].BBox, anns[ai].IsCrowd == 1)
			}
		}
		out := make([]cocoDet, len(ds))
		for k, di := range ds {
			out[k] = cocoDet{score: dets[di].Score, matched: make([]bool, T), ignored: make([]bool, T)}
		}
		for t, thr := range cocoIoUs {
			taken := make([]bool, len(objs))
			for k := range ds {
				best, m := min(thr, 1-1e-10), -1
				for o, ai := range objs {
					if taken[o] && anns[ai].IsCrowd != 1 {
						continue
					}
					if m > -1 && !ignore(objs[m]) && ignore(ai) {
						break
					}
					if ious[k][o] < best {
						continue
					}
					best, m = ious[k][o], o
				}
				if m == -1 {
					continue
				}
				out[k].ignored[t] = ignore(objs[m])
				out[k].matched[t] = true
				taken[m] = true
			}
		}
		for k, di := range ds {
			b := dets[di].BBox
			if float64(b[2]*b[3]) > cocoAreaMax {
				for t := range T {
					out[k].ignored[t] = out[k].ignored[t] || !out[k].matched[t]
				}
			}
		}
		kept = append(kept, out...)
	}
	if npig == 0 {
		return nil, false
	}
	slices.SortStableFunc(kept, func(a, b cocoDet) int { return cmp.Compare(b.score, a.score) })
	aps := make([]float64, T)
	n := len(kept)
	rc := make([]float64, n)
	pr := make([]float64, n)
	for t := range T {
		tp, fp := 0, 0
		for k, d := range kept {
			switch {
			case d.ignored[t]:
			case d.matched[t]:
				tp++
			default:
				fp++
			}
			rc[k] = float64(tp) / float64(npig)
			pr[k] = float64(tp) / (float64(fp+tp) + cocoEps)
		}
		for k := n - 1; k > 0; k-- {
			pr[k-1] = max(pr[k-1], pr[k])
		}
		sum := 0.0
		for _, r := range cocoRecalls {
			if k := sort.SearchFloat64s(rc, r); k < n {
				sum += pr[k]
			}
		}
		aps[t] = sum / float64(len(cocoRecalls))
	}
	return aps, true
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// WriteText writes r for a person: the counts, then a table of the
// metrics, then one of the AP of each category by name.
func (r *Result) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "images %d, objects %d, detections %d\n\n", r.Images, r.Objects, r.Detections)
	fmt.Fprintf(tw, "metric\tAP\n")
	fmt.Fprintf(tw, "VOC07 11-point, IoU %.2f\t%.4f\n", r.IoU, r.VOC07AP50)
	fmt.Fprintf(tw, "VOC all-point, IoU %.2f\t%.4f\n", r.IoU, r.VOCAP50)
	fmt.Fprintf(tw, "COCO, IoU 0.50:0.95\t%.4f\n", r.COCOAP)
	fmt.Fprintf(tw, "COCO, IoU 0.50\t%.4f\n", r.COCOAP50)
	fmt.Fprintf(tw, "COCO, IoU 0.75\t%.4f\n", r.COCOAP75)
	fmt.Fprintf(tw, "\ncategory\tAP (VOC all-point, IoU %.2f)\n", r.IoU)
	names := make([]string, 0, len(r.PerClass))
	for name := range r.PerClass {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(tw, "%s\t%.4f\n", name, r.PerClass[name])
	}
	return tw.Flush()
}
