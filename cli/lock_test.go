package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bot-onnx/bot-onnx/train"
)

// TestSecondTrainIntoABusyFolder starts `bot-onnx train` as a process,
// and while it trains runs a second train (fresh and --resume) into the
// same --out: each is refused at once in one line naming the folder and
// the first run's pid, and the first finishes as if alone.
func TestSecondTrainIntoABusyFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("trains")
	}
	dir, dataDir, model := trainFixture(t, 1600, 200)
	out := filepath.Join(dir, "run")
	args := []string{"train", "--model", model, "--data", "mnist", "--data-dir", dataDir, "--epochs", "2", "--batch", "32", "--seed", "3", "--out", out}
	first := exec.Command(os.Args[0], args...)
	first.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	holder := fmt.Sprintf("pid %d on ", first.Process.Pid)
	lock := filepath.Join(out, train.LockFile)
	waitFor(t, 2*time.Minute, func() bool {
		b, _ := os.ReadFile(lock)
		return strings.HasPrefix(string(b), holder)
	})

	for _, extra := range [][]string{nil, {"--resume"}} {
		start := time.Now()
		code, _, stderr := run(append(args, extra...)...)
		if code == 0 {
			t.Fatalf("a second train %v into %s succeeded while the first runs", extra, out)
		}
		want := "bot-onnx: " + out + " is in use by another bot-onnx run (" + holder
		if !strings.HasPrefix(stderr, want) || !strings.HasSuffix(stderr, "): wait for it to finish, or choose another --out\n") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("second train %v: stderr %q; expected one line starting %q", extra, stderr, want)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("the refusal took %v; expected it at once", took)
		}
	}
	if b, _ := os.ReadFile(lock); !strings.HasPrefix(string(b), holder) {
		t.Errorf("the lock file now holds %q; the refused runs must leave it to the first", b)
	}

	if err := first.Wait(); err != nil {
		t.Fatalf("the first run failed: %v\n%s", err, firstErr.String())
	}
	metrics, err := train.ReadMetrics(filepath.Join(out, train.MetricsFile))
	if err != nil || len(metrics) != 2 {
		t.Fatalf("the first run's metrics: %d epochs, %v; want 2", len(metrics), err)
	}
	if _, err := os.Stat(filepath.Join(out, train.ModelFile)); err != nil {
		t.Errorf("the first run wrote no model: %v", err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("%s left after the run finished (%v)", lock, err)
	}
}

// TestTransferIntoABusyFolder holds a transfer folder's lock as a running
// transfer would: a transfer into it is refused before it reads anything.
func TestTransferIntoABusyFolder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "transfer")
	unlock, err := train.LockDir(out)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	code, _, stderr := run("transfer", "--backbone", filepath.Join(out, "absent.onnx"), "--task", "classify", "--data", "mnist", "--out", out)
	want := fmt.Sprintf("bot-onnx: %s is in use by another bot-onnx run (pid %d on ", out, os.Getpid())
	if code == 0 || !strings.HasPrefix(stderr, want) {
		t.Errorf("transfer into a busy folder: exit %d, stderr %q; expected a refusal starting %q", code, stderr, want)
	}
}

// TestTrainMemoryLimit checks --memory-limit: a run that cannot fit is
// refused in one line with the estimate before any file is written, and a
// size that does not parse is named.
func TestTrainMemoryLimit(t *testing.T) {
	dir, dataDir, model := trainFixture(t, 64, 32)
	tests := []struct {
		name  string
		cmd   string
		limit string
		want  []string
	}{
		{"train over the limit", "train", "1MiB", []string{"bot-onnx: training " + model + " needs about ", "weights+grads+momentum ", "activations ",
			"training ", " at batch 32 in 2 replicas, testing ", "data ", "but 1 MiB is available (--memory-limit); lower --batch or use --micro-batch\n"}},
		{"train with a bad size", "train", "lots", []string{`bot-onnx: --memory-limit: memory size "lots": expected a positive size like 4GiB, 512MiB or 1.5G` + "\n"}},
		{"transfer with a bad size", "transfer", "0", []string{`bot-onnx: --memory-limit: memory size "0": expected a positive size`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			args := []string{tc.cmd, "--data", "mnist", "--data-dir", dataDir, "--batch", "32", "--threads", "2", "--memory-limit", tc.limit, "--out", out}
			if tc.cmd == "train" {
				args = append(args, "--model", model)
			} else {
				args = append(args, "--backbone", model, "--task", "classify")
			}
			code, _, stderr := run(args...)
			if code == 0 {
				t.Fatal("succeeded; expected a refusal")
			}
			if strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("the refused run left %s behind (%v)", out, err)
			}
		})
	}
}

// waitFor polls cond every 20 ms until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v", timeout)
		}
	}
}
