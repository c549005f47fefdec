package mpi

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/bot-onnx/bot-onnx/internal/testenv"
)

// TestMain runs the collectives check when mpirun started this test
// binary as one of TestWorld's ranks.
func TestMain(m *testing.M) {
	if os.Getenv("BOT_ONNX_MPI_CHECK") == "1" {
		if err := checkCollectives(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// checkCollectives has each rank contribute values whose sums and
// broadcasts it can compute by hand, and prints "rank R of N: ok".
func checkCollectives() error {
	w, err := Init()
	if err != nil {
		return err
	}
	r, n := w.Rank(), w.Size()
	// Rank r holds r+1 and r·0.5 in its two slots: the sums are n(n+1)/2
	// and n(n−1)/4, exact in binary floating point for small n.
	f32 := []float32{float32(r + 1), float32(r) * 0.5}
	if err := w.SumFloat32(f32); err != nil {
		return err
	}
	want32 := []float32{float32(n * (n + 1) / 2), float32(n*(n-1)) / 4}
	if !slices.Equal(f32, want32) {
		return fmt.Errorf("rank %d: float32 sum %v, want %v", r, f32, want32)
	}
	f64 := []float64{float64(r), 1}
	if err := w.SumFloat64(f64); err != nil {
		return err
	}
	if want := []float64{float64(n * (n - 1) / 2), float64(n)}; !slices.Equal(f64, want) {
		return fmt.Errorf("rank %d: float64 sum %v, want %v", r, f64, want)
	}
	b32 := []float32{float32(r), -1}
	b64 := []float64{float64(r) + 0.25}
	if err := w.BroadcastFloat32(b32, n-1); err != nil {
		return err
	}
	if err := w.BroadcastFloat64(b64, 0); err != nil {
		return err
	}
	if b32[0] != float32(n-1) || b32[1] != -1 || b64[0] != 0.25 {
		return fmt.Errorf("rank %d: broadcasts gave %v and %v, want [%d -1] and [0.25]", r, b32, b64, n-1)
	}
	if err := w.Barrier(); err != nil {
		return err
	}
	fmt.Printf("rank %d of %d: ok\n", r, n)
	return w.Finalize()
}

// TestWorld runs checkCollectives on 3 ranks under Open MPI's mpirun.
func TestWorld(t *testing.T) {
	cmd := testenv.MPIRun(t, 3, []string{"BOT_ONNX_MPI_CHECK=1"}, os.Args[0], "-test.run", "^$")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	for r := range 3 {
		if want := fmt.Sprintf("rank %d of 3: ok", r); !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestLaunched reads the launchers' variables.
func TestLaunched(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
		says string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"OMPI_COMM_WORLD_SIZE": "4"}, true, "OMPI_COMM_WORLD_SIZE=4"},
		{map[string]string{"PMIX_RANK": "0"}, true, "PMIX_RANK=0"},
		{map[string]string{"SLURM_PROCID": "0"}, false, ""},
	} {
		got, says := Launched(func(k string) string { return tc.env[k] })
		if got != tc.want || says != tc.says {
			t.Errorf("Launched(%v) = %v, %q; want %v, %q", tc.env, got, says, tc.want, tc.says)
		}
	}
}

// TestMissingLibrary checks the one-line refusal when the library named
// cannot be loaded, in a child process since Init runs once.
func TestMissingLibrary(t *testing.T) {
	if os.Getenv("BOT_ONNX_MPI_MISSING") == "1" {
		_, err := Init()
		fmt.Println(err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMissingLibrary$")
	cmd.Env = append(os.Environ(), "BOT_ONNX_MPI_MISSING=1", LibraryEnv+"=/nonexistent/libmpi.so.40")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "loading Open MPI's library /nonexistent/libmpi.so.40: /nonexistent/libmpi.so.40: cannot open shared object file: No such file or directory (install Open MPI 4"
	if !strings.Contains(string(out), want) {
		t.Errorf("output %q lacks %q", out, want)
	}
}
