package bench_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

// inferSession builds a model of cfg and variant into dir (without its
// metadata when anonymous) and opens it on the CPU.
func inferSession(t *testing.T, cfg models.Config, variant string, anonymous bool) (*ort.Session, string) {
	t.Helper()
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	m, _, err := tweaks.Build(cfg, variant)
	if err != nil {
		t.Fatal(err)
	}
	if anonymous {
		m.MetadataProps = nil
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewSession(path, ort.Options{Provider: ort.ProviderCPU, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess, path
}

// TestInfer runs Infer against the PyTorch peer: for a ResNet-A the peer
// builds the same architecture (equal MACs per image, no note); for a
// narrower ResNet-D it runs the standard ResNet-A and the note says both
// how. Timings are not asserted.
func TestInfer(t *testing.T) {
	requireTorch(t)
	tests := []struct {
		cfg       models.Config
		variant   string
		arch      string
		wantNotes []string
	}{
		{models.Config{Model: "resnet20"}, "A", "resnet20-A", nil},
		{models.Config{Model: "resnet20", BaseWidth: 8, Classes: 4}, "D", "resnet20-D",
			[]string{"defines ResNet-A only: it ran resnet20-A, this model is resnet20-D", "MACs per image differ"}},
	}
	for _, tc := range tests {
		t.Run(tc.arch, func(t *testing.T) {
			sess, path := inferSession(t, tc.cfg, tc.variant, false)
			ready := 0
			res, err := bench.Infer(sess, path, bench.InferOptions{Batch: 2, Runs: 2, Warmup: 1, Threads: 1, Peer: true, Ready: func() { ready++ }})
			if err != nil {
				t.Fatal(err)
			}
			if res.Architecture != tc.arch || res.PeerArchitecture != "resnet20-A" || res.Provider != "cpu" || len(res.RunMS) != 2 || ready != 1 ||
				res.Torch == nil || len(res.Torch.StepMS) != 2 || res.ImagesPerSecond <= 0 || res.Ratio <= 0 {
				t.Fatalf("result %+v", res)
			}
			if tc.wantNotes == nil {
				// The peer's hooks count the same MACs as graph.Count: the same network.
				if res.MACs != 40_813_184 || res.Torch.MACs != res.MACs || res.Note != "" {
					t.Errorf("MACs %d, peer %d, note %q; want 40813184 both, no note", res.MACs, res.Torch.MACs, res.Note)
				}
			}
			for _, want := range tc.wantNotes {
				if !strings.Contains(res.Note, want) {
					t.Errorf("note %q does not say %q", res.Note, want)
				}
			}
		})
	}
}

// TestInferWithoutPeer measures a model without metadata at the default
// batch, and refuses the peer for it before running anything.
func TestInferWithoutPeer(t *testing.T) {
	sess, path := inferSession(t, models.Config{Model: "resnet20", BaseWidth: 4}, "A", true)
	res, err := bench.Infer(sess, path, bench.InferOptions{Runs: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Architecture != "" || res.Input[0] != bench.DefaultInferBatch || len(res.RunMS) != 1 || !(res.ImagesPerSecond > 0) || res.Torch != nil || res.MACs == 0 {
		t.Errorf("result %+v", res)
	}
	var unknown *bench.UnknownArchitectureError
	_, err = bench.Infer(sess, path, bench.InferOptions{Runs: 1, Threads: 1, Peer: true, Ready: func() { t.Error("ran") }})
	if !errors.As(err, &unknown) || !strings.Contains(err.Error(), "carries no bot-onnx.model metadata") {
		t.Errorf("peer for an anonymous model: %v", err)
	}
	for field, o := range map[string]bench.InferOptions{"Runs": {}, "Warmup": {Runs: 1, Warmup: -1}, "Threads": {Runs: 1, Peer: true}, "Batch": {Runs: 1, Batch: -1}} {
		var fe *train.FieldError
		if _, err := bench.Infer(sess, path, o); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%+v: %v, want a FieldError on %s", o, err, field)
		}
	}
}

// TestInferResultWriteText writes hand-made results as `bench infer`
// prints them: without a peer and architecture, and with the peer's line,
// ratio and note.
func TestInferResultWriteText(t *testing.T) {
	res := &bench.InferResult{Model: "a.onnx", Input: []int64{8, 3, 32, 32}, Provider: "cpu", Threads: 2,
		ImagesPerSecond: 1234.56, RunMS: []float64{1, 2, 3}}
	var b strings.Builder
	want := "ONNX Runtime a.onnx (architecture unknown), batch 8 3x32x32, cpu provider, 2 threads: 1234.6 images/s (median of 3 runs)\n"
	if err := res.WriteText(&b); err != nil || b.String() != want {
		t.Errorf("without a peer: %v\n%s\nwant\n%s", err, b.String(), want)
	}
	res.Architecture, res.PeerArchitecture, res.Ratio, res.Note = "resnet20-D", "resnet20-A", 1.5, "the peer differs"
	res.Torch = &bench.TorchResult{Torch: "2.1.0", Threads: 2, ImagesPerSecond: 823.04, PeakRSSMiB: 301.4}
	b.Reset()
	want = "ONNX Runtime a.onnx (resnet20-D), batch 8 3x32x32, cpu provider, 2 threads: 1234.6 images/s (median of 3 runs)\n" +
		"PyTorch      2.1.0 resnet20-A, eval mode, 2 threads: 823.0 images/s, peak RSS 301 MiB\n" +
		"ratio        1.50× PyTorch\n" +
		"note: the peer differs\n"
	if err := res.WriteText(&b); err != nil || b.String() != want {
		t.Errorf("with the peer: %v\n%s\nwant\n%s", err, b.String(), want)
	}
}
