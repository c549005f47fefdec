package data

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// mustImages is NewImages for arguments known to be valid.
func mustImages(t testing.TB, pixels, labels []uint8, c, h, w, classes int, scale float32) *Images {
	t.Helper()
	d, err := NewImages(pixels, labels, c, h, w, classes, scale)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// example returns example i of d.
func example(t testing.TB, d Dataset, i int) ([]float32, int) {
	t.Helper()
	c, h, w := d.Shape()
	dst := make([]float32, c*h*w)
	label, err := d.Example(i, dst)
	if err != nil {
		t.Fatal(err)
	}
	return dst, label
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestNewImagesErrors(t *testing.T) {
	for _, tc := range []struct {
		name           string
		pixels, labels []uint8
		c, h, w        int
		classes        int
		scale          float32
		want           string
	}{
		{"zero width", nil, []uint8{0}, 1, 2, 0, 2, 1, "example shape 1×2×0"},
		{"no classes", ramp(4), []uint8{0}, 1, 2, 2, 0, 1, "0 classes: expected 1 to 256"},
		{"too many classes", ramp(4), []uint8{0}, 1, 2, 2, 257, 1, "257 classes: expected 1 to 256"},
		{"no examples", nil, nil, 1, 2, 2, 2, 1, "no examples"},
		{"pixel count", ramp(7), []uint8{0, 1}, 1, 2, 2, 2, 1, "2 labels need 2×1×2×2 = 8 pixel values, found 7"},
		{"label too big", ramp(8), []uint8{0, 2}, 1, 2, 2, 2, 1, "label 2 of example 1 is not below the class count 2"},
		{"zero scale", ramp(8), []uint8{0, 1}, 1, 2, 2, 2, 0, "scale 0: expected a finite positive number"},
		{"NaN scale", ramp(8), []uint8{0, 1}, 1, 2, 2, 2, float32(math.NaN()), "scale NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewImages(tc.pixels, tc.labels, tc.c, tc.h, tc.w, tc.classes, tc.scale)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestImagesExample(t *testing.T) {
	pixels := []uint8{0, 51, 255, 102, 10, 20, 30, 40}
	for _, tc := range []struct {
		name  string
		scale float32
		want  []float32 // example 0
	}{
		{"[0,1]", 1.0 / 255, []float32{0, 0.2, 1, 0.4}},
		{"[0,255]", 1, []float32{0, 51, 255, 102}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustImages(t, pixels, []uint8{3, 1}, 1, 2, 2, 4, tc.scale)
			if d.Len() != 2 || d.Classes() != 4 {
				t.Errorf("Len %d Classes %d, want 2 and 4", d.Len(), d.Classes())
			}
			got, label := example(t, d, 0)
			if label != 3 {
				t.Errorf("label %d, want 3", label)
			}
			for j := range got {
				if !near(float64(got[j]), float64(tc.want[j]), 1e-6) {
					t.Errorf("value %d: got %g, want %g", j, got[j], tc.want[j])
				}
			}
			if _, label := example(t, d, 1); label != 1 {
				t.Errorf("example 1: label %d, want 1", label)
			}
		})
	}
}

func TestExampleErrors(t *testing.T) {
	d := mustImages(t, ramp(8), []uint8{0, 1}, 1, 2, 2, 2, 1)
	r, err := RepeatChannels(d, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		d    Dataset
		i    int
		dst  int
		want string
	}{
		{"index past end", d, 2, 4, "example 2 out of range [0, 2)"},
		{"negative index", d, -1, 4, "example -1 out of range"},
		{"short buffer", d, 0, 3, "example buffer holds 3 values, expected 1×2×2 = 4"},
		{"repeated, one-channel buffer", r, 0, 4, "example buffer holds 4 values, expected 3×2×2 = 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.d.Example(tc.i, make([]float32, tc.dst))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRepeatChannels(t *testing.T) {
	d := mustImages(t, []uint8{1, 2, 3, 4, 5, 6}, []uint8{0, 1, 1}, 1, 1, 2, 2, 1)
	r, err := RepeatChannels(d, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := r.Shape(); c != 3 || h != 1 || w != 2 || r.Len() != 3 || r.Classes() != 2 {
		t.Errorf("shape %d×%d×%d, Len %d, Classes %d; want 3×1×2, 3, 2", c, h, w, r.Len(), r.Classes())
	}
	got, label := example(t, r, 1)
	if want := []float32{3, 4, 3, 4, 3, 4}; !slices.Equal(got, want) || label != 1 {
		t.Errorf("example 1: got %v label %d, want %v label 1", got, label, want)
	}
	three := mustImages(t, ramp(6), []uint8{0}, 3, 1, 2, 1, 1)
	if _, err := RepeatChannels(three, 3); err == nil || !strings.Contains(err.Error(), "found 3 channels") {
		t.Errorf("repeating a 3-channel set: got %v", err)
	}
	if _, err := RepeatChannels(d, 0); err == nil || !strings.Contains(err.Error(), "0 channels") {
		t.Errorf("repeating to 0 channels: got %v", err)
	}
}

// twoChannels is a data set of 2 examples of 2 channels of 1×2 values in
// [0,255]: channel 0 holds 0, 10, 20, 30 and channel 1 holds 100, 100, 100,
// 104 over the two examples.
func twoChannels(t testing.TB) *Images {
	return mustImages(t, []uint8{0, 10, 100, 100, 20, 30, 100, 104}, []uint8{0, 1}, 2, 1, 2, 2, 1)
}

func TestMeanStd(t *testing.T) {
	// Channel 0: mean 15, variance (225+25+25+225)/4 = 125.
	// Channel 1: mean 101, variance (1+1+1+9)/4 = 3.
	for _, tc := range []struct {
		name     string
		d        Dataset
		mean     []float64
		variance []float64
	}{
		{"two channels", twoChannels(t), []float64{15, 101}, []float64{125, 3}},
		{"one example", mustImages(t, []uint8{1, 3}, []uint8{0}, 1, 1, 2, 1, 1), []float64{2}, []float64{1}},
		{"scaled to [0,1]", mustImages(t, []uint8{0, 255, 255, 255}, []uint8{0, 0}, 1, 1, 2, 1, 1.0/255),
			[]float64{0.75}, []float64{0.1875}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mean, std, err := MeanStd(tc.d)
			if err != nil {
				t.Fatal(err)
			}
			for k := range tc.mean {
				if !near(mean[k], tc.mean[k], 1e-9) || !near(std[k], math.Sqrt(tc.variance[k]), 1e-9) {
					t.Errorf("channel %d: mean %g std %g, want %g and %g", k, mean[k], std[k], tc.mean[k], math.Sqrt(tc.variance[k]))
				}
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	d := twoChannels(t)
	n, err := Normalize(d, []float64{15, 101}, []float64{5, 2})
	if err != nil {
		t.Fatal(err)
	}
	got, label := example(t, n, 1)
	if want := []float32{1, 3, -0.5, 1.5}; !slices.Equal(got, want) || label != 1 {
		t.Errorf("example 1: got %v label %d, want %v label 1", got, label, want)
	}

	// Normalising by a data set's own statistics gives mean 0 and std 1,
	// whether its values are in [0,255] or [0,1].
	for _, scale := range []float32{1, 1.0 / 255} {
		d := mustImages(t, d.pixels, d.labels, 2, 1, 2, 2, scale)
		mean, std, err := MeanStd(d)
		if err != nil {
			t.Fatal(err)
		}
		n, err := Normalize(d, mean, std)
		if err != nil {
			t.Fatal(err)
		}
		mean, std, err = MeanStd(n)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 2 {
			if !near(mean[k], 0, 1e-6) || !near(std[k], 1, 1e-6) {
				t.Errorf("scale %g, channel %d: normalised mean %g std %g, want 0 and 1", scale, k, mean[k], std[k])
			}
		}
	}

	for _, tc := range []struct {
		name      string
		mean, std []float64
		want      string
	}{
		{"one mean for two channels", []float64{0}, []float64{1, 1}, "needs 2 means and 2 stds, found 1 and 2"},
		{"zero std", []float64{0, 0}, []float64{1, 0}, "channel 1 with mean 0 and std 0"},
		{"NaN mean", []float64{math.NaN(), 0}, []float64{1, 1}, "channel 0 with mean NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Normalize(d, tc.mean, tc.std); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestRandomSubset: n distinct examples in index order, the same for the
// same seed, another draw for another seed; the epoch passes through.
func TestRandomSubset(t *testing.T) {
	pixels := make([]uint8, 100)
	labels := make([]uint8, 100)
	for i := range pixels {
		pixels[i], labels[i] = uint8(i), uint8(i%10)
	}
	d, err := NewImages(pixels, labels, 1, 1, 1, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	values := func(s Dataset) []float32 {
		out := make([]float32, s.Len())
		for i := range out {
			v := make([]float32, 1)
			label, err := s.Example(i, v)
			if err != nil || label != int(v[0])%10 {
				t.Fatalf("example %d: label %d, value %g, %v", i, label, v[0], err)
			}
			out[i] = v[0]
		}
		return out
	}
	a, _ := RandomSubset(d, 30, 7)
	b, _ := RandomSubset(d, 30, 7)
	c, _ := RandomSubset(d, 30, 8)
	va, vb, vc := values(a), values(b), values(c)
	if len(va) != 30 || !slices.Equal(va, vb) || slices.Equal(va, vc) {
		t.Errorf("subsets %v / %v / %v: want 30 values, equal for equal seeds", va, vb, vc)
	}
	for i := 1; i < len(va); i++ {
		if va[i] <= va[i-1] {
			t.Fatalf("subset %v not strictly increasing", va)
		}
	}
	if whole, _ := RandomSubset(d, 500, 1); whole != Dataset(d) {
		t.Error("a subset larger than the set should be the set")
	}
	if _, err := RandomSubset(d, 0, 1); err == nil {
		t.Error("a subset of 0 was accepted")
	}
	ep, _ := RandomSubset(epochRecorder{d}, 5, 1)
	if _, ok := ep.(EpochDataset); !ok {
		t.Fatal("the subset of an epoch data set lost EpochExample")
	}
	v := make([]float32, 1)
	if label, _ := ep.(EpochDataset).EpochExample(3, 0, v); label != 3 {
		t.Errorf("EpochExample gave label %d, want the epoch 3 passed through", label)
	}
}

// epochRecorder is an EpochDataset whose label is the epoch asked for.
type epochRecorder struct{ Dataset }

func (e epochRecorder) EpochExample(epoch, i int, dst []float32) (int, error) {
	_, err := e.Example(i, dst)
	return epoch, err
}
