package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/train"
)

// TestTrainRecipe: a YAML recipe sets the options, command-line flags
// override it, and an unknown key is refused by name. The shipped recipes
// all parse.
func TestTrainRecipe(t *testing.T) {
	dir, dataDir, model := trainFixture(t, 128, 32)
	recipe := filepath.Join(dir, "r.yaml")
	os.WriteFile(recipe, []byte("model: "+model+"\ndata: mnist\ndata-dir: "+dataDir+"\nepochs: 3\nbatch: 32\nlr-mode: cosine\nlabel-smoothing: 0.1\n"), 0o644)
	out := filepath.Join(dir, "run")
	if code, _, stderr := run("train", "--config", recipe, "--epochs", "1", "--out", out); code != 0 {
		t.Fatal(stderr)
	}
	metrics, _ := os.ReadFile(filepath.Join(out, train.MetricsFile))
	if n := strings.Count(string(metrics), "\n"); n != 1 {
		t.Errorf("%d epochs ran; --epochs 1 on the command line should win over the recipe's 3", n)
	}
	os.WriteFile(recipe, []byte("model: "+model+"\nlearning-rate: 0.1\n"), 0o644)
	code, _, stderr := run("train", "--config", recipe, "--out", filepath.Join(dir, "bad"))
	if code == 0 || !strings.Contains(stderr, `unknown key "learning-rate"`) {
		t.Errorf("unknown key: exit %d, %q", code, stderr)
	}
	shipped, _ := filepath.Glob("../recipes/*.yaml")
	if len(shipped) < 5 {
		t.Fatalf("found %d shipped recipes", len(shipped))
	}
	for _, r := range shipped {
		// Parse each against the train flags: a bogus --data stops the run
		// after the recipe has been applied.
		code, _, stderr := run("train", "--config", r, "--model", model, "--data", "none", "--out", filepath.Join(dir, "x"))
		if code == 0 || !strings.Contains(stderr, `--data "none"`) {
			t.Errorf("%s: exit %d, %q; want it read and the run refused for --data", r, code, stderr)
		}
	}
}

func TestSchedulePNGAndCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lr.png")
	code, stdout, stderr := run("schedule", "--epochs", "4", "--lr", "0.2", "--warmup-epochs", "1", "--lr-mode", "cosine", "--steps-per-epoch", "5", "--csv", "--png", path)
	if code != 0 {
		t.Fatal(stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	// 20 steps: warmup 0.04 … 0.2 over 5, then ½(1 + cos(π·t/15))·0.2.
	if len(lines) != 21 || lines[1] != "0,0.000000,0.04" || lines[6] != "5,1.000000,0.2" {
		t.Errorf("csv %q", lines[:min(7, len(lines))])
	}
	if b, err := os.ReadFile(path); err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Errorf("png: %d bytes, %v", len(b), err)
	}
}

// TestAblateBadInput: an unknown step or a teacher of another layout is
// refused in one line before anything is written.
func TestAblateBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--steps", "baseline,warmup"}, `--steps "baseline,warmup": unknown step "warmup"`},
		{[]string{"--teacher-model", "resnet50"}, "expected a model of the student's layout"},
		{[]string{"--model", "resnet21"}, `unknown model "resnet21"`},
		{[]string{"--input", "28x28"}, "--input"},
	} {
		out := filepath.Join(dir, "study")
		code, _, stderr := run(append([]string{"ablate", "--data", "mnist", "--epochs", "1", "--out", out}, tc.args...)...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tc.args, code, stderr, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: %s was created", tc.args, out)
		}
	}
}

// TestTrainDependentFlags: an option whose meaning needs another is
// refused without it, in one line naming both.
func TestTrainDependentFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ args, want string }{
		{"--temperature 4", "--temperature has no effect without --teacher"},
		{"--mixup-off-epochs 2", "--mixup-off-epochs has no effect without --mixup"},
		{"--smoothing paper", "--smoothing has no effect without --label-smoothing"},
		{"--lars-trust 0.01", "--lars-trust has no effect without --optimizer lars"},
		{"--lr-mode cosine --lr-factor 0.5", "--lr-factor has no effect without --lr-mode step"},
	} {
		args := append([]string{"train", "--model", "m.onnx", "--data", "mnist", "--out", filepath.Join(dir, "run")}, strings.Fields(tc.args)...)
		code, _, stderr := run(args...)
		if code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want one line containing %q", tc.args, code, stderr, tc.want)
		}
	}
}
