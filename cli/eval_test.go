package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bot-onnx/bot-onnx/eval/classifier"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// evalJSON runs `eval --json` with args and decodes its result.
func evalJSON(t *testing.T, args ...string) classifier.Result {
	t.Helper()
	code, stdout, stderr := run(append([]string{"eval", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("eval %v: exit %d: %s", args, code, stderr)
	}
	var e classifier.Result
	if err := json.Unmarshal([]byte(stdout), &e); err != nil {
		t.Fatalf("eval --json printed %q: %v", stdout, err)
	}
	return e
}

// trainRun trains for epochs with args into the run folder out and
// returns the trained model's path and the last epoch's metrics.
func trainRun(t *testing.T, out string, epochs int, args ...string) (string, train.Metrics) {
	t.Helper()
	if code, _, stderr := run(append([]string{"train", "--epochs", fmt.Sprint(epochs), "--out", out}, args...)...); code != 0 {
		t.Fatal(stderr)
	}
	metrics, err := train.ReadMetrics(filepath.Join(out, train.MetricsFile))
	if err != nil || len(metrics) != epochs {
		t.Fatalf("metrics %v, %v; want %d epochs", metrics, err, epochs)
	}
	return filepath.Join(out, train.ModelFile), metrics[epochs-1]
}

// TestEvalMatchesTrainer trains a small model with its own normalisation,
// evaluates it in ONNX Runtime, and compares with the trainer's last
// evaluation: the same top-1, the loss within 1e-4.
func TestEvalMatchesTrainer(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, model := trainFixture(t, 256, 70)
	trained, last := trainRun(t, filepath.Join(dir, "run"), 2, "--model", model, "--data", "mnist", "--data-dir", dataDir, "--batch", "32",
		"--lr", "0.05", "--mean", "0.2", "--std", "0.4", "--seed", "3", "--threads", "2")
	// 70 images in batches of 32: the last batch is partial.
	e := evalJSON(t, trained, "--data", "mnist", "--data-dir", dataDir, "--provider", "cpu", "--threads", "1")
	if e.Images != 70 || e.Classes != 10 || e.Provider != "cpu" || e.Batch != 32 {
		t.Errorf("images %d, classes %d, provider %s, batch %d; want 70, 10, cpu, 32", e.Images, e.Classes, e.Provider, e.Batch)
	}
	if e.Normalization != "model metadata" || !slices.Equal(e.Mean, []float64{0.2}) || !slices.Equal(e.Std, []float64{0.4}) {
		t.Errorf("normalised with %v / %v from %s, want the model's 0.2 / 0.4", e.Mean, e.Std, e.Normalization)
	}
	if e.Top1 != last.TestTop1 || math.Abs(e.Loss-last.TestLoss) > 1e-4 || math.Abs(e.Top5-last.TestTop5) > 1e-12 {
		t.Errorf("eval: top-1 %v, top-5 %v, loss %.6f; trainer: top-1 %v, top-5 %v, loss %.6f",
			e.Top1, e.Top5, e.Loss, last.TestTop1, last.TestTop5, last.TestLoss)
	}
	if e.TrainedTop1 == nil || math.Abs(*e.TrainedTop1-last.TestTop1) > 1e-5 {
		t.Errorf("trained_top1 %v, want the metadata's %v", e.TrainedTop1, last.TestTop1)
	}
	if e.ImagesPerSecond <= 0 {
		t.Errorf("images/s %v", e.ImagesPerSecond)
	}
	t.Logf("eval top-1 %.4f loss %.6f; trainer top-1 %.4f loss %.6f", e.Top1, e.Loss, last.TestTop1, last.TestLoss)

	// Another batch size gives the same figures; --limit evaluates a subset.
	if b := evalJSON(t, trained, "--data", "mnist", "--data-dir", dataDir, "--provider", "cpu", "--batch", "7"); b.Top1 != e.Top1 || math.Abs(b.Loss-e.Loss) > 1e-5 {
		t.Errorf("batch 7: top-1 %v loss %v; batch 32: %v, %v", b.Top1, b.Loss, e.Top1, e.Loss)
	}
	if l := evalJSON(t, trained, "--data", "mnist", "--data-dir", dataDir, "--provider", "cpu", "--limit", "9"); l.Images != 9 {
		t.Errorf("--limit 9 evaluated %d images", l.Images)
	}
	// The untrained model carries no mean/std: the data set's are used.
	if u := evalJSON(t, model, "--data", "mnist", "--data-dir", dataDir, "--provider", "cpu"); u.Normalization != "data set default" ||
		!slices.Equal(u.Mean, []float64{data.MNISTMean}) || u.TrainedTop1 != nil {
		t.Errorf("untrained model: mean %v from %s, trained_top1 %v", u.Mean, u.Normalization, u.TrainedTop1)
	}
	// The text form.
	code, stdout, stderr := run("eval", trained, "--data", "mnist", "--data-dir", dataDir, "--provider", "cpu")
	if code != 0 || !strings.Contains(stdout, "70 images, 10 classes: top-1 ") || !strings.Contains(stdout, "(model metadata)") ||
		!strings.Contains(stdout, "ONNX Runtime on cpu, batch 32") || !strings.Contains(stdout, "the trainer's last top-1") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestEvalImageFolder evaluates a model trained on an image folder with
// its own normalisation and validation crop: the trainer's top-1; and
// refuses a folder whose classes are not the ones the model learnt.
func TestEvalImageFolder(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("trains")
	}
	dir, model := folderFixture(t, 8)
	folder := filepath.Join(dir, "data")
	trained, last := trainRun(t, filepath.Join(dir, "run"), 4, "--model", model, "--data", "folder:"+folder, "--batch", "8", "--lr", "0.05",
		"--mean", "0.4,0.5,0.6", "--std", "0.2,0.25,0.3", "--val-crop-ratio", "0.8")
	e := evalJSON(t, trained, "--data", "folder:"+folder, "--val-crop-ratio", "0.8", "--provider", "cpu", "--batch", "5")
	if e.Images != 16 || e.Classes != 2 || e.Top1 != last.TestTop1 || math.Abs(e.Loss-last.TestLoss) > 1e-4 {
		t.Errorf("eval: %d images, %d classes, top-1 %v, loss %.6f; trainer: top-1 %v, loss %.6f",
			e.Images, e.Classes, e.Top1, e.Loss, last.TestTop1, last.TestLoss)
	}
	t.Logf("eval top-1 %.4f loss %.6f; trainer top-1 %.4f loss %.6f", e.Top1, e.Loss, last.TestTop1, last.TestLoss)
	for _, split := range []string{"train", "val"} {
		if err := os.Rename(filepath.Join(folder, split, "left"), filepath.Join(folder, split, "up")); err != nil {
			t.Fatal(err)
		}
	}
	code, _, stderr := run("eval", trained, "--data", "folder:"+folder, "--provider", "cpu")
	if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "trained on classes left,right") || !strings.Contains(stderr, "has right,up") {
		t.Errorf("renamed class: exit %d, stderr %q", code, stderr)
	}
}

// TestEvalBadInput checks that each bad input gives one line on stderr and
// a non-zero exit.
func TestEvalBadInput(t *testing.T) {
	requireORT(t)
	dir, dataDir, model := trainFixture(t, 32, 16)
	build := func(name string, args ...string) string {
		path := filepath.Join(dir, name)
		if code, _, stderr := run(append([]string{"build", "-o", path}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
		return path
	}
	rgb32 := build("rgb32.onnx", "--model", "resnet20", "--width", "4")
	fiveClasses := build("five.onnx", "--model", "resnet20", "--width", "4", "--input", "1x28x28", "--classes", "5")
	twentyClasses := build("twenty.onnx", "--model", "resnet20", "--width", "4", "--input", "1x28x28", "--classes", "20")
	mnist := []string{"--data", "mnist", "--data-dir", dataDir}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing model", append([]string{filepath.Join(dir, "none.onnx")}, mnist...), "does not exist"},
		{"no model", mnist, "expected one model file"},
		{"no data", []string{model}, "--data is required"},
		{"unknown data set", []string{model, "--data", "imagenet"}, "expected mnist, fashion-mnist"},
		{"missing data folder", []string{model, "--data", "mnist", "--data-dir", filepath.Join(dir, "nothing")}, "nothing"},
		{"input does not fit", append([]string{rgb32}, mnist...), "does not fit mnist's 1×28×28 images"},
		{"fewer classes", append([]string{fiveClasses}, mnist...), `output "logits" has 5 classes, the data set mnist 10`},
		{"more classes", append([]string{twentyClasses}, mnist...), `output "logits" has 20 classes, the data set mnist 10`},
		{"negative limit", append([]string{model, "--limit", "-1"}, mnist...), "--limit -1"},
		{"negative batch", append([]string{model, "--batch", "-1"}, mnist...), "--batch -1"},
		{"unknown provider", append([]string{model, "--provider", "rocm"}, mnist...), "unknown execution provider"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(append([]string{"eval"}, tc.args...)...)
			if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want one line on stderr with %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestEvalProviders checks eval on a CPU-only ONNX Runtime: auto falls
// back to the CPU, with the reason in the JSON and nothing on stderr (a
// CPU build has no GPU to miss); explicit cuda and tensorrt fail with one
// line.
func TestEvalProviders(t *testing.T) {
	requireORT(t)
	_, dataDir, model := trainFixture(t, 32, 16)
	args := []string{"eval", model, "--data", "mnist", "--data-dir", dataDir}
	code, stdout, stderr := run(append(args, "--json")...)
	if code != 0 {
		t.Fatal(stderr)
	}
	var e classifier.Result
	if err := json.Unmarshal([]byte(stdout), &e); err != nil {
		t.Fatal(err)
	}
	if e.Provider != "cpu" {
		t.Skipf("auto chose %s: this ONNX Runtime has a GPU provider; the CPU-only checks do not apply", e.Provider)
	}
	if e.Fallback == "" || strings.Count(stderr, "provider auto: cpu (cuda: ") != 1 {
		t.Errorf("fallback %q, stderr %q: want the reason in the JSON and one short line about it on stderr", e.Fallback, stderr)
	}
	for _, p := range []string{"cuda", "tensorrt"} {
		code, stdout, stderr := run(append(args, "--provider", p, "--device-id", "1")...)
		if code == 0 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "provider unavailable") || stdout != "" {
			t.Errorf("--provider %s: exit %d, stdout %q, stderr %q; want one line saying the provider is unavailable", p, code, stdout, stderr)
		}
	}
}

// TestEvalInterrupt stops a long evaluation with SIGINT, as Ctrl-C does:
// it exits non-zero with one line saying how far it got.
func TestEvalInterrupt(t *testing.T) {
	requireORT(t)
	if testing.Short() {
		t.Skip("runs a long evaluation")
	}
	_, dataDir, model := trainFixture(t, 16, 50000)
	cmd := exec.Command(os.Args[0], "eval", model, "--data", "mnist", "--data-dir", dataDir, "--batch", "1", "--provider", "cpu", "--threads", "1")
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	exit, ok := err.(*exec.ExitError)
	if !ok || exit.ExitCode() != 1 {
		t.Fatalf("after SIGINT: %v (want exit status 1); stderr %q", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "bot-onnx: eval interrupted after ") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want the interruption said on stderr", stdout.String(), stderr.String())
	}
}
