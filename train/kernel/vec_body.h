// The bodies of the vectorised float32 kernels (vec.c includes this file
// once per instruction set, with VEC(name) naming that set's copy). A
// per-channel tensor is described as (outer, C, inner): NCHW is (N, C,
// H·W), NHWC is (N·H·W, C, 1). Plain loops: GCC vectorises them for the
// target in force, and "omp simd" lets it reorder the float sums (no
// -ffast-math).

// VEC(moments) adds Σ(x−k_c) and Σ(x−k_c)² per channel c into sum and sq
// (zeroed by the caller).
static void VEC(moments)(const float *x, long outer, long C, long inner, const float *k, double *sum, double *sq) {
	if (inner == 1) {
		float s1[C], s2[C];
		for (long o0 = 0; o0 < outer; o0 += ROW_BLOCK) {
			long o1 = o0 + ROW_BLOCK < outer ? o0 + ROW_BLOCK : outer;
			for (long c = 0; c < C; c++) s1[c] = 0, s2[c] = 0;
			for (long o = o0; o < o1; o++) {
				const float *r = x + o * C;
#pragma omp simd
				for (long c = 0; c < C; c++) {
					float d = r[c] - k[c];
					s1[c] += d;
					s2[c] += d * d;
				}
			}
			for (long c = 0; c < C; c++) sum[c] += s1[c], sq[c] += s2[c];
		}
		return;
	}
	for (long o = 0; o < outer; o++) {
		for (long c = 0; c < C; c++) {
			const float *p = x + (o * C + c) * inner;
			float kc = k[c], a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
			for (long i = 0; i < inner; i++) {
				float d = p[i] - kc;
				a += d;
				b += d * d;
			}
			sum[c] += a, sq[c] += b;
		}
	}
}

// VEC(affine) sets y = x·scale_c + shift_c, then max(y, 0) when relu.
static void VEC(affine)(const float *x, float *y, long outer, long C, long inner, const float *scale, const float *shift, int relu) {
	if (inner == 1) {
		for (long o = 0; o < outer; o++) {
			const float *r = x + o * C;
			float *w = y + o * C;
			if (relu) {
#pragma omp simd
				for (long c = 0; c < C; c++) {
					float v = r[c] * scale[c] + shift[c];
					w[c] = v < 0 ? 0 : v;
				}
			} else {
#pragma omp simd
				for (long c = 0; c < C; c++) w[c] = r[c] * scale[c] + shift[c];
			}
		}
		return;
	}
	for (long o = 0; o < outer; o++) {
		for (long c = 0; c < C; c++) {
			const float *p = x + (o * C + c) * inner;
			float *q = y + (o * C + c) * inner;
			float s = scale[c], t = shift[c];
			if (relu) {
#pragma omp simd
				for (long i = 0; i < inner; i++) {
					float v = p[i] * s + t;
					q[i] = v < 0 ? 0 : v;
				}
			} else {
#pragma omp simd
				for (long i = 0; i < inner; i++) q[i] = p[i] * s + t;
			}
		}
	}
}

// VEC(grad_sums) adds Σg and Σg·(x−mean_c) per channel into sg and sgx
// (zeroed by the caller), where g is dy, or, when y is not NULL, dy zeroed
// where y is not positive, which is then also written to g.
static void VEC(grad_sums)(const float *x, const float *y, const float *dy, float *g, long outer, long C, long inner,
		const float *mean, double *sg, double *sgx) {
	if (inner == 1) {
		float s1[C], s2[C];
		for (long o0 = 0; o0 < outer; o0 += ROW_BLOCK) {
			long o1 = o0 + ROW_BLOCK < outer ? o0 + ROW_BLOCK : outer;
			for (long c = 0; c < C; c++) s1[c] = 0, s2[c] = 0;
			for (long o = o0; o < o1; o++) {
				const float *xr = x + o * C, *dr = dy + o * C;
				if (y != NULL) {
					const float *yr = y + o * C;
					float *gr = g + o * C;
#pragma omp simd
					for (long c = 0; c < C; c++) {
						float v = yr[c] > 0 ? dr[c] : 0;
						gr[c] = v;
						s1[c] += v;
						s2[c] += v * (xr[c] - mean[c]);
					}
				} else {
#pragma omp simd
					for (long c = 0; c < C; c++) {
						s1[c] += dr[c];
						s2[c] += dr[c] * (xr[c] - mean[c]);
					}
				}
			}
			for (long c = 0; c < C; c++) sg[c] += s1[c], sgx[c] += s2[c];
		}
		return;
	}
	for (long o = 0; o < outer; o++) {
		for (long c = 0; c < C; c++) {
			long off = (o * C + c) * inner;
			const float *xp = x + off, *dp = dy + off;
			float m = mean[c], a = 0, b = 0;
			if (y != NULL) {
				const float *yp = y + off;
				float *gp = g + off;
#pragma omp simd reduction(+ : a, b)
				for (long i = 0; i < inner; i++) {
					float v = yp[i] > 0 ? dp[i] : 0;
					gp[i] = v;
					a += v;
					b += v * (xp[i] - m);
				}
			} else {
#pragma omp simd reduction(+ : a, b)
				for (long i = 0; i < inner; i++) {
					a += dp[i];
					b += dp[i] * (xp[i] - m);
				}
			}
			sg[c] += a, sgx[c] += b;
		}
	}
}

// VEC(grad_input) sets dx = a_c·g + b_c·(x−mean_c) + d_c; dx may be g.
static void VEC(grad_input)(const float *x, const float *g, float *dx, long outer, long C, long inner,
		const float *mean, const float *a, const float *b, const float *d) {
	if (inner == 1) {
		for (long o = 0; o < outer; o++) {
			const float *xr = x + o * C, *gr = g + o * C;
			float *r = dx + o * C;
#pragma omp simd
			for (long c = 0; c < C; c++) r[c] = a[c] * gr[c] + b[c] * (xr[c] - mean[c]) + d[c];
		}
		return;
	}
	for (long o = 0; o < outer; o++) {
		for (long c = 0; c < C; c++) {
			long off = (o * C + c) * inner;
			const float *xp = x + off, *gp = g + off;
			float *r = dx + off;
			float ac = a[c], bc = b[c], dc = d[c], m = mean[c];
#pragma omp simd
			for (long i = 0; i < inner; i++) r[i] = ac * gp[i] + bc * (xp[i] - m) + dc;
		}
	}
}

// VEC(relu) sets y = max(x, 0), NaN kept (as Go's max keeps it, so that
// a diverging run shows in its loss); y may be x. The ReLUs fused below
// do the same.
static void VEC(relu)(const float *x, float *y, long n) {
#pragma omp simd
	for (long i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];
}

// VEC(relu_grad) sets dx = dy where a > 0, else 0; dx may be dy.
static void VEC(relu_grad)(const float *a, const float *dy, float *dx, long n) {
#pragma omp simd
	for (long i = 0; i < n; i++) dx[i] = a[i] > 0 ? dy[i] : 0;
}

// VEC(add) sets y = a + b, then max(y, 0) when relu; y may be a or b.
static void VEC(add)(const float *a, const float *b, float *y, long n, int relu) {
	if (relu) {
#pragma omp simd
		for (long i = 0; i < n; i++) {
			float v = a[i] + b[i];
			y[i] = v < 0 ? 0 : v;
		}
		return;
	}
#pragma omp simd
	for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}
