package train

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestMemoryPlan checks the memory plan of training and evaluation nets:
// buffers share storage (the plan allocates well under half of what one
// buffer each would take), every op overwrites its output before anyone
// reads it (results do not change when the shared storage is filled with
// NaN between runs), and a net whose ops ran out of the planned order
// says so instead of computing with clobbered values.
func TestMemoryPlan(t *testing.T) {
	m := tinyModel(t, "resnet20", "D", 9)
	for _, training := range []bool{true, false} {
		w, err := LoadWeights[float32](m)
		if err != nil {
			t.Fatal(err)
		}
		net, err := Lower(m, w, 4, LowerOptions{Training: training, UpdateStats: training})
		if err != nil {
			t.Fatal(err)
		}
		if !(float64(net.allocated) < 0.5*float64(net.buffered)) {
			t.Errorf("training %v: the plan allocates %d of %d elements", training, net.allocated, net.buffered)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range net.Input() {
			net.Input()[i] = float32(rng.NormFloat64())
		}
		if training {
			net.SetLabels([]int32{0, 1, 2, 1})
		}
		result := func() []float32 {
			if err := net.Run(); err != nil {
				t.Fatal(err)
			}
			out := slices.Clone(net.Logits())
			if training {
				out = append(out, float32(net.Loss()))
				for _, g := range net.Grads() {
					out = append(out, g...)
				}
			}
			return out
		}
		first := result()
		// Training nets update their running statistics; freeze them so that
		// runs are comparable.
		for _, bn := range net.bns {
			bn.k.Momentum = 1
		}
		first = result()
		for i := range net.shared {
			net.shared[i] = float32(math.NaN())
		}
		if again := result(); !slices.Equal(again, first) {
			t.Errorf("training %v: results change when the shared storage holds NaN before a run", training)
		}
		net.vm.Reset()
		net.order.last = math.MaxInt
		if err := net.vm.RunAll(); err == nil || !strings.Contains(err.Error(), "not in the order the net's memory was planned for") {
			t.Errorf("training %v: ops out of order: %v", training, err)
		}
		net.Close()
	}
}
