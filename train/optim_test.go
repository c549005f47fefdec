package train

import (
	"errors"
	"math"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestNAGMatchesONNXMomentum replays ONNX's conformance case for its
// Momentum operator in Nesterov mode (libonnx-testdata
// test_nesterov_momentum: R = 0.1, alpha = 0.95, beta = 1,
// norm_coefficient = 0.01) and compares weights and velocity.
func TestNAGMatchesONNXMomentum(t *testing.T) {
	dir := testenv.RequireFile(t, "/usr/share/libonnx-testdata/data/node/test_nesterov_momentum", "Debian's libonnx-testdata")
	m, err := graph.Load(dir + "/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	n := m.GetGraph().GetNode()[0]
	if graph.StringAttr(n, "mode", "") != "nesterov" || graph.FloatAttr(n, "beta", 0) != 1 {
		t.Fatalf("unexpected conformance node %v", n)
	}
	read := func(name string) []float32 {
		tp, err := graph.LoadTensor(dir + "/test_data_set_0/" + name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := graph.Floats(tp)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	r, x, g, v := read("input_0.pb"), read("input_2.pb"), read("input_3.pb"), read("input_4.pb")
	wantX, wantV := read("output_0.pb"), read("output_1.pb")
	o := NewNAG(float64(graph.FloatAttr(n, "alpha", 0)), float64(graph.FloatAttr(n, "norm_coefficient", 0)), []int{len(x)})
	copy(o.Velocity()[0], v)
	if err := o.Step(float64(r[0]), [][]float32{x}, [][]float32{g}, []bool{true}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if math.Abs(float64(x[i]-wantX[i])) > 1e-6 || math.Abs(float64(o.Velocity()[0][i]-wantV[i])) > 1e-6 {
			t.Errorf("element %d: x %g v %g, want %g %g", i, x[i], o.Velocity()[0][i], wantX[i], wantV[i])
		}
	}
}

// TestNAGDecayMask: a parameter without decay follows plain Nesterov
// momentum — hand-computed over two steps.
func TestNAGDecayMask(t *testing.T) {
	o := NewNAG(0.9, 0.5, []int{1, 1})
	w := [][]float32{{1}, {1}}
	g := [][]float32{{0.2}, {0.2}}
	for step := 0; step < 2; step++ {
		if err := o.Step(0.1, w, g, []bool{true, false}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Without decay: v1 = 0.2, w1 = 1 − 0.1·(0.2 + 0.18) = 0.962;
	// v2 = 0.38, w2 = 0.962 − 0.1·(0.2 + 0.342) = 0.9078.
	// With decay 0.5: g1 = 0.7, v1 = 0.7, w1 = 1 − 0.1·(0.7 + 0.63) = 0.867;
	// g2 = 0.2 + 0.4335 = 0.6335, v2 = 0.63 + 0.6335 = 1.2635,
	// w2 = 0.867 − 0.1·(0.6335 + 1.13715) = 0.689935.
	if math.Abs(float64(w[1][0])-0.9078) > 1e-6 || math.Abs(float64(w[0][0])-0.689935) > 1e-6 {
		t.Errorf("weights %v, %v; want 0.689935 and 0.9078", w[0][0], w[1][0])
	}
	if err := o.Step(0.1, w[:1], g, []bool{true, false}, nil); err == nil {
		t.Error("a parameter count mismatch was accepted")
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Base: 0.4, StepsPerEpoch: 10, WarmupEpochs: 2, DecayEpochs: []int{3, 5}, Factor: 0.1, Epochs: 6}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step int
		want float64
	}{
		{0, 0.02}, {9, 0.2}, {19, 0.4}, {20, 0.4}, {29, 0.4}, {30, 0.04}, {49, 0.04}, {50, 0.004}, {1000, 0.004},
	} {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LR(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
	if got := LinearScaling(0.1, 1024); got != 0.4 {
		t.Errorf("LinearScaling(0.1, 1024) = %g", got)
	}
	for _, bad := range []struct {
		s     Schedule
		field string
	}{
		{Schedule{Base: 0, StepsPerEpoch: 1, Epochs: 9}, "Base"},
		{Schedule{Base: 0.1, StepsPerEpoch: 0, Epochs: 9}, "StepsPerEpoch"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Epochs: 9, WarmupEpochs: -1}, "WarmupEpochs"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Epochs: 9, DecayEpochs: []int{5, 3}, Factor: 0.1}, "DecayEpochs"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Epochs: 9, DecayEpochs: []int{3}, Factor: 2}, "Factor"},
		{Schedule{Base: math.NaN(), StepsPerEpoch: 1, Epochs: 9}, "Base"},
		{Schedule{Base: math.Inf(1), StepsPerEpoch: 1, Epochs: 9}, "Base"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Cosine: true, DecayEpochs: []int{3}, Factor: 0.1, Epochs: 5}, "DecayEpochs"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Cosine: true, WarmupEpochs: 2, Epochs: 2}, "Epochs"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Epochs: -5}, "Epochs"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Epochs: 3, WarmupEpochs: 4}, "WarmupEpochs"},
		{Schedule{Base: 0.1, StepsPerEpoch: 1, Epochs: 3, Factor: math.NaN()}, "Factor"},
	} {
		var fe *FieldError
		if err := bad.s.Validate(); !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("%+v: %v; want a *FieldError for %s", bad.s, err, bad.field)
		}
	}
}

// TestCosineSchedule pins the cosine schedule to its formula: linear
// warmup to the base rate, then ½(1 + cos(π·t/T))·base.
func TestCosineSchedule(t *testing.T) {
	s := Schedule{Base: 0.4, StepsPerEpoch: 10, WarmupEpochs: 2, Cosine: true, Epochs: 12}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step int
		want float64
	}{
		{0, 0.02}, // warmup start: 0.4·1/20
		{19, 0.4}, // warmup end
		{20, 0.4}, // cosine start: cos 0 = 1
		{70, 0.2}, // midpoint: T = 100 steps after warmup, t = 50
		{45, 0.4 * (1 + math.Cos(math.Pi*25/100)) / 2},
		{120, 0}, // end
		{500, 0}, // past the end stays at 0
	} {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("LR(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
	bad := s
	bad.DecayEpochs = []int{5}
	if bad.Validate() == nil {
		t.Error("cosine with decay epochs accepted")
	}
}

// TestLARSStep: one step on a two-layer model, by hand. Layer 1: w = (3, 4)
// as a 1×2 matrix (‖w‖ = 5), g = (0, 1) (‖g‖ = 1), wd = 0.1, η = 0.01,
// lr = 2: local = 2·0.01·5/(1 + 0.5) = 1/15; v = local·(g + wd·w) =
// (0.3/15, 1.4/15) = (0.02, 0.09333…); w = (2.98, 3.90666…). The bias
// (rank 1, no decay) b = 1, g = 0.5 keeps lr: v = 1, b = 0.
func TestLARSStep(t *testing.T) {
	o := NewLARS(0.9, 0.1, 0.01, []int{2, 1}, []int{2, 1})
	w, b := []float32{3, 4}, []float32{1}
	if err := o.Step(2, [][]float32{w, b}, [][]float32{{0, 1}, {0.5}}, []bool{true, false}, nil); err != nil {
		t.Fatal(err)
	}
	if !near32(w, []float32{2.98, 4 - 1.4/15}) || !near32(b, []float32{0}) {
		t.Errorf("weights %v, bias %v", w, b)
	}
	if !near32(o.Velocity()[0], []float32{0.02, 1.4 / 15}) {
		t.Errorf("velocity %v", o.Velocity()[0])
	}
}

// TestNAGLRMult: one step of three parameters with multipliers 1, 0.1 and
// 0, by hand. Each has w = 1, g = 0.2, velocity 0.3, decay 0.5, μ = 0.9,
// lr = 0.1: g' = 0.2 + 0.5·1 = 0.7, v = 0.9·0.3 + 0.7 = 0.97, and
// w = 1 − lr·m·(g' + μ·v) = 1 − 0.1·m·1.573. Multiplier 0 leaves w and v.
func TestNAGLRMult(t *testing.T) {
	o := NewNAG(0.9, 0.5, []int{1, 1, 1})
	for _, v := range o.Velocity() {
		v[0] = 0.3
	}
	w := [][]float32{{1}, {1}, {1}}
	g := [][]float32{{0.2}, {0.2}, {0.2}}
	if err := o.Step(0.1, w, g, []bool{true, true, true}, []float64{1, 0.1, 0}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ w, v float64 }{{1 - 0.1573, 0.97}, {1 - 0.01573, 0.97}, {1, 0.3}} {
		if math.Abs(float64(w[i][0])-want.w) > 1e-6 || math.Abs(float64(o.Velocity()[i][0])-want.v) > 1e-6 {
			t.Errorf("parameter %d: w %g v %g, want %g %g", i, w[i][0], o.Velocity()[i][0], want.w, want.v)
		}
	}
	if err := o.Step(0.1, w, g, []bool{true, true, true}, []float64{1}); err == nil {
		t.Error("a multiplier count mismatch was accepted")
	}
}

// TestLARSLRMult: TestLARSStep's step with multipliers 0.5 and 0. Layer 1
// gets local = 0.5·2·0.01·5/1.5 = 1/30, v = (0.3/30, 1.4/30) = (0.01,
// 0.04666…), w = (2.99, 3.95333…); the frozen bias keeps b = 1, v = 0.
func TestLARSLRMult(t *testing.T) {
	o := NewLARS(0.9, 0.1, 0.01, []int{2, 1}, []int{2, 1})
	w, b := []float32{3, 4}, []float32{1}
	if err := o.Step(2, [][]float32{w, b}, [][]float32{{0, 1}, {0.5}}, []bool{true, false}, []float64{0.5, 0}); err != nil {
		t.Fatal(err)
	}
	if !near32(w, []float32{2.99, 4 - 1.4/30}) || !near32(b, []float32{1}) {
		t.Errorf("weights %v, bias %v", w, b)
	}
	if !near32(o.Velocity()[0], []float32{0.01, 1.4 / 30}) || o.Velocity()[1][0] != 0 {
		t.Errorf("velocity %v, %v", o.Velocity()[0], o.Velocity()[1])
	}
}
