package ort

import (
	"math"
	"slices"
	"testing"
	"time"
)

// TestRandomInput: the same seed gives the same standard normal values,
// another seed others.
func TestRandomInput(t *testing.T) {
	a, b, c := RandomInput([]int64{2, 3, 50}, 1), RandomInput([]int64{2, 3, 50}, 1), RandomInput([]int64{2, 3, 50}, 2)
	if len(a.Data) != 300 || !slices.Equal(a.Data, b.Data) || slices.Equal(a.Data, c.Data) {
		t.Fatalf("seeded inputs: %d values, same seed equal %v, other seed equal %v", len(a.Data), slices.Equal(a.Data, b.Data), slices.Equal(a.Data, c.Data))
	}
	var sum, sq float64
	for _, v := range a.Data {
		sum, sq = sum+float64(v), sq+float64(v)*float64(v)
	}
	if mean, sd := sum/300, math.Sqrt(sq/300-sum*sum/300/300); math.Abs(mean) > 0.2 || math.Abs(sd-1) > 0.2 {
		t.Errorf("mean %.3f, sd %.3f: not standard normal", mean, sd)
	}
}

// TestTime times a ReLU: the first run's outputs, one latency per timed
// run, and the median and milliseconds of them.
func TestTime(t *testing.T) {
	requireORT(t)
	s, err := NewSessionFromBytes(dynamicReluModel(t), Options{Provider: ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := RandomInput([]int64{2, 3}, 7)
	tm, err := s.Time(x, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Runs) != 3 || len(tm.Outputs) != 1 || !slices.Equal(tm.Outputs[0].Shape, []int64{2, 3}) {
		t.Fatalf("timing %+v", tm)
	}
	for i, v := range x.Data {
		if tm.Outputs[0].Data[i] != max(v, 0) {
			t.Fatalf("output %v, want relu of %v", tm.Outputs[0].Data, x.Data)
		}
	}
	tm.Runs = []time.Duration{3 * time.Millisecond, 1500 * time.Microsecond, 2*time.Millisecond + 1234567}
	if tm.Median() != 3*time.Millisecond || tm.MedianMilliseconds() != 3 || !slices.Equal(tm.Milliseconds(), []float64{3, 1.5, 3.234}) {
		t.Errorf("median %v (%v ms), milliseconds %v", tm.Median(), tm.MedianMilliseconds(), tm.Milliseconds())
	}
	tm.Runs = tm.Runs[:2]
	if tm.Median() != 3*time.Millisecond {
		t.Errorf("median of two %v, want the upper", tm.Median())
	}
	if _, err := s.Time(Tensor{Shape: []int64{2, 4}, Data: make([]float32, 8)}, 0, 1); err == nil {
		t.Error("a wrong input timed without error")
	}
}
