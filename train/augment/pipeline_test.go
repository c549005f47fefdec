package augment

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// mustPipeline returns a function that takes a constructor's results and
// fails the test on its error: mustPipeline(t)(NewTrain(o)).
func mustPipeline(t testing.TB) func(*Pipeline, error) *Pipeline {
	return func(p *Pipeline, err error) *Pipeline {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// run applies p to a copy of img with example (seed, epoch, index)'s
// generator.
func run(t testing.TB, p *Pipeline, img *Image, seed uint64, epoch, index int) []float32 {
	t.Helper()
	c, h, w := p.Shape()
	dst := make([]float32, c*h*w)
	if err := p.Apply(clone(img), Rand(seed, epoch, index), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestTrainReproducible checks that the paper's training pipeline gives
// the same output for the same (seed, epoch, index) and different outputs
// when any of them changes, on every photograph, and that outputs are
// finite and in the range normalisation maps [0, 255] to.
func TestTrainReproducible(t *testing.T) {
	p := mustPipeline(t)(NewTrain(DefaultTrainOptions(224)))
	for _, ph := range photos {
		t.Run(filepath.Base(ph.path), func(t *testing.T) {
			img := loadPhoto(t, ph)
			base := run(t, p, img, 1, 2, 3)
			if len(base) != 3*224*224 {
				t.Fatalf("%d values, expected 3×224×224", len(base))
			}
			for i, v := range base {
				k := i / (224 * 224)
				lo, hi := -ImageNetMean[k]/ImageNetStd[k], (255-ImageNetMean[k])/ImageNetStd[k]
				if !(float64(v) >= lo-1e-4 && float64(v) <= hi+1e-4) {
					t.Fatalf("value %d = %g, outside [%g, %g]", i, v, lo, hi)
				}
			}
			if !slices.Equal(run(t, p, img, 1, 2, 3), base) {
				t.Error("the same seed, epoch and index gave a different output")
			}
			for _, o := range []struct {
				name         string
				seed         uint64
				epoch, index int
			}{{"seed", 9, 2, 3}, {"epoch", 1, 3, 3}, {"index", 1, 2, 4}} {
				if slices.Equal(run(t, p, img, o.seed, o.epoch, o.index), base) {
					t.Errorf("another %s gave the same output", o.name)
				}
			}
		})
	}
}

// TestPipelineConcurrent applies one pipeline from several goroutines (run
// with -race) and checks each output against a sequential run.
func TestPipelineConcurrent(t *testing.T) {
	p := mustPipeline(t)(NewTrain(DefaultTrainOptions(64)))
	img := loadPhoto(t, photos[0])
	small := resizeBox(img, image.Rect(0, 0, img.W, img.H), 128, 128)
	want := make([][]float32, 16)
	for i := range want {
		want[i] = run(t, p, small, 5, 0, i)
	}
	got := make([][]float32, len(want))
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			dst := make([]float32, 3*64*64)
			if err := p.Apply(clone(small), Rand(5, 0, i), dst); err != nil {
				t.Error(err)
			}
			got[i] = dst
		})
	}
	wg.Wait()
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("example %d differs when run concurrently", i)
		}
	}
}

// TestValOutputs checks the validation pipeline's output size on the
// photographs and that it takes no randomness (nil generator); and that a
// one-channel pipeline takes grey images.
func TestValOutputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts ValOptions
	}{
		{"paper 224", DefaultValOptions(224)},
		{"299, no normalisation", ValOptions{Size: 299, Channels: 3, CropRatio: DefaultCropRatio}},
		{"grey 128", ValOptions{Size: 128, Channels: 1, CropRatio: 0.875, Normalize: true, Mean: []float64{118}, Std: []float64{57}}},
	} {
		p := mustPipeline(t)(NewVal(tc.opts))
		for _, ph := range photos {
			src := decodeFile(t, ph.path)
			img, err := FromImage(src, tc.opts.Channels)
			if err != nil {
				t.Fatal(err)
			}
			c, h, w := p.Shape()
			if c != tc.opts.Channels || h != tc.opts.Size || w != tc.opts.Size {
				t.Fatalf("%s: shape %d×%d×%d", tc.name, c, h, w)
			}
			dst := make([]float32, c*h*w)
			if err := p.Apply(img, nil, dst); err != nil {
				t.Fatalf("%s, %s: %v", tc.name, filepath.Base(ph.path), err)
			}
			for i, v := range dst {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s, %s: value %d = %g", tc.name, filepath.Base(ph.path), i, v)
				}
			}
		}
	}
}

// TestTrainPartsOff checks that switching parts off leaves them out: with
// everything off but the geometry, the training pipeline is the
// validation one.
func TestTrainPartsOff(t *testing.T) {
	img := loadPhoto(t, photos[1])
	o := DefaultTrainOptions(224)
	o.Crop, o.Flip, o.Jitter, o.Lighting = false, false, false, false
	train := mustPipeline(t)(NewTrain(o))
	val := mustPipeline(t)(NewVal(DefaultValOptions(224)))
	if !slices.Equal(run(t, train, img, 1, 0, 0), run(t, val, img, 7, 3, 5)) {
		t.Error("the training pipeline with every random part off differs from the validation one")
	}
	// A grey training pipeline, lighting off.
	g := DefaultTrainOptions(96)
	g.Channels, g.Lighting, g.Mean, g.Std = 1, false, []float64{118}, []float64{57}
	grey := mustPipeline(t)(NewTrain(g))
	src, err := FromImage(decodeFile(t, photos[0].path), 1)
	if err != nil {
		t.Fatal(err)
	}
	if out := run(t, grey, src, 1, 0, 0); len(out) != 96*96 {
		t.Errorf("grey pipeline gave %d values, expected 96×96", len(out))
	}
}

func TestPipelineErrors(t *testing.T) {
	mod := func(f func(*TrainOptions)) TrainOptions {
		o := DefaultTrainOptions(224)
		f(&o)
		return o
	}
	for _, tc := range []struct {
		name string
		opts TrainOptions
		want string
	}{
		{"size", mod(func(o *TrainOptions) { o.Size = 0 }), "output size 0"},
		{"channels", mod(func(o *TrainOptions) { o.Channels = 4 }), "4 channels"},
		{"area", mod(func(o *TrainOptions) { o.MinArea = 1.2 }), "area fractions"},
		{"ratio", mod(func(o *TrainOptions) { o.MinRatio = -1 }), "aspect ratios"},
		{"crop ratio when crop is off", mod(func(o *TrainOptions) { o.Crop, o.CropRatio = false, 0 }), "centre crop ratio 0"},
		{"jitter", mod(func(o *TrainOptions) { o.Brightness = math.Inf(1) }), "brightness jitter"},
		{"lighting std", mod(func(o *TrainOptions) { o.LightingStd = -0.1 }), "lighting noise std"},
		{"lighting on grey", mod(func(o *TrainOptions) { o.Channels = 1 }), "needs RGB"},
		{"grey with RGB mean", mod(func(o *TrainOptions) { o.Channels, o.Lighting = 1, false }), "normalising 1 channel(s) with 3 means"},
		{"std", mod(func(o *TrainOptions) { o.Std = []float64{1, 0, 1} }), "finite positive std"},
	} {
		_, err := NewTrain(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, expected one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewVal(ValOptions{Size: 224, Channels: 3, CropRatio: 1.5}); err == nil || !strings.Contains(err.Error(), "centre crop ratio 1.5") {
		t.Errorf("val crop ratio 1.5: error %v", err)
	}
	p := mustPipeline(t)(NewVal(DefaultValOptions(32)))
	for _, tc := range []struct {
		name string
		img  *Image
		dst  int
		want string
	}{
		{"channels", constant(40, 40, 1), 3 * 32 * 32, "given a 1-channel one"},
		{"buffer", constant(40, 40, 1, 2, 3), 5, "holds 5 values"},
	} {
		if err := p.Apply(tc.img, nil, make([]float32, tc.dst)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, expected one containing %q", tc.name, err, tc.want)
		}
	}
}

// BenchmarkDecodeAugment measures one core's throughput on a ~512×512
// JPEG (Grace Hopper, 512×600): decoding, conversion to float32, the
// training and validation pipelines at 224×224, and the whole of decode and
// training augmentation, which is what a data set's Example costs. Run with
// -cpu 1 to compare with a trainer's images/s per loader goroutine.
func BenchmarkDecodeAugment(b *testing.B) {
	src := decodeFile(b, graceHopper)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	raw := buf.Bytes()
	img, err := FromImage(src, 3)
	if err != nil {
		b.Fatal(err)
	}
	train := mustPipeline(b)(NewTrain(DefaultTrainOptions(224)))
	val := mustPipeline(b)(NewVal(DefaultValOptions(224)))
	dst := make([]float32, 3*224*224)
	perImage := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
		perImage(b)
	})
	b.Run("convert", func(b *testing.B) {
		for b.Loop() {
			if _, err := FromImage(src, 3); err != nil {
				b.Fatal(err)
			}
		}
		perImage(b)
	})
	for _, s := range []struct {
		name string
		p    *Pipeline
	}{{"train", train}, {"val", val}} {
		b.Run(s.name, func(b *testing.B) {
			work := clone(img)
			i := 0
			for b.Loop() {
				copy(work.Pix, img.Pix)
				if err := s.p.Apply(work, Rand(1, 0, i), dst); err != nil {
					b.Fatal(err)
				}
				i++
			}
			perImage(b)
		})
	}
	b.Run("decode+train", func(b *testing.B) {
		i := 0
		for b.Loop() {
			d, err := jpeg.Decode(bytes.NewReader(raw))
			if err != nil {
				b.Fatal(err)
			}
			m, err := FromImage(d, 3)
			if err != nil {
				b.Fatal(err)
			}
			if err := train.Apply(m, Rand(1, 0, i), dst); err != nil {
				b.Fatal(err)
			}
			i++
		}
		perImage(b)
	})
}
