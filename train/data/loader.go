package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
)

// LoaderConfig says how a Loader cuts a data set into batches.
type LoaderConfig struct {
	// BatchSize is the number of examples a batch (at least 1).
	BatchSize int
	// Shuffle draws a new order every epoch, a permutation from PCG
	// seeded by (Seed, epoch); without it examples come in index order, as
	// a test set is evaluated.
	Shuffle bool
	Seed    uint64
	// DropLast drops the last batch of an epoch when it is smaller than
	// BatchSize; otherwise it is kept, with fewer examples.
	DropLast bool
	// Workers is the number of goroutines that fill batches ahead of the
	// trainer; 0 fills each batch inside Next, on the caller's goroutine.
	// The batches are the same whatever the number.
	Workers int
	// Prefetch is the number of batches filled ahead (needs Workers > 0;
	// 0 means 2·Workers). Memory is Prefetch+1 batches.
	Prefetch int
}

// Loader cuts a Dataset (or a DenseDataset) into batches, one epoch at a
// time (see [Loader.Epoch]). Batch buffers are kept between epochs, so a
// run that goes through many epochs allocates them once. Its methods may
// be called from several goroutines, and several epochs may be open at
// once.
type Loader struct {
	// Exactly one of d and dense is set.
	d     Dataset
	dense DenseDataset
	// n and classes are the data set's length and class count.
	n, classes int
	cfg        LoaderConfig
	size       int // values in one example: c·h·w
	plane      int // values in one label map (h·w) of a dense set; 0 otherwise

	mu    sync.Mutex
	spare []*Batch // buffers of closed epochs, for the next ones
}

// Batch is a batch of examples. It belongs to the Loader: it is valid until
// the next call of Next or Close of the Iter that returned it, after which
// its buffers are refilled; its slices are to be read, not kept or changed.
type Batch struct {
	// Epoch and Index say which batch this is: batch Index of epoch Epoch.
	Epoch, Index int
	// N is the number of examples: BatchSize, or fewer in the last batch.
	N int
	// Images holds N examples in N×C×H×W order; Labels their labels
	// (empty for a dense data set).
	Images []float32
	Labels []int32
	// Dense holds the N label maps of a dense data set, in N×H×W order
	// (empty for a classification data set).
	Dense []int32
	// Indices are the examples' indices in the data set.
	Indices []int

	ready chan struct{} // a token when a worker has filled the batch
	err   error         // why filling failed
}

// NewLoader makes a Loader over d.
func NewLoader(d Dataset, cfg LoaderConfig) (*Loader, error) {
	c, h, w := d.Shape()
	l := &Loader{d: d, n: d.Len(), classes: d.Classes(), size: c * h * w}
	return l, l.configure(cfg)
}

// NewDenseLoader makes a Loader over a dense data set: its batches carry
// label maps in Dense instead of labels in Labels, with the same order,
// determinism and resumption.
func NewDenseLoader(d DenseDataset, cfg LoaderConfig) (*Loader, error) {
	c, h, w := d.Shape()
	l := &Loader{dense: d, n: d.Len(), classes: d.Classes(), size: c * h * w, plane: h * w}
	return l, l.configure(cfg)
}

// configure checks cfg against the data set and sets it.
func (l *Loader) configure(cfg LoaderConfig) error {
	switch {
	case cfg.BatchSize < 1:
		return fmt.Errorf("data: batch size %d: expected at least 1", cfg.BatchSize)
	case cfg.Workers < 0:
		return fmt.Errorf("data: %d workers: expected 0 or more", cfg.Workers)
	case cfg.Prefetch < 0:
		return fmt.Errorf("data: prefetch %d: expected 0 or more", cfg.Prefetch)
	case cfg.Prefetch > 0 && cfg.Workers == 0:
		return fmt.Errorf("data: prefetch %d needs workers to fill batches ahead, found 0 workers", cfg.Prefetch)
	case l.n < 1:
		return errors.New("data: the data set has no examples")
	case cfg.DropLast && l.n < cfg.BatchSize:
		return fmt.Errorf("data: %d examples make no full batch of %d, and the last partial batch is dropped",
			l.n, cfg.BatchSize)
	}
	if cfg.Workers > 0 && cfg.Prefetch == 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	l.cfg = cfg
	return nil
}

// Batches returns the number of batches in an epoch.
func (l *Loader) Batches() int {
	if l.cfg.DropLast {
		return l.n / l.cfg.BatchSize
	}
	return (l.n + l.cfg.BatchSize - 1) / l.cfg.BatchSize
}

// order returns the order of the examples in an epoch: a permutation drawn
// from PCG seeded by (Seed, epoch), or index order without Shuffle.
func (l *Loader) order(epoch int) []int {
	if l.cfg.Shuffle {
		return rand.New(rand.NewPCG(l.cfg.Seed, uint64(epoch))).Perm(l.n)
	}
	order := make([]int, l.n)
	for i := range order {
		order[i] = i
	}
	return order
}

// Epoch starts epoch epoch (from 0) at batch from (from 0 to Batches()): the
// batches it yields are those an epoch started at 0 yields from batch from
// on, which is how a run resumes mid-epoch. With Workers, it starts
// goroutines that fill batches ahead; they stop at the epoch's end, when ctx
// is cancelled, or at Close. Close the Iter when done with it, so its
// buffers return to the Loader.
func (l *Loader) Epoch(ctx context.Context, epoch, from int) (*Iter, error) {
	if epoch < 0 {
		return nil, fmt.Errorf("data: epoch %d: expected 0 or more", epoch)
	}
	if from < 0 || from > l.Batches() {
		return nil, fmt.Errorf("data: starting batch %d: expected 0 to %d (the batches in an epoch)", from, l.Batches())
	}
	it := &Iter{l: l, epoch: epoch, order: l.order(epoch), next: from, end: l.Batches()}
	it.ctx, it.cancel = context.WithCancel(ctx)
	it.bufs = l.takeBuffers(l.cfg.Prefetch + 1)
	if l.cfg.Workers == 0 {
		return it, nil
	}
	it.free = make(chan *Batch, len(it.bufs))
	it.queue = make(chan *Batch, len(it.bufs))
	for _, b := range it.bufs {
		it.free <- b
	}
	jobs := make(chan *Batch, len(it.bufs))
	it.wg.Add(1 + l.cfg.Workers)
	go it.dispatch(jobs)
	for range l.cfg.Workers {
		go it.work(jobs)
	}
	return it, nil
}

// takeBuffers returns n batch buffers, spare ones first.
func (l *Loader) takeBuffers(n int) []*Batch {
	l.mu.Lock()
	k := max(len(l.spare)-n, 0)
	bufs := append([]*Batch(nil), l.spare[k:]...)
	l.spare = l.spare[:k]
	l.mu.Unlock()
	for len(bufs) < n {
		b := &Batch{Images: make([]float32, l.cfg.BatchSize*l.size), ready: make(chan struct{}, 1)}
		if l.dense != nil {
			b.Dense = make([]int32, l.cfg.BatchSize*l.plane)
		} else {
			b.Labels = make([]int32, l.cfg.BatchSize)
		}
		bufs = append(bufs, b)
	}
	return bufs
}

// Iter yields the batches of one epoch, in order. It is meant for one
// goroutine; to stop it from another, cancel the context given to Epoch.
type Iter struct {
	l      *Loader
	epoch  int
	order  []int
	next   int // the batch Next returns next
	end    int // the batches in the epoch
	ctx    context.Context
	cancel context.CancelFunc

	bufs  []*Batch       // every buffer this Iter holds
	free  chan *Batch    // buffers ready to be filled
	queue chan *Batch    // buffers handed to the workers, in batch order
	held  *Batch         // the batch the last Next returned
	wg    sync.WaitGroup // the dispatcher and the workers

	err    error // the error every later Next returns
	closed bool
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("data: Next on a closed epoch iterator")

// Next returns the epoch's next batch, valid until the following Next or
// Close; io.EOF after the last one; the context's error if it was
// cancelled; or the error a data set's Example returned.
func (it *Iter) Next() (*Batch, error) {
	if it.closed {
		return nil, ErrClosed
	}
	if it.err != nil {
		return nil, it.err
	}
	if it.held != nil && it.free != nil {
		it.free <- it.held // never blocks: free can hold every buffer
	}
	it.held = nil
	if it.next == it.end {
		return nil, it.stop(io.EOF)
	}

	if err := it.ctx.Err(); err != nil {
		return nil, it.stop(err)
	}
	var b *Batch
	if it.free == nil { // no workers: fill here
		b = it.bufs[0]
		b.Index = it.next
		b.err = it.fill(b)
	} else {
		select {
		case b = <-it.queue:
		case <-it.ctx.Done():
			return nil, it.stop(it.ctx.Err())
		}
		select {
		case <-b.ready:
		case <-it.ctx.Done():
			return nil, it.stop(it.ctx.Err())
		}
	}
	if b.err != nil {
		return nil, it.stop(b.err)
	}
	it.next++
	it.held = b
	return b, nil
}

// stop ends the epoch with err, which every later Next returns, and stops
// the workers: they fill no more batches once Next has nothing more to give.
func (it *Iter) stop(err error) error {
	it.err = err
	it.cancel()
	return err
}

// Close stops the workers, waits for them to exit and gives the buffers
// back to the Loader. It may be called more than once.
func (it *Iter) Close() {
	if it.closed {
		return
	}
	it.closed = true
	it.cancel()
	it.wg.Wait()
	for _, b := range it.bufs {
		select {
		case <-b.ready: // filled but never taken
		default:
		}
		b.err = nil
	}
	it.l.mu.Lock()
	it.l.spare = append(it.l.spare, it.bufs...)
	it.l.mu.Unlock()
	it.bufs, it.held = nil, nil
}

// dispatch hands the epoch's remaining batches to the workers in order,
// each in a free buffer, and queues them for Next in the same order.
func (it *Iter) dispatch(jobs chan<- *Batch) {
	defer it.wg.Done()
	defer close(jobs)
	for k := it.next; k < it.end; k++ {
		var b *Batch
		select {
		case b = <-it.free:
		case <-it.ctx.Done():
			return
		}
		b.Index = k
		// Neither blocks: each channel can hold every buffer.
		it.queue <- b
		jobs <- b
	}
}

// work fills the batches it receives until the dispatcher is done.
func (it *Iter) work(jobs <-chan *Batch) {
	defer it.wg.Done()
	for b := range jobs {
		if err := it.ctx.Err(); err != nil {
			b.err = err
		} else {
			b.err = it.fill(b)
		}
		b.ready <- struct{}{}
	}
}

// fill fills b with batch b.Index of the epoch.
func (it *Iter) fill(b *Batch) error {
	l := it.l
	lo := b.Index * l.cfg.BatchSize
	hi := min(lo+l.cfg.BatchSize, len(it.order))
	b.Epoch, b.N, b.Indices = it.epoch, hi-lo, it.order[lo:hi]
	b.Images = b.Images[:b.N*l.size]
	if l.dense != nil {
		b.Dense = b.Dense[:b.N*l.plane]
		return it.fillDense(b)
	}
	b.Labels = b.Labels[:b.N]
	// A data set with random augmentation draws each example's randomness
	// from (epoch, index), so every epoch augments afresh.
	epochs, perEpoch := l.d.(EpochDataset)
	for j, i := range b.Indices {
		var label int
		var err error
		if perEpoch {
			label, err = epochs.EpochExample(it.epoch, i, b.Images[j*l.size:(j+1)*l.size])
		} else {
			label, err = l.d.Example(i, b.Images[j*l.size:(j+1)*l.size])
		}
		if err != nil {
			return fmt.Errorf("data: epoch %d, batch %d: example %d: %w", it.epoch, b.Index, i, err)
		}
		if label < 0 || label >= l.classes {
			return fmt.Errorf("data: epoch %d, batch %d: example %d has label %d, expected 0 to %d",
				it.epoch, b.Index, i, label, l.classes-1)
		}
		b.Labels[j] = int32(label)
	}
	return nil
}

// fillDense fills the images and label maps of b, sized for its examples,
// from a dense data set.
func (it *Iter) fillDense(b *Batch) error {
	l := it.l
	for j, i := range b.Indices {
		labels := b.Dense[j*l.plane : (j+1)*l.plane]
		if err := l.dense.Example(i, b.Images[j*l.size:(j+1)*l.size], labels); err != nil {
			return fmt.Errorf("data: epoch %d, batch %d: example %d: %w", it.epoch, b.Index, i, err)
		}
		for p, label := range labels {
			if label < 0 || int(label) >= l.classes {
				_, _, w := l.dense.Shape()
				return fmt.Errorf("data: epoch %d, batch %d: example %d has label %d at row %d, column %d, expected 0 to %d",
					it.epoch, b.Index, i, label, p/w, p%w, l.classes-1)
			}
		}
	}
	return nil
}
