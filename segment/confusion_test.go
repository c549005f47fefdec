package segment

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// sameFloat reports whether a and b are equal within tol, NaN equal to NaN.
func sameFloat(a, b, tol float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= tol
}

func mustConfusion(t testing.TB, classes int, ignore int32) *Confusion {
	t.Helper()
	c, err := NewConfusion(classes, ignore)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMetricsHandComputed pins pixel accuracy, per-class IoU and mean IoU
// to confusion matrices worked out by hand.
func TestMetricsHandComputed(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name        string
		classes     int
		truth, pred []int32
		// confusion lists the nonzero cells as {truth, pred, count}.
		confusion [][3]int64
		accuracy  float64
		iou       []float64
		mean      float64
		counted   int
	}{
		{
			// Class 3 is absent from both the labels and the predictions:
			// IoU NaN, left out of the mean (the devkit's eps would count
			// it as 0 and give 1.4333/4 = 0.3583). The last pixel is
			// ignored, and so is its prediction of class 2.
			name:    "absent class and an ignored pixel",
			classes: 4,
			truth:   []int32{0, 0, 0, 0, 1, 1, 1, 2, 2, -1},
			pred:    []int32{0, 0, 1, 0, 1, 1, 2, 2, 0, 2},
			// Row 0: 3 right, 1 as class 1; row 1: 2 right, 1 as 2; row 2: 1 right, 1 as 0.
			confusion: [][3]int64{{0, 0, 3}, {0, 1, 1}, {1, 1, 2}, {1, 2, 1}, {2, 0, 1}, {2, 2, 1}},
			accuracy:  6.0 / 9,
			// IoU_0 = 3/(4+4−3), IoU_1 = 2/(3+3−2), IoU_2 = 1/(2+2−1).
			iou:     []float64{3.0 / 5, 2.0 / 4, 1.0 / 3, nan},
			mean:    (3.0/5 + 2.0/4 + 1.0/3) / 3,
			counted: 3,
		},
		{
			// Class 3 is predicted but never true: IoU 0, counted.
			name:      "class only predicted",
			classes:   4,
			truth:     []int32{0, 0, 1, 1},
			pred:      []int32{0, 3, 1, 1},
			confusion: [][3]int64{{0, 0, 1}, {0, 3, 1}, {1, 1, 2}},
			accuracy:  3.0 / 4,
			iou:       []float64{1.0 / 2, 1, nan, 0},
			mean:      (0.5 + 1 + 0) / 3,
			counted:   3,
		},
		{
			name:      "perfect",
			classes:   2,
			truth:     []int32{1, 0, 1},
			pred:      []int32{1, 0, 1},
			confusion: [][3]int64{{0, 0, 1}, {1, 1, 2}},
			accuracy:  1,
			iou:       []float64{1, 1},
			mean:      1,
			counted:   2,
		},
		{
			name:     "nothing labelled",
			classes:  3,
			truth:    []int32{-1, -1},
			pred:     []int32{0, 2},
			accuracy: nan,
			iou:      []float64{nan, nan, nan},
			mean:     nan,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustConfusion(t, tc.classes, -1)
			if err := c.Add(tc.pred, tc.truth); err != nil {
				t.Fatal(err)
			}
			want := make([]int64, tc.classes*tc.classes)
			for _, cell := range tc.confusion {
				want[cell[0]*int64(tc.classes)+cell[1]] = cell[2]
			}
			for tr := range tc.classes {
				for p := range tc.classes {
					if got := c.At(tr, p); got != want[tr*tc.classes+p] {
						t.Errorf("At(%d, %d) = %d, want %d", tr, p, got, want[tr*tc.classes+p])
					}
				}
			}
			m := c.Metrics()
			if !sameFloat(m.PixelAccuracy, tc.accuracy, 1e-12) || !sameFloat(m.MeanIoU, tc.mean, 1e-12) || m.Counted != tc.counted {
				t.Errorf("pixel accuracy %g, mean IoU %g over %d classes; want %g, %g over %d",
					m.PixelAccuracy, m.MeanIoU, m.Counted, tc.accuracy, tc.mean, tc.counted)
			}
			if !slices.EqualFunc(m.IoU, tc.iou, func(a, b float64) bool { return sameFloat(a, b, 1e-12) }) {
				t.Errorf("IoU %v, want %v", m.IoU, tc.iou)
			}
		})
	}
}

// TestConfusionAccumulates: adding images one by one, or merging the
// matrices of two halves, counts what adding them at once does.
func TestConfusionAccumulates(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	truth, pred := make([]int32, 600), make([]int32, 600)
	for i := range truth {
		truth[i], pred[i] = int32(rng.IntN(6))-1, int32(rng.IntN(5))
	}
	whole := mustConfusion(t, 5, -1)
	byImage, a, b := mustConfusion(t, 5, -1), mustConfusion(t, 5, -1), mustConfusion(t, 5, -1)
	for _, err := range []error{
		whole.Add(pred, truth),
		byImage.Add(pred[:200], truth[:200]), byImage.Add(pred[200:], truth[200:]),
		a.Add(pred[:350], truth[:350]), b.Add(pred[350:], truth[350:]), a.Merge(b),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(byImage.counts, whole.counts) || !slices.Equal(a.counts, whole.counts) {
		t.Error("accumulating by image or merging halves differs from adding everything at once")
	}
	if whole.Labelled() == 600 || whole.Labelled() < 400 {
		t.Errorf("%d labelled pixels of 600 with about a sixth ignored", whole.Labelled())
	}
}

func TestConfusionErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		classes int
		ignore  int32
		want    string
	}{
		{"one class", 1, -1, "1 classes: expected at least 2"},
		{"ignore is a class", 4, 3, "ignore label 3 is one of the 4 classes"},
	} {
		if _, err := NewConfusion(tc.classes, tc.ignore); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	c := mustConfusion(t, 3, 255)
	for _, tc := range []struct {
		name        string
		pred, truth []int32
		want        string
	}{
		{"lengths", []int32{0}, []int32{0, 1}, "1 predicted labels for 2 true labels"},
		{"true label", []int32{0, 0}, []int32{0, 3}, "true label 3 at pixel 1: expected 0 to 2 or the ignore label 255"},
		{"negative true label", []int32{0}, []int32{-1}, "true label -1 at pixel 0"},
		{"prediction", []int32{0, -2}, []int32{0, 1}, "predicted label -2 at pixel 1: expected 0 to 2"},
	} {
		if err := c.Add(tc.pred, tc.truth); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if c.Labelled() != 0 {
		t.Errorf("failed Adds counted %d pixels", c.Labelled())
	}
	if err := c.Merge(mustConfusion(t, 4, -1)); err == nil || !strings.Contains(err.Error(), "of 4 classes into one of 3") {
		t.Errorf("Merge of another size: got %v", err)
	}
	// An ignored pixel is skipped whatever is predicted there.
	if err := c.Add([]int32{7}, []int32{255}); err != nil || c.Labelled() != 0 {
		t.Errorf("an ignored pixel with prediction 7: %v, %d labelled", err, c.Labelled())
	}
}

func TestMetricsJSON(t *testing.T) {
	c := mustConfusion(t, 3, -1)
	if err := c.Add([]int32{0, 1, 1}, []int32{0, 1, 0}); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(c.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pixel_accuracy":0.6666666666666666,"mean_iou":0.5,"iou":[0.5,0.5,null],"classes_counted":2,"labelled_pixels":3}`
	if string(data) != want {
		t.Errorf("got %s, want %s", data, want)
	}
	empty, err := json.Marshal(mustConfusion(t, 2, -1).Metrics())
	if err != nil || !strings.Contains(string(empty), `"pixel_accuracy":null,"mean_iou":null`) {
		t.Errorf("an empty matrix: %s, %v", empty, err)
	}
}

// TestMetricsAgainstNumpy checks the metrics on random label maps against
// mmsegmentation's recipe written in numpy: areas by bincount, IoU as
// intersection / union (NaN for 0/0), np.nanmean, accuracy as the summed
// intersection over the labelled pixels.
func TestMetricsAgainstNumpy(t *testing.T) {
	python := testenv.RequirePython(t, "numpy")
	const classes, n = 7, 5000
	rng := rand.New(rand.NewPCG(3, 4))
	truth, pred := make([]string, n), make([]string, n)
	var truthV, predV []int32
	for i := range n {
		// Class 5 never occurs; class 6 is only predicted; 255 is ignored.
		tl := []int32{0, 0, 0, 1, 2, 3, 4, 255}[rng.IntN(8)]
		pl := []int32{0, 1, 2, 3, 4, 6}[rng.IntN(6)]
		if rng.IntN(3) == 0 {
			pl = tl % 7
		}
		truthV, predV = append(truthV, tl), append(predV, pl)
		truth[i], pred[i] = strconv.Itoa(int(tl)), strconv.Itoa(int(pl))
	}
	script := `
import sys, numpy as np
k = int(sys.argv[1])
t = np.array(sys.argv[2].split(','), dtype=np.int64)
p = np.array(sys.argv[3].split(','), dtype=np.int64)
m = t != 255
t, p = t[m], p[m]
inter = np.bincount(p[p == t], minlength=k).astype(float)
area_p = np.bincount(p, minlength=k).astype(float)
area_t = np.bincount(t, minlength=k).astype(float)
with np.errstate(invalid='ignore'):
    iou = inter / (area_p + area_t - inter)
print(repr(float(inter.sum() / area_t.sum())), repr(float(np.nanmean(iou))), ' '.join(repr(float(v)) for v in iou))
`
	out, err := exec.Command(python, "-c", script, strconv.Itoa(classes), strings.Join(truth, ","), strings.Join(pred, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	fields := strings.Fields(string(out))
	want := make([]float64, len(fields))
	for i, f := range fields {
		if want[i], err = strconv.ParseFloat(f, 64); err != nil {
			t.Fatalf("numpy printed %q: %v", out, err)
		}
	}
	c := mustConfusion(t, classes, 255)
	if err := c.Add(predV, truthV); err != nil {
		t.Fatal(err)
	}
	m := c.Metrics()
	got := append([]float64{m.PixelAccuracy, m.MeanIoU}, m.IoU...)
	if !slices.EqualFunc(got, want, func(a, b float64) bool { return sameFloat(a, b, 1e-12) }) {
		t.Errorf("accuracy, mean IoU, IoU per class:\n got %v\nwant %v (numpy)", got, want)
	}
	if !math.IsNaN(m.IoU[5]) || m.IoU[6] != 0 || m.Counted != 6 {
		t.Errorf("class 5 IoU %g (want NaN), class 6 IoU %g (want 0), %d classes counted (want 6)", m.IoU[5], m.IoU[6], m.Counted)
	}
	t.Logf("numpy agrees: accuracy %.4f, mean IoU %.4f", m.PixelAccuracy, m.MeanIoU)
}
