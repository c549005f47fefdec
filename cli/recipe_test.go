package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/ablation"
	"github.com/bot-onnx/bot-onnx/mnistdemo"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
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
	// A value of the wrong kind names the kind expected.
	for _, tc := range []struct{ line, want string }{
		{"lr: fast", `key "lr": expected a number, found "fast"`},
		{"epochs: 2.5", `key "epochs": expected an integer, found "2.5"`},
		{"zero-gamma: often", `key "zero-gamma": expected true or false, found "often"`},
		{"seed: -3", `key "seed": expected an integer of 0 or more, found "-3"`},
	} {
		os.WriteFile(recipe, []byte("model: "+model+"\n"+tc.line+"\n"), 0o644)
		code, _, stderr := run("train", "--config", recipe, "--out", filepath.Join(dir, "bad"))
		if code == 0 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, %q; want one line saying %q", tc.line, code, stderr, tc.want)
		}
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

// TestRecipeFilesAreTheStudys: each recipes/*.yaml, read by `train
// --config` as a user's run reads it, gives the recipe of ablation's step
// of the same name at the paper's scale (ablation.PaperFiles, from which
// the files are written): the keys are train's flags, and the values the
// study's.
func TestRecipeFilesAreTheStudys(t *testing.T) {
	for _, f := range ablation.PaperFiles {
		var got train.Config
		cmd := trainCommandInto(&got)
		cmd.Action = func(c *cli.Context) error { return trainConfig(c, &got, true) }
		app := &cli.App{Commands: []*cli.Command{cmd}}
		path := filepath.Join("..", "recipes", f.Name+".yaml")
		if err := app.Run([]string{"bot-onnx", "train", "--config", path, "--model", "m.onnx", "--data", "mnist", "--out", "x"}); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want := f.Recipe()
		// Settings the recipe does not use keep the flags' defaults.
		if want.Optimizer == "" {
			want.Optimizer, want.LARSTrust = got.Recipe.Optimizer, got.Recipe.LARSTrust
		}
		if want.LabelSmoothing == 0 {
			want.Smoothing = got.Recipe.Smoothing
		}
		if want.Teacher == "" {
			want.Distill = got.Recipe.Distill
		}
		if !reflect.DeepEqual(got.Recipe, want) {
			t.Errorf("%s reads as\n%+v\nablation's %s is\n%+v", path, got.Recipe, f.Name, want)
		}
	}
}

// TestDemoTrainCommandsAreItsRecipes: the train commands of the demo's
// report, parsed as the command line parses them, give the recipes the
// demo trains its runs with (package ablation's steps).
func TestDemoTrainCommandsAreItsRecipes(t *testing.T) {
	b := mnistdemo.Quick
	found := 0
	for _, line := range strings.Split(mnistdemo.Commands(&mnistdemo.Result{Budget: b}), "\n") {
		fields := strings.Fields(line)
		if fields[1] != "train" {
			continue
		}
		var got train.Config
		cmd := trainCommandInto(&got)
		cmd.Action = func(c *cli.Context) error { return trainConfig(c, &got, true) }
		if err := (&cli.App{Commands: []*cli.Command{cmd}}).Run(fields); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		for _, r := range mnistdemo.ClassifierRuns {
			if got.Out != "runs/"+r.Name {
				continue
			}
			found++
			want := r.Recipe(b)
			want.Optimizer, want.LARSTrust, want.Distill = got.Recipe.Optimizer, got.Recipe.LARSTrust, got.Recipe.Distill
			if want.LabelSmoothing == 0 {
				want.Smoothing = got.Recipe.Smoothing
			}
			if !reflect.DeepEqual(got.Recipe, want) {
				t.Errorf("%s reads as\n%+v\nthe demo trains %s with\n%+v", line, got.Recipe, r.Name, want)
			}
		}
	}
	if found != 2 {
		t.Errorf("%d train commands of the demo's runs, want 2 (d-baseline, d-tricks)", found)
	}
}
