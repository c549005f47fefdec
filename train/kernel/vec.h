// The vectorised float32 kernels of vec.c, dispatched by vec_set_level.
enum { VEC_SSE, VEC_AVX2, VEC_AVX512 };
void vec_set_level(int level);
void vec_moments(const float *x, long outer, long C, long inner, const float *k, double *sum, double *sq);
void vec_affine(const float *x, float *y, long outer, long C, long inner, const float *scale, const float *shift, int relu);
void vec_grad_sums(const float *x, const float *y, const float *dy, float *g, long outer, long C, long inner,
	const float *mean, double *sg, double *sgx);
void vec_grad_input(const float *x, const float *g, float *dx, long outer, long C, long inner,
	const float *mean, const float *a, const float *b, const float *d);
void vec_relu(const float *x, float *y, long n);
void vec_relu_grad(const float *a, const float *dy, float *dx, long n);
void vec_add(const float *a, const float *b, float *y, long n, int relu);
