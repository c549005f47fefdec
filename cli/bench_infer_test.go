package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestBenchInfer runs `bench infer` against the PyTorch peer: for a
// ResNet-A the peer builds the same architecture (equal MACs per image, no
// note); for a narrower ResNet-D it runs the standard ResNet-A and the
// note says both how. Timings are not asserted.
func TestBenchInfer(t *testing.T) {
	requireORT(t)
	testenv.RequirePython(t, "torch", "torchvision")
	dir := t.TempDir()
	tests := []struct {
		build     []string
		arch      string
		wantNotes []string
	}{
		{[]string{"--model", "resnet20"}, "resnet20-A", nil},
		{[]string{"--model", "resnet20", "--variant", "D", "--width", "8", "--classes", "4"}, "resnet20-D",
			[]string{"defines ResNet-A only: it ran resnet20-A, this model is resnet20-D", "MACs per image differ"}},
	}
	for i, tc := range tests {
		t.Run(tc.arch, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i))+".onnx")
			if code, _, stderr := run(append([]string{"build", "-o", path}, tc.build...)...); code != 0 {
				t.Fatal(stderr)
			}
			code, stdout, stderr := run("bench", "infer", path, "--batch", "2", "--runs", "2", "--warmup", "1", "--provider", "cpu", "--json")
			if code != 0 {
				t.Fatal(stderr)
			}
			var res inferBench
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			if res.Architecture != tc.arch || res.PeerArchitecture != "resnet20-A" || res.Provider != "cpu" || len(res.RunMS) != 2 ||
				res.Torch == nil || len(res.Torch.StepMS) != 2 || res.ImagesPerSecond <= 0 || res.Ratio <= 0 {
				t.Fatalf("result %s", stdout)
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

func TestBenchInferBadInput(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "r20.onnx")
	if code, _, stderr := run("build", "--model", "resnet20", "--width", "4", "-o", path); code != 0 {
		t.Fatal(stderr)
	}
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m.MetadataProps = nil
	anonymous := filepath.Join(dir, "anonymous.onnx")
	if err := m.Save(anonymous); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "none.onnx")}, "does not exist"},
		{[]string{path, "--peer", "tensorflow"}, `--peer "tensorflow"`},
		{[]string{path, "--runs", "0"}, "--runs"},
		{[]string{path, "--batch", "0"}, "--batch"},
		{[]string{anonymous}, "carries no bot-onnx.model metadata"},
	} {
		code, stdout, stderr := run(append([]string{"bench", "infer"}, tc.args...)...)
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	// Without the peer, a model without metadata is measured all the same.
	code, stdout, stderr := run("bench", "infer", anonymous, "--peer", "none", "--runs", "1", "--provider", "cpu")
	if code != 0 || !strings.Contains(stdout, "(architecture unknown), batch 8 3x32x32, cpu provider") || strings.Contains(stdout, "PyTorch") {
		t.Errorf("--peer none: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
