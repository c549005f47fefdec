package train

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Group is the set of processes that train one run together, data-parallel
// (an MPI world, package mpi): every process trains its share of every
// batch, the gradients are summed across the processes at every step, so
// that every one applies the same update, and only rank 0 reads and
// writes the run folder. Its methods are collective: every process calls
// each of them in the same order with buffers of the same length.
type Group interface {
	Rank() int
	Size() int
	// SumFloat32 and SumFloat64 replace buf by the element-wise sum of
	// every process's buf.
	SumFloat32(buf []float32) error
	SumFloat64(buf []float64) error
	// BroadcastFloat32 and BroadcastFloat64 copy root's buf into the
	// others'.
	BroadcastFloat32(buf []float32, root int) error
	BroadcastFloat64(buf []float64, root int) error
	// Barrier returns once every process has called it.
	Barrier() error
}

// writer reports whether this process writes the run folder: the only
// process of a run without a Group, or rank 0 of its Group.
func (r *run) writer() bool {
	return r.cfg.Engine.Group == nil || r.cfg.Engine.Group.Rank() == 0
}

// replicaLayout places this process's replicas among every process's:
// each process has threads of them, and the replicas of a run are
// numbered rank by rank, so that a batch is split across 2 processes of
// 1 replica as across 1 process of 2. It returns the number of the first
// of this process's and the number of replicas in the run. It also checks
// that every process trains the same model with the same batch, which the
// sums of gradients assume.
func (r *run) replicaLayout(threads int) (first, total int, err error) {
	g := r.cfg.Engine.Group
	if g == nil {
		return 0, threads, nil
	}
	params := 0
	for _, name := range r.w.Order {
		params += len(r.w.Params[name])
	}
	// Each process fills its own row; the sum is every process's row.
	const fields = 3
	rows := make([]float64, fields*g.Size())
	copy(rows[fields*g.Rank():], []float64{float64(threads), float64(params), float64(r.cfg.Recipe.Batch)})
	if err := g.SumFloat64(rows); err != nil {
		return 0, 0, err
	}
	for p := range g.Size() {
		row := rows[fields*p : fields*p+fields]
		if p < g.Rank() {
			first += int(row[0])
		}
		total += int(row[0])
		if p == g.Rank() {
			continue
		}
		if int(row[1]) != params {
			return 0, 0, fmt.Errorf("rank %d trains a model of %d parameters where rank %d's %s has %d: every process must train the same model", p, int(row[1]), g.Rank(), r.cfg.Model, params)
		}
		if int(row[2]) != r.cfg.Recipe.Batch {
			return 0, 0, fmt.Errorf("rank %d trains with batch %d where rank %d has %d: every process must run the same settings", p, int(row[2]), g.Rank(), r.cfg.Recipe.Batch)
		}
	}
	return first, total, nil
}

// placeReplicas lowers this process's threads replicas, placed among
// every process's (replicaLayout), for chunks of micro images, and
// returns the replicas of the run in all; a chunk too small to give each
// of them an image is refused.
func (r *run) placeReplicas(micro, threads int) (total int, err error) {
	first, total, err := r.replicaLayout(threads)
	if err != nil {
		return 0, err
	}
	if total > micro {
		return 0, &FieldError{Field: "Recipe.Batch", Value: micro,
			Want: fmt.Sprintf("at least one image for each of the %d replicas of all the processes (or a MicroBatch as large)", total)}
	}
	if err := r.addReplicas(micro, first, threads, total); err != nil {
		return 0, fmt.Errorf("%s: %w", r.cfg.Model, err)
	}
	return total, nil
}

// shareState gives every process rank 0's state after resume: the
// weights, the optimizer's velocities, the running statistics, and the
// epoch and step. Rank 0 alone reads the run folder (the others may run
// on hosts without it), and starting from its weights makes the processes
// agree even where their model files differ in ways that do not change
// the shapes.
func (r *run) shareState() error {
	g := r.cfg.Engine.Group
	if g == nil {
		return nil
	}
	for i, name := range r.w.Order {
		if err := g.BroadcastFloat32(r.w.Params[name], 0); err != nil {
			return err
		}
		if err := g.BroadcastFloat32(r.opt.Velocity()[i], 0); err != nil {
			return err
		}
	}
	stats := make([]string, 0, len(r.w.Stats))
	for name := range r.w.Stats {
		stats = append(stats, name)
	}
	slices.Sort(stats)
	for _, name := range stats {
		if err := g.BroadcastFloat32(r.w.Stats[name], 0); err != nil {
			return err
		}
	}
	counts := []float64{float64(r.epoch), float64(r.step)}
	if err := g.BroadcastFloat64(counts, 0); err != nil {
		return err
	}
	r.epoch, r.step = int(counts[0]), int(counts[1])
	return nil
}

// sumAcrossGroup adds up every process's share of the step: the gradients
// in r.sum, weighted already by each replica's share of the batch, and
// the loss. It returns the batch's loss.
func (r *run) sumAcrossGroup(loss float64) (float64, error) {
	g := r.cfg.Engine.Group
	if g == nil {
		return loss, nil
	}
	start := time.Now()
	defer func() { r.commTime += time.Since(start) }()
	// One call over every gradient at once: the engine has all of them
	// only after the whole backward pass, so there is no earlier bucket
	// to overlap with computation, and one call pays MPI's latency once.
	if err := g.SumFloat64(r.sum); err != nil {
		return 0, err
	}
	l := []float64{loss}
	if err := g.SumFloat64(l); err != nil {
		return 0, err
	}
	return l[0], nil
}

// inAll says, in a Group, that the replica counts a SettingsError compares
// are of all the processes together: a run resumes with any number of
// processes that has as many replicas in all.
func (r *run) inAll(err error) error {
	var se *SettingsError
	if r.cfg.Engine.Group == nil || !errors.As(err, &se) {
		return err
	}
	for i, d := range se.Fields {
		if d.Field == "Engine.Threads" {
			se.Fields[i].Checkpoint += " in all"
			se.Fields[i].Run += fmt.Sprintf(" in all (%d processes)", r.cfg.Engine.Group.Size())
		}
	}
	return err
}
