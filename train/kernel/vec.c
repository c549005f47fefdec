// Vectorised float32 kernels, compiled once per instruction set; vec.go
// picks the copy from the CPU's features (docs/cpu-features.md).
#include <stddef.h>
#include "vec.h"

// ROW_BLOCK rows of an NHWC tensor are summed in float before the sums
// move to double, which bounds the rounding of long sums.
#define ROW_BLOCK 64

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,prefer-vector-width=512")
#define VEC(name) name##_avx512
#include "vec_body.h"
#undef VEC
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define VEC(name) name##_avx2
#include "vec_body.h"
#undef VEC
#pragma GCC pop_options

#define VEC(name) name##_sse
#include "vec_body.h"
#undef VEC

static int level; // VEC_SSE, VEC_AVX2 or VEC_AVX512

void vec_set_level(int l) { level = l; }

#define DISPATCH(name, ...)                     \
	switch (level) {                            \
	case VEC_AVX512: name##_avx512(__VA_ARGS__); break; \
	case VEC_AVX2: name##_avx2(__VA_ARGS__); break;     \
	default: name##_sse(__VA_ARGS__);                   \
	}

void vec_moments(const float *x, long outer, long C, long inner, const float *k, double *sum, double *sq) {
	DISPATCH(moments, x, outer, C, inner, k, sum, sq)
}
void vec_affine(const float *x, float *y, long outer, long C, long inner, const float *scale, const float *shift, int relu) {
	DISPATCH(affine, x, y, outer, C, inner, scale, shift, relu)
}
void vec_grad_sums(const float *x, const float *y, const float *dy, float *g, long outer, long C, long inner,
		const float *mean, double *sg, double *sgx) {
	DISPATCH(grad_sums, x, y, dy, g, outer, C, inner, mean, sg, sgx)
}
void vec_grad_input(const float *x, const float *g, float *dx, long outer, long C, long inner,
		const float *mean, const float *a, const float *b, const float *d) {
	DISPATCH(grad_input, x, g, dx, outer, C, inner, mean, a, b, d)
}
void vec_relu(const float *x, float *y, long n) { DISPATCH(relu, x, y, n) }
void vec_relu_grad(const float *a, const float *dy, float *dx, long n) { DISPATCH(relu_grad, a, dy, dx, n) }
void vec_add(const float *a, const float *b, float *y, long n, int relu) { DISPATCH(add, a, b, y, n, relu) }
