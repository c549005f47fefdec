// Package mpi gives bot-onnx's data-parallel training the few collective
// operations it needs (a sum over every process, a broadcast, a barrier),
// done by Open MPI, which the process loads at run time.
//
// Loading libmpi.so.40 only when a launcher started the process (mpirun,
// Slurm's srun with PMIx, Kubeflow's MPI Operator, which runs mpirun) keeps
// one bot-onnx binary usable on machines without Open MPI: a program that
// linked libmpi would not start there. The price is that this package
// binds Open MPI's ABI itself (its handles are the addresses of exported
// globals such as ompi_mpi_comm_world, MPI_IN_PLACE is (void *)1), which
// every Open MPI since 3.0 keeps under the soname libmpi.so.40; MPICH's
// library (libmpi.so.12) has another ABI and is refused by name.
package mpi

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

// The Open MPI entry points and handles this package uses, filled by
// mpi_load. Handles are the addresses of the library's globals.
static void *lib;
static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_finalize)(void);
static int (*p_abort)(void *, int);
static int (*p_comm_rank)(void *, int *);
static int (*p_comm_size)(void *, int *);
static int (*p_allreduce)(const void *, void *, int, void *, void *, void *);
static int (*p_bcast)(void *, int, void *, int, void *);
static int (*p_ibarrier)(void *, void **);
static int (*p_test)(void **, int *, void *);
static void *comm_world, *type_float, *type_double, *op_sum;

// mpi_load opens the library at path and looks up every symbol. It
// returns NULL, or a message to free naming what failed.
static char *mpi_load(const char *path) {
	// RTLD_GLOBAL: Open MPI's plugins, opened by the library itself, find
	// its symbols through the global scope.
	lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (!lib) {
		const char *e = dlerror();
		return strdup(e ? e : "dlopen failed");
	}
	struct { const char *name; void **slot; } syms[] = {
		{"MPI_Init_thread", (void **)&p_init_thread},
		{"MPI_Finalize", (void **)&p_finalize},
		{"MPI_Abort", (void **)&p_abort},
		{"MPI_Comm_rank", (void **)&p_comm_rank},
		{"MPI_Comm_size", (void **)&p_comm_size},
		{"MPI_Allreduce", (void **)&p_allreduce},
		{"MPI_Bcast", (void **)&p_bcast},
		{"MPI_Ibarrier", (void **)&p_ibarrier},
		{"MPI_Test", (void **)&p_test},
		{"ompi_mpi_comm_world", &comm_world},
		{"ompi_mpi_float", &type_float},
		{"ompi_mpi_double", &type_double},
		{"ompi_mpi_op_sum", &op_sum},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].slot = dlsym(lib, syms[i].name);
		if (!*syms[i].slot) {
			char buf[256];
			snprintf(buf, sizeof buf, "%s has no symbol %s (not Open MPI 3.0 or later)", path, syms[i].name);
			return strdup(buf);
		}
	}
	return NULL;
}

enum { thread_serialized = 2 };

static int mpi_init(int *provided) { return p_init_thread(NULL, NULL, thread_serialized, provided); }
static int mpi_finalize(void) { return p_finalize(); }
static int mpi_abort(int code) { return p_abort(comm_world, code); }
static int mpi_rank(int *r) { return p_comm_rank(comm_world, r); }
static int mpi_size(int *s) { return p_comm_size(comm_world, s); }
static int mpi_sum_float(float *buf, int n) { return p_allreduce((void *)1, buf, n, type_float, op_sum, comm_world); }
static int mpi_sum_double(double *buf, int n) { return p_allreduce((void *)1, buf, n, type_double, op_sum, comm_world); }
static int mpi_bcast_float(float *buf, int n, int root) { return p_bcast(buf, n, type_float, root, comm_world); }
static int mpi_bcast_double(double *buf, int n, int root) { return p_bcast(buf, n, type_double, root, comm_world); }
static int mpi_ibarrier(void **req) { return p_ibarrier(comm_world, req); }
// MPI_STATUS_IGNORE is NULL in Open MPI.
static int mpi_test(void **req, int *done) { return p_test(req, done, NULL); }
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Library is the soname of Open MPI's library, loaded unless LibraryEnv
// names another file.
const Library = "libmpi.so.40"

// LibraryEnv is the environment variable that names the Open MPI library
// to load instead of Library.
const LibraryEnv = "BOT_ONNX_MPI_LIB"

// launchVariables are the environment variables by which a process knows
// that an MPI launcher started it: Open MPI's mpirun sets the first,
// PMIx-based launchers (srun --mpi=pmix, prterun) the second.
var launchVariables = []string{"OMPI_COMM_WORLD_SIZE", "PMIX_RANK"}

// Launched reports whether an MPI launcher started this process, and the
// variable that says so ("NAME=value"), read through getenv.
func Launched(getenv func(string) string) (bool, string) {
	for _, v := range launchVariables {
		if s := getenv(v); s != "" {
			return true, v + "=" + s
		}
	}
	return false, ""
}

// maxCount is the most elements one call passes: MPI counts are C ints.
const maxCount = 1 << 30

// World is MPI_COMM_WORLD of an initialised Open MPI: every process the
// launcher started. Its methods may be called from any goroutine; they
// take turns (MPI_THREAD_SERIALIZED).
type World struct {
	mu         sync.Mutex
	rank, size int
}

var (
	initOnce  sync.Once
	initWorld *World
	initErr   error
)

// Init loads Open MPI (LibraryEnv's file, else Library) and initialises it
// once per process; later calls return the same World. The error is one
// line naming the library and why it cannot be used.
func Init() (*World, error) {
	initOnce.Do(func() { initWorld, initErr = initialise() })
	return initWorld, initErr
}

func initialise() (*World, error) {
	path := Library
	if p := os.Getenv(LibraryEnv); p != "" {
		path = p
	}
	if strings.Contains(path, "libmpi.so.12") {
		return nil, fmt.Errorf("%s is MPICH's library; bot-onnx binds Open MPI's (%s): install Open MPI (Debian: openmpi-bin) and launch with its mpirun", path, Library)
	}
	// Open MPI's default stack-trace handlers for SIGSEGV, SIGBUS, SIGFPE
	// and SIGABRT would replace Go's, which turn a nil dereference into a
	// panic; keep Go's unless the user chose.
	if _, set := os.LookupEnv("OMPI_MCA_opal_signal"); !set {
		os.Setenv("OMPI_MCA_opal_signal", "")
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.mpi_load(cpath); msg != nil {
		defer C.free(unsafe.Pointer(msg))
		return nil, fmt.Errorf("loading Open MPI's library %s: %s (install Open MPI 4, Debian: openmpi-bin, or name the library in %s)", path, C.GoString(msg), LibraryEnv)
	}
	var provided C.int
	if rc := C.mpi_init(&provided); rc != 0 {
		return nil, fmt.Errorf("MPI_Init_thread failed (error %d)", int(rc))
	}
	if provided < C.thread_serialized {
		return nil, fmt.Errorf("%s gives thread level %d where bot-onnx needs MPI_THREAD_SERIALIZED (2)", path, int(provided))
	}
	var rank, size C.int
	if C.mpi_rank(&rank) != 0 || C.mpi_size(&size) != 0 {
		return nil, fmt.Errorf("MPI_Comm_rank or MPI_Comm_size failed")
	}
	return &World{rank: int(rank), size: int(size)}, nil
}

// Rank is this process's index in the world, from 0.
func (w *World) Rank() int { return w.rank }

// Size is the number of processes in the world.
func (w *World) Size() int { return w.size }

// call runs f under the world's lock and turns a failed MPI call into an
// error naming op. Open MPI's default error handler aborts the job on a
// failure first; the error is for handlers that return.
func (w *World) call(op string, f func() C.int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rc := f(); rc != 0 {
		return fmt.Errorf("rank %d: %s failed (MPI error %d)", w.rank, op, int(rc))
	}
	return nil
}

// inChunks runs op over buf in pieces of at most maxCount elements, f
// being the MPI call on one piece.
func inChunks[T float32 | float64](w *World, op string, buf []T, f func(p *T, n C.int) C.int) error {
	for len(buf) > 0 {
		n := min(len(buf), maxCount)
		if err := w.call(op, func() C.int { return f(&buf[0], C.int(n)) }); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// SumFloat32 replaces buf, on every process, by the element-wise sum of
// every process's buf (an in-place MPI_Allreduce). Every process must
// call it with a buf of the same length.
func (w *World) SumFloat32(buf []float32) error {
	return inChunks(w, "MPI_Allreduce", buf, func(p *float32, n C.int) C.int { return C.mpi_sum_float((*C.float)(p), n) })
}

// SumFloat64 is SumFloat32 for float64 values.
func (w *World) SumFloat64(buf []float64) error {
	return inChunks(w, "MPI_Allreduce", buf, func(p *float64, n C.int) C.int { return C.mpi_sum_double((*C.double)(p), n) })
}

// BroadcastFloat32 copies root's buf into every other process's buf.
func (w *World) BroadcastFloat32(buf []float32, root int) error {
	return inChunks(w, "MPI_Bcast", buf, func(p *float32, n C.int) C.int { return C.mpi_bcast_float((*C.float)(p), n, C.int(root)) })
}

// BroadcastFloat64 is BroadcastFloat32 for float64 values.
func (w *World) BroadcastFloat64(buf []float64, root int) error {
	return inChunks(w, "MPI_Bcast", buf, func(p *float64, n C.int) C.int { return C.mpi_bcast_double((*C.double)(p), n, C.int(root)) })
}

// barrierPoll is how often Barrier asks whether every process arrived.
const barrierPoll = 2 * time.Millisecond

// Barrier returns once every process has called it. It waits by polling
// a non-blocking barrier and sleeping in between, where MPI_Barrier would
// spin on a core: the processes waiting while rank 0 evaluates and saves
// leave the cores to it.
func (w *World) Barrier() error {
	var req unsafe.Pointer
	if err := w.call("MPI_Ibarrier", func() C.int { return C.mpi_ibarrier(&req) }); err != nil {
		return err
	}
	for {
		var done C.int
		if err := w.call("MPI_Test", func() C.int { return C.mpi_test(&req, &done) }); err != nil {
			return err
		}
		if done != 0 {
			return nil
		}
		time.Sleep(barrierPoll)
	}
}

// Abort ends every process of the world with code (MPI_Abort); Open MPI's
// launcher reports which rank called it. It does not return.
func (w *World) Abort(code int) {
	w.mu.Lock()
	C.mpi_abort(C.int(code))
	os.Exit(code)
}

// Finalize shuts MPI down; no call may follow.
func (w *World) Finalize() error {
	return w.call("MPI_Finalize", func() C.int { return C.mpi_finalize() })
}
