// Package testenv lets tests depend on tools outside Go — Debian's Python
// packages, ONNX's conformance data, the ONNX Runtime library — without
// hiding their absence: a missing tool skips the test on a developer's
// machine but fails it under CI (CI=true), where .ci/run installs them all.
package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Python is Debian's interpreter, the one that sees python3-onnx and
// python3-torch; a plain `python3` on PATH may be another.
const Python = "/usr/bin/python3"

// Missing skips the test with the reason, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI: "+format, args...)
	}
	t.Skipf("skipped: "+format, args...)
}

// RequirePython returns Debian's interpreter after checking that it can
// import every module named.
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	out, err := exec.Command(Python, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput()
	if err != nil {
		Missing(t, "%s cannot import %s: %v %s", Python, strings.Join(modules, ", "), err, lastLine(string(out)))
	}
	return Python
}

// RequireFile returns path after checking that it exists.
func RequireFile(t testing.TB, path, installedBy string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s not found (installed by %s)", path, installedBy)
	}
	return path
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// MPIRun returns the command `mpirun --oversubscribe -np N args...` of
// Open MPI's launcher, with the environment variables in env passed to every
// rank (-x), after checking that mpirun exists (Debian: openmpi-bin).
// As root it sets the two variables Open MPI requires before it agrees to
// run as root, which CI's containers are.
func MPIRun(t testing.TB, np int, env []string, args ...string) *exec.Cmd {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		Missing(t, "mpirun not found (Debian openmpi-bin, installed by ./scripts/task deps)")
	}
	cmdArgs := []string{"--oversubscribe", "-np", strconv.Itoa(np)}
	for _, kv := range env {
		cmdArgs = append(cmdArgs, "-x", kv)
	}
	cmd := exec.Command(mpirun, append(cmdArgs, args...)...)
	cmd.Env = os.Environ()
	if os.Geteuid() == 0 {
		cmd.Env = append(cmd.Env, "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	}
	return cmd
}
