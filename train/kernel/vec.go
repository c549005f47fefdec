package kernel

/*
#cgo CFLAGS: -O3 -fopenmp-simd
#include "vec.h"
*/
import "C"

import "unsafe"

// The elementwise and per-channel float32 kernels (BatchNorm, ReLU, Add)
// run in C (vec.c), compiled once for AVX-512, once for AVX2+FMA and once
// for the x86-64 baseline, with the copy chosen from the CPU's features
// when the package starts: Go does not vectorise, and these passes over
// the activations cost as much as the convolutions did in scalar Go.

// vecLevel picks the copy of vec.c's kernels that f can run.
func vecLevel(f Features) C.int {
	switch f.ISA() {
	case "avx512_bf16", "avx512":
		return C.VEC_AVX512
	case "avx2":
		return C.VEC_AVX2
	}
	return C.VEC_SSE
}

// vecLevelNames names vec.c's copies.
var vecLevelNames = map[C.int]string{C.VEC_AVX512: "avx512", C.VEC_AVX2: "avx2", C.VEC_SSE: "sse"}

var vecActive = vecLevel(HostFeatures())

func init() { C.vec_set_level(vecActive) }

// VecISA names the instruction set the elementwise kernels run: "avx512",
// "avx2" or "sse".
func VecISA() string { return vecLevelNames[vecActive] }

func f32p(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }
func f64p(s []float64) *C.double {
	return (*C.double)(unsafe.Pointer(unsafe.SliceData(s)))
}

func cint(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// channelMoments adds Σ(x−k_c) and Σ(x−k_c)² per channel c of x, laid out
// as (outer, C, inner), into sum and sq.
func channelMoments(x []float32, outer, c, inner int, k []float32, sum, sq []float64) {
	C.vec_moments(f32p(x), C.long(outer), C.long(c), C.long(inner), f32p(k), f64p(sum), f64p(sq))
}

// channelAffine sets y = x·scale_c + shift_c, with ReLU after when relu.
func channelAffine(x, y []float32, outer, c, inner int, scale, shift []float32, relu bool) {
	C.vec_affine(f32p(x), f32p(y), C.long(outer), C.long(c), C.long(inner), f32p(scale), f32p(shift), cint(relu))
}

// channelGradSums adds Σg and Σg·(x−mean_c) per channel into sg and sgx,
// where g is dy, or, with y, dy masked to where y > 0, written to g.
func channelGradSums(x, y, dy, g []float32, outer, c, inner int, mean []float32, sg, sgx []float64) {
	var yp, gp *C.float
	if y != nil {
		yp, gp = f32p(y), f32p(g)
	}
	C.vec_grad_sums(f32p(x), yp, f32p(dy), gp, C.long(outer), C.long(c), C.long(inner), f32p(mean), f64p(sg), f64p(sgx))
}

// channelGradInput sets dx = a_c·g + b_c·(x−mean_c) + d_c.
func channelGradInput(x, g, dx []float32, outer, c, inner int, mean, a, b, d []float32) {
	C.vec_grad_input(f32p(x), f32p(g), f32p(dx), C.long(outer), C.long(c), C.long(inner), f32p(mean), f32p(a), f32p(b), f32p(d))
}

func vecReLU(x, y []float32) { C.vec_relu(f32p(x), f32p(y), C.long(len(x))) }

func vecReLUGrad(a, dy, dx []float32) { C.vec_relu_grad(f32p(a), f32p(dy), f32p(dx), C.long(len(a))) }

func vecAdd(a, b, y []float32, relu bool) {
	C.vec_add(f32p(a), f32p(b), f32p(y), C.long(len(a)), cint(relu))
}
