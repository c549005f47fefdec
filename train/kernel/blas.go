package kernel

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// SetBLASThreads sets the number of threads OpenBLAS uses for one call
// (n < 1 is taken as 1). The setting is process-wide. The engine runs one goroutine replica per
// core with one BLAS thread each, which beats one replica with a
// multi-threaded BLAS on the small products of a ResNet (DESIGN.md).
func SetBLASThreads(n int) {
	if n < 1 {
		n = 1
	}
	C.openblas_set_num_threads(C.int(n))
}

// BLASThreads returns the number of threads OpenBLAS uses for one call.
func BLASThreads() int { return int(C.openblas_get_num_threads()) }

// BLASConfig returns OpenBLAS's build description (version, kernel
// architecture, thread model), for logs and benchmark reports.
func BLASConfig() string { return C.GoString(C.openblas_get_config()) }

// BLASCoreName returns the name of the CPU core OpenBLAS picked its
// kernels for (e.g. Haswell, SkylakeX): a build for many cores chooses at
// load time, and a wrong pick costs speed.
func BLASCoreName() string { return C.GoString(C.openblas_get_corename()) }

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
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	if unsafe.Sizeof(alpha) == 4 {
		C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
			C.float(alpha), (*C.float)(ptr(a)), C.blasint(lda),
			(*C.float)(ptr(b)), C.blasint(ldb),
			C.float(beta), (*C.float)(ptr(c)), C.blasint(ldc))
		return
	}
	C.cblas_dgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(ptr(a)), C.blasint(lda),
		(*C.double)(ptr(b)), C.blasint(ldb),
		C.double(beta), (*C.double)(ptr(c)), C.blasint(ldc))
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
