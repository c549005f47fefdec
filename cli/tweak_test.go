package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/tweaks"
)

func TestBuildVariantsThenInspect(t *testing.T) {
	dir := t.TempDir()
	// Parameters: torchvision's resnet50 for A and B; C and D add the deep
	// stem's 19,232 (3·32·9 + 32·32·9 + 32·64·9 convs and two BNs of 32,
	// minus the 64·3·7·7 stem conv). MACs: conv + fc for one 224×224 image,
	// ±0.5% of the figures the tweaks issue gives (A 3.858, B 4.089 —
	// torchvision's resnet50 — C and D 4.329 G), which are within 1.2% of
	// the paper's Table 5 (3.86, 4.13, 4.34, 4.35 G).
	tests := []struct {
		variant     string
		params      int64
		macs, paper float64
		conv, avg   int
	}{
		{"A", 25_557_032, 3.858e9, 3.86e9, 53, 0},
		{"B", 25_557_032, 4.089e9, 4.13e9, 53, 0},
		{"C", 25_576_264, 4.329e9, 4.34e9, 55, 0},
		{"D", 25_576_264, 4.329e9, 4.35e9, 55, 3},
	}
	for _, tc := range tests {
		t.Run(tc.variant, func(t *testing.T) {
			path := filepath.Join(dir, "r50"+tc.variant+".onnx")
			if code, _, stderr := run("build", "--model", "resnet50", "--variant", tc.variant, "-o", path); code != 0 {
				t.Fatal(stderr)
			}
			_, stdout, _ := run("inspect", "--json", path)
			var got inspection
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			macs := float64(*got.MACs)
			if got.Params != tc.params || got.Ops["Conv"] != tc.conv || got.Ops["AveragePool"] != tc.avg || !got.Valid {
				t.Errorf("params %d, %d Conv, %d AveragePool, valid %v; want %d, %d, %d", got.Params, got.Ops["Conv"], got.Ops["AveragePool"], got.Valid, tc.params, tc.conv, tc.avg)
			}
			if macs < tc.macs*0.995 || macs > tc.macs*1.005 || macs < tc.paper*0.988 || macs > tc.paper*1.012 {
				t.Errorf("MACs %.0f, want %.4g ± 0.5%% and %.3g ± 1.2%%", macs, tc.macs, tc.paper)
			}
			if got.Metadata["bot-onnx.variant"] != tc.variant {
				t.Errorf("variant metadata %q", got.Metadata["bot-onnx.variant"])
			}
		})
	}
}

// TestTweakSavedFileEqualsDirectBuild: D built directly and D made by
// tweaking a saved A file with the same seed are the same model.
func TestTweakSavedFileEqualsDirectBuild(t *testing.T) {
	dir := t.TempDir()
	a, direct, tweaked := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "d.onnx"), filepath.Join(dir, "a-to-d.onnx")
	for _, args := range [][]string{
		{"build", "--model", "resnet50", "--seed", "3", "-o", a},
		{"build", "--model", "resnet50", "--seed", "3", "--variant", "D", "-o", direct},
		{"tweak", a, "--variant", "d", "--seed", "3", "-o", tweaked},
	} {
		if code, _, stderr := run(args...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	x, _ := os.ReadFile(direct)
	y, _ := os.ReadFile(tweaked)
	if !bytes.Equal(x, y) {
		t.Error("tweaking a saved A file gives another model than building D")
	}
	code, stdout, _ := run("tweak", tweaked, "--passes", "b,c,d", "--json", "-o", filepath.Join(dir, "again.onnx"))
	var res tweaks.FileResult
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil {
		t.Fatalf("tweak --json: exit %d, %q", code, stdout)
	}
	for _, r := range res.Reports {
		if len(r.Changes) != 0 || r.Note == "" {
			t.Errorf("pass %s on a D model: %d changes, note %q; want none and a note", r.Pass, len(r.Changes), r.Note)
		}
	}
}

// TestTweakBadInput: each refused graph gives one line, leaves the input
// file as it was, and writes nothing.
func TestTweakBadInput(t *testing.T) {
	dir := t.TempDir()
	save := func(name string, m *graph.Model) string {
		path := filepath.Join(dir, name)
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	b := graph.NewBuilder("mlp", graph.DefaultOpset)
	x := b.Flatten("flatten", b.Input("input", graph.Shape{{Param: "batch"}, {Size: 1}, {Size: 28}, {Size: 28}}), 1)
	x = b.Relu("relu", b.Gemm("fc1", x, b.Param("fc1.weight", []int64{32, 784}, make([]float32, 32*784)), ""))
	b.Output(b.Gemm("fc2", x, b.Param("fc2.weight", []int64{10, 32}, make([]float32, 320)), ""), "logits")
	mlp, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	build := func(name string) *graph.Model {
		m, err := models.Build(models.Config{Model: name})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	fiveByFive := build("resnet18")
	for _, n := range fiveByFive.GetGraph().GetNode() {
		if n.GetName() == "conv1" {
			graph.SetAttr(n, graph.AttrInts("kernel_shape", 5, 5))
			graph.SetAttr(n, graph.AttrInts("pads", 2, 2, 2, 2))
		}
	}
	fiveByFive.SetInitializer(graph.FloatTensor("conv1.weight", []int64{64, 3, 5, 5}, make([]float32, 64*3*25)))
	cycle := build("resnet20")
	cycle.GetGraph().GetNode()[0].Input[0] = "layer3.2.relu"
	dangling := build("resnet20")
	dangling.GetGraph().GetNode()[3].Input[0] = "nowhere"

	tests := []struct {
		name  string
		model *graph.Model
		args  []string
		want  string
	}{
		{"mlp", mlp, []string{"--variant", "D"}, "not a ResNet"},
		{"stem", fiveByFive, []string{"--variant", "C"}, "expected a 7×7 stride-2 conv, found 5×5"},
		{"cycle", cycle, []string{"--variant", "D"}, "cycle"},
		{"dangling", dangling, []string{"--passes", "d"}, `"nowhere"`},
		{"no passes", build("resnet20"), nil, "exactly one of --variant and --passes"},
		{"bad pass", build("resnet20"), []string{"--passes", "b,x"}, `unknown pass "x"`},
	}
	out := filepath.Join(dir, "out.onnx")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := save(tc.name+".onnx", tc.model)
			before, _ := os.ReadFile(in)
			code, _, stderr := run(append([]string{"tweak", in, "-o", out}, tc.args...)...)
			if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, tc.want)
			}
			after, _ := os.ReadFile(in)
			if !bytes.Equal(before, after) {
				t.Error("the input file changed")
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an output file was written")
			}
		})
	}
}
