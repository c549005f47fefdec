package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
)

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
		{[]string{path, "--batch", "-1"}, "--batch -1"},
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
	code, stdout, stderr = run("bench", "infer", path, "--peer", "none", "--runs", "2", "--batch", "2", "--provider", "cpu", "--threads", "1", "--json")
	var res bench.InferResult
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || res.Architecture != "resnet20-A" || len(res.RunMS) != 2 ||
		res.Input[0] != 2 || res.Threads != 1 || res.Torch != nil {
		t.Errorf("--json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
