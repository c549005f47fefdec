// Package bench runs the peer bot-onnx measures itself against: Debian's
// PyTorch on the same model and batch. The Python scripts are embedded, so
// the bot-onnx binary runs them from anywhere.
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

//go:embed torch_models.py torch_train.py
var scripts embed.FS

// Python is Debian's interpreter, which sees python3-torch.
const Python = "/usr/bin/python3"

// TorchResult is what torch_train.py prints.
type TorchResult struct {
	ImagesPerSecond float64   `json:"images_per_second"`
	StepMS          []float64 `json:"step_ms"`
	PeakRSSMiB      float64   `json:"peak_rss_mib"`
	Torch           string    `json:"torch"`
	Threads         int       `json:"threads"`
}

// TorchTrain runs torch_train.py for a model name, batch, CHW input,
// class count (0: the model's default), timed steps and thread count.
func TorchTrain(model string, batch int, input string, classes, steps, threads int) (*TorchResult, error) {
	dir, err := os.MkdirTemp("", "bot-onnx-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"torch_models.py", "torch_train.py"} {
		b, _ := scripts.ReadFile(name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(Python, filepath.Join(dir, "torch_train.py"), "--model", model, "--batch", fmt.Sprint(batch),
		"--input", input, "--classes", fmt.Sprint(classes), "--steps", fmt.Sprint(steps), "--threads", fmt.Sprint(threads))
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
			msg = lines[len(lines)-1]
		}
		return nil, fmt.Errorf("PyTorch peer (%s torch_train.py): %v %s", Python, err, msg)
	}
	var r TorchResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("PyTorch peer printed %q: %v", out, err)
	}
	return &r, nil
}
