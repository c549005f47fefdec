package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/bench"
	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
)

// run calls Main as the shell would and returns its exit status and output.
func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(append([]string{"bot-onnx"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestBuildThenInspectJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r50.onnx")
	if code, _, stderr := run("build", "--model", "resnet50", "-o", path); code != 0 {
		t.Fatalf("build: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := run("inspect", path, "--json")
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	var got struct {
		Params  int64              `json:"params"`
		MACs    int64              `json:"macs"`
		Ops     map[string]int     `json:"ops"`
		Opset   int64              `json:"opset"`
		Valid   bool               `json:"valid"`
		Inputs  []graph.TensorInfo `json:"inputs"`
		Outputs []graph.TensorInfo `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("inspect --json printed %q: %v", stdout, err)
	}
	// torchvision's resnet50 count; MACs from the paper's 3.86 G, see models.
	if got.Params != 25_557_032 || got.MACs < 3_782_800_000 || got.MACs > 3_937_200_000 || !got.Valid {
		t.Errorf("params %d, MACs %d, valid %v", got.Params, got.MACs, got.Valid)
	}
	if got.Ops["Conv"] != 53 || got.Ops["BatchNormalization"] != 53 || got.Ops["Add"] != 16 || got.Opset < 13 {
		t.Errorf("ops %v, opset %d", got.Ops, got.Opset)
	}
	if len(got.Inputs) != 1 || got.Inputs[0].Name != "input" || len(got.Outputs) != 1 || got.Outputs[0].Name != "logits" {
		t.Fatalf("inputs %v outputs %v", got.Inputs, got.Outputs)
	}
	if s := got.Inputs[0].Shape; len(s) != 4 || s[0] != "batch" || s[1] != 3.0 || s[3] != 224.0 {
		t.Errorf("input shape %v, want [batch 3 224 224]", s)
	}
}

func TestModelsListsEveryName(t *testing.T) {
	code, stdout, _ := run("models")
	if code != 0 {
		t.Fatal("models failed")
	}
	for _, name := range models.Names() {
		if !strings.Contains(stdout, name+" ") {
			t.Errorf("models output lacks %s", name)
		}
	}
}

// TestBadInput checks that each bad input gives one line on stderr, a
// non-zero exit, and no output file.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.onnx")
	m, err := models.Build(models.Config{Model: "resnet20"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := m.Encode()
	os.WriteFile(truncated, data[:len(data)/3], 0o644)
	text := filepath.Join(dir, "notes.onnx")
	os.WriteFile(text, []byte("these are not weights\n"), 0o644)
	// A model that loads but fails the validator: a weight removed.
	broken := m.Clone()
	broken.GetGraph().Initializer = broken.GetGraph().GetInitializer()[1:]
	invalid := filepath.Join(dir, "invalid.onnx")
	if err := broken.Save(invalid); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown model", []string{"build", "--model", "resnet51", "-o", out}, `unknown model "resnet51"`},
		{"malformed input", []string{"build", "--model", "resnet18", "--input", "3x22a", "-o", out}, `--input "3x22a"`},
		{"input rank", []string{"build", "--model", "resnet18", "--input", "224x224", "-o", out}, "expected 3 sizes"},
		{"unknown variant", []string{"build", "--model", "resnet18", "--variant", "E", "-o", out}, `unknown variant "E"`},
		{"missing output flag", []string{"build", "--model", "resnet18"}, "output"},
		{"into missing folder", []string{"build", "--model", "resnet20", "-o", filepath.Join(dir, "nope", "m.onnx")}, "m.onnx"},
		{"truncated model", []string{"inspect", truncated}, "not an ONNX model"},
		{"text file", []string{"inspect", text}, "not an ONNX model"},
		{"absent file", []string{"inspect", filepath.Join(dir, "absent.onnx")}, "absent.onnx"},
		{"invalid model", []string{"inspect", invalid}, "invalid.onnx is invalid: 1 problem"},
		{"unknown command", []string{"train-everything"}, "train-everything"},
		{"missing ORT library", []string{"predict", truncated, "--ort-lib", filepath.Join(dir, "libonnxruntime.so")}, "libonnxruntime.so"},
		{"unknown provider", []string{"predict", truncated, "--provider", "tpu"}, `"tpu"`},
		{"predict a truncated model", []string{"predict", truncated, "--provider", "cpu"}, "truncated.onnx: not an ONNX model"},
		{"predict a text file", []string{"predict", text, "--provider", "cpu"}, "notes.onnx: not an ONNX model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(tc.args...)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero")
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "bot-onnx: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s was written", out)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("folder holds %d entries, want only the three fixtures", len(entries))
	}
}

// requireORT skips (or fails under CI) when no ONNX Runtime library is found.
func requireORT(t *testing.T) {
	t.Helper()
	if _, err := ort.FindLibrary(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
}

// TestEveryModelRunsInONNXRuntime builds each model and runs it in ONNX
// Runtime through predict, checking the output shape.
func TestEveryModelRunsInONNXRuntime(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	cases := []struct {
		model string
		args  []string
		input string
		want  string
	}{
		{"resnet20", nil, "2x3x32x32", "[2,10]"},
		{"resnet50", []string{"--classes", "7", "--input", "1x64x48", "--width", "16"}, "3x1x64x48", "[3,7]"},
	}
	if !testing.Short() {
		for _, name := range models.Names() {
			arch, _ := models.Lookup(name)
			in, want := "1x3x224x224", "[1,1000]"
			if arch.CIFAR {
				in, want = "4x3x32x32", "[4,10]"
			}
			cases = append(cases, struct {
				model string
				args  []string
				input string
				want  string
			}{name, nil, in, want})
		}
	}
	for i, tc := range cases {
		t.Run(tc.model+"/"+tc.input, func(t *testing.T) {
			path := filepath.Join(dir, tc.model+string(rune('a'+i))+".onnx")
			if code, _, stderr := run(append([]string{"build", "--model", tc.model, "-o", path}, tc.args...)...); code != 0 {
				t.Fatalf("build: %s", stderr)
			}
			code, stdout, stderr := run("predict", path, "--input", tc.input, "--provider", "cpu", "--runs", "1", "--json")
			if code != 0 {
				t.Fatalf("predict: %s", stderr)
			}
			var p bench.Prediction
			if err := json.Unmarshal([]byte(stdout), &p); err != nil {
				t.Fatal(err)
			}
			if shape, _ := json.Marshal(p.OutputShape); string(shape) != tc.want || p.Provider != "cpu" {
				t.Errorf("output shape %s on %s, want %s on cpu", shape, p.Provider, tc.want)
			}
			os.Remove(path)
		})
	}
}

func TestPredictChecksInputAgainstModel(t *testing.T) {
	requireORT(t)
	path := filepath.Join(t.TempDir(), "r20.onnx")
	if code, _, stderr := run("build", "--model", "resnet20", "-o", path); code != 0 {
		t.Fatal(stderr)
	}
	for input, want := range map[string]string{
		"1x3x32":    "expected 4 sizes",
		"1x1x32x32": "fixed size 3 in dimension 1",
		"1x3x0x32":  "positive integers",
	} {
		code, _, stderr := run("predict", path, "--input", input)
		if code == 0 || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("--input %s: exit %d, stderr %q, want one line with %q", input, code, stderr, want)
		}
	}
	// Flags after the positional argument are read too.
	code, stdout, stderr := run("predict", path, "--provider", "cpu", "--runs", "2")
	if code != 0 || !strings.Contains(stdout, "on cpu") || !strings.Contains(stdout, "over 2 runs") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// --against runs the same input on a second session: the CPU against
	// itself gives the same outputs, to the bit.
	code, stdout, stderr = run("predict", path, "--provider", "cpu", "--against", "cpu", "--input", "4x3x32x32", "--json")
	var p bench.Prediction
	if err := json.Unmarshal([]byte(stdout), &p); code != 0 || err != nil || p.Against != "cpu" || p.MaxAbsDiff == nil || *p.MaxAbsDiff != 0 ||
		p.Outputs[0].MaxAbsDiff == nil {
		t.Errorf("--against cpu: exit %d, %v, stdout %q, stderr %q", code, err, stdout, stderr)
	}
	if code, _, stderr = run("predict", path, "--against", "gpu"); code == 0 || !strings.Contains(stderr, `--against: unknown execution provider "gpu"`) {
		t.Errorf("--against gpu: exit %d, stderr %q", code, stderr)
	}
}

func TestInterspersed(t *testing.T) {
	app := NewApp(nil, nil)
	tests := []struct{ in, want string }{
		{"bot-onnx predict m.onnx --runs 2 --json", "bot-onnx predict --runs 2 --json m.onnx"},
		{"bot-onnx predict --runs=2 m.onnx --json", "bot-onnx predict --runs=2 --json m.onnx"},
		{"bot-onnx inspect a.onnx -- --weird.onnx", "bot-onnx inspect a.onnx -- --weird.onnx"},
		{"bot-onnx --help", "bot-onnx --help"},
		{"bot-onnx bench train --batch 64 --json", "bot-onnx bench train --batch 64 --json"},
	}
	for _, tc := range tests {
		if got := strings.Join(cmdline.Interspersed(app, strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("cmdline.Interspersed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRefusalsNameTheFlags: a value train, ablate or schedule refuses is
// named by its flag in the error's one line (after the log's), as is each
// setting a refused --resume finds changed; a finished run whose
// metrics.jsonl is gone is refused, not a panic.
func TestRefusalsNameTheFlags(t *testing.T) {
	dir, dataDir, model := trainFixture(t, 64, 32)
	trainArgs := []string{"train", "--model", model, "--data", "mnist", "--data-dir", dataDir, "--batch", "32", "--threads", "2"}
	out := filepath.Join(dir, "run")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{slices.Concat(trainArgs, []string{"--wd", "-0.1", "--out", filepath.Join(dir, "wd")}), "bot-onnx: --wd -0.1: expected 0 or more"},
		{slices.Concat(trainArgs, []string{"--micro-batch", "10", "--out", filepath.Join(dir, "micro")}),
			"bot-onnx: --micro-batch 10: expected a divisor of --batch (32)"},
		{slices.Concat(trainArgs, []string{"--lr", "0", "--out", filepath.Join(dir, "lr")}), "bot-onnx: --lr 0: expected a positive learning rate"},
		{[]string{"schedule", "--lr", "-1", "--linear-scaling", "--steps-per-epoch", "5"}, "bot-onnx: --lr -1: expected a positive learning rate"},
		{[]string{"schedule", "--lr-mode", "cosine", "--epochs", "2", "--warmup-epochs", "2", "--steps-per-epoch", "5"},
			"bot-onnx: --epochs 2: expected more than --warmup-epochs (2) with --lr-mode cosine"},
		{[]string{"ablate", "--data", "mnist", "--data-dir", dataDir, "--epochs", "2", "--steps", "baseline", "--wd", "-1", "--out", filepath.Join(dir, "study")},
			"bot-onnx: --wd -1: expected 0 or more"},
		{slices.Concat(trainArgs, []string{"--epochs", "1", "--out", out}), ""},
		{slices.Concat(trainArgs, []string{"--epochs", "2", "--lr", "0.2", "--out", out, "--resume"}),
			"bot-onnx: " + filepath.Join(out, "checkpoint.bin") + " was made with --lr 0.1; this run asks --lr 0.2"},
		{slices.Concat(trainArgs, []string{"--epochs", "1", "--out", out}),
			`bot-onnx: --out "` + out + `": expected a folder without a run, or --resume to continue the run it holds (checkpoint.bin)`},
	} {
		code, _, stderr := run(tc.args...)
		if tc.want == "" {
			if code != 0 {
				t.Fatalf("%v: exit %d, %s", tc.args, code, stderr)
			}
			continue
		}
		if code == 0 || lastLine(stderr) != tc.want || strings.Count(stderr, "bot-onnx: ") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want it to end in %q", tc.args, code, stderr, tc.want)
		}
	}
	if err := os.Remove(filepath.Join(out, "metrics.jsonl")); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(slices.Concat(trainArgs, []string{"--epochs", "1", "--out", out, "--resume"})...)
	if code == 0 || !strings.HasPrefix(lastLine(stderr), "bot-onnx: ") || !strings.Contains(lastLine(stderr), "the run's record is incomplete") {
		t.Errorf("resuming a finished run without its metrics: exit %d, stderr %q", code, stderr)
	}
}

// lastLine returns the last line of s, without its newline.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}
