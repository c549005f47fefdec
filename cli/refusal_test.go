package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/ort"
)

// TestRefusedBeforeAnythingIsWritten: the settings, data and models that
// once started a run that could only fail (issue 15's list) are each
// refused in one line, with exit status 1, and nothing under the test's
// folder changes or appears: no run folder, no metrics, no model.
func TestRefusedBeforeAnythingIsWritten(t *testing.T) {
	dir, dataDir, model := trainFixture(t, 64, 32)
	alter := func(name string, change func(m *graph.Model)) string {
		m, err := graph.Load(model)
		if err != nil {
			t.Fatal(err)
		}
		change(m)
		path := filepath.Join(dir, name+".onnx")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	node := func(m *graph.Model, name string) int {
		for i, n := range m.GetGraph().GetNode() {
			if n.GetName() == name {
				return i
			}
		}
		t.Fatalf("no node %q", name)
		return -1
	}
	elu := alter("elu", func(m *graph.Model) { m.GetGraph().GetNode()[node(m, "relu")].OpType = "Elu" })
	trainingMode := alter("training-mode", func(m *graph.Model) {
		bn := m.GetGraph().GetNode()[node(m, "bn1")]
		bn.Output = append(bn.Output, "bn1.mean_out", "bn1.var_out", "bn1.saved_mean", "bn1.saved_var")
	})
	opset11 := alter("opset11", func(m *graph.Model) { m.GetOpsetImport()[0].Version = 11 })
	folded := filepath.Join(dir, "folded.onnx")
	if code, _, stderr := run("export", model, "--fold-bn", "-o", folded); code != 0 {
		t.Fatalf("export --fold-bn: exit %d: %s", code, stderr)
	}
	twenty, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Classes: 20})
	if err != nil {
		t.Fatal(err)
	}
	twentyClasses := filepath.Join(dir, "twenty.onnx")
	if err := twenty.Save(twentyClasses); err != nil {
		t.Fatal(err)
	}
	oneClass := filepath.Join(dir, "one-class")
	for _, split := range []string{"train", "val"} {
		if err := os.MkdirAll(filepath.Join(oneClass, split, "only"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	out := filepath.Join(dir, "run")
	mnist := func(m string, args ...string) []string {
		return append([]string{"train", "--model", m, "--data", "mnist", "--data-dir", dataDir, "--batch", "32", "--out", out}, args...)
	}
	// On a machine with a GPU that Dawn supports, webgpu starts.
	_, webgpuErr := ort.Probe(ort.Options{Provider: ort.ProviderWebGPU})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"momentum NaN", mnist(model, "--momentum", "NaN"), "--momentum NaN: expected a value in [0, 1)"},
		{"wd NaN", mnist(model, "--wd", "NaN"), "--wd NaN: expected 0 or more"},
		{"label smoothing NaN", mnist(model, "--label-smoothing", "NaN"), "--label-smoothing NaN: expected a value in [0, 1)"},
		{"lr factor NaN", mnist(model, "--lr-steps", "1", "--lr-factor", "NaN"), "--lr-factor NaN"},
		{"mixup Inf", mnist(model, "--mixup", "Inf"), "--mixup +Inf: expected 0 (off) or more"},
		{"mixup NaN", mnist(model, "--mixup", "NaN"), "--mixup NaN: expected 0 (off) or more"},
		{"negative threads", mnist(model, "--threads", "-1"), "--threads -1: expected 0 (one per core) or more"},
		{"negative micro-batch", mnist(model, "--micro-batch", "-4"), "--micro-batch -4"},
		{"warmup past the run", mnist(model, "--epochs", "2", "--warmup-epochs", "3"), "--warmup-epochs 3: expected 0 to --epochs (2)"},
		{"schedule of negative epochs", []string{"schedule", "--epochs", "-5", "--steps-per-epoch", "2"}, "--epochs -5: expected at least 1"},
		{"ablate of one epoch", []string{"ablate", "--data", "mnist", "--data-dir", dataDir, "--epochs", "1", "--out", out}, "--epochs 1: expected at least 2"},
		{"demo of negative threads", []string{"demo", "--threads", "-1", "--data-dir", dataDir, "--out", out}, "--threads -1: expected 0 (one per core) or more"},
		{"resume into no folder", mnist(model, "--resume"), "--resume: --out " + out + " does not exist"},
		{"more classes than the data", mnist(twentyClasses), "the model has 20 classes, the data set 10"},
		{"one-class folder", []string{"train", "--model", model, "--data", "folder:" + oneClass, "--out", out}, `has one class subfolder ("only"): a classifier needs at least 2`},
		{"BatchNorm folded", mnist(folded), "no BatchNormalization follows any of the model's 21 convolutions"},
		{"training-mode BatchNorm", mnist(trainingMode), `node "bn1" (BatchNormalization): expected 1 to 3 outputs, found 5`},
		{"Elu", mnist(elu), "operator Elu is not supported by the training engine"},
		{"classifier on boxes", []string{"train", "--model", model, "--data", "mnist-det", "--data-dir", dataDir, "--canvas", "28", "--canvases", "32", "--test-canvases", "8", "--batch", "16", "--out", out},
			"a model ending in a CenterNet head for 10 classes, [N 14 h w]"},
		{"classifier scored as a detector", []string{"eval", model, "--data", "mnist-det", "--data-dir", dataDir, "--test-canvases", "8", "--out", out},
			"expected a detector with one image input"},
		{"webgpu without a GPU", []string{"predict", model, "--provider", "webgpu"}, "WebGPU provider unavailable"},
		{"webgpu export check without a GPU", []string{"export", model, "--provider", "webgpu", "-o", filepath.Join(dir, "exported.onnx")}, "WebGPU provider unavailable"},
		{"webgpu fine-tuning without a GPU", []string{"transfer", "--backbone", model, "--task", "classify", "--data", "mnist", "--data-dir", dataDir, "--provider", "webgpu", "--out", out},
			`--provider "webgpu": WebGPU provider unavailable`},
		{"provider option without a value", []string{"eval", model, "--data", "mnist", "--data-dir", dataDir, "--provider", "webgpu", "--provider-option", "deviceId"},
			`--provider-option: "deviceId": expected key=value`},
		{"provider option for the CPU", []string{"eval", model, "--data", "mnist", "--data-dir", dataDir, "--provider", "cpu", "--provider-option", "deviceId=1"},
			"--provider-option has no effect with --provider cpu"},
		{"opset 11", mnist(opset11), fmt.Sprintf("default-domain opset 11 is older than the %d..%d bot-onnx supports (export the model again at opset %d or later", graph.MinOpset, graph.MaxOpset, graph.MinOpset)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "webgpu") && webgpuErr == nil {
				t.Skip("WebGPU starts on this machine")
			}
			before := tree(t, dir)
			code, stdout, stderr := run(tc.args...)
			// The run's log (its memory estimate) may come first.
			if code != 1 || stdout != "" || strings.Count(stderr, "bot-onnx: ") != 1 || !strings.HasPrefix(lastLine(stderr), "bot-onnx: ") || !strings.Contains(lastLine(stderr), tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line containing %q", code, stdout, stderr, tc.want)
			}
			if after := tree(t, dir); !slices.Equal(before, after) {
				t.Errorf("files changed: before %v, after %v", before, after)
			}
		})
	}
}

// tree lists every file under dir with its size and time of change, and
// every folder by name, to tell that a command wrote nothing. A folder's
// own time is left out: a refused run may make its --out folder for the
// lock and remove it again.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var list []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			list = append(list, path+"/")
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		list = append(list, fmt.Sprintf("%s %d %d", path, info.Size(), info.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}
