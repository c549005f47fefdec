package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// copied is a batch copied out of the Loader's reused buffers.
type copied struct {
	epoch, index int
	images       []float32
	labels       []int32
	indices      []int
}

// collect reads the rest of an epoch, copying each batch.
func collect(t testing.TB, it *Iter) []copied {
	t.Helper()
	var out []copied
	for {
		b, err := it.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.N != len(b.Labels) || b.N != len(b.Indices) {
			t.Fatalf("batch %d: N %d with %d labels, %d indices", b.Index, b.N, len(b.Labels), len(b.Indices))
		}
		out = append(out, copied{b.Epoch, b.Index, slices.Clone(b.Images), slices.Clone(b.Labels), slices.Clone(b.Indices)})
	}
}

// epochBatches runs epoch epoch of l from batch from and returns its batches.
func epochBatches(t testing.TB, l *Loader, epoch, from int) []copied {
	t.Helper()
	it, err := l.Epoch(context.Background(), epoch, from)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	return collect(t, it)
}

// synthetic is a data set of n examples of c×h×w in [0,255] whose values
// tell the example apart (value j of example i is (7i + j) mod 256) and
// whose label is i mod classes.
func synthetic(t testing.TB, n, c, h, w, classes int) *Images {
	t.Helper()
	size := c * h * w
	pixels := make([]uint8, n*size)
	for i := range n {
		for j := range size {
			pixels[i*size+j] = byte(7*i + j)
		}
	}
	labels := make([]uint8, n)
	for i := range labels {
		labels[i] = byte(i % classes)
	}
	return mustImages(t, pixels, labels, c, h, w, classes, 1)
}

func mustLoader(t testing.TB, d Dataset, cfg LoaderConfig) *Loader {
	t.Helper()
	l, err := NewLoader(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLoaderBatches(t *testing.T) {
	d := synthetic(t, 10, 2, 2, 3, 4)
	for _, tc := range []struct {
		name    string
		cfg     LoaderConfig
		batches int
		sizes   []int
	}{
		{"keep last", LoaderConfig{BatchSize: 4}, 3, []int{4, 4, 2}},
		{"drop last", LoaderConfig{BatchSize: 4, DropLast: true}, 2, []int{4, 4}},
		{"exact", LoaderConfig{BatchSize: 5, DropLast: true}, 2, []int{5, 5}},
		{"one batch", LoaderConfig{BatchSize: 64}, 1, []int{10}},
		{"shuffled, workers", LoaderConfig{BatchSize: 3, Shuffle: true, Seed: 9, Workers: 3}, 4, []int{3, 3, 3, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustLoader(t, d, tc.cfg)
			if l.Batches() != tc.batches {
				t.Errorf("Batches() = %d, want %d", l.Batches(), tc.batches)
			}
			var sizes []int
			for k, b := range epochBatches(t, l, 2, 0) {
				sizes = append(sizes, len(b.labels))
				if len(b.images) != 12*len(b.labels) {
					t.Errorf("batch %d: %d values for %d examples of 2×2×3", k, len(b.images), len(b.labels))
				}
				if b.epoch != 2 || b.index != k {
					t.Errorf("batch %d says epoch %d index %d", k, b.epoch, b.index)
				}
				// Every example is the one its index names, where it belongs.
				for j, i := range b.indices {
					want, label := example(t, d, i)
					if !slices.Equal(b.images[j*12:(j+1)*12], want) || int(b.labels[j]) != label {
						t.Errorf("batch %d, example %d (index %d) differs from Example", k, j, i)
					}
				}
				if !tc.cfg.Shuffle && !slices.Equal(b.indices, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}[k*tc.cfg.BatchSize:k*tc.cfg.BatchSize+len(b.indices)]) {
					t.Errorf("unshuffled batch %d has indices %v, want index order", k, b.indices)
				}
			}
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("batch sizes %v, want %v", sizes, tc.sizes)
			}
		})
	}
}

func TestLoaderConfigErrors(t *testing.T) {
	d := synthetic(t, 10, 1, 2, 2, 2)
	for _, tc := range []struct {
		name string
		cfg  LoaderConfig
		want string
	}{
		{"zero batch", LoaderConfig{}, "batch size 0"},
		{"negative workers", LoaderConfig{BatchSize: 2, Workers: -1}, "-1 workers"},
		{"negative prefetch", LoaderConfig{BatchSize: 2, Workers: 1, Prefetch: -1}, "prefetch -1"},
		{"prefetch without workers", LoaderConfig{BatchSize: 2, Prefetch: 2}, "prefetch 2 needs workers"},
		{"no full batch", LoaderConfig{BatchSize: 11, DropLast: true}, "10 examples make no full batch of 11"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLoader(d, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	l := mustLoader(t, d, LoaderConfig{BatchSize: 4})
	for _, tc := range []struct {
		epoch, from int
		want        string
	}{
		{-1, 0, "epoch -1"},
		{0, -1, "starting batch -1: expected 0 to 3"},
		{0, 4, "starting batch 4: expected 0 to 3"},
	} {
		if _, err := l.Epoch(context.Background(), tc.epoch, tc.from); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Epoch(%d, %d): got %v, want an error containing %q", tc.epoch, tc.from, err, tc.want)
		}
	}
}

// order returns the indices of an epoch's batches, concatenated.
func order(batches []copied) []int {
	var out []int
	for _, b := range batches {
		out = append(out, b.indices...)
	}
	return out
}

func TestShuffleDeterminism(t *testing.T) {
	const n = 103
	d := synthetic(t, n, 1, 1, 2, 5)
	cfg := LoaderConfig{BatchSize: 8, Shuffle: true, Seed: 42}
	l := mustLoader(t, d, cfg)
	identity := make([]int, n)
	for i := range identity {
		identity[i] = i
	}

	orders := map[string]int{}
	for epoch := range 4 {
		got := order(epochBatches(t, l, epoch, 0))
		// A permutation of every index.
		if sorted := slices.Sorted(slices.Values(got)); !slices.Equal(sorted, identity) {
			t.Fatalf("epoch %d is not a permutation of 0..%d: %v", epoch, n-1, got)
		}
		// The documented generator: PCG seeded by (seed, epoch).
		if want := rand.New(rand.NewPCG(42, uint64(epoch))).Perm(n); !slices.Equal(got, want) {
			t.Errorf("epoch %d order differs from PCG(42, %d).Perm", epoch, epoch)
		}
		// The same seed and epoch again, from another Loader: the same order.
		if again := order(epochBatches(t, mustLoader(t, d, cfg), epoch, 0)); !slices.Equal(got, again) {
			t.Errorf("epoch %d: two runs give different orders", epoch)
		}
		orders[fmt.Sprint(got)] = epoch
	}
	if len(orders) != 4 {
		t.Errorf("4 epochs gave only %d distinct orders", len(orders))
	}
	other := cfg
	other.Seed = 43
	if slices.Equal(order(epochBatches(t, l, 0, 0)), order(epochBatches(t, mustLoader(t, d, other), 0, 0))) {
		t.Error("seeds 42 and 43 give the same order")
	}

	// Dropping the last batch drops the tail of the same permutation.
	drop := cfg
	drop.DropLast = true
	full, dropped := order(epochBatches(t, l, 1, 0)), order(epochBatches(t, mustLoader(t, d, drop), 1, 0))
	if len(dropped) != n/8*8 || !slices.Equal(dropped, full[:len(dropped)]) {
		t.Errorf("DropLast: %d indices, want the first %d of the full order", len(dropped), n/8*8)
	}
}

// TestWorkersAndResume checks that batches depend only on (seed, epoch,
// index): not on the number of workers nor on where the epoch started.
func TestWorkersAndResume(t *testing.T) {
	d := synthetic(t, 250, 3, 4, 5, 10)
	base := LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 7}
	want := map[int][]copied{} // by epoch, from the sequential path
	seq := mustLoader(t, d, base)
	for epoch := range 3 {
		want[epoch] = epochBatches(t, seq, epoch, 0)
	}
	for _, tc := range []struct {
		workers, prefetch int
	}{
		{0, 0}, {1, 0}, {1, 1}, {2, 0}, {4, 1}, {8, 32},
	} {
		cfg := base
		cfg.Workers, cfg.Prefetch = tc.workers, tc.prefetch
		l := mustLoader(t, d, cfg)
		for epoch := range 3 {
			for _, from := range []int{0, 1, 7, 15, 16} {
				got := epochBatches(t, l, epoch, from)
				if !equalBatches(got, want[epoch][from:]) {
					t.Errorf("workers %d prefetch %d, epoch %d from batch %d: batches differ from the uninterrupted sequential run",
						tc.workers, tc.prefetch, epoch, from)
				}
			}
		}
	}
}

// TestLoaderEpochsAtOnce reads two epochs of one Loader at once, from two
// goroutines: each gives the batches it gives alone.
func TestLoaderEpochsAtOnce(t *testing.T) {
	d := synthetic(t, 200, 1, 3, 3, 10)
	l := mustLoader(t, d, LoaderConfig{BatchSize: 9, Shuffle: true, Seed: 3, Workers: 2})
	want := [][]copied{epochBatches(t, l, 0, 0), epochBatches(t, l, 1, 0)}
	got := make([][]copied, 2)
	var wg sync.WaitGroup
	for epoch := range 2 {
		wg.Go(func() {
			it, err := l.Epoch(context.Background(), epoch, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer it.Close()
			for {
				b, err := it.Next()
				if err != nil {
					if err != io.EOF {
						t.Error(err)
					}
					return
				}
				got[epoch] = append(got[epoch], copied{b.Epoch, b.Index, slices.Clone(b.Images), slices.Clone(b.Labels), slices.Clone(b.Indices)})
			}
		})
	}
	wg.Wait()
	for epoch := range 2 {
		if !equalBatches(got[epoch], want[epoch]) {
			t.Errorf("epoch %d read beside another differs from epoch %d read alone", epoch, epoch)
		}
	}
}

func equalBatches(a, b []copied) bool {
	return slices.EqualFunc(a, b, func(x, y copied) bool {
		return x.epoch == y.epoch && x.index == y.index && slices.Equal(x.images, y.images) &&
			slices.Equal(x.labels, y.labels) && slices.Equal(x.indices, y.indices)
	})
}

// failing is a Dataset whose example bad cannot be produced, or whose
// example badLabel has a label out of range.
type failing struct {
	Dataset
	bad, badLabel int
}

func (f *failing) Example(i int, dst []float32) (int, error) {
	if i == f.bad {
		return 0, errors.New("corrupt JPEG")
	}
	label, err := f.Dataset.Example(i, dst)
	if i == f.badLabel {
		return f.Classes(), err
	}
	return label, err
}

func TestLoaderExampleErrors(t *testing.T) {
	d := synthetic(t, 40, 1, 2, 2, 3)
	for _, tc := range []struct {
		name    string
		d       Dataset
		batches int // the batches before the failing one
		want    string
	}{
		{"Example fails", &failing{Dataset: d, bad: 21, badLabel: -1}, 5, "data: epoch 0, batch 5: example 21: corrupt JPEG"},
		{"label out of range", &failing{Dataset: d, bad: -1, badLabel: 13}, 3, "example 13 has label 3, expected 0 to 2"},
	} {
		for _, workers := range []int{0, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", tc.name, workers), func(t *testing.T) {
				before := runtime.NumGoroutine()
				l := mustLoader(t, tc.d, LoaderConfig{BatchSize: 4, Workers: workers})
				it, err := l.Epoch(context.Background(), 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer it.Close()
				var batches int
				for {
					_, err = it.Next()
					if err != nil {
						break
					}
					batches++
				}
				if batches != tc.batches || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("after %d batches got %v, want an error containing %q", batches, err, tc.want)
				}
				if _, again := it.Next(); again != err {
					t.Errorf("Next after the error: got %v, want the same error again", again)
				}
				// The error stops the workers even before Close.
				waitGoroutines(t, before)
			})
		}
	}
}

// waitGoroutines waits up to a second for the goroutine count to fall back
// to want: goroutines that have finished their work may take a moment to
// exit.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoaderStops(t *testing.T) {
	d := synthetic(t, 1000, 1, 4, 4, 10)
	for _, tc := range []struct {
		name string
		// stop stops the epoch after two batches and returns the error Next
		// must give after it.
		stop func(it *Iter, cancel context.CancelFunc) error
	}{
		{"Close", func(it *Iter, _ context.CancelFunc) error { it.Close(); return ErrClosed }},
		{"cancel", func(_ *Iter, cancel context.CancelFunc) error { cancel(); return context.Canceled }},
		{"Close twice", func(it *Iter, _ context.CancelFunc) error { it.Close(); it.Close(); return ErrClosed }},
	} {
		for _, workers := range []int{0, 1, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", tc.name, workers), func(t *testing.T) {
				before := runtime.NumGoroutine()
				l := mustLoader(t, d, LoaderConfig{BatchSize: 10, Shuffle: true, Workers: workers})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				it, err := l.Epoch(ctx, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					if _, err := it.Next(); err != nil {
						t.Fatal(err)
					}
				}
				want := tc.stop(it, cancel)
				if _, err := it.Next(); err != want {
					t.Errorf("Next after stopping: got %v, want %v", err, want)
				}
				// Without Close in the cancel case: the workers exit anyway.
				waitGoroutines(t, before)
				it.Close()
			})
		}
	}
}

// TestLoaderNoLeakAfterEpochs runs whole and partial epochs and checks that
// no goroutine survives them, and that buffers are reused across epochs.
func TestLoaderNoLeakAfterEpochs(t *testing.T) {
	before := runtime.NumGoroutine()
	l := mustLoader(t, synthetic(t, 300, 1, 3, 3, 10), LoaderConfig{BatchSize: 7, Shuffle: true, Workers: 3, Prefetch: 5})
	for epoch := range 5 {
		epochBatches(t, l, epoch, epoch) // whole epochs, resumed
		it, err := l.Epoch(context.Background(), epoch, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := it.Next(); err != nil { // abandoned after one batch
			t.Fatal(err)
		}
		it.Close()
	}
	if len(l.spare) != 6 {
		t.Errorf("%d spare buffers after the epochs, want the 6 (Prefetch+1) of one epoch", len(l.spare))
	}
	waitGoroutines(t, before)
}

// TestLoaderAllocations checks that nothing is allocated per batch: the
// allocations of an epoch do not grow with its number of batches.
func TestLoaderAllocations(t *testing.T) {
	d := synthetic(t, 4000, 1, 2, 2, 10)
	for _, workers := range []int{0, 2} {
		l := mustLoader(t, d, LoaderConfig{BatchSize: 2, Shuffle: true, Workers: workers})
		epoch := func() {
			it, err := l.Epoch(context.Background(), 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer it.Close()
			for {
				if _, err := it.Next(); err != nil {
					return
				}
			}
		}
		epoch() // warm-up: allocates the buffers
		if allocs := testing.AllocsPerRun(5, epoch); allocs > 50 {
			t.Errorf("workers %d: %.0f allocations an epoch of %d batches, want at most 50 (none per batch)",
				workers, allocs, l.Batches())
		}
	}
}

// BenchmarkLoader measures the loader on MNIST-shaped data (batches of 128
// 1×28×28 examples, normalised), the way the trainer will use it. Each
// iteration is one batch.
func BenchmarkLoader(b *testing.B) {
	const n = 60000
	r := rand.New(rand.NewPCG(1, 2))
	pixels := make([]uint8, n*28*28)
	for i := range pixels {
		pixels[i] = uint8(r.Uint32())
	}
	labels := make([]uint8, n)
	for i := range labels {
		labels[i] = uint8(r.IntN(10))
	}
	images := mustImages(b, pixels, labels, 1, 28, 28, 10, 1.0/255)
	d, err := Normalize(images, []float64{MNISTMean}, []float64{MNISTStd})
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{0, 1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			l := mustLoader(b, d, LoaderConfig{BatchSize: 128, Shuffle: true, Seed: 1, Workers: workers})
			b.ReportAllocs()
			b.ResetTimer()
			done := 0
			for epoch := 0; done < b.N; epoch++ {
				it, err := l.Epoch(context.Background(), epoch, 0)
				if err != nil {
					b.Fatal(err)
				}
				for ; done < b.N; done++ {
					if _, err := it.Next(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				it.Close()
			}
			b.ReportMetric(float64(b.N*128)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// epochStamp is an EpochDataset whose examples hold their epoch.
type epochStamp struct{ n int }

func (e epochStamp) Len() int                                  { return e.n }
func (e epochStamp) Shape() (c, h, w int)                      { return 1, 1, 1 }
func (e epochStamp) Classes() int                              { return 2 }
func (e epochStamp) Example(i int, dst []float32) (int, error) { return e.EpochExample(0, i, dst) }
func (e epochStamp) EpochExample(epoch, i int, dst []float32) (int, error) {
	dst[0] = float32(100*epoch + i)
	return i % 2, nil
}

// TestLoaderPassesTheEpoch: a data set that augments per epoch is asked
// for each example with the loader's epoch.
func TestLoaderPassesTheEpoch(t *testing.T) {
	l, err := NewLoader(epochStamp{4}, LoaderConfig{BatchSize: 4, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	it, err := l.Epoch(context.Background(), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	b, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	for j, i := range b.Indices {
		if b.Images[j] != float32(300+i) {
			t.Errorf("example %d holds %g, want epoch 3's %d", i, b.Images[j], 300+i)
		}
	}
}
