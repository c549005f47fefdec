package bench_test

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// TestPredict runs a ResNet-20 at the model's shape (the dynamic batch
// set to 1) and at a batch of 2: the output's shape follows, the same seed
// gives the same first values, and the runs are timed. A shape of the
// wrong rank, with a size below 1 or against a fixed size, and no runs,
// are refused naming the field.
func TestPredict(t *testing.T) {
	sess, path := inferSession(t, models.Config{Model: "resnet20", BaseWidth: 4}, "A", false)
	p, err := bench.Predict(sess, path, bench.PredictOptions{Seed: 3, Runs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.Model != path || p.Provider != "cpu" || p.InputName != "input" || !slices.Equal(p.InputShape, []int64{1, 3, 32, 32}) ||
		p.OutputName != "logits" || !slices.Equal(p.OutputShape, []int64{1, 10}) || p.Runs != 2 || len(p.LatenciesMS) != 2 ||
		len(p.FirstValues) != 5 || !(p.LatencyMS > 0) || math.Abs(p.ImagesPerSecond-1000/p.LatencyMS) > 1e-9*p.ImagesPerSecond {
		t.Fatalf("prediction %+v", p)
	}
	two, err := bench.Predict(sess, path, bench.PredictOptions{Shape: []int64{2, 3, 32, 32}, Seed: 3, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(two.OutputShape, []int64{2, 10}) || math.Abs(two.ImagesPerSecond-2000/two.LatencyMS) > 1e-9*two.ImagesPerSecond {
		t.Errorf("batch 2: output %v, %v images/s at %v ms", two.OutputShape, two.ImagesPerSecond, two.LatencyMS)
	}
	// The first image of the batch is drawn as the batch of one was.
	if !slices.Equal(two.FirstValues, p.FirstValues) {
		t.Errorf("first values %v, then %v with the same seed", p.FirstValues, two.FirstValues)
	}
	for _, tc := range []struct {
		o           bench.PredictOptions
		field, want string
	}{
		{bench.PredictOptions{Runs: 0}, "Runs", "Runs 0: expected a positive count"},
		{bench.PredictOptions{Shape: []int64{1, 3, 32}, Runs: 1}, "Shape", `Shape "1x3x32": expected 4 sizes like 1x3x32x32, found 3`},
		{bench.PredictOptions{Shape: []int64{1, 3, 0, 32}, Runs: 1}, "Shape", `Shape "1x3x0x32": expected positive sizes like 1x3x32x32`},
		{bench.PredictOptions{Shape: []int64{1, 1, 32, 32}, Runs: 1}, "Shape",
			`Shape "1x1x32x32": expected the fixed size 3 in dimension 1 of the model's input "input", found 1`},
	} {
		_, err := bench.Predict(sess, path, tc.o)
		var fe *train.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want a refusal of %s: %q", tc.o, err, tc.field, tc.want)
		}
	}
}

// TestPredictEveryOutput: a model with two outputs, as a backbone's c2 …
// c5, has both reported, each with its shape and first values; the text
// lists every output's shape.
func TestPredictEveryOutput(t *testing.T) {
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	b := graph.NewBuilder("two", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 4}})
	b.Output(b.Relu("relu", x), "c2")
	b.Output(b.Node("Neg", "neg", []string{x}), "c3")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "two.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	p, err := bench.Predict(sess, path, bench.PredictOptions{Seed: 1, Runs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Outputs) != 2 || p.Outputs[0].Name != "c2" || p.Outputs[1].Name != "c3" || !slices.Equal(p.Outputs[1].Shape, []int64{1, 4}) {
		t.Fatalf("outputs %+v, want c2 and c3 of shape [1 4]", p.Outputs)
	}
	for i, v := range p.Outputs[0].FirstValues {
		if neg := p.Outputs[1].FirstValues[i]; v != max(-neg, 0) {
			t.Errorf("relu %v and neg %v of the same input disagree at %d", p.Outputs[0].FirstValues, p.Outputs[1].FirstValues, i)
		}
	}
	var text strings.Builder
	if err := p.WriteText(&text); err != nil || !strings.Contains(text.String(), "→ c2 [1 4], c3 [1 4], median") {
		t.Errorf("text %q (%v): want both outputs' shapes", text.String(), err)
	}
}

// TestPredictionWriteText: a hand-made prediction reads as `bot-onnx
// predict` prints it.
func TestPredictionWriteText(t *testing.T) {
	p := &bench.Prediction{Model: "m.onnx", Provider: "cpu", InputName: "input", InputShape: []int64{2, 3, 32, 32},
		OutputName: "logits", OutputShape: []int64{2, 10}, Runs: 3, LatencyMS: 4, ImagesPerSecond: 500, FirstValues: []float32{0.5, -1.25}}
	want := "m.onnx on cpu: input [2 3 32 32] → logits [2 10], median latency 4.00 ms over 3 runs (500.0 images/s)\nfirst values: [0.5 -1.25]\n"
	var b strings.Builder
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("text %q, want %q", b.String(), want)
	}
}
