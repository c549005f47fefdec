package kernel

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// CBLAS's enumerations, so that building needs no OpenBLAS headers.
enum { boRowMajor = 101, boNoTrans = 111, boTrans = 112 };

typedef void (*bo_sgemm_t)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*bo_dgemm_t)(int, int, int, int, int, int, double, const double *, int, const double *, int, double, double *, int);
typedef void (*bo_set_threads_t)(int);
typedef int (*bo_get_int_t)(void);
typedef char *(*bo_get_string_t)(void);

static bo_sgemm_t bo_sgemm_p;
static bo_dgemm_t bo_dgemm_p;
static bo_set_threads_t bo_set_threads_p;
static bo_get_int_t bo_get_threads_p;
static bo_get_string_t bo_get_config_p, bo_get_corename_p;

// bo_blas_open loads OpenBLAS from path and finds its entry points: NULL
// on success, otherwise what failed (dlerror's text or a symbol's name).
static const char *bo_blas_open(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		return dlerror();
	}
	struct { void **p; const char *name; } syms[] = {
		{(void **)&bo_sgemm_p, "cblas_sgemm"},
		{(void **)&bo_dgemm_p, "cblas_dgemm"},
		{(void **)&bo_set_threads_p, "openblas_set_num_threads"},
		{(void **)&bo_get_threads_p, "openblas_get_num_threads"},
		{(void **)&bo_get_config_p, "openblas_get_config"},
		{(void **)&bo_get_corename_p, "openblas_get_corename"},
	};
	for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
		*syms[i].p = dlsym(h, syms[i].name);
		if (*syms[i].p == NULL) {
			return syms[i].name;
		}
	}
	return NULL;
}

static void bo_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		const float *b, int ldb, float beta, float *c, int ldc) {
	bo_sgemm_p(boRowMajor, ta ? boTrans : boNoTrans, tb ? boTrans : boNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void bo_dgemm(int ta, int tb, int m, int n, int k, double alpha, const double *a, int lda,
		const double *b, int ldb, double beta, double *c, int ldc) {
	bo_dgemm_p(boRowMajor, ta ? boTrans : boNoTrans, tb ? boTrans : boNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void bo_set_threads(int n) { bo_set_threads_p(n); }
static int bo_get_threads(void) { return bo_get_threads_p(); }
static const char *bo_get_config(void) { return bo_get_config_p(); }
static const char *bo_get_corename(void) { return bo_get_corename_p(); }
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// BLASLibraryEnv names a variable that points the engine at another
// OpenBLAS shared library (a newer build, say) instead of the system's.
const BLASLibraryEnv = "BOT_ONNX_OPENBLAS"

// blasLibraries are the names OpenBLAS is looked up by when BLASLibraryEnv
// is unset: Debian's runtime package installs the first.
var blasLibraries = []string{"libopenblas.so.0", "libopenblas.so"}

// BLASInfo says which OpenBLAS the engine loaded and which kernels it runs.
type BLASInfo struct {
	Library string // the path or name it was loaded from
	Config  string // OpenBLAS's build description
	Core    string // the core whose kernels run, as OpenBLAS names it
	ISA     string // the instruction set of that core's kernels (BLASCoreISA)
	// CoreFrom says who chose the core: the CPU's features, the user's
	// OPENBLAS_CORETYPE, or OpenBLAS's own detection.
	CoreFrom string
	// Requested is the core asked for through OPENBLAS_CORETYPE, "" if none;
	// a build without it runs another (Core).
	Requested string
}

var (
	blasOnce sync.Once
	blasInfo BLASInfo
	blasErr  error
)

// LoadBLAS loads OpenBLAS once for the process and reports what runs.
//
// OpenBLAS built for many CPUs (Debian's is) picks its kernels when it is
// loaded, from a table of CPU models; on a model newer than the build it
// falls back to generic SSE3 code several times slower (docs/cpu-features.md).
// So the library is loaded here at run time, not linked, after
// OPENBLAS_CORETYPE is set from the CPU's features (BLASCoreFor), the only
// moment it reads that variable. A value the user set is kept. The
// variable stays set, so that a child process (the PyTorch peer of bench)
// runs its OpenBLAS on the same kernels.
func LoadBLAS() (BLASInfo, error) {
	blasOnce.Do(func() { blasInfo, blasErr = loadBLAS(HostFeatures()) })
	return blasInfo, blasErr
}

func loadBLAS(f Features) (BLASInfo, error) {
	var info BLASInfo
	if v := os.Getenv("OPENBLAS_CORETYPE"); v != "" {
		info.Requested, info.CoreFrom = v, "OPENBLAS_CORETYPE set before bot-onnx started"
	} else if core := BLASCoreFor(f); core != "" {
		if err := os.Setenv("OPENBLAS_CORETYPE", core); err != nil {
			return info, fmt.Errorf("OpenBLAS: setting OPENBLAS_CORETYPE=%s: %w", core, err)
		}
		info.Requested, info.CoreFrom = core, "the CPU's features ("+f.ISA()+")"
	} else {
		info.CoreFrom = "OpenBLAS's own detection (the CPU has no AVX2)"
	}
	names := blasLibraries
	if p := os.Getenv(BLASLibraryEnv); p != "" {
		names = []string{p}
	}
	var failures []string
	for _, name := range names {
		cname := C.CString(name)
		msg := C.bo_blas_open(cname)
		C.free(unsafe.Pointer(cname))
		if msg == nil {
			info.Library = name
			break
		}
		failures = append(failures, C.GoString(msg))
	}
	if info.Library == "" {
		return info, fmt.Errorf("OpenBLAS: cannot load %s (%s); install Debian's libopenblas0 or set %s to the library's path",
			strings.Join(names, " or "), strings.Join(failures, "; "), BLASLibraryEnv)
	}
	info.Config = strings.TrimSpace(C.GoString(C.bo_get_config()))
	info.Core = C.GoString(C.bo_get_corename())
	info.ISA = BLASCoreISA(info.Core)
	return info, nil
}

// mustBLAS returns once OpenBLAS is loaded, and panics with LoadBLAS's
// error otherwise: the entry points of the engine (train.Train, the
// benchmarks) call LoadBLAS first and report that error in a line.
func mustBLAS() {
	if _, err := LoadBLAS(); err != nil {
		panic("kernel: " + err.Error())
	}
}

// SetBLASThreads sets the number of threads OpenBLAS uses for one call
// (n < 1 is taken as 1). The setting is process-wide. The engine runs one goroutine replica per
// core with one BLAS thread each, which beats one replica with a
// multi-threaded BLAS on the small products of a ResNet (docs/design-notes.md).
func SetBLASThreads(n int) {
	mustBLAS()
	C.bo_set_threads(C.int(max(n, 1)))
}

// BLASThreads returns the number of threads OpenBLAS uses for one call.
func BLASThreads() int {
	mustBLAS()
	return int(C.bo_get_threads())
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices,
// where op(A) is m×k (A is stored k×m when transA), op(B) is k×n (B is
// stored n×k when transB) and C is m×n. lda, ldb and ldc are the row
// strides of the stored matrices. As in BLAS, C is not read when beta is
// 0. It runs OpenBLAS's sgemm for float32 element types and dgemm for
// float64. It panics if a slice is too short for its shape or a leading
// dimension is smaller than its row.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernel.Gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("A", len(a), ar, ac, lda)
	checkMatrix("B", len(b), br, bc, ldb)
	checkMatrix("C", len(c), m, n, ldc)
	if m == 0 || n == 0 {
		return
	}
	mustBLAS()
	if unsafe.Sizeof(alpha) == 4 {
		C.bo_sgemm(cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k),
			C.float(alpha), (*C.float)(ptr(a)), C.int(lda),
			(*C.float)(ptr(b)), C.int(ldb),
			C.float(beta), (*C.float)(ptr(c)), C.int(ldc))
		return
	}
	C.bo_dgemm(cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k),
		C.double(alpha), (*C.double)(ptr(a)), C.int(lda),
		(*C.double)(ptr(b)), C.int(ldb),
		C.double(beta), (*C.double)(ptr(c)), C.int(ldc))
}

// checkMatrix panics unless a slice of length n holds a rows×cols matrix
// with row stride ld, and the sizes fit BLAS's 32-bit integers.
func checkMatrix(name string, n, rows, cols, ld int) {
	if ld < max(1, cols) || ld > math.MaxInt32 || rows > math.MaxInt32 || cols > math.MaxInt32 {
		panic(fmt.Sprintf("kernel.Gemm: %s is %d×%d with leading dimension %d; expected a leading dimension in [max(1,%d), 2³¹)", name, rows, cols, ld, cols))
	}
	if rows > 0 && cols > 0 && n < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernel.Gemm: %s is %d×%d with leading dimension %d and needs %d elements; found %d", name, rows, cols, ld, (rows-1)*ld+cols, n))
	}
}

// ptr returns the address of a slice's first element for C, or nil for an
// empty slice. The element types hold no Go pointers, and C keeps the
// address only for the duration of the call, as cgo's rules require.
func ptr[T Float](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// cbool converts a Go bool for C.
func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
