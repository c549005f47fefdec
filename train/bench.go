package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/train/data"
	"github.com/bot-onnx/bot-onnx/train/kernel"
)

// StepTiming is what StepTimes measures: every timed step, and the part
// of each spent summing the gradients across the processes of a Group
// (nil without one).
type StepTiming struct {
	Steps, Allreduce []time.Duration
}

// StepTimes times full training steps (forward, backward, gradient
// reduction over the replicas, Nesterov update) of m: warmup untimed
// steps, then steps timed ones. In a Group g (nil: this process alone),
// batch is the batch of every process together, threads this process's
// replicas, and every process must call StepTimes alike. Batches come from next, whose wait is
// timed with the step (a loader that cannot keep up shows as slower
// steps), or are random data when next is nil: what Train runs, without
// the data loader. The convolutions run at precision p, refused as Train
// refuses it on a CPU without bfloat16 arithmetic.
func StepTimes(m *graph.Model, batch, threads int, p kernel.Precision, warmup, steps int, next func() (*data.Batch, error), g Group) (StepTiming, error) {
	var timing StepTiming
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if p == kernel.BF16 {
		if err := kernel.BF16Support(); err != nil {
			return timing, err
		}
	}
	if e, err := EstimateMemory(m, MemoryPlan{Batch: batch, Replicas: min(threads, batch)}); err == nil {
		if sys, err := ReadSystemMemory(); err == nil {
			if room, bound := sys.Room(); e.Total() > room {
				return timing, &MemoryError{Model: "the model", Need: e, Room: room, Bound: bound}
			}
		}
	}
	r := &run{cfg: Config{Model: "the model", Recipe: Recipe{Batch: batch}, Engine: Engine{Precision: p, Group: g}}, model: m}
	var err error
	if r.w, err = LoadWeights[float32](m); err != nil {
		return timing, err
	}
	defer r.close()
	if _, err := r.placeReplicas(batch, min(threads, batch)); err != nil {
		return timing, err
	}
	classes := r.replicas[0].logits.Shape()[1]
	r.classes, r.targets = classes, make([]float32, batch*classes)
	in := r.replicas[0].input.t.Shape()
	per := in.TotalSize() / in[0]
	rng := rand.New(rand.NewPCG(1, 2))
	b := &data.Batch{N: batch, Images: make([]float32, batch*per), Labels: make([]int32, batch)}
	for i := range b.Images {
		b.Images[i] = float32(rng.NormFloat64())
	}
	for i := range b.Labels {
		b.Labels[i] = int32(rng.IntN(classes))
	}
	sizes := make([]int, len(r.w.Order))
	for i, name := range r.w.Order {
		sizes[i] = len(r.w.Params[name])
	}
	opt := NewNAG(0.9, 1e-4, sizes)
	params, grads, decay, mult := r.optimizerInputs()
	for s := 0; s < warmup+steps; s++ {
		start, comm := time.Now(), r.commTime
		if next != nil {
			if b, err = next(); err != nil {
				return timing, err
			}
			if b.N != batch {
				return timing, fmt.Errorf("the loader gave a batch of %d, expected %d", b.N, batch)
			}
		}
		if _, err := r.trainStep(b); err != nil {
			return timing, err
		}
		if err := opt.Step(0.01, params, grads, decay, mult); err != nil {
			return timing, err
		}
		if s >= warmup {
			timing.Steps = append(timing.Steps, time.Since(start))
			if g != nil {
				timing.Allreduce = append(timing.Allreduce, r.commTime-comm)
			}
		}
	}
	return timing, nil
}

// Median returns the median of durations.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

// LoaderRate measures how many examples a second a loader of d delivers
// with workers goroutines, over the first batches batches of epoch 0 (or
// the whole epoch if shorter), with nothing else running: the rate to
// compare with the trainer's.
func LoaderRate(ctx context.Context, d data.Dataset, batch, workers, batches int) (float64, error) {
	loader, err := data.NewLoader(d, data.LoaderConfig{BatchSize: batch, Shuffle: true, Seed: 1, DropLast: true, Workers: workers})
	if err != nil {
		return 0, err
	}
	it, err := loader.Epoch(ctx, 0, 0)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	start, n := time.Now(), 0
	for range batches {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		n += b.N
	}
	if n == 0 {
		return 0, fmt.Errorf("the data set gave no batch of %d", batch)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
