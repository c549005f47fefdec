package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/export"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/train"
)

// TestExportTrainedRun trains a small ResNet-20 for one epoch and exports
// its run folder as a classifier and as a backbone: the files carry the
// run's class names and normalisation, and the reports give the outputs
// and the verification.
func TestExportTrainedRun(t *testing.T) {
	requireORT(t)
	dir, model := folderFixture(t, 4)
	runDir := filepath.Join(dir, "run")
	if code, _, stderr := run("train", "--model", model, "--data", "folder:"+filepath.Join(dir, "data"), "--epochs", "1", "--batch", "4",
		"--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--out", runDir); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	cls := filepath.Join(dir, "classifier.onnx")
	code, stdout, stderr := run("export", runDir, "-o", cls, "--softmax", "--fold-bn")
	if code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	for _, want := range []string{"wrote " + cls + " from " + filepath.Join(runDir, train.ModelFile) + ": classifier, float32, opset 17",
		"output probabilities float   batch×2", "folded 21 BatchNormalization nodes into the preceding Conv; 0 kept", "logits        max |diff| "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	bb := filepath.Join(dir, "backbone.onnx")
	code, stdout, stderr = run("export", "--head", "none", "--features", "c1,c2", "--fp16", runDir, "-o", bb, "--json", "--dynamic-batch=false", "--batch", "2")
	if code != 0 {
		t.Fatalf("export --head none: %s", stderr)
	}
	var res struct {
		Source   string         `json:"source"`
		Outputs  []export.Value `json:"outputs"`
		Features []export.Stage `json:"features"`
		Verified struct {
			Outputs []export.Parity `json:"outputs"`
		} `json:"verified"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if res.Source != filepath.Join(runDir, train.ModelFile) || len(res.Outputs) != 2 || res.Outputs[1] != (export.Value{Name: "c2", Type: "float", Shape: "2×16×8×8"}) ||
		res.Features[0].Stride != 2 || len(res.Verified.Outputs) != 2 || res.Verified.Outputs[1].MaxAbsDiff > res.Verified.Outputs[1].Bound {
		t.Errorf("report %+v", res)
	}
	for _, path := range []string{cls, bb} {
		m, err := graph.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]string{train.MetaClasses: "left,right", train.MetaMean: "0.5,0.5,0.5", train.MetaStd: "0.25,0.25,0.25", train.MetaTricks: "none"} {
			if got, _ := m.Metadata(key); got != want {
				t.Errorf("%s: metadata %s = %q, want the run's %q", path, key, got, want)
			}
		}
		if m.GetProducerName() != "bot-onnx" || m.GetProducerVersion() != Version {
			t.Errorf("%s: producer %q %q", path, m.GetProducerName(), m.GetProducerVersion())
		}
	}
}

// TestExportBadInput: each bad request is one line on stderr with a
// non-zero exit status, and no output file (nor temporary file) appears.
func TestExportBadInput(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "r20.onnx")
	if code, _, stderr := run("build", "--model", "resnet20", "-o", model); code != 0 {
		t.Fatal(stderr)
	}
	emptyRun := filepath.Join(dir, "run")
	if err := os.Mkdir(emptyRun, 0o755); err != nil {
		t.Fatal(err)
	}
	erf := filepath.Join(dir, "erf.onnx")
	b := graph.NewBuilder("erf", graph.DefaultOpset)
	x := b.Input("input", graph.Shape{{Param: "batch"}, {Size: 3}, {Size: 8}, {Size: 8}})
	b.Output(b.Node("Erf", "erf", []string{x}), "logits")
	m, err := b.Finish("test", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Save(erf); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"run folder without a model", []string{emptyRun}, "run folder " + emptyRun + " has no model.onnx"},
		{"missing source", []string{filepath.Join(dir, "nothing")}, "does not exist (expected a run folder or an .onnx file)"},
		{"unknown feature", []string{model, "--head", "none", "--features", "c2,c5"}, `feature "c5" does not exist: expected one of this model's stages c0 (stride 1, 16 channels)`},
		{"fp16 of an unconverted op", []string{erf, "--fp16"}, `fp16: no float16 conversion for Erf "erf" (1 node)`},
		{"opset below the range", []string{model, "--opset", "12"}, "opset 12 is outside the 13..21 bot-onnx supports"},
		{"opset above the range", []string{model, "--opset", "22"}, "opset 22 is outside the 13..21 bot-onnx supports"},
		{"batch with a dynamic batch", []string{model, "--batch", "4"}, "--batch fixes the batch size: use it with --dynamic-batch=false"},
		{"bad input size", []string{model, "--input-size", "32"}, `--input-size "32": expected 2 sizes like 224x224, or dynamic, found 1`},
		{"fp16-io alone", []string{model, "--fp16-io"}, "float16 inputs and outputs need fp16"},
		{"softmax on a backbone", []string{model, "--head", "none", "--softmax"}, "softmax needs the classifier head"},
		{"output over the source", []string{model, "-o", model}, "names the source model itself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"export"}, tc.args...)
			if !slices.Contains(args, "-o") {
				args = append(args, "-o", out)
			}
			code, _, stderr := run(args...)
			if code == 0 || !strings.HasPrefix(stderr, "bot-onnx: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want one line containing %q", code, stderr, tc.want)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 3 {
				t.Errorf("folder holds %d entries, want only the fixtures", len(entries))
			}
		})
	}
}
