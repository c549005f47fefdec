// Package stats holds the statistics of comparing runs over seeds: the
// mean and spread of a figure, and the paired difference of two rows with
// its confidence interval by Student's t.
package stats

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Interval is the difference between two rows of a study (two recipes,
// two backbones) over the same seeds: the mean of the per-seed differences and its 95% confidence
// interval by Student's t over them (a paired comparison: each seed starts
// both rows from the same weights and data order, so the seed's own luck
// cancels in its difference).
type Interval struct {
	Mean float64 `json:"mean"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	N    int     `json:"n"` // the seeds compared
}

// ExcludesZero reports whether the interval lies wholly on one side of 0:
// the difference is more than the seeds' noise at the 95% level.
func (i Interval) ExcludesZero() bool { return i.N > 1 && (i.Low > 0 || i.High < 0) }

// Format prints the interval's mean and bounds times scale with decimals
// places and signs, marked ✱ when it excludes 0: "+0.68 [+0.21, +1.15] ✱"
// for a difference of accuracies in points (scale 100, 2 places).
func (i Interval) Format(scale float64, decimals int) string {
	f := fmt.Sprintf("%%+.%df", decimals)
	s := fmt.Sprintf(f+" ["+f+", "+f+"]", scale*i.Mean, scale*i.Low, scale*i.High)
	if i.ExcludesZero() {
		s += " ✱"
	}
	return s
}

// PairedInterval returns the interval of a[k] − b[k] over the seeds k.
// With one seed it has a mean but no width (Low = High = Mean, N = 1).
func PairedInterval(a, b []float64) Interval {
	n := min(len(a), len(b))
	d := make([]float64, n)
	for k := range d {
		d[k] = a[k] - b[k]
	}
	mean, std := MeanStd(d)
	iv := Interval{Mean: mean, Low: mean, High: mean, N: n}
	if n > 1 {
		t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
		half := t * std / math.Sqrt(float64(n))
		iv.Low, iv.High = mean-half, mean+half
	}
	return iv
}

// MeanStd returns the mean of v and its sample standard deviation (n − 1
// in the denominator; 0 for fewer than two values).
func MeanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return 0, 0
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}
