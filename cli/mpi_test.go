package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
	"github.com/bot-onnx/bot-onnx/models"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/bot-onnx/bot-onnx/train/data"
)

// mpiFixture returns the arguments of a ResNet-20 training run on 4,000
// real MNIST images for 2 epochs at batch 128 into out, with threads
// replicas, and whether CI requires MPI.
func mpiFixture(t *testing.T) func(out string, threads int, extra ...string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("trains ResNet-20 on MNIST several times")
	}
	if raceEnabled {
		// Every rank would be race-instrumented, 25 times slower; task
		// test runs these tests without -race (task mpi).
		t.Skip("run without -race (task mpi does)")
	}
	dir, err := data.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	testenv.RequireFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), "./scripts/task data")
	m, err := models.Build(models.Config{Model: "resnet20", InChannels: 1, Height: 28, Width: 28, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "r20.onnx")
	if err := m.Save(model); err != nil {
		t.Fatal(err)
	}
	return func(out string, threads int, extra ...string) []string {
		return append([]string{"train", "--model", model, "--data", "mnist", "--train-limit", "4000", "--epochs", "2",
			"--batch", "128", "--lr", "0.1", "--seed", "1", "--threads", strconv.Itoa(threads), "--out", out}, extra...)
	}
}

// mpiTrain runs bot-onnx (this test binary) as ranks processes of
// mpirun and returns its exit error and output.
func mpiTrain(t *testing.T, ranks int, args []string) (error, string) {
	t.Helper()
	cmd := testenv.MPIRun(t, ranks, []string{"BOT_ONNX_AS_MAIN=1"}, append([]string{os.Args[0]}, args...)...)
	out, err := cmd.CombinedOutput()
	return err, string(out)
}

// TestMPIMatchesOneProcess: `mpirun -np N bot-onnx train --threads 1`
// ends with the weights, running statistics, steps.csv and metrics (but
// for timings) of one process with --threads N, bit for bit, for 2 and 4
// processes; the processes but rank 0 log nothing.
func TestMPIMatchesOneProcess(t *testing.T) {
	args := mpiFixture(t)
	dir := t.TempDir()
	for _, ranks := range []int{2, 4} {
		single := filepath.Join(dir, "single"+strconv.Itoa(ranks))
		if code, _, stderr := run(args(single, ranks)...); code != 0 {
			t.Fatalf("one process, %d replicas: %s", ranks, stderr)
		}
		spread := filepath.Join(dir, "mpi"+strconv.Itoa(ranks))
		err, out := mpiTrain(t, ranks, args(spread, 1))
		if err != nil {
			t.Fatalf("mpirun -np %d: %v\n%s", ranks, err, out)
		}
		if n := strings.Count(out, "data-parallel over "+strconv.Itoa(ranks)+" processes: "+strconv.Itoa(ranks)+" replicas in all"); n != 1 {
			t.Errorf("mpirun -np %d: the data-parallel line appears %d times, want once (rank 0):\n%s", ranks, n, out)
		}
		if n := strings.Count(out, "wrote "+filepath.Join(spread, train.ModelFile)); n != 1 {
			t.Errorf("mpirun -np %d: the closing line appears %d times, want once:\n%s", ranks, n, out)
		}
		checkSameModel(t, filepath.Join(spread, train.ModelFile), filepath.Join(single, train.ModelFile))
		sameFile(t, filepath.Join(spread, train.StepsFile), filepath.Join(single, train.StepsFile))
		got, err := train.ReadMetrics(filepath.Join(spread, train.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		want, err := train.ReadMetrics(filepath.Join(single, train.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i].AllreduceSeconds <= 0 {
				t.Errorf("mpirun -np %d epoch %d: no allreduce time", ranks, i+1)
			}
			g, w := got[i], want[i]
			g.ImagesPerS, g.EpochSecond, g.AllreduceSeconds = 0, 0, 0
			w.ImagesPerS, w.EpochSecond = 0, 0
			if g != w {
				t.Errorf("mpirun -np %d epoch %d: %+v, one process %+v", ranks, i+1, g, w)
			}
		}
		t.Logf("%d processes: test top-1 %.4f, allreduce %.2f ms a step", ranks, got[len(got)-1].TestTop1, 1000*got[len(got)-1].AllreduceSeconds)
	}
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("%s differs from %s", got, want)
	}
}

// TestMPIRankKilled: SIGKILL of rank 1 in the middle of epoch 2 ends the
// job within seconds with a non-zero status and a message naming rank 1,
// leaves epoch 1's checkpoint whole, and `--resume` under mpirun finishes
// with the weights of an uninterrupted run (one process of 2 replicas,
// which TestMPIMatchesOneProcess shows equal to 2 processes).
func TestMPIRankKilled(t *testing.T) {
	args := mpiFixture(t)
	dir := t.TempDir()
	whole := filepath.Join(dir, "whole")
	if code, _, stderr := run(args(whole, 2)...); code != 0 {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "killed")
	pids := filepath.Join(dir, "pids")
	os.Mkdir(pids, 0o755)
	cmd := testenv.MPIRun(t, 2, []string{"BOT_ONNX_AS_MAIN=1", "BOT_ONNX_PID_DIR=" + pids}, append([]string{os.Args[0]}, args(out, 1)...)...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(out, train.CheckpointFile)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 5 minutes:\n%s", output.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	pid, err := os.ReadFile(filepath.Join(pids, "rank-1"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	err = cmd.Wait()
	took := time.Since(killed)
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) {
		t.Fatalf("mpirun after rank 1 was killed: %v, want a non-zero status\n%s", err, output.String())
	}
	if !strings.Contains(output.String(), "rank 1") {
		t.Errorf("the job's output does not name rank 1:\n%s", output.String())
	}
	if took > 10*time.Second {
		t.Errorf("the job took %v to end after rank 1 died", took)
	}
	t.Logf("the job ended %v after the kill, status %v; its last lines:\n%s", took.Round(time.Millisecond), err, lastLines(output.String(), 6))
	if c, err := train.LoadCheckpoint(ckpt); err != nil || c.Epoch != 1 {
		t.Fatalf("the checkpoint after the kill: %+v, %v (want epoch 1's, whole)", c, err)
	}
	if err, log := mpiTrain(t, 2, args(out, 1, "--resume")); err != nil {
		t.Fatalf("resuming under mpirun: %v\n%s", err, log)
	}
	checkSameModel(t, filepath.Join(out, train.ModelFile), filepath.Join(whole, train.ModelFile))
	sameFile(t, filepath.Join(out, train.StepsFile), filepath.Join(whole, train.StepsFile))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
