package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOutputGuard: an output path that names something other than a
// regular file (a folder, a device) is refused in one line, exit status 1,
// and left as it was.
func TestOutputGuard(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, out, want string
	}{
		{"folder", dir, "expected a regular file or a new path, found a folder"},
		{"device", os.DevNull, "expected a regular file or a new path, found a device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := os.Stat(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := Main([]string{"bot-onnx", "build", "--model", "resnet20", "--width", "2", "-o", tc.out}, &stdout, &stderr)
			msg := strings.TrimSpace(stderr.String())
			if code != 1 || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("exit %d, stderr %q; want 1 and one line saying %q", code, msg, tc.want)
			}
			after, err := os.Stat(tc.out)
			if err != nil || after.Mode() != before.Mode() {
				t.Errorf("%s: mode %v before, %v after (%v)", tc.out, before.Mode(), after.Mode(), err)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused writes left %d files in %s", len(entries), dir)
	}
}

// TestSIGTERMDuringWrite sends SIGTERM to `build` while it writes a
// ResNet-152 (240 MB): it exits with status 130 saying so, and neither the
// output nor its temporary file is left.
func TestSIGTERMDuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds a ResNet-152")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "r152.onnx")
	cmd := exec.Command(os.Args[0], "build", "--model", "resnet152", "-o", out)
	cmd.Env = append(os.Environ(), "BOT_ONNX_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		temps, _ := filepath.Glob(filepath.Join(dir, ".r152.onnx.tmp-*"))
		if len(temps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no temporary file appeared within 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("build ended with %v, want exit status 130; stderr %q", err, stderr.String())
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "bot-onnx: interrupted; nothing was written" {
		t.Errorf("stderr %q", msg)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("SIGTERM during the write left %d files: %v", len(entries), entries)
	}
}

// TestHugeSizesRefused: sizes that would exhaust memory (a typo's
// thousand million) are refused in one line naming the flag, exit status
// 1, instead of the Go runtime's out-of-memory crash and its stack trace;
// nothing is written.
func TestHugeSizesRefused(t *testing.T) {
	requireORT(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "r20.onnx")
	if code, _, stderr := run("build", "--model", "resnet20", "--width", "2", "-o", model); code != 0 {
		t.Fatal(stderr)
	}
	out := filepath.Join(dir, "out.onnx")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"build input channels", []string{"build", "--model", "resnet20", "--input", "1000000000x1x1", "-o", out}, "the stem's conv for 1000000000 input channels would take"},
		{"build classes", []string{"build", "--model", "resnet50", "--classes", "1000000000", "-o", out}, "the fully connected layer for 1000000000 classes"},
		{"predict input", []string{"predict", model, "--provider", "cpu", "--input", "1000000000x3x32x32"}, `--input "1000000000x3x32x32": expected a smaller one`},
		{"eval batch", []string{"eval", model, "--provider", "cpu", "--data", "mnist", "--batch", "1000000000"}, "--batch 1000000000: expected a smaller one"},
		{"bench train batch", []string{"bench", "train", "--model", "resnet20", "--input", "3x32x32", "--batch", "1000000000", "--peer", "none"}, "lower --batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(tc.args...)
			if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and one line saying %q", code, stdout, stderr, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the refusals left files: %v", entries)
	}
}

// TestOutputIsInput: a command whose output would overwrite the file it
// reads is refused in one line, exit status 1, the file unchanged and
// nothing written beside it: tweak -o onto its input, export -o onto its
// source, and train into the folder whose model.onnx is its --model.
func TestOutputIsInput(t *testing.T) {
	dir, dataDir, model := trainFixture(t, 64, 32)
	runDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	trained := filepath.Join(runDir, "model.onnx")
	b, err := os.ReadFile(model)
	if err != nil || os.WriteFile(trained, b, 0o644) != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		file string
		want string
	}{
		{"tweak onto its input", []string{"tweak", "--variant", "D", model, "-o", model}, model, "the output is an input file"},
		{"export onto its source", []string{"export", model, "-o", model}, model, "names the source model itself"},
		{"train over its model", []string{"train", "--model", trained, "--data", "mnist", "--data-dir", dataDir, "--out", runDir}, trained, "--out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := os.ReadDir(filepath.Dir(tc.file))
			code, stdout, stderr := run(tc.args...)
			if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) || stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1 and one line saying %q", code, stdout, stderr, tc.want)
			}
			if after, err := os.ReadFile(tc.file); err != nil || !bytes.Equal(after, b) {
				t.Errorf("%s changed (%v)", tc.file, err)
			}
			if after, _ := os.ReadDir(filepath.Dir(tc.file)); len(after) != len(before) {
				t.Errorf("%s: %d entries before, %d after", filepath.Dir(tc.file), len(before), len(after))
			}
		})
	}
}

// TestHelpShowsOneDefault: no flag's help shows two defaults (its own
// "(default: …)" and urfave/cli's) or a backquoted placeholder.
func TestHelpShowsOneDefault(t *testing.T) {
	for _, cmd := range NewApp(io.Discard, io.Discard).Commands {
		args := []string{cmd.Name, "--help"}
		if len(cmd.Subcommands) > 0 {
			args = []string{cmd.Name, cmd.Subcommands[0].Name, "--help"}
		}
		_, stdout, _ := run(args...)
		for _, line := range strings.Split(stdout, "\n") {
			if strings.Count(line, "(default: ") > 1 || strings.Contains(line, "bot-onnx models (default") {
				t.Errorf("%s: %q", strings.Join(args, " "), line)
			}
		}
		if strings.Contains(stdout, "--model bot-onnx models") {
			t.Errorf("%s: a backquoted placeholder in %q", cmd.Name, stdout)
		}
	}
}
