package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/bot-onnx/bot-onnx/internal/cmdline"
	"github.com/bot-onnx/bot-onnx/mpi"
	"github.com/bot-onnx/bot-onnx/train"
	"github.com/urfave/cli/v2"
)

// distributedCommands are the commands that run as one job across the
// processes an MPI launcher starts; any other refuses more than one.
var distributedCommands = []string{"train", "transfer", "bench"}

// refuseUnderMPI refuses a command that does not run across processes
// when mpirun started several copies of it: each would do the whole work
// and write the same files.
func refuseUnderMPI(command string) error {
	n, _ := strconv.Atoi(os.Getenv("OMPI_COMM_WORLD_SIZE"))
	for _, d := range distributedCommands {
		if command == d {
			return nil
		}
	}
	if n > 1 {
		return fmt.Errorf("%s does not run across MPI processes (mpirun started %d): run it without mpirun; train, transfer and bench train do", command, n)
	}
	return nil
}

// distributed runs action in this process's MPI world when an MPI
// launcher started the process, and alone (w nil) otherwise. A failure in
// one process is printed with its rank and ends every process of the job
// (MPI_Abort), since the others would wait for it for ever; success ends
// with every process at a barrier, then MPI_Finalize.
func distributed(c *cli.Context, action func(w *mpi.World) error) error {
	launched, why := mpi.Launched(os.Getenv)
	if !launched {
		return action(nil)
	}
	w, err := mpi.Init()
	if err != nil {
		return fmt.Errorf("started by an MPI launcher (%s), but %w", why, err)
	}
	if err := action(w); err != nil {
		fmt.Fprintf(c.App.ErrWriter, "bot-onnx: rank %d of %d: %s\n", w.Rank(), w.Size(), cmdline.OneLine(err.Error()))
		w.Abort(1)
	}
	if err := w.Barrier(); err != nil {
		return err
	}
	return w.Finalize()
}

// joinGroup makes cfg train as w's rank (nothing without w): it takes part
// in the sums of every step and, but at rank 0, logs nothing.
func joinGroup(cfg *train.Config, w *mpi.World) {
	if w == nil {
		return
	}
	cfg.Engine.Group = w
	if w.Rank() != 0 {
		cfg.Log = nil
	}
}
