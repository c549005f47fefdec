package ort

import (
	"math/rand/v2"
	"slices"
	"time"
)

// RandomInput returns a tensor of the given shape filled with standard
// normal values drawn from PCG seeded with seed: the same input every run.
func RandomInput(shape []int64, seed uint64) Tensor {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	x := Tensor{Shape: shape, Data: make([]float32, n)}
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

// Timing is what timed runs of a session on one input measured.
type Timing struct {
	// Outputs are the outputs of the first run, warm-up or timed.
	Outputs []Tensor
	// Runs are the timed runs' latencies, in order.
	Runs []time.Duration
}

// Time runs s on x warmup times untimed, then runs times timed.
func (s *Session) Time(x Tensor, warmup, runs int) (*Timing, error) {
	t := &Timing{}
	for run := -warmup; run < runs; run++ {
		start := time.Now()
		y, err := s.Run(x)
		if err != nil {
			return nil, err
		}
		if run >= 0 {
			t.Runs = append(t.Runs, time.Since(start))
		}
		if t.Outputs == nil {
			t.Outputs = y
		}
	}
	return t, nil
}

// Median returns the middle latency, the upper of the middle two for an
// even count (as train.Median); 0 for none.
func (t *Timing) Median() time.Duration {
	if len(t.Runs) == 0 {
		return 0
	}
	return slices.Sorted(slices.Values(t.Runs))[len(t.Runs)/2]
}

// Milliseconds returns the latencies in milliseconds, to the microsecond.
func (t *Timing) Milliseconds() []float64 {
	out := make([]float64, len(t.Runs))
	for i, d := range t.Runs {
		out[i] = milliseconds(d)
	}
	return out
}

// MedianMilliseconds is Median in milliseconds, to the microsecond.
func (t *Timing) MedianMilliseconds() float64 { return milliseconds(t.Median()) }

func milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
