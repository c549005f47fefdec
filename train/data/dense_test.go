package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// denseCopy is a batch of a dense loader copied out of its buffers.
type denseCopy struct {
	copied
	dense []int32
}

// denseEpoch runs epoch epoch of l from batch from and returns its batches.
func denseEpoch(t testing.TB, l *Loader, epoch, from int) []denseCopy {
	t.Helper()
	it, err := l.Epoch(context.Background(), epoch, from)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []denseCopy
	for {
		b, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, denseCopy{copied{b.Epoch, b.Index, slices.Clone(b.Images), slices.Clone(b.Labels), slices.Clone(b.Indices)}, slices.Clone(b.Dense)})
	}
}

func mustCanvases(t testing.TB, n, size int) *DigitCanvases {
	t.Helper()
	d, err := newDigitCanvases(blockDigits(t, 5), n, size, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDenseLoader: a dense data set's batches carry its label maps, and
// depend only on (seed, epoch, index), as a classification set's do.
func TestDenseLoader(t *testing.T) {
	d := mustCanvases(t, 45, 32)
	base := LoaderConfig{BatchSize: 8, Shuffle: true, Seed: 11}
	want := denseEpoch(t, mustDenseLoader(t, d, base), 1, 0)
	if len(want) != 6 || len(want[5].indices) != 5 {
		t.Fatalf("%d batches, the last of %d examples; want 6, the last of 5", len(want), len(want[len(want)-1].indices))
	}
	for k, b := range want {
		if len(b.labels) != 0 || len(b.dense) != len(b.indices)*32*32 || len(b.images) != len(b.indices)*32*32 {
			t.Fatalf("batch %d: %d labels, %d label-map values, %d image values for %d examples of 1×32×32",
				k, len(b.labels), len(b.dense), len(b.images), len(b.indices))
		}
		for j, i := range b.indices {
			img, labels := canvas(t, d, i)
			if !slices.Equal(b.images[j*1024:(j+1)*1024], img) || !slices.Equal(b.dense[j*1024:(j+1)*1024], labels) {
				t.Errorf("batch %d, example %d (canvas %d) differs from Example", k, j, i)
			}
		}
	}
	for _, tc := range []struct{ workers, prefetch int }{{0, 0}, {1, 1}, {3, 0}} {
		cfg := base
		cfg.Workers, cfg.Prefetch = tc.workers, tc.prefetch
		l := mustDenseLoader(t, d, cfg)
		for _, from := range []int{0, 2, 6} {
			got := denseEpoch(t, l, 1, from)
			if !slices.EqualFunc(got, want[from:], func(a, b denseCopy) bool {
				return equalBatches([]copied{a.copied}, []copied{b.copied}) && slices.Equal(a.dense, b.dense)
			}) {
				t.Errorf("workers %d prefetch %d from batch %d: batches differ from the sequential run", tc.workers, tc.prefetch, from)
			}
		}
	}
	if _, err := NewDenseLoader(d, LoaderConfig{BatchSize: 46, DropLast: true}); err == nil || !strings.Contains(err.Error(), "45 examples make no full batch of 46") {
		t.Errorf("a batch larger than the set with DropLast: got %v", err)
	}
}

func mustDenseLoader(t testing.TB, d DenseDataset, cfg LoaderConfig) *Loader {
	t.Helper()
	l, err := NewDenseLoader(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// badDense is a DenseDataset whose example bad fails and whose example
// badLabel has a label out of range at pixel 5.
type badDense struct {
	DenseDataset
	bad, badLabel int
}

func (b *badDense) Example(i int, img []float32, labels []int32) error {
	if i == b.bad {
		return errors.New("cannot draw")
	}
	err := b.DenseDataset.Example(i, img, labels)
	if i == b.badLabel {
		labels[5] = -1
	}
	return err
}

func TestDenseLoaderErrors(t *testing.T) {
	d := mustCanvases(t, 20, 28)
	for _, tc := range []struct {
		name string
		d    DenseDataset
		want string
	}{
		{"Example fails", &badDense{DenseDataset: d, bad: 9, badLabel: -1}, "data: epoch 0, batch 2: example 9: cannot draw"},
		{"label out of range", &badDense{DenseDataset: d, bad: -1, badLabel: 6}, "data: epoch 0, batch 1: example 6 has label -1 at row 0, column 5, expected 0 to 5"},
	} {
		for _, workers := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/workers=%d", tc.name, workers), func(t *testing.T) {
				it, err := mustDenseLoader(t, tc.d, LoaderConfig{BatchSize: 4, Workers: workers}).Epoch(context.Background(), 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer it.Close()
				for err == nil {
					_, err = it.Next()
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %v, want an error containing %q", err, tc.want)
				}
			})
		}
	}
}

func TestNormalizeRepeatDense(t *testing.T) {
	d := mustCanvases(t, 4, 30)
	img, labels := canvas(t, d, 2)
	n, err := NormalizeDense(d, []float64{0.25}, []float64{0.5})
	if err != nil {
		t.Fatal(err)
	}
	rgb, err := RepeatChannelsDense(n, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := rgb.Shape(); c != 3 || h != 30 || w != 30 || rgb.Classes() != 6 || rgb.Len() != 4 {
		t.Fatalf("%d examples of %d×%d×%d, %d classes; want 4 of 3×30×30, 6", rgb.Len(), c, h, w, rgb.Classes())
	}
	got, gotLabels := canvas(t, rgb, 2)
	if !slices.Equal(gotLabels, labels) {
		t.Error("the label map changed through NormalizeDense and RepeatChannelsDense")
	}
	for k := range 3 {
		for j, v := range img {
			if want := (v - 0.25) * 2; got[k*900+j] != want {
				t.Fatalf("channel %d, pixel %d: %g, want (%g − 0.25)/0.5 = %g", k, j, got[k*900+j], v, want)
			}
		}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"normalise, two means", second(NormalizeDense(d, []float64{0, 0}, []float64{1, 1})), "normalising 1 channels needs 1 means and 1 stds, found 2 and 2"},
		{"normalise, zero std", second(NormalizeDense(d, []float64{0}, []float64{0})), "channel 0 with mean 0 and std 0"},
		{"repeat three channels", second(RepeatChannelsDense(rgb, 3)), "needs a one-channel data set, found 3 channels"},
		{"repeat to zero", second(RepeatChannelsDense(d, 0)), "repeating to 0 channels"},
		{"repeated buffer", rgb.Example(0, make([]float32, 900), labels), "image buffer holds 900 values, expected 3×30×30 = 2700"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, tc.err, tc.want)
		}
	}
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }
