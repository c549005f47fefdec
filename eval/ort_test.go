package eval

import (
	"context"
	"slices"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/ort"
)

// TestORT runs a model with a fixed batch of 3 in ONNX Runtime over 7
// images: its outputs are each image's pixels (Flatten) and their mean
// (GlobalAveragePool), so every row can be checked against the data set;
// the last batch is padded and trimmed.
func TestORT(t *testing.T) {
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	b := graph.NewBuilder("echo", 13)
	x := b.Input("images", graph.Static(3, 1, 2, 2))
	b.Output(b.Flatten("pixels", x, 1), "pixels")
	b.Output(b.Flatten("mean", b.GlobalAveragePool("pool", x), 1), "mean")
	m, err := b.Finish("test", "1")
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewSessionFromBytes(encoded, ort.Options{Provider: ort.ProviderCPU})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for output, want := range [][]func(i int) float32{
		{func(i int) float32 { return float32(4 * i) }, func(i int) float32 { return float32(4*i + 1) },
			func(i int) float32 { return float32(4*i + 2) }, func(i int) float32 { return float32(4*i + 3) }},
		{func(i int) float32 { return float32(4*i) + 1.5 }},
	} {
		model := ORT{Session: sess, Output: output}
		if model.Batch() != 3 {
			t.Fatalf("batch %d, want the input's fixed 3", model.Batch())
		}
		rec := &recorder{}
		st, err := Run(context.Background(), model, images(t, 7), Options{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if st.Images != 7 || len(rec.rows) != 7 {
			t.Fatalf("output %d: %d images, %d rows; want 7", output, st.Images, len(rec.rows))
		}
		for i, row := range rec.rows {
			var w []float32
			for _, f := range want {
				w = append(w, f(i))
			}
			if !slices.Equal(row, w) {
				t.Errorf("output %d, image %d: %v, want %v", output, i, row, w)
			}
		}
	}
}
