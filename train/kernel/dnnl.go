package kernel

/*
#cgo LDFLAGS: -ldnnl -lgomp
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdlib.h>

// The user memories of one layer: plain NCHW, OIHW and vectors in float32,
// pointed at the caller's slices for the duration of one call.
enum { U_X, U_W, U_B, U_Y, U_DX, U_DW, U_DB, U_DY, U_N };

// bo_arg is one argument of a primitive: the memory it reads or writes and,
// when oneDNN wants another layout or data type than the user's, the
// reorder between the user memory and that one.
typedef struct {
	int arg, user, out, owns; // owns: mem was created for this argument
	dnnl_memory_t mem;
	dnnl_primitive_t reorder;
	dnnl_memory_t rscratch;
	// Where mem (when owned) and rscratch lie in the arena; keep: mem has
	// storage of its own instead, which outlives the call.
	size_t off, roff;
	int keep;
} bo_arg;

typedef struct {
	dnnl_primitive_t prim;
	dnnl_memory_t scratch;
	size_t soff; // the scratchpad's place in the arena
	int n;
	bo_arg a[4];
	dnnl_exec_arg_t ex[5];
} bo_op;

enum { OP_FWD, OP_BWD_DATA, OP_BWD_W, OP_N };

typedef struct {
	dnnl_stream_t stream;
	dnnl_memory_t user[U_N];
	float *zero_bias, *spare_db; // stand-ins for a nil bias and a nil db
	bo_op op[OP_N];
	// dy_shared: backward-weights reads the diff_dst that backward-data's
	// reorder wrote, so that dy is converted once per Backward.
	int dy_shared;
	// x_shared (bf16): backward-weights reads the src that the forward's
	// reorder wrote, so that x is converted once per step (Backward must
	// then follow a Forward on the same x); that copy lives in x_keep.
	int x_shared;
	void *x_keep;
	// arena_need: the bytes of the arena a call needs. Every other memory
	// the layer converts into, and every scratchpad, lives in an arena the
	// caller passes with each call: they hold nothing between calls, and
	// the layers of a net, which run one at a time, share one.
	size_t arena_need;
} bo_conv;

// BO_ALIGN aligns each memory in the arena to a cache line.
#define BO_ALIGN(n) (((n) + 63) & ~(size_t)63)

static size_t bo_mem_size(dnnl_memory_t m) {
	const dnnl_memory_desc_t *md;
	if (m == NULL || dnnl_memory_get_memory_desc(m, &md) != dnnl_success) {
		return 0;
	}
	return dnnl_memory_desc_get_size(md);
}

// bo_place lays op's arena memories out from offset base and returns the
// offset past them.
static size_t bo_place(bo_op *op, size_t base) {
	size_t off = base;
	for (int i = 0; i < op->n; i++) {
		bo_arg *a = &op->a[i];
		if (a->owns && !a->keep) {
			a->off = off, off += BO_ALIGN(bo_mem_size(a->mem));
		}
		if (a->rscratch != NULL) {
			a->roff = off, off += BO_ALIGN(bo_mem_size(a->rscratch));
		}
	}
	if (op->scratch != NULL) {
		op->soff = off, off += BO_ALIGN(bo_mem_size(op->scratch));
	}
	return off;
}

// bo_use points op's arena memories into arena.
static void bo_use(bo_op *op, char *arena) {
	for (int i = 0; i < op->n; i++) {
		bo_arg *a = &op->a[i];
		if (a->owns && !a->keep) {
			dnnl_memory_set_data_handle(a->mem, arena + a->off);
		}
		if (a->rscratch != NULL) {
			dnnl_memory_set_data_handle(a->rscratch, arena + a->roff);
		}
	}
	if (op->scratch != NULL) {
		dnnl_memory_set_data_handle(op->scratch, arena + op->soff);
	}
}

// The argument order of each op, as bound in bo_conv_create.
enum { A_FWD_X = 0, A_BWD_DATA_DY = 0, A_BWD_W_X = 0, A_BWD_W_DY = 1 };

// bo_share lets argument b read argument a's converted memory when both
// convert the same user memory into the same layout: b's reorder and
// memory are dropped. It reports whether it did.
static int bo_share(bo_arg *a, bo_arg *b) {
	const dnnl_memory_desc_t *amd, *bmd;
	if (a->reorder == NULL || b->reorder == NULL ||
		dnnl_memory_get_memory_desc(a->mem, &amd) != dnnl_success ||
		dnnl_memory_get_memory_desc(b->mem, &bmd) != dnnl_success || !dnnl_memory_desc_equal(amd, bmd)) {
		return 0;
	}
	dnnl_primitive_destroy(b->reorder);
	dnnl_memory_destroy(b->mem);
	if (b->rscratch != NULL) {
		dnnl_memory_destroy(b->rscratch);
	}
	b->mem = a->mem, b->reorder = NULL, b->rscratch = NULL, b->owns = 0;
	return 1;
}

static dnnl_engine_t bo_engine;

static dnnl_status_t bo_engine_init(void) {
	return dnnl_engine_create(&bo_engine, dnnl_cpu, 0);
}

static int bo_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

// bo_make creates a primitive and its user-managed scratchpad from pd, so
// that executing it allocates nothing. pd is destroyed.
static dnnl_status_t bo_make(dnnl_primitive_desc_t pd, dnnl_primitive_t *prim, dnnl_memory_t *scratch) {
	const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	dnnl_status_t st = dnnl_success;
	*scratch = NULL;
	if (smd != NULL && dnnl_memory_desc_get_size(smd) > 0) {
		st = dnnl_memory_create(scratch, smd, bo_engine, DNNL_MEMORY_NONE);
	}
	if (st == dnnl_success) {
		st = dnnl_primitive_create(prim, pd);
	}
	dnnl_primitive_desc_destroy(pd);
	return st;
}

static dnnl_primitive_attr_t bo_attr(void) {
	dnnl_primitive_attr_t a;
	if (dnnl_primitive_attr_create(&a) != dnnl_success) {
		return NULL;
	}
	dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user);
	return a;
}

// bo_bind makes argument i of op from pd: the user memory itself when the
// primitive's descriptor equals the user's, else a memory allocated here
// and a reorder to or from the user memory.
static dnnl_status_t bo_bind(bo_conv *c, bo_op *op, dnnl_primitive_desc_t pd, int arg, int user, int out) {
	bo_arg *a = &op->a[op->n++];
	a->arg = arg, a->user = user, a->out = out;
	const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
	const dnnl_memory_desc_t *have;
	dnnl_status_t st = dnnl_memory_get_memory_desc(c->user[user], &have);
	if (st != dnnl_success) {
		return st;
	}
	if (dnnl_memory_desc_equal(want, have)) {
		a->mem = c->user[user];
		return dnnl_success;
	}
	if ((st = dnnl_memory_create(&a->mem, want, bo_engine, DNNL_MEMORY_NONE)) != dnnl_success) {
		return st;
	}
	a->owns = 1;
	dnnl_primitive_attr_t attr = bo_attr();
	dnnl_primitive_desc_t rpd;
	st = out ? dnnl_reorder_primitive_desc_create(&rpd, want, bo_engine, have, bo_engine, attr)
		 : dnnl_reorder_primitive_desc_create(&rpd, have, bo_engine, want, bo_engine, attr);
	dnnl_primitive_attr_destroy(attr);
	if (st != dnnl_success) {
		return st;
	}
	return bo_make(rpd, &a->reorder, &a->rscratch);
}

static void bo_args(bo_op *op) {
	int i;
	for (i = 0; i < op->n; i++) {
		op->ex[i].arg = op->a[i].arg;
		op->ex[i].memory = op->a[i].mem;
	}
	if (op->scratch != NULL) {
		op->ex[i].arg = DNNL_ARG_SCRATCHPAD;
		op->ex[i].memory = op->scratch;
	}
}

static void bo_conv_destroy(bo_conv *c) {
	for (int o = 0; o < OP_N; o++) {
		bo_op *op = &c->op[o];
		for (int i = 0; i < op->n; i++) {
			bo_arg *a = &op->a[i];
			if (a->reorder != NULL) {
				dnnl_primitive_destroy(a->reorder);
			}
			if (a->owns) {
				dnnl_memory_destroy(a->mem);
			}
			if (a->rscratch != NULL) {
				dnnl_memory_destroy(a->rscratch);
			}
		}
		if (op->prim != NULL) {
			dnnl_primitive_destroy(op->prim);
		}
		if (op->scratch != NULL) {
			dnnl_memory_destroy(op->scratch);
		}
	}
	for (int u = 0; u < U_N; u++) {
		if (c->user[u] != NULL) {
			dnnl_memory_destroy(c->user[u]);
		}
	}
	if (c->stream != NULL) {
		dnnl_stream_destroy(c->stream);
	}
	free(c->zero_bias);
	free(c->spare_db);
	free(c->x_keep);
	free(c);
}

// bo_conv_create builds the three primitives of one convolution. With
// bf16, x, w and dy enter the products as bfloat16 and y, dx, dw and db
// leave them as float32 where the implementation allows it, else as
// bfloat16 converted back. It returns the failing step, or NULL, and the
// status in *status. The primitives are created for one thread: the
// thread count at creation decides their work split.
static const char *bo_conv_create(bo_conv **out, dnnl_status_t *status, int bf16, int plain, int xlast, int ylast,
		int n, int ch, int h, int w, int k, int kh, int kw, int sh, int sw,
		int pt, int pl, int pb, int pr) {
	int prev = omp_get_max_threads();
	omp_set_num_threads(1);
	const char *step = NULL;
	dnnl_status_t st = dnnl_success;
	bo_conv *c = calloc(1, sizeof *c);
	if (c == NULL) {
		*status = dnnl_out_of_memory;
		omp_set_num_threads(prev);
		return "allocating the layer";
	}
	int oh = (h + pt + pb - kh) / sh + 1, ow = (w + pl + pr - kw) / sw + 1;
	dnnl_dims_t xd = {n, ch, h, w}, wd = {k, ch, kh, kw}, yd = {n, k, oh, ow}, bd = {k};
	dnnl_dims_t strides = {sh, sw}, padl = {pt, pl}, padr = {pb, pr};
	dnnl_memory_desc_t ux, uw, uy, ub;
	dnnl_memory_desc_init_by_tag(&ux, 4, xd, dnnl_f32, xlast ? dnnl_nhwc : dnnl_nchw);
	dnnl_memory_desc_init_by_tag(&uw, 4, wd, dnnl_f32, dnnl_oihw);
	dnnl_memory_desc_init_by_tag(&uy, 4, yd, dnnl_f32, ylast ? dnnl_nhwc : dnnl_nchw);
	dnnl_memory_desc_init_by_tag(&ub, 1, bd, dnnl_f32, dnnl_x);
	const dnnl_memory_desc_t *umd[U_N] = {&ux, &uw, &ub, &uy, &ux, &uw, &ub, &uy};
	for (int u = 0; u < U_N && st == dnnl_success; u++) {
		st = dnnl_memory_create(&c->user[u], umd[u], bo_engine, DNNL_MEMORY_NONE);
	}
	c->zero_bias = calloc(k, sizeof(float));
	c->spare_db = calloc(k, sizeof(float));
	if (st != dnnl_success || c->zero_bias == NULL || c->spare_db == NULL) {
		step = "creating the user memories";
		goto done;
	}
	if ((st = dnnl_stream_create(&c->stream, bo_engine, dnnl_stream_default_flags)) != dnnl_success) {
		step = "creating the stream";
		goto done;
	}
	dnnl_data_type_t in = bf16 ? dnnl_bf16 : dnnl_f32;
	dnnl_data_type_t outs[2] = {dnnl_f32, dnnl_bf16};
	int nout = bf16 ? 2 : 1;
	dnnl_memory_desc_t ax, aw, ay, ab, ox, ow_, oy;
	// Channels-last input: the primitive runs on NHWC itself, no reorder.
	// NCHW input (a network's first layer): plain NCHW for 1×1 kernels,
	// else the layout oneDNN picks, reordered from and to the user's.
	dnnl_format_tag_t act = xlast ? dnnl_nhwc : plain ? dnnl_nchw : dnnl_format_tag_any;
	dnnl_memory_desc_init_by_tag(&ax, 4, xd, in, act);
	dnnl_memory_desc_init_by_tag(&aw, 4, wd, in, dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&ay, 4, yd, in, act);
	dnnl_memory_desc_init_by_tag(&ab, 1, bd, dnnl_f32, dnnl_format_tag_any);
	dnnl_primitive_attr_t attr = bo_attr();
	if (attr == NULL) {
		st = dnnl_out_of_memory;
		step = "creating the primitive attributes";
		goto done;
	}
	dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;
	dnnl_convolution_desc_t d;
	for (int i = 0; i < nout && fpd == NULL; i++) {
		dnnl_memory_desc_init_by_tag(&oy, 4, yd, outs[i], act);
		st = dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &ax, &aw, &ab, &oy, strides, padl, padr);
		if (st == dnnl_success && dnnl_primitive_desc_create(&fpd, &d, attr, bo_engine, NULL) != dnnl_success) {
			fpd = NULL;
		}
	}
	if (fpd == NULL) {
		step = "creating the forward primitive descriptor";
		st = dnnl_unimplemented;
		goto attr_done;
	}
	for (int i = 0; i < nout && dpd == NULL; i++) {
		dnnl_memory_desc_init_by_tag(&ox, 4, xd, outs[i], act);
		st = dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &ox, &aw, &ay, strides, padl, padr);
		if (st == dnnl_success && dnnl_primitive_desc_create(&dpd, &d, attr, bo_engine, fpd) != dnnl_success) {
			dpd = NULL;
		}
	}
	for (int i = 0; i < nout && wpd == NULL; i++) {
		dnnl_memory_desc_init_by_tag(&ow_, 4, wd, outs[i], dnnl_format_tag_any);
		st = dnnl_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &ax, &ow_, &ab, &ay, strides, padl, padr);
		if (st == dnnl_success && dnnl_primitive_desc_create(&wpd, &d, attr, bo_engine, fpd) != dnnl_success) {
			wpd = NULL;
		}
	}
	if (dpd == NULL || wpd == NULL) {
		step = dpd == NULL ? "creating the backward-data primitive descriptor" : "creating the backward-weights primitive descriptor";
		st = dnnl_unimplemented;
		dnnl_primitive_desc_destroy(fpd);
		if (dpd != NULL) dnnl_primitive_desc_destroy(dpd);
		if (wpd != NULL) dnnl_primitive_desc_destroy(wpd);
		goto attr_done;
	}
	step = "binding the memories";
	if ((st = bo_bind(c, &c->op[OP_FWD], fpd, DNNL_ARG_SRC, U_X, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_FWD], fpd, DNNL_ARG_WEIGHTS, U_W, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_FWD], fpd, DNNL_ARG_BIAS, U_B, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_FWD], fpd, DNNL_ARG_DST, U_Y, 1)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_DATA], dpd, DNNL_ARG_DIFF_DST, U_DY, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_DATA], dpd, DNNL_ARG_WEIGHTS, U_W, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_DATA], dpd, DNNL_ARG_DIFF_SRC, U_DX, 1)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_W], wpd, DNNL_ARG_SRC, U_X, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_W], wpd, DNNL_ARG_DIFF_DST, U_DY, 0)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_W], wpd, DNNL_ARG_DIFF_WEIGHTS, U_DW, 1)) != dnnl_success ||
		(st = bo_bind(c, &c->op[OP_BWD_W], wpd, DNNL_ARG_DIFF_BIAS, U_DB, 1)) != dnnl_success) {
		dnnl_primitive_desc_destroy(fpd);
		dnnl_primitive_desc_destroy(dpd);
		dnnl_primitive_desc_destroy(wpd);
		goto attr_done;
	}
	c->dy_shared = bo_share(&c->op[OP_BWD_DATA].a[A_BWD_DATA_DY], &c->op[OP_BWD_W].a[A_BWD_W_DY]);
	// In bf16 every layer converts x, and converting it once a step pays
	// for keeping the copy (half the size of x); in fp32 only a network's
	// first layer does, into a layout padded to 16 channels, whose copy
	// would be 5 times the size of its 3-channel input.
	c->x_shared = bf16 && bo_share(&c->op[OP_FWD].a[A_FWD_X], &c->op[OP_BWD_W].a[A_BWD_W_X]);
	if (c->x_shared) {
		bo_arg *x = &c->op[OP_FWD].a[A_FWD_X];
		size_t n = BO_ALIGN(bo_mem_size(x->mem));
		if ((c->x_keep = aligned_alloc(64, n)) == NULL) {
			st = dnnl_out_of_memory;
			dnnl_primitive_desc_destroy(fpd);
			dnnl_primitive_desc_destroy(dpd);
			dnnl_primitive_desc_destroy(wpd);
			goto attr_done;
		}
		x->keep = 1;
		dnnl_memory_set_data_handle(x->mem, c->x_keep);
	}
	step = "creating the primitives";
	dnnl_primitive_desc_t pds[OP_N] = {fpd, dpd, wpd};
	for (int o = 0; o < OP_N; o++) {
		if (st == dnnl_success) {
			st = bo_make(pds[o], &c->op[o].prim, &c->op[o].scratch);
		} else {
			dnnl_primitive_desc_destroy(pds[o]);
		}
	}
	if (st == dnnl_success) {
		step = NULL;
		for (int o = 0; o < OP_N; o++) {
			bo_args(&c->op[o]);
		}
		// Backward runs backward-data, then backward-weights, which may read
		// the dy backward-data converted: their memories lie one after the other.
		size_t fwd = bo_place(&c->op[OP_FWD], 0);
		size_t bwd = bo_place(&c->op[OP_BWD_W], bo_place(&c->op[OP_BWD_DATA], 0));
		c->arena_need = fwd > bwd ? fwd : bwd;
	}
attr_done:
	dnnl_primitive_attr_destroy(attr);
done:
	omp_set_num_threads(prev);
	*status = st;
	if (step != NULL) {
		bo_conv_destroy(c);
		return step;
	}
	*out = c;
	return NULL;
}

// bo_reorder runs argument a's reorder: from the user memory for an input,
// to it for an output.
static dnnl_status_t bo_reorder(bo_conv *c, bo_arg *a) {
	dnnl_memory_t from = a->out ? a->mem : c->user[a->user], to = a->out ? c->user[a->user] : a->mem;
	dnnl_exec_arg_t ex[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}, {DNNL_ARG_SCRATCHPAD, a->rscratch}};
	return dnnl_primitive_execute(a->reorder, c->stream, a->rscratch != NULL ? 3 : 2, ex);
}

// bo_run runs op: the reorders of its inputs, the primitive, the reorders
// of its outputs.
static dnnl_status_t bo_run(bo_conv *c, bo_op *op) {
	dnnl_status_t st;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			int nex = op->n + (op->scratch != NULL);
			if ((st = dnnl_primitive_execute(op->prim, c->stream, nex, op->ex)) != dnnl_success) {
				return st;
			}
		}
		for (int i = 0; i < op->n; i++) {
			if (op->a[i].reorder != NULL && op->a[i].out == pass && (st = bo_reorder(c, &op->a[i])) != dnnl_success) {
				return st;
			}
		}
	}
	return dnnl_stream_wait(c->stream);
}

// bo_set points the user memories at the caller's buffers (NULL after the
// call, so that no Go pointer outlives it).
static void bo_set(bo_conv *c, void **p) {
	for (int u = 0; u < U_N; u++) {
		dnnl_memory_set_data_handle(c->user[u], p[u]);
	}
}

// bo_conv_forward and bo_conv_backward run on the calling thread alone:
// the OpenMP thread count is a per-thread setting, and the Go scheduler may
// move a goroutine to another thread between calls, so it is set here.
static dnnl_status_t bo_conv_forward(bo_conv *c, char *arena, float *x, float *w, float *b, float *y) {
	int prev = omp_get_max_threads();
	omp_set_num_threads(1);
	bo_use(&c->op[OP_FWD], arena);
	void *p[U_N] = {x, w, b != NULL ? b : c->zero_bias, y};
	bo_set(c, p);
	dnnl_status_t st = bo_run(c, &c->op[OP_FWD]);
	void *none[U_N] = {0};
	bo_set(c, none);
	omp_set_num_threads(prev);
	return st;
}

static dnnl_status_t bo_conv_backward(bo_conv *c, char *arena, float *x, float *w, float *dy, float *dx, float *dw, float *db) {
	int prev = omp_get_max_threads();
	omp_set_num_threads(1);
	bo_use(&c->op[OP_BWD_DATA], arena);
	bo_use(&c->op[OP_BWD_W], arena);
	void *p[U_N] = {x, w, NULL, NULL, dx, dw, db != NULL ? db : c->spare_db, dy};
	bo_set(c, p);
	dnnl_status_t st = dnnl_success;
	if (dx != NULL) {
		st = bo_run(c, &c->op[OP_BWD_DATA]);
	} else if (c->dy_shared) {
		st = bo_reorder(c, &c->op[OP_BWD_DATA].a[A_BWD_DATA_DY]);
	}
	if (st == dnnl_success) {
		st = bo_run(c, &c->op[OP_BWD_W]);
	}
	void *none[U_N] = {0};
	bo_set(c, none);
	omp_set_num_threads(prev);
	return st;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

var (
	dnnlOnce sync.Once
	dnnlErr  error
)

// dnnlInit creates the CPU engine every layer shares, once.
func dnnlInit() error {
	dnnlOnce.Do(func() {
		if st := C.bo_engine_init(); st != C.dnnl_success {
			dnnlErr = fmt.Errorf("oneDNN: creating the CPU engine: %s", dnnlStatus(st))
		}
	})
	return dnnlErr
}

func dnnlStatus(st C.dnnl_status_t) string {
	switch st {
	case C.dnnl_out_of_memory:
		return "out of memory"
	case C.dnnl_invalid_arguments:
		return "invalid arguments"
	case C.dnnl_unimplemented:
		return "no implementation for this shape and data type"
	}
	return fmt.Sprintf("status %d", int(st))
}

// dnnlISAs names oneDNN's instruction sets in Intel's words.
var dnnlISAs = map[C.int]string{
	C.dnnl_cpu_isa_all:              "all",
	C.dnnl_cpu_isa_sse41:            "sse41",
	C.dnnl_cpu_isa_avx:              "avx",
	C.dnnl_cpu_isa_avx2:             "avx2",
	C.dnnl_cpu_isa_avx2_vnni:        "avx2_vnni",
	C.dnnl_cpu_isa_avx512_mic:       "avx512_mic",
	C.dnnl_cpu_isa_avx512_mic_4ops:  "avx512_mic_4ops",
	C.dnnl_cpu_isa_avx512_core:      "avx512_core",
	C.dnnl_cpu_isa_avx512_core_vnni: "avx512_core_vnni",
	C.dnnl_cpu_isa_avx512_core_bf16: "avx512_core_bf16",
	C.dnnl_cpu_isa_avx512_core_amx:  "avx512_core_amx",
}

// DNNLISA returns the widest instruction set oneDNN's JIT kernels use on
// this CPU (oneDNN reads CPUID itself, and DNNL_MAX_CPU_ISA can lower it),
// e.g. "avx512_core_amx" or "avx2".
func DNNLISA() string {
	isa := C.bo_isa()
	if name, ok := dnnlISAs[isa]; ok {
		return name
	}
	return fmt.Sprintf("isa 0x%x", int(isa))
}

// dnnlConv is one convolution's oneDNN primitives, owned by a Conv2D.
// lastX is the input of the last forward: where backward-weights reads
// the forward's converted copy of x (x_shared), backward must get the
// same x, which it checks by address.
type dnnlConv struct {
	c       *C.bo_conv
	lastX   unsafe.Pointer
	cleanup runtime.Cleanup
	// arena holds the converted memories and scratchpads during a call:
	// one a net shares (UseArena), or the layer's own, made on first use.
	arena, own *Arena
}

// newDNNLConv builds the primitives for s; bf16 selects bfloat16 inputs.
// A layer with a channels-last input runs on NHWC throughout, reordering
// only an NCHW output. A layer with an NCHW input (a network's first,
// whose input comes from the data) runs a 1×1 kernel on plain NCHW, where
// oneDNN's GEMM convolution needs no reorder, and other kernels on the
// blocked layouts oneDNN picks, reordered from and to the user's: oneDNN
// 2.6 has no fast kernel for NCHW input with NHWC output
// (docs/engine-kernels.md).
func newDNNLConv(s ConvShape, bf16 bool) (*dnnlConv, error) {
	plain := s.KH == 1 && s.KW == 1
	if err := dnnlInit(); err != nil {
		return nil, err
	}
	var c *C.bo_conv
	var st C.dnnl_status_t
	step := C.bo_conv_create(&c, &st, cbool(bf16), cbool(plain), cbool(s.XChannelsLast), cbool(s.YChannelsLast), C.int(s.N), C.int(s.C), C.int(s.H), C.int(s.W), C.int(s.K), C.int(s.KH), C.int(s.KW),
		C.int(stride(s.StrideH)), C.int(stride(s.StrideW)), C.int(s.Pads[0]), C.int(s.Pads[1]), C.int(s.Pads[2]), C.int(s.Pads[3]))
	if step != nil {
		return nil, fmt.Errorf("oneDNN convolution %s: %s: %s", convName(s, bf16), C.GoString(step), dnnlStatus(st))
	}
	d := &dnnlConv{c: c}
	d.cleanup = runtime.AddCleanup(d, func(c *C.bo_conv) { C.bo_conv_destroy(c) }, c)
	return d, nil
}

// close frees the primitives and their memories now, rather than when
// the garbage collector finds d unreachable: a program that builds net
// after net (a benchmark's runs, an ablation's rows) would otherwise hold
// several nets' worth of oneDNN memory at once.
func (d *dnnlConv) close() {
	if d.c == nil {
		return
	}
	d.cleanup.Stop()
	C.bo_conv_destroy(d.c)
	d.c = nil
	if d.own != nil {
		d.own.Close()
	}
}

// arenaBytes is the arena a call needs.
func (d *dnnlConv) arenaBytes() int { return int(d.c.arena_need) }

// arenaPtr returns the arena for a call, making the layer's own the first
// time when none was given.
func (d *dnnlConv) arenaPtr() *C.char {
	if d.arena == nil {
		if d.own == nil {
			d.own = NewArena(d.arenaBytes())
		}
		d.arena = d.own
	}
	if d.arena.p == nil {
		panic("kernel: Conv2D: its arena was closed")
	}
	return (*C.char)(d.arena.p)
}

// Arena is memory outside Go's heap that oneDNN convolutions use during a
// call and that holds nothing between calls: the layers of a net, which
// run one at a time, share one (Conv2D.UseArena) instead of holding their
// own. C memory, because oneDNN keeps the addresses it is given.
type Arena struct {
	p       unsafe.Pointer
	n       int
	cleanup runtime.Cleanup
}

// NewArena allocates an arena of n bytes (64-byte aligned); it panics when
// the system has no memory for it, as Go's own allocation would.
func NewArena(n int) *Arena {
	size := C.size_t((max(n, 1) + 63) &^ 63)
	p := C.aligned_alloc(64, size)
	if p == nil {
		panic(fmt.Sprintf("kernel: allocating a %d-byte arena: out of memory", n))
	}
	a := &Arena{p: p, n: n}
	a.cleanup = runtime.AddCleanup(a, func(p unsafe.Pointer) { C.free(p) }, p)
	return a
}

// Len returns the arena's size in bytes.
func (a *Arena) Len() int { return a.n }

// Close frees the arena now; layers that use it must not run afterwards.
func (a *Arena) Close() {
	if a.p == nil {
		return
	}
	a.cleanup.Stop()
	C.free(a.p)
	a.p = nil
}

func convName(s ConvShape, bf16 bool) string {
	p := FP32
	if bf16 {
		p = BF16
	}
	return fmt.Sprintf("%s %d×%d×%d×%d→%d %d×%d stride %d×%d pads %v", p, s.N, s.C, s.H, s.W, s.K, s.KH, s.KW, stride(s.StrideH), stride(s.StrideW), s.Pads)
}

// forward and backward take float32 slices whose lengths Conv2D checked;
// nil bias, dx or db pass as NULL.
func (d *dnnlConv) forward(x, w, bias, y unsafe.Pointer) {
	if st := C.bo_conv_forward(d.c, d.arenaPtr(), (*C.float)(x), (*C.float)(w), (*C.float)(bias), (*C.float)(y)); st != C.dnnl_success {
		panic("kernel: oneDNN convolution forward: " + dnnlStatus(st))
	}
	d.lastX = x
	runtime.KeepAlive(d)
}

func (d *dnnlConv) backward(x, w, dy, dx, dw, db unsafe.Pointer) {
	if d.c.x_shared != 0 && x != d.lastX {
		panic("kernel: Conv2D.Backward: this layer reuses the last Forward's converted input; call Forward on x first")
	}
	if st := C.bo_conv_backward(d.c, d.arenaPtr(), (*C.float)(x), (*C.float)(w), (*C.float)(dy), (*C.float)(dx), (*C.float)(dw), (*C.float)(db)); st != C.dnnl_success {
		panic("kernel: oneDNN convolution backward: " + dnnlStatus(st))
	}
	runtime.KeepAlive(d)
}
