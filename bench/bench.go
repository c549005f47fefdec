// Package bench measures bot-onnx beside the peer it measures itself
// against, Debian's PyTorch on the same model and batch: training
// throughput and memory (Train, CompareTraining), with the image-folder
// loader alone and feeding training, and inference throughput in ONNX
// Runtime (Infer). The Python scripts are embedded, so the bot-onnx binary
// runs them from anywhere.
package bench

import (
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

//go:embed torch_models.py torch_train.py torch_infer.py
var scripts embed.FS

// Python is Debian's interpreter, which sees python3-torch.
const Python = "/usr/bin/python3"

// TorchResult is what torch_train.py and torch_infer.py print.
type TorchResult struct {
	ImagesPerSecond float64 `json:"images_per_second"`
	// StepMS are the timed training steps, or forward passes for inference.
	StepMS     []float64 `json:"step_ms"`
	PeakRSSMiB float64   `json:"peak_rss_mib"`
	Torch      string    `json:"torch"`
	Threads    int       `json:"threads"`
	// MACs are the multiply-accumulates per image of the model PyTorch
	// built (conv and linear layers, as graph.Count counts them); inference
	// only, so that a caller can check it ran the same architecture.
	MACs int64 `json:"macs,omitempty"`
	// Params counts the model's parameters, and Layers lists its conv and
	// pool layers ("Conv 3x3/2x2 3->32 out 16x16"): TorchCounts only.
	Params int64    `json:"params,omitempty"`
	Layers []string `json:"layers,omitempty"`
	// MemoryFormat ("nchw" or "channels_last") and Precision ("fp32" or
	// "bf16") are the configuration a training run measured.
	MemoryFormat string `json:"memory_format,omitempty"`
	Precision    string `json:"precision,omitempty"`
}

// TrainOptions are what torch_train.py runs: a model name and variant (A,
// B, C or D), batch, CHW input, class count (0: the model's default),
// untimed then timed steps, threads, memory format (nchw or channels_last)
// and precision (fp32, or bf16 under torch.autocast).
type TrainOptions struct {
	Model, Variant string
	Batch          int
	Input          string
	Classes        int
	Warmup, Steps  int
	Threads        int
	MemoryFormat   string
	Precision      string
}

// MemoryFormats are the layouts TorchTrain is run in, for the peer at its
// best: PyTorch's default NCHW, and channels_last, its faster layout for
// CPU convolutions on many models.
var MemoryFormats = []string{"nchw", "channels_last"}

// TorchTrain runs torch_train.py with o.
func TorchTrain(o TrainOptions) (*TorchResult, error) {
	return runTorch("torch_train.py", "--model", o.Model, "--variant", o.Variant, "--batch", fmt.Sprint(o.Batch),
		"--input", o.Input, "--classes", fmt.Sprint(o.Classes), "--warmup", fmt.Sprint(o.Warmup), "--steps", fmt.Sprint(o.Steps), "--threads", fmt.Sprint(o.Threads),
		"--memory-format", o.MemoryFormat, "--precision", o.Precision)
}

// TorchCounts returns the parameter and MAC counts and the layers of the
// peer's model of a name and variant at a CHW input and class count (0:
// the model's default), timing nothing: what a test compares with
// bot-onnx's own model to check that both measure the same architecture.
func TorchCounts(model, variant, input string, classes int) (*TorchResult, error) {
	return runTorch("torch_infer.py", "--model", model, "--variant", variant, "--batch", "1", "--input", input,
		"--classes", fmt.Sprint(classes), "--count-only", "--threads", "1")
}

// TorchInfer runs torch_infer.py: eval-mode inference of a model name
// (ResNet-A) at a batch, CHW input and class count (0: the model's
// default), warmup untimed and runs timed forward passes on threads.
func TorchInfer(model string, batch int, input string, classes, warmup, runs, threads int) (*TorchResult, error) {
	return runTorch("torch_infer.py", "--model", model, "--batch", fmt.Sprint(batch), "--input", input,
		"--classes", fmt.Sprint(classes), "--warmup", fmt.Sprint(warmup), "--runs", fmt.Sprint(runs), "--threads", fmt.Sprint(threads))
}

// runTorch writes the embedded scripts into a temporary folder, runs
// script there with args under Debian's Python and decodes the JSON it
// prints; a failure reports the script's last line on stderr.
func runTorch(script string, args ...string) (*TorchResult, error) {
	dir, err := os.MkdirTemp("", "bot-onnx-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"torch_models.py", script} {
		b, _ := scripts.ReadFile(name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(Python, append([]string{filepath.Join(dir, script)}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
			msg = lines[len(lines)-1]
		}
		return nil, fmt.Errorf("PyTorch peer (%s %s): %v %s", Python, script, err, msg)
	}
	var r TorchResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("PyTorch peer %s printed %q: %v", script, out, err)
	}
	return &r, nil
}
