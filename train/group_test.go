package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// localGroup is a Group of goroutines in one process, standing in for an
// MPI world in tests. Its sums add the members' buffers in rank order,
// ((b0 + b1) + b2) + …, the order in which one process accumulates its
// replicas' gradients, so that runs spread over members can be compared
// with one process bit for bit.
type localGroup struct {
	shared *localWorld
	rank   int
}

// localWorld is what the members of a localGroup share: the buffers of
// the collective in progress and a generation count that releases them.
type localWorld struct {
	size    int
	mu      sync.Mutex
	cond    *sync.Cond
	gen     int
	bufs32  [][]float32
	bufs64  [][]float64
	arrived int
	failed  error
}

func newLocalGroups(size int) []Group {
	w := &localWorld{size: size, bufs32: make([][]float32, size), bufs64: make([][]float64, size)}
	w.cond = sync.NewCond(&w.mu)
	gs := make([]Group, size)
	for r := range gs {
		gs[r] = &localGroup{shared: w, rank: r}
	}
	return gs
}

// collective deposits the member's buffers and waits for every member;
// the last to arrive runs combine over all of them.
func (g *localGroup) collective(b32 []float32, b64 []float64, combine func(w *localWorld) error) error {
	w := g.shared
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	w.bufs32[g.rank], w.bufs64[g.rank] = b32, b64
	w.arrived++
	gen := w.gen
	if w.arrived == w.size {
		w.failed = combine(w)
		w.arrived = 0
		w.gen++
		w.cond.Broadcast()
		return w.failed
	}
	for w.gen == gen {
		w.cond.Wait()
	}
	return w.failed
}

func (g *localGroup) Rank() int { return g.rank }
func (g *localGroup) Size() int { return g.shared.size }

func (g *localGroup) SumFloat32(buf []float32) error {
	return g.collective(buf, nil, func(w *localWorld) error {
		sum := slices.Clone(w.bufs32[0])
		for _, b := range w.bufs32[1:] {
			if len(b) != len(sum) {
				return errors.New("sum of buffers of different lengths")
			}
			for i, v := range b {
				sum[i] += v
			}
		}
		for _, b := range w.bufs32 {
			copy(b, sum)
		}
		return nil
	})
}

func (g *localGroup) SumFloat64(buf []float64) error {
	return g.collective(nil, buf, func(w *localWorld) error {
		sum := slices.Clone(w.bufs64[0])
		for _, b := range w.bufs64[1:] {
			for i, v := range b {
				sum[i] += v
			}
		}
		for _, b := range w.bufs64 {
			copy(b, sum)
		}
		return nil
	})
}

func (g *localGroup) BroadcastFloat32(buf []float32, root int) error {
	return g.collective(buf, nil, func(w *localWorld) error {
		for _, b := range w.bufs32 {
			copy(b, w.bufs32[root])
		}
		return nil
	})
}

func (g *localGroup) BroadcastFloat64(buf []float64, root int) error {
	return g.collective(nil, buf, func(w *localWorld) error {
		for _, b := range w.bufs64 {
			copy(b, w.bufs64[root])
		}
		return nil
	})
}

func (g *localGroup) Barrier() error {
	return g.collective(nil, nil, func(*localWorld) error { return nil })
}

// trainGroup runs cfg as every member of a localGroup of size members,
// each with threads replicas; member r > 0 gets its own Out (which it must
// leave empty) and a different model file, whose weights rank 0's must
// replace.
func trainGroup(t *testing.T, cfg Config, size, threads int) []Metrics {
	t.Helper()
	metrics, err := tryTrainGroup(t, cfg, size, threads)
	if err != nil {
		t.Fatal(err)
	}
	return metrics
}

// tryTrainGroup is trainGroup returning rank 0's error, if any.
func tryTrainGroup(t *testing.T, cfg Config, size, threads int) ([]Metrics, error) {
	t.Helper()
	groups := newLocalGroups(size)
	metrics := make([][]Metrics, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r, g := range groups {
		c := cfg
		c.Engine.Group, c.Engine.Threads = g, threads
		if r > 0 {
			c.Out = filepath.Join(t.TempDir(), "rank")
			c.Log = nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			metrics[r], errs[r] = Train(context.Background(), c)
			if errs[r] != nil {
				// A member that fails leaves the others waiting, as an MPI
				// job would until MPI_Abort; end the test instead.
				g.(*localGroup).shared.fail(errs[r])
			}
			if r > 0 {
				if _, err := os.Stat(c.Out); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("rank %d wrote %s", r, c.Out)
				}
			}
		}()
	}
	wg.Wait()
	return metrics[0], errs[0]
}

// fail makes every collective in progress or to come return err.
func (w *localWorld) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = err
	}
	w.gen++
	w.cond.Broadcast()
}

// sameRun checks that the run folder got holds the weights, running
// statistics, learning figures and steps of want, bit for bit.
func sameRun(t *testing.T, name, got, want string) {
	t.Helper()
	w, g := weightsOf(t, filepath.Join(want, ModelFile)), weightsOf(t, filepath.Join(got, ModelFile))
	for k, v := range w {
		if !slices.Equal(g[k], v) {
			t.Errorf("%s: %s differs from the single process's", name, k)
		}
	}
	steps := func(dir string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, StepsFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !slices.Equal(steps(got), steps(want)) {
		t.Errorf("%s: %s differs from the single process's", name, StepsFile)
	}
	gm, _ := ReadMetrics(filepath.Join(got, MetricsFile))
	wm, _ := ReadMetrics(filepath.Join(want, MetricsFile))
	if len(gm) != len(wm) {
		t.Fatalf("%s: %d epochs of metrics, the single process %d", name, len(gm), len(wm))
	}
	for i := range wm {
		a, b := gm[i], wm[i]
		a.ImagesPerS, a.EpochSecond, a.AllreduceSeconds = 0, 0, 0
		b.ImagesPerS, b.EpochSecond = 0, 0
		if a != b {
			t.Errorf("%s epoch %d: %+v, the single process %+v", name, i+1, a, b)
		}
	}
}

// TestGroupMatchesReplicas: a run over 2 members of 1 replica each, over
// 4 of 1, over 2 of 2, and over 2 of 1 in micro-batches, ends bit for bit
// as one process with as many replicas (and micro-batches), members but
// rank 0 write nothing, a run checkpointed by 2 members resumes in one
// process, and a resume with another total of replicas is refused.
func TestGroupMatchesReplicas(t *testing.T) {
	dataDir, model := fixture(t, 10)
	dir := t.TempDir()
	for _, tc := range []struct{ size, threads, micro int }{{2, 1, 0}, {4, 1, 0}, {2, 2, 0}, {2, 1, 16}} {
		total := tc.size * tc.threads
		single := filepath.Join(dir, "single", fmt.Sprintf("%d-%d", total, tc.micro))
		cfg := config(dataDir, model, single, 2)
		cfg.Engine.Threads, cfg.Engine.MicroBatch = total, tc.micro
		if _, err := os.Stat(single); err != nil {
			if _, err := Train(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
		}
		spread := filepath.Join(dir, "group", fmt.Sprintf("%d-%d-%d", tc.size, tc.threads, tc.micro))
		cfg.Out = spread
		metrics := trainGroup(t, cfg, tc.size, tc.threads)
		if metrics[0].AllreduceSeconds <= 0 {
			t.Errorf("%d members: no allreduce time recorded", tc.size)
		}
		sameRun(t, spread, spread, single)
	}

	// Epoch 1 over 2 members, epoch 2 resumed by one process of 2 replicas.
	single := filepath.Join(dir, "single", "2-0")
	resumed := filepath.Join(dir, "resumed")
	cfg := config(dataDir, model, resumed, 1)
	trainGroup(t, cfg, 2, 1)
	cfg.Recipe.Epochs, cfg.Resume = 2, true
	if _, err := Train(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	sameRun(t, "resumed in one process", resumed, single)

	// Resuming with another number of replicas in all is refused, saying
	// that the count is of all the processes.
	cfg.Recipe.Epochs = 3
	_, err := tryTrainGroup(t, cfg, 2, 2)
	want := "was made with Engine.Threads 2 in all; this run asks Engine.Threads 4 in all (2 processes)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("resuming 2 replicas' run with 2 processes of 2: %v, want %q", err, want)
	}
}
