package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/bot-onnx/bot-onnx/graph"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// TestMain lets a test start this test binary as the bot-onnx command, to
// kill it like a user's process.
func TestMain(m *testing.M) {
	if os.Getenv("BOT_ONNX_AS_MAIN") == "1" {
		os.Exit(Main(append([]string{"bot-onnx"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestTrainSurvivesSIGKILL kills `bot-onnx train` with SIGKILL in the
// middle of its second epoch, resumes it, and checks that the final
// weights equal those of an uninterrupted run with the same seed.
func TestTrainSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("trains twice")
	}
	dir, dataDir, model := trainFixture(t, 1600, 200)
	args := func(out string) []string {
		return []string{"train", "--model", model, "--data", "mnist", "--data-dir", dataDir, "--epochs", "3", "--batch", "32",
			"--lr", "0.05", "--lr-steps", "2", "--seed", "9", "--threads", "2", "--out", out}
	}
	whole := filepath.Join(dir, "whole")
	if code, _, stderr := run(args(whole)...); code != 0 {
		t.Fatal(stderr)
	}

	killed := filepath.Join(dir, "killed")
	cmd := exec.Command(os.Args[0], args(killed)...)
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for epoch 1's checkpoint, then kill a moment into epoch 2.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, _ := os.ReadFile(filepath.Join(killed, train.MetricsFile)); bytes.Count(b, []byte("\n")) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if b, _ := os.ReadFile(filepath.Join(killed, train.MetricsFile)); bytes.Count(b, []byte("\n")) != 1 {
		t.Fatalf("the kill came after epoch 2 finished; metrics: %s", b)
	}
	if code, _, stderr := run(append(args(killed), "--resume")...); code != 0 {
		t.Fatal(stderr)
	}
	a, err := graph.Load(filepath.Join(whole, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := graph.Load(filepath.Join(killed, train.ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, init := range a.GetGraph().GetInitializer() {
		if other := b.Initializer(init.GetName()); other == nil || !bytes.Equal(other.GetRawData(), init.GetRawData()) {
			t.Fatalf("%s differs after kill and resume", init.GetName())
		}
	}
	lines, _ := os.ReadFile(filepath.Join(killed, train.MetricsFile))
	if n := bytes.Count(lines, []byte("\n")); n != 3 {
		t.Errorf("%d metrics lines after resuming, want 3:\n%s", n, lines)
	}
	// The per-step log holds every step once, in order, as the whole run's.
	wholeSteps, err := train.ReadSteps(filepath.Join(whole, train.StepsFile))
	if err != nil {
		t.Fatal(err)
	}
	killedSteps, err := train.ReadSteps(filepath.Join(killed, train.StepsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(wholeSteps) != 3*1600/32 || !slices.Equal(wholeSteps, killedSteps) {
		t.Errorf("steps: %d in the whole run, %d after kill and resume; want %d, equal", len(wholeSteps), len(killedSteps), 3*1600/32)
	}
	for i, s := range killedSteps {
		if s.Step != i {
			t.Fatalf("line %d of %s is step %d", i+1, train.StepsFile, s.Step)
		}
	}
}

// TestCheckpointWriteFailureKeepsThePreviousOne runs epoch 2 of a run
// under a file-size limit that a checkpoint cannot fit in (as on a full
// disk): the run fails with a message, and epoch 1's checkpoint is intact
// and still resumes.
func TestCheckpointWriteFailureKeepsThePreviousOne(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, model := trainFixture(t, 256, 64)
	out := filepath.Join(dir, "run")
	args := []string{"train", "--model", model, "--data", "mnist", "--data-dir", dataDir, "--batch", "32", "--out", out}
	if code, _, stderr := run(append(args, "--epochs", "1")...); code != 0 {
		t.Fatal(stderr)
	}
	ckpt := filepath.Join(out, train.CheckpointFile)
	before, _ := os.ReadFile(ckpt)
	// ulimit -f counts 512-byte blocks: 64 KiB, less than the checkpoint.
	script := `ulimit -f 128 && exec "$0" "$@"`
	cmd := exec.Command("bash", append([]string{"-c", script, os.Args[0]}, append(args, "--epochs", "2", "--resume")...)...)
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	output, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(output, []byte("checkpoint of epoch 2")) {
		t.Fatalf("expected the run to fail saving epoch 2's checkpoint: %v\n%s", err, output)
	}
	after, _ := os.ReadFile(ckpt)
	if !bytes.Equal(before, after) {
		t.Fatal("the previous checkpoint changed")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(out, ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
	if c, err := train.LoadCheckpoint(ckpt); err != nil || c.Epoch != 1 {
		t.Fatalf("checkpoint after the failure: %+v, %v", c, err)
	}
	if code, _, stderr := run(append(args, "--epochs", "2", "--resume")...); code != 0 {
		t.Fatalf("resuming after the failure: %s", stderr)
	}
}

// trainFixture writes a synthetic MNIST-format data set of trainN and
// testN images and a narrow ResNet-20 for it into a temporary folder.
func trainFixture(t *testing.T, trainN, testN int) (dir, dataDir, model string) {
	t.Helper()
	dir = t.TempDir()
	dataDir = filepath.Join(dir, "data")
	os.Mkdir(dataDir, 0o755)
	if err := data.WriteSyntheticMNIST(dataDir, trainN, testN, 1); err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, BaseWidth: 4, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "r20.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	return dir, dataDir, model
}
