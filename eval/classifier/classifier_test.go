package classifier

import (
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
)

// TestBatchSize: a model with a fixed batch size takes its own, and
// refuses another; one that takes any takes the request's, or DefaultBatch.
func TestBatchSize(t *testing.T) {
	tests := []struct {
		name      string
		fixed     int64 // the input's batch dimension, -1 for dynamic
		requested int
		want      int
		err       string
	}{
		{"dynamic, default", -1, 0, DefaultBatch, ""},
		{"dynamic, requested", -1, 7, 7, ""},
		{"fixed, default", 4, 0, 4, ""},
		{"fixed, the same requested", 4, 4, 4, ""},
		{"fixed, another requested", 4, 7, 0, `batch size 7: the model's input "x" has a fixed batch size of 4`},
		{"negative", -1, -2, 0, "batch size -2: expected at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := batchSize(tc.requested, ort.ValueInfo{Name: "x", Shape: []int64{tc.fixed, 1, 28, 28}, ElementType: "float"})
			if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
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
			mean, std, err := modelNorm(m)
			if !slices.Equal(mean, tc.wantMean) || !slices.Equal(std, tc.wantS) || (err == nil) != (tc.err == "") ||
				(err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("mean %v, std %v, error %v; want %v, %v, %q", mean, std, err, tc.wantMean, tc.wantS, tc.err)
			}
		})
	}
}
