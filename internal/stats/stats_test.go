package stats

import (
	"encoding/json"
	"math"
	"os/exec"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestPairedIntervalAgainstSciPy compares PairedInterval with SciPy's
// Student's t on the same differences, and one case by hand:
// differences 1, 2, 3 have mean 2, standard deviation 1, and
// t(0.975, 2 degrees of freedom) = 4.302652729911275 (printed tables),
// so the interval is 2 ± 4.3027/√3 = [−0.484, 4.484], which holds 0.
func TestPairedIntervalAgainstSciPy(t *testing.T) {
	hand := PairedInterval([]float64{1, 2, 3}, []float64{0, 0, 0})
	half := 4.302652729911275 / math.Sqrt(3)
	if math.Abs(hand.Mean-2) > 1e-15 || math.Abs(hand.Low-(2-half)) > 1e-9 || math.Abs(hand.High-(2+half)) > 1e-9 || hand.ExcludesZero() {
		t.Errorf("differences 1, 2, 3: %+v, want 2 ± %.6f", hand, half)
	}
	cases := [][2][]float64{
		{{0.9433, 0.9401, 0.9452}, {0.9365, 0.9371, 0.9348}},
		{{0.91, 0.92}, {0.92, 0.90}},
		{{0.5, 0.6, 0.55, 0.52, 0.58}, {0.51, 0.57, 0.56, 0.50, 0.60}},
	}
	python := testenv.RequirePython(t, "scipy.stats")
	in, _ := json.Marshal(cases)
	script := `import json, sys, numpy as np, scipy.stats as st
out = []
for a, b in json.loads(sys.argv[1]):
    d = np.array(a) - np.array(b)
    lo, hi = st.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=st.sem(d))
    out.append([d.mean(), lo, hi])
print(json.dumps(out))`
	b, err := exec.Command(python, "-c", script, string(in)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want [][3]float64
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		got := PairedInterval(c[0], c[1])
		for j, v := range []float64{got.Mean, got.Low, got.High} {
			if math.Abs(v-want[i][j]) > 1e-9 {
				t.Errorf("case %d: %+v, SciPy gives mean %.15g, interval [%.15g, %.15g]", i, got, want[i][0], want[i][1], want[i][2])
				break
			}
		}
		if got.ExcludesZero() != (want[i][1] > 0 || want[i][2] < 0) {
			t.Errorf("case %d: ExcludesZero %v for SciPy's [%g, %g]", i, got.ExcludesZero(), want[i][1], want[i][2])
		}
	}
	if one := PairedInterval([]float64{0.9}, []float64{0.8}); one.N != 1 || one.Low != one.Mean || one.ExcludesZero() {
		t.Errorf("one seed: %+v, want a mean without width that excludes nothing", one)
	}
}

func TestMeanStd(t *testing.T) {
	for _, c := range []struct {
		v         []float64
		mean, std float64
	}{
		{nil, 0, 0},
		{[]float64{3}, 3, 0},
		{[]float64{1, 2, 3, 4}, 2.5, math.Sqrt(5.0 / 3)},
	} {
		m, s := MeanStd(c.v)
		if math.Abs(m-c.mean) > 1e-15 || math.Abs(s-c.std) > 1e-15 {
			t.Errorf("MeanStd(%v) = %g, %g; want %g, %g", c.v, m, s, c.mean, c.std)
		}
	}
}

func TestIntervalFormat(t *testing.T) {
	for _, c := range []struct {
		iv   Interval
		want string
	}{
		{Interval{Mean: 0.0068, Low: 0.0021, High: 0.0115, N: 3}, "+0.68 [+0.21, +1.15] ✱"},
		{Interval{Mean: -0.001, Low: -0.02, High: 0.018, N: 3}, "-0.10 [-2.00, +1.80]"},
		{Interval{Mean: -0.01, Low: -0.02, High: -0.001, N: 2}, "-1.00 [-2.00, -0.10] ✱"},
	} {
		if got := c.iv.Format(100, 2); got != c.want {
			t.Errorf("%+v: %q, want %q", c.iv, got, c.want)
		}
	}
	if got := (Interval{Mean: 0.01234, Low: 0.001, High: 0.02, N: 3}).Format(1, 4); got != "+0.0123 [+0.0010, +0.0200] ✱" {
		t.Errorf("scale 1: %q", got)
	}
}
