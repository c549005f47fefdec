package eval

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/data"
)

// echo is a model whose output for an image is its own pixels, [N C·H·W]:
// what a consumer receives can be checked against the data set.
type echo struct {
	fixed int
	runs  []int64 // the batch size of every run
}

func (m *echo) Batch() int { return m.fixed }

func (m *echo) Run(images []float32, shape []int64) (Output, error) {
	m.runs = append(m.runs, shape[0])
	return Output{Shape: []int64{shape[0], shape[1] * shape[2] * shape[3]}, Data: slices.Clone(images)}, nil
}

// recorder keeps every output row it is given, and the labels.
type recorder struct {
	rows   [][]float32
	labels []int32
}

func (r *recorder) Add(out Output, b *data.Batch) error {
	per := int(out.Shape[1])
	for i := range int(out.Shape[0]) {
		r.rows = append(r.rows, slices.Clone(out.Data[i*per:(i+1)*per]))
	}
	r.labels = append(r.labels, b.Labels[:b.N]...)
	return nil
}

// images returns a data set of n 1×2×2 images whose pixels are 4i … 4i+3
// and whose labels are i mod 3.
func images(t *testing.T, n int) *data.Images {
	t.Helper()
	pixels, labels := make([]uint8, 4*n), make([]uint8, n)
	for i := range pixels {
		pixels[i] = uint8(i)
	}
	for i := range labels {
		labels[i] = uint8(i % 3)
	}
	d, err := data.NewImages(pixels, labels, 1, 2, 2, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRunBatches: every example reaches the consumers once, in order,
// with its own output, whether the model takes any batch size or a fixed
// one (the last batch padded, the padding's outputs trimmed); progress
// counts up to the set's size.
func TestRunBatches(t *testing.T) {
	tests := []struct {
		name         string
		n            int
		fixed, batch int
		runs         []int64
	}{
		{"dynamic, even", 6, 0, 3, []int64{3, 3}},
		{"dynamic, last batch partial", 7, 0, 3, []int64{3, 3, 1}},
		{"fixed, last batch padded", 7, 3, 0, []int64{3, 3, 3}},
		{"fixed, batch given", 2, 4, 4, []int64{4}},
		{"one image a run", 3, 0, 1, []int64{1, 1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := &echo{fixed: tc.fixed}, &recorder{}
			var done []int
			o := Options{Batch: tc.batch, Progress: func(p Progress) {
				if p.Total != tc.n {
					t.Errorf("progress total %d, want %d", p.Total, tc.n)
				}
				done = append(done, p.Done)
			}}
			st, err := Run(context.Background(), m, images(t, tc.n), o, rec)
			if err != nil {
				t.Fatal(err)
			}
			if st.Images != tc.n || !slices.Equal(m.runs, tc.runs) || len(rec.rows) != tc.n || done[len(done)-1] != tc.n {
				t.Fatalf("%d images in runs of %v, %d rows, progress %v; want %d in runs of %v", st.Images, m.runs, len(rec.rows), done, tc.n, tc.runs)
			}
			for i, row := range rec.rows {
				if want := []float32{float32(4 * i), float32(4*i + 1), float32(4*i + 2), float32(4*i + 3)}; !slices.Equal(row, want) {
					t.Errorf("example %d: output %v, want its pixels %v", i, row, want)
				}
				if rec.labels[i] != int32(i%3) {
					t.Errorf("example %d: label %d, want %d", i, rec.labels[i], i%3)
				}
			}
		})
	}
}

// shaped is a model whose output has a given shape whatever the input.
type shaped struct{ shape []int64 }

func (shaped) Batch() int { return 0 }

func (m shaped) Run([]float32, []int64) (Output, error) {
	n := int64(1)
	for _, d := range m.shape {
		n *= d
	}
	return Output{Shape: m.shape, Data: make([]float32, n)}, nil
}

// TestRunErrors: a batch size the model cannot take and an output that is
// not one row an image are errors, and so is a cancelled context, which
// says how far the run got.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name  string
		model Model
		batch int
		want  string
	}{
		{"no batch size", &echo{}, 0, "batch size 0: expected at least 1"},
		{"another batch than the model's", &echo{fixed: 4}, 2, "batch size 2: the model takes a fixed batch of 4"},
		{"rows for another batch", shaped{[]int64{5, 3}}, 2, "output of shape [5 3] (15 values) for 2 images"},
		{"no row dimension", shaped{[]int64{2}}, 2, "output of shape [2] (2 values) for 2 images"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.model, images(t, 4), Options{Batch: tc.batch})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		o := Options{Batch: 2, Progress: func(p Progress) {
			if p.Done == 4 {
				cancel()
			}
		}}
		_, err := Run(ctx, &echo{}, images(t, 10), o)
		if err == nil || !strings.Contains(err.Error(), "eval interrupted after 4 of 10 images") || !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want the interruption after 4 of 10 images", err)
		}
	})
}

// TestClassification checks loss, top-1 and top-5 against values worked
// out by hand: logits ln 1, ln 2, ln 3, ln 4 give softmax 0.1, 0.2, 0.3,
// 0.4, so label c costs −ln((c+1)/10).
func TestClassification(t *testing.T) {
	ln := func(v float64) float32 { return float32(math.Log(v)) }
	// Logits 7 … 1: the softmax at k is eᵏ / Σ eʲ.
	sum7 := 0.0
	for k := 1; k <= 7; k++ {
		sum7 += math.Exp(float64(k))
	}
	tests := []struct {
		name             string
		classes          int
		logits           []float32
		labels           []int32
		loss, top1, top5 float64
	}{
		{"four classes", 4, []float32{ln(1), ln(2), ln(3), ln(4), ln(1), ln(2), ln(3), ln(4)}, []int32{3, 0},
			(math.Log(10/4.0) + math.Log(10)) / 2, 0.5, 0},
		{"a tie with the highest counts as right", 2, []float32{1, 1}, []int32{0}, math.Log(2), 1, 0},
		{"seven classes: top-5", 7, []float32{7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1}, []int32{4, 5},
			(math.Log(sum7) - 3 + math.Log(sum7) - 2) / 2, 0, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.labels)
			c := NewClassification(tc.classes)
			if err := c.Add(Output{Shape: []int64{int64(n), int64(tc.classes)}, Data: tc.logits}, &data.Batch{N: n, Labels: tc.labels}); err != nil {
				t.Fatal(err)
			}
			if math.Abs(c.Loss()-tc.loss) > 1e-6 || c.Top1() != tc.top1 || c.Top5() != tc.top5 || c.Images() != n || c.Classes() != tc.classes {
				t.Errorf("loss %.7f, top-1 %v, top-5 %v, %d images, %d classes; want %.7f, %v, %v, %d, %d",
					c.Loss(), c.Top1(), c.Top5(), c.Images(), c.Classes(), tc.loss, tc.top1, tc.top5, n, tc.classes)
			}
		})
	}
	c := NewClassification(10)
	if err := c.Add(Output{Shape: []int64{1, 5}, Data: make([]float32, 5)}, &data.Batch{N: 1, Labels: []int32{0}}); err == nil ||
		!strings.Contains(err.Error(), "the model gives 5 classes, fewer than the data set's 10") {
		t.Errorf("5 logits for 10 classes: %v", err)
	}
}

// TestSegmentation scores a 1×2×2 prediction of 2 classes with one pixel
// unlabelled: pixel accuracy 2/3 and IoU 1/2 for both classes, by
// counting; the loss is ln(1 + e⁻¹) for the right pixels and
// ln(1 + e) for the wrong one.
func TestSegmentation(t *testing.T) {
	const ignore = -1
	s := NewSegmentation(2, ignore)
	// Class planes: pixel p predicts 0 where plane 0 holds 1, else 1.
	logits := []float32{
		1, 0, 1, 0, // class 0
		0, 1, 0, 1, // class 1
	}
	truth := []int32{0, 1, 1, ignore} // right, right, wrong, unlabelled
	if err := s.Add(Output{Shape: []int64{1, 2, 2, 2}, Data: logits}, &data.Batch{N: 1, Dense: truth}); err != nil {
		t.Fatal(err)
	}
	m := s.Metrics()
	wantLoss := (2*math.Log(1+math.Exp(-1)) + math.Log(1+math.E)) / 3
	if math.Abs(m.PixelAccuracy-2.0/3) > 1e-12 || math.Abs(m.MeanIoU-0.5) > 1e-12 || m.Labelled != 3 || math.Abs(s.Loss()-wantLoss) > 1e-12 {
		t.Errorf("pixel accuracy %v, mean IoU %v, %d labelled, loss %v; want 2/3, 1/2, 3, %v", m.PixelAccuracy, m.MeanIoU, m.Labelled, s.Loss(), wantLoss)
	}
	for _, tc := range []struct {
		name  string
		shape []int64
		dense []int32
		want  string
	}{
		{"fewer classes than the data's", []int64{1, 1, 2, 2}, truth, "the model gives 1 classes, fewer than the data set's 2"},
		{"another size than the labels'", []int64{1, 2, 1, 2}, truth, "expected one logit a class and pixel"},
		{"not per pixel", []int64{1, 8}, truth, "expected per-pixel logits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := int64(1)
			for _, d := range tc.shape {
				n *= d
			}
			err := NewSegmentation(2, ignore).Add(Output{Shape: tc.shape, Data: make([]float32, n)}, &data.Batch{N: 1, Dense: tc.dense})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
