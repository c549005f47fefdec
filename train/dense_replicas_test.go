package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bot-onnx/bot-onnx/train/data"
)

// denseStub marks a run as trained per pixel in tests that call trainStep
// directly.
type denseStub struct{ data.DenseDataset }

// TestDenseReplicasWeightedByLabelledPixels: with unlabelled pixels spread
// unevenly between two replicas, their losses and gradients weighted by
// labelled pixels equal one replica's on the whole batch (BatchNorm frozen,
// so that batch statistics do not depend on the split).
func TestDenseReplicasWeightedByLabelledPixels(t *testing.T) {
	m := tinySegModel(t, "half_pixel", false)
	const batch = 4
	rng := rand.New(rand.NewPCG(5, 6))
	b := &data.Batch{N: batch, Images: make([]float32, batch*16), Dense: make([]int32, batch*64)}
	for i := range b.Images {
		b.Images[i] = float32(rng.NormFloat64())
	}
	randomLabels(rng, b.Dense)
	for i := range b.Dense[:64] {
		if i%9 != 0 { // the first image: all but 8 of its pixels unlabelled
			b.Dense[i] = IgnoreLabel
		}
	}
	step := func(threads int) (float64, [][]float32) {
		model := m.Clone()
		w, err := LoadWeights[float32](model)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.SetLRMult(map[string]float64{"bn.weight": 0, "bn.bias": 0}); err != nil {
			t.Fatal(err)
		}
		r := &run{model: model, w: w, classes: segClasses, denseTest: denseStub{}}
		if err := r.addReplicas(batch, 0, threads, threads); err != nil {
			t.Fatal(err)
		}
		_, grads, _, _ := r.optimizerInputs()
		loss, err := r.trainStep(b)
		if err != nil {
			t.Fatal(err)
		}
		return loss, grads
	}
	loss1, grads1 := step(1)
	loss2, grads2 := step(2)
	if math.Abs(loss1-loss2) > 1e-6*math.Abs(loss1) {
		t.Errorf("loss: one replica %.8f, two %.8f", loss1, loss2)
	}
	for p := range grads1 {
		for i, g := range grads1[p] {
			if d := math.Abs(float64(g - grads2[p][i])); d > 1e-5*(1+math.Abs(float64(g))) {
				t.Fatalf("gradient %d[%d]: one replica %g, two %g", p, i, g, grads2[p][i])
			}
		}
	}
}
