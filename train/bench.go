package train

import (
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// StepTimes times full training steps (forward, backward, gradient
// reduction over the replicas, Nesterov update) of m on random data:
// warmup untimed steps, then steps timed ones. It measures what Train
// runs, without the data loader.
func StepTimes(m *graph.Model, batch, threads, warmup, steps int) ([]time.Duration, error) {
	if threads <= 0 {
		threads = goruntime.NumCPU()
	}
	r := &run{cfg: Config{Batch: batch}, model: m}
	var err error
	if r.w, err = LoadWeights[float32](m); err != nil {
		return nil, err
	}
	if err := r.addReplicas(batch, min(threads, batch)); err != nil {
		return nil, err
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
	params, grads, decay := r.optimizerInputs()
	var times []time.Duration
	for s := 0; s < warmup+steps; s++ {
		start := time.Now()
		if _, err := r.trainStep(b, grads); err != nil {
			return nil, err
		}
		if err := opt.Step(0.01, params, grads, decay); err != nil {
			return nil, err
		}
		if s >= warmup {
			times = append(times, time.Since(start))
		}
	}
	return times, nil
}

// Median returns the median of durations.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}
