package train

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// TestEarlyTrajectoryMatchesPyTorch trains ResNet-20 for 50 steps on 6,400
// real MNIST images (batch 128, lr 0.1, Nesterov momentum 0.9, weight
// decay 1e-4, one replica), with and without zero γ, and the same weights
// on the same batches in PyTorch (testdata/torch_trajectory.py: the ONNX
// graph run node by node in torch, torch.optim.SGD, zero γ by
// torch.nn.init.zeros_). The losses must agree step by step where the
// training is not chaotic (below); the side by side table is logged
// (docs/results/zero-gamma.md).
func TestEarlyTrajectoryMatchesPyTorch(t *testing.T) {
	if raceEnabled {
		t.Skip("trains 100 steps; run without -race (task peers does)")
	}
	if testing.Short() {
		t.Skip("trains 100 steps in Go and in PyTorch")
	}
	python := testenv.RequirePython(t, "torch", "onnx")
	mnist, err := data.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	testenv.RequireFile(t, filepath.Join(mnist, "train-images-idx3-ubyte.gz"), "./scripts/task data")
	dir := t.TempDir()
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "r20.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	const steps = 50
	var table strings.Builder
	table.WriteString("| step | bot-onnx | PyTorch | bot-onnx, zero γ | PyTorch, zero γ |\n|---|---|---|---|---|\n")
	losses := map[bool][2][]float64{}
	for _, zero := range []bool{false, true} {
		cfg := Config{Model: model, Seed: 1, Data: DataConfig{Set: "mnist", TrainLimit: steps * 128},
			Recipe: Recipe{Epochs: 1, Batch: 128, LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4, DecayFactor: 0.1, ZeroGamma: zero},
			Engine: Engine{Threads: 1}, Out: filepath.Join(dir, fmt.Sprintf("zero-%v", zero))}
		if _, err := Train(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		records, err := ReadSteps(filepath.Join(cfg.Out, StepsFile))
		if err != nil {
			t.Fatal(err)
		}
		batches := filepath.Join(dir, fmt.Sprintf("batches-%v.bin", zero))
		if err := writeBatches(cfg, batches); err != nil {
			t.Fatal(err)
		}
		args := []string{"testdata/torch_trajectory.py", model, batches, "--steps", fmt.Sprint(steps), "--lr", "0.1", "--momentum", "0.9", "--wd", "1e-4"}
		if zero {
			args = append(args, "--zero-gamma")
		}
		out, err := exec.Command(python, args...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("torch_trajectory.py: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var torch []float64
		if err := json.Unmarshal(out, &torch); err != nil || len(torch) != steps || len(records) != steps {
			t.Fatalf("%d steps here, %d in PyTorch (%v): %s", len(records), len(torch), err, out)
		}
		ours := make([]float64, steps)
		for i, r := range records {
			ours[i] = float64(r.Loss)
		}
		losses[zero] = [2][]float64{ours, torch}
		// Zero γ makes every block start as the identity and the first steps
		// gentle: the two trajectories stay within 1% for all 50 steps.
		// Without it, lr 0.1 on the fresh net is chaotic (its loss climbs
		// back from 2.5 to 2.7 at step 3): float32 rounding, which differs
		// between oneDNN's and PyTorch's kernels, is amplified within a few
		// steps, so the steps agree one by one only at the start, and after
		// that the level of the loss is compared.
		exact := steps
		if !zero {
			exact = 3
		}
		for i := range exact {
			if d := math.Abs(ours[i]-torch[i]) / torch[i]; d > 2e-2 || (i < 3 && d > 1e-3) {
				t.Errorf("zero γ %v, step %d: loss %.6f here, %.6f in PyTorch (relative difference %.2g)", zero, i, ours[i], torch[i], d)
			}
		}
		if a, b := mean(ours[25:]), mean(torch[25:]); math.Abs(a-b) > 0.25*b {
			t.Errorf("zero γ %v: mean loss of steps 25–49 %.4f here, %.4f in PyTorch", zero, a, b)
		}
	}
	for i := range steps {
		fmt.Fprintf(&table, "| %d | %.4f | %.4f | %.4f | %.4f |\n", i, losses[false][0][i], losses[false][1][i], losses[true][0][i], losses[true][1][i])
	}
	t.Logf("losses of the first %d steps:\n%s", steps, table.String())
}

// writeBatches writes the batches of cfg's first epoch, as its trainer
// draws them, in torch_trajectory.py's format.
func writeBatches(cfg Config, path string) error {
	r, err := prepare(cfg)
	if err != nil {
		return err
	}
	defer r.close()
	it, err := r.train.Epoch(context.Background(), 0, 0)
	if err != nil {
		return err
	}
	defer it.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	in := r.input
	header := []int32{int32(r.train.Batches()), int32(cfg.Recipe.Batch), int32(in[1]), int32(in[2]), int32(in[3])}
	if err := binary.Write(f, binary.LittleEndian, header); err != nil {
		return err
	}
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			return f.Close()
		}
		if err != nil {
			return err
		}
		if err := binary.Write(f, binary.LittleEndian, b.Images[:len(b.Images)/b.N*b.N]); err != nil {
			return err
		}
		if err := binary.Write(f, binary.LittleEndian, b.Labels[:b.N]); err != nil {
			return err
		}
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
