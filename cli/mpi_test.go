package cli

import (
	"bytes"
	"errors"
	"maps"
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
	"github.com/bot-onnx/bot-onnx/transfer"
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

// TestMPI trains ResNet-20 on 4,000 MNIST images, 2 epochs at batch 128,
// under mpirun and in one process.
//
// "N processes": `mpirun -np N bot-onnx train --threads 1` ends with the
// weights, running statistics, steps.csv and metrics (but for timings) of
// one process with --threads N, bit for bit, for 2 and 4 processes; the
// processes but rank 0 log nothing.
//
// "rank killed": SIGKILL of rank 1 in the middle of epoch 2 ends the job
// within seconds with a non-zero status and a message naming rank 1,
// leaves epoch 1's checkpoint whole, and `--resume` under mpirun finishes
// with the weights of the uninterrupted run (one process of 2 replicas,
// equal to 2 processes above).
func TestMPI(t *testing.T) {
	args := mpiFixture(t)
	dir := t.TempDir()
	single := func(ranks int) string { return filepath.Join(dir, "single"+strconv.Itoa(ranks)) }
	for _, ranks := range []int{2, 4} {
		t.Run(strconv.Itoa(ranks)+" processes", func(t *testing.T) {
			if code, _, stderr := run(args(single(ranks), ranks)...); code != 0 {
				t.Fatalf("one process, %d replicas: %s", ranks, stderr)
			}
			spread := filepath.Join(dir, "mpi"+strconv.Itoa(ranks))
			err, out := mpiTrain(t, ranks, args(spread, 1))
			if err != nil {
				t.Fatalf("mpirun -np %d: %v\n%s", ranks, err, out)
			}
			checkMPIRun(t, ranks, out, spread, single(ranks))
		})
	}
	t.Run("rank killed", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join(single(2), train.ModelFile)); err != nil {
			t.Skip("needs the one-process run of 2 replicas")
		}
		killRank(t, args, dir, single(2))
	})
}

// checkMPIRun checks the run of ranks processes in spread, whose output
// was out, against the one process's in single.
func checkMPIRun(t *testing.T, ranks int, out, spread, single string) {
	t.Helper()
	if n := strings.Count(out, "data-parallel over "+strconv.Itoa(ranks)+" processes: "+strconv.Itoa(ranks)+" replicas in all"); n != 1 {
		t.Errorf("the data-parallel line appears %d times, want once (rank 0):\n%s", n, out)
	}
	if n := strings.Count(out, "wrote "+filepath.Join(spread, train.ModelFile)); n != 1 {
		t.Errorf("the closing line appears %d times, want once:\n%s", n, out)
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
			t.Errorf("epoch %d: no allreduce time", i+1)
		}
		g, w := got[i], want[i]
		g.ImagesPerS, g.EpochSecond, g.AllreduceSeconds = 0, 0, 0
		w.ImagesPerS, w.EpochSecond = 0, 0
		if g != w {
			t.Errorf("epoch %d: %+v, one process %+v", i+1, g, w)
		}
	}
	last := got[len(got)-1]
	t.Logf("%d processes: test top-1 %.4f, %.0f images/s, allreduce %.2f ms a step", ranks, last.TestTop1, last.ImagesPerS, 1000*last.AllreduceSeconds)
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

// killRank kills rank 1 of a 2-process run in dir mid-epoch 2 and resumes
// it (TestMPI's "rank killed"); whole is the uninterrupted run.
func killRank(t *testing.T, args func(string, int, ...string) []string, dir, whole string) {
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

// TestMPITransfer: `mpirun -np 2 bot-onnx transfer --threads 1` fine-tunes
// as one process with --threads 2 does, bit for bit, and rank 0 alone
// exports, evaluates and prints.
func TestMPITransfer(t *testing.T) {
	if raceEnabled {
		t.Skip("run without -race (task mpi does)")
	}
	requireORT(t)
	_, dataDir, _, b32 := transferFixture(t)
	args := func(out, threads string) []string {
		return []string{"transfer", "--backbone", b32, "--task", "segment", "--data", "mnist-seg", "--data-dir", dataDir,
			"--canvases", "48", "--test-canvases", "8", "--epochs", "2", "--batch", "16", "--lr", "0.05", "--seed", "3",
			"--provider", "cpu", "--threads", threads, "--out", out}
	}
	dir := t.TempDir()
	single, spread := filepath.Join(dir, "single"), filepath.Join(dir, "mpi")
	if code, _, stderr := run(args(single, "2")...); code != 0 {
		t.Fatal(stderr)
	}
	err, out := mpiTrain(t, 2, args(spread, "1"))
	if err != nil {
		t.Fatalf("mpirun -np 2 transfer: %v\n%s", err, out)
	}
	if n := strings.Count(out, "mean IoU"); n == 0 {
		t.Errorf("no result printed:\n%s", out)
	}
	checkSameModel(t, filepath.Join(spread, transfer.RunDir, train.ModelFile), filepath.Join(single, transfer.RunDir, train.ModelFile))
	checkSameModel(t, filepath.Join(spread, train.ModelFile), filepath.Join(single, train.ModelFile))
	a, err := transfer.ReadResult(filepath.Join(spread, transfer.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := transfer.ReadResult(filepath.Join(single, transfer.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(a.ONNXRuntime, b.ONNXRuntime) {
		t.Errorf("ONNX Runtime's figures: 2 processes %v, one process %v", a.ONNXRuntime, b.ONNXRuntime)
	}
}

// TestMPILibraryMissing: under mpirun with the library missing, each
// process stops with one line naming it.
func TestMPILibraryMissing(t *testing.T) {
	if raceEnabled {
		t.Skip("run without -race (task mpi does)")
	}
	out := filepath.Join(t.TempDir(), "run")
	cmd := testenv.MPIRun(t, 2, []string{"BOT_ONNX_AS_MAIN=1", "BOT_ONNX_MPI_LIB=/nonexistent/libmpi.so.40"},
		os.Args[0], "train", "--model", "m.onnx", "--data", "mnist", "--out", out)
	output, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("mpirun succeeded:\n%s", output)
	}
	want := "bot-onnx: started by an MPI launcher (OMPI_COMM_WORLD_SIZE=2), but loading Open MPI's library /nonexistent/libmpi.so.40: /nonexistent/libmpi.so.40: cannot open shared object file"
	if n := strings.Count(string(output), want); n < 1 {
		t.Errorf("output lacks %q:\n%s", want, output)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was made", out)
	}
}

// TestRefusedUnderMPI: a command that does not run across processes
// refuses to run as several copies under mpirun.
func TestRefusedUnderMPI(t *testing.T) {
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	code, _, stderr := run("export", "run/", "-o", "x.onnx")
	want := "bot-onnx: export does not run across MPI processes (mpirun started 2): run it without mpirun; train, transfer and bench train do\n"
	if code == 0 || stderr != want {
		t.Errorf("exit %d, stderr %q; want %q", code, stderr, want)
	}
}
