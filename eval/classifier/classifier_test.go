package classifier

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/eval"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// TestBatchSize: a model with a fixed batch size takes its own, and
// refuses another; one that takes any takes the request's, or the default.
// A refusal is a FieldError on Batch.
func TestBatchSize(t *testing.T) {
	tests := []struct {
		name      string
		fixed     int64 // the input's batch dimension, -1 for dynamic
		requested int
		want      int
		err       string
	}{
		{"dynamic, default", -1, 0, 9, ""},
		{"dynamic, requested", -1, 7, 7, ""},
		{"fixed, default", 4, 0, 4, ""},
		{"fixed, the same requested", 4, 4, 4, ""},
		{"fixed, another requested", 4, 7, 0, `Batch 7: expected the fixed batch size 4 of the model's input "x"`},
		{"negative", -1, -2, 0, "Batch -2: expected a positive count, or 0 for the model's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BatchSize(ort.ValueInfo{Name: "x", Shape: []int64{tc.fixed, 1, 28, 28}, ElementType: "float"}, tc.requested, 9)
			var fe *train.FieldError
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && (err.Error() != tc.err || !errors.As(err, &fe) || fe.Field != "Batch")) {
				t.Errorf("batch %d, error %v; want %d, %q", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestModelNorm reads the mean and std a trained model carries, and
// refuses metadata that is not two lists of numbers of one length.
func TestModelNorm(t *testing.T) {
	tests := []struct {
		name            string
		mean, std       string // "" leaves the key out
		wantMean, wantS []float64
		err             string
	}{
		{"none", "", "", nil, nil, ""},
		{"one channel", "0.1307", "0.3081", []float64{0.1307}, []float64{0.3081}, ""},
		{"three channels, spaces", "0.4, 0.5,0.6", "0.2,0.25, 0.3", []float64{0.4, 0.5, 0.6}, []float64{0.2, 0.25, 0.3}, ""},
		{"not a number", "0.4,x", "0.2,0.3", nil, nil, "expected comma-separated numbers"},
		{"infinite", "0.4", "inf", nil, nil, "expected comma-separated numbers"},
		{"lengths differ", "0.4,0.5", "0.2", nil, nil, "have different lengths"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &graph.Model{ModelProto: &onnx.ModelProto{}}
			if tc.mean != "" {
				m.SetMetadata(train.MetaMean, tc.mean)
				m.SetMetadata(train.MetaStd, tc.std)
			}
			mean, std, err := ModelNorm(m)
			if !slices.Equal(mean, tc.wantMean) || !slices.Equal(std, tc.wantS) || (err == nil) != (tc.err == "") ||
				(err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("mean %v, std %v, error %v; want %v, %v, %q", mean, std, err, tc.wantMean, tc.wantS, tc.err)
			}
		})
	}
}

// TestResultWriteText writes a hand-made result as `bot-onnx eval` prints
// it: top-5 only above five classes, the trainer's top-1 only when known.
func TestResultWriteText(t *testing.T) {
	top1 := 0.9912
	r := Result{Model: "run/model.onnx", Data: "mnist", Images: 70, Classes: 10, Top1: 0.9857, Top5: 1, Loss: 0.04321,
		Mean: []float64{0.1307}, Std: []float64{0.3081}, Normalization: "model metadata",
		Runtime: eval.Runtime{Provider: "cpu", Batch: 32, ImagesPerSecond: 1234.56, Seconds: 0.78}, TrainedTop1: &top1}
	want := "run/model.onnx on mnist: 70 images, 10 classes: top-1 98.57%, top-5 100.00%, loss 0.0432\n" +
		"normalised with mean [0.1307], std [0.3081] (model metadata)\n" +
		"ONNX Runtime on cpu, batch 32: 1234.6 images/s (inference alone), 0.8 s in all\n" +
		"the trainer's last top-1 (model metadata): 99.12%\n"
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || b.String() != want {
		t.Errorf("WriteText: %v\n%s\nwant\n%s", err, b.String(), want)
	}
	r.Classes, r.TrainedTop1 = 5, nil
	b.Reset()
	if err := r.WriteText(&b); err != nil || strings.Contains(b.String(), "top-5") || strings.Contains(b.String(), "trainer") {
		t.Errorf("five classes, no trained top-1: %v\n%s", err, b.String())
	}
}
