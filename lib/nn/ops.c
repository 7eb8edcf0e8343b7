/*
 * ops.c — the runtime and the operations networks are written in (ops.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "blas.h"
#include "kernels.h"
#include "ops.h"

/* ---- the runtime ------------------------------------------------------------------ */

/* Can a product of m's network reach OpenBLAS on this CPU (gemm.c's path_of and
 * lx_gemm_f32_cols)?  Below AVX-512, products of many rows do; on AVX-512 only 16-bit
 * weights computed in f32 (f16, or bf16 with exact_bf16), with many rows.  Where this
 * says no and a product takes it all the same, lx_sgemm still never hangs (blas.h). */
static int takes_blas(const lx_rt *rt, const lx_model *m) {
    if (rt->cpu.isa < LX_ISA_AVX512 || !m) return 1;
    for (size_t i = 0; i < lx_model_ntensors(m); i++) {
        lx_dtype d = lx_model_tensor_at(m, i)->dtype;
        if (d == LX_F16 || (d == LX_BF16 && rt->exact_bf16)) return 1;
    }
    return 0;
}

int lx_rt_init(lx_rt *rt, const lx_model *m, int threads, lx_isa max_isa, lx_error *err) {
    lx_cpu_detect(&rt->cpu, max_isa);
    for (int t = 0; t < LX_POOL_MAX; t++) lx_gemm_scratch_init(&rt->gs[t]);
    long nt = threads > 0 ? threads : sysconf(_SC_NPROCESSORS_ONLN);
    rt->nthreads = nt < 1 ? 1 : nt > LX_POOL_MAX ? LX_POOL_MAX : (int)nt;
    /* OpenBLAS first, while this is the only thread (lx_blas_init may fork), and only
     * when a product may take it: one thread of its own, a matrix buffer for each of
     * ours (blas.c), which under a memory limit cost address space for nothing. */
    if (takes_blas(rt, m) && lx_blas_init(rt->nthreads, err) < 0) return -1;
    if (lx_pool_init(&rt->pool, rt->nthreads, err) < 0) return -1;
    rt->pool_up = 1;
    return 0;
}

void lx_rt_free(lx_rt *rt) {
    if (rt->pool_up) lx_pool_free(&rt->pool);
    rt->pool_up = 0;
    for (int t = 0; t < LX_POOL_MAX; t++) {
        lx_gemm_scratch_free(&rt->gs[t]);
        free(rt->f32pack[t]);
        free(rt->work[t]);
        rt->f32pack[t] = NULL;
        rt->work[t] = NULL;
    }
    rt->work_cap = 0;
}

static int f32pack_ready(lx_rt *rt, int m, lx_error *err);

int lx_rt_work(lx_rt *rt, size_t n, lx_error *err) {
    if (f32pack_ready(rt, LX_GEMM_F32_FEW_ROWS + 1, err) < 0) return -1;
    if (n <= rt->work_cap) return 0;
    for (int t = 0; t < rt->nthreads; t++) {
        free(rt->work[t]);
        if (!(rt->work[t] = lx_aligned_alloc(n * sizeof(float)))) {
            rt->work_cap = 0;
            return lx_error_set(err, "out of memory for %zu bytes of working rows (for each "
                                     "of %d threads)", n * sizeof(float), rt->nthreads);
        }
    }
    rt->work_cap = n;
    return 0;
}

int lx_rt_takes_bf16(const lx_rt *rt, const lx_lin *l) {
    return !l->w && l->bf16 && !rt->exact_bf16;
}

/* ---- binding weights --------------------------------------------------------------- */

void *lx_owned_alloc(lx_owned *o, size_t bytes) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? 2 * o->cap : 64;
        void **n = realloc(o->p, nc * sizeof *n);
        if (!n) return NULL;
        o->p = n;
        o->cap = nc;
    }
    void *p = lx_aligned_alloc(bytes ? bytes : 1);
    if (p) o->p[o->n++] = p;
    return p;
}

void lx_owned_free(lx_owned *o) {
    for (size_t i = 0; i < o->n; i++) free(o->p[i]);
    free(o->p);
    *o = (lx_owned){0};
}

const lx_tensor *lx_bind_tensor(lx_binder *b, int optional, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (b->failed) return NULL;
    const lx_tensor *t = lx_model_tensor(b->model, name);
    if (!t && !optional) {
        b->failed = 1;
        lx_error_set(b->err, "model: tensor %s is missing", name);
    }
    return t;
}

void *lx_bind_alloc(lx_binder *b, size_t bytes) {
    void *p = b->failed ? NULL : lx_owned_alloc(b->owned, bytes);
    if (!p && !b->failed) {
        b->failed = 1;
        lx_error_set(b->err, "model: out of memory binding the weights");
    }
    return p;
}

const float *lx_bind_f32(lx_binder *b, const lx_tensor *t) {
    if (!t || t->dtype == LX_F32) return t ? t->data : NULL;
    size_t n = (size_t)lx_tensor_nelem(t);
    float *c = lx_bind_alloc(b, n * sizeof *c);
    if (c) lx_k_widen(c, t->data, n, t->dtype == LX_BF16, b->isa);
    return c;
}

void lx_bind_matrix(lx_lin *l, const lx_tensor *t) {
    if (!t) return;
    l->out = (int)t->shape[0];
    l->in = (int)(lx_tensor_nelem(t) / t->shape[0]);
    l->w = t->dtype == LX_F32 ? t->data : NULL;
    l->w16 = t->dtype == LX_F16 || t->dtype == LX_BF16 ? t->data : NULL;
    l->w8 = t->dtype == LX_I8 ? t->data : NULL;
    l->bf16 = t->dtype == LX_BF16;
}

/* ---- spreading work over the pool ---------------------------------------------- */

typedef struct par_ctx {
    lx_rt *rt;
    lx_range_fn fn;
    void *ctx;
    size_t cnt, chunk;
    atomic_size_t next;
} par_ctx;

static void par_share(void *arg, int t, int nt) {
    par_ctx *p = arg;
    (void)nt;
    for (;;) {
        size_t i0 = atomic_fetch_add(&p->next, p->chunk);
        if (i0 >= p->cnt) break;
        size_t i1 = i0 + p->chunk < p->cnt ? i0 + p->chunk : p->cnt;
        p->fn(p->rt, p->ctx, i0, i1, t);
    }
}

/* Alone below about 5e4 flops: waking a thread costs a few microseconds, and a batch-1
 * LayerNorm over 20 rows (1.2e5 by this count) took 15 us alone, its rows coming from
 * the other core's cache. */
void lx_rt_for(lx_rt *rt, size_t cnt, double work, lx_range_fn fn, void *ctx,
               size_t per_thread) {
    if (rt->nthreads == 1 || cnt < 2 || work * (double)cnt < 5e4) {
        fn(rt, ctx, 0, cnt, 0);
        return;
    }
    size_t chunk = (cnt + per_thread * (size_t)rt->nthreads - 1) /
                   (per_thread * (size_t)rt->nthreads);
    par_ctx p = {rt, fn, ctx, cnt, chunk ? chunk : 1, 0};
    lx_pool_run(&rt->pool, par_share, &p);
}

static void par_for(lx_rt *rt, size_t cnt, double work, lx_range_fn fn, void *ctx) {
    lx_rt_for(rt, cnt, work, fn, ctx, 4);
}

/* ---- products -------------------------------------------------------------------- */

typedef struct lin_ctx {
    const lx_lin *l;
    const float *b;               /* the bias to add (l->b, or NULL when deferred) */
    const float *x;
    size_t ldx;
    int m;
    float *y;
    size_t ldy;
    int gelu;                     /* y = GELU(x W^T + b) */
} lin_ctx;

/* Output columns [16 i0, 16 i1) of an f32 product. */
static void lin_cols(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    lin_ctx *c = ctx;
    int n1 = (int)(16 * i1) < c->l->out ? (int)(16 * i1) : c->l->out;
    if (c->l->rowwise)
        lx_gemm_f32_cols_rowwise(rt->cpu.isa, c->m, c->l->out, c->l->in, c->x, c->ldx,
                                 c->l->w, c->b, c->y, c->ldy, (int)(16 * i0), n1, c->gelu);
    else
        lx_gemm_f32_cols(rt->cpu.isa, c->m, c->l->out, c->l->in, c->x, c->ldx, c->l->w, c->b,
                         c->y, c->ldy, (int)(16 * i0), n1, c->gelu, rt->f32pack[t]);
}

/* The packed-weight buffers f32 products of m rows need (AVX-512, many rows). */
static int f32pack_ready(lx_rt *rt, int m, lx_error *err) {
    if (rt->cpu.isa >= LX_ISA_AVX512 && m > LX_GEMM_F32_FEW_ROWS && !rt->f32pack[0])
        for (int t = 0; t < rt->nthreads; t++)
            if (!(rt->f32pack[t] = lx_aligned_alloc(lx_gemm_f32pack_bytes())))
                return lx_error_set(err, "out of memory for the packed weights (%zu bytes for "
                                         "each of %d threads)", lx_gemm_f32pack_bytes(),
                                    rt->nthreads);
    return 0;
}

/* f32 weights: y = x W^T + b (GELU of it when gelu is set), column ranges over the pool. */
static int linear_f32(lx_rt *rt, const lx_lin *l, const float *b, const lx_act *x, int m,
                      float *y, size_t ldy, int gelu, lx_error *err) {
    if (f32pack_ready(rt, m, err) < 0) return -1;
    lin_ctx c = {l, b, x->f, x->ld, m, y, ldy, gelu};
    /* many rows: each chunk packs its own columns of W (two chunks per thread, so that a
     * thread slowed by a busy machine takes less); sgemm (no AVX-512) packs both
     * operands per call: one chunk per thread then */
    lx_rt_for(rt, ((size_t)l->out + 15) / 16, 32.0 * m * l->in, lin_cols, &c,
              m <= LX_GEMM_F32_FEW_ROWS || l->rowwise ? 4 : rt->cpu.isa >= LX_ISA_AVX512 ? 2 : 1);
    return 0;
}

/* l's weights as lx_gemm takes them (16-bit or int8): kind, W, scales, bias and sizes. */
static lx_gemm_op gemm_op(const lx_rt *rt, const lx_lin *l) {
    lx_gemm_op op = {.kind = l->w8 ? LX_GEMM_I8 : !l->bf16 ? LX_GEMM_F16
                             : lx_rt_takes_bf16(rt, l) ? LX_GEMM_BF16 : LX_GEMM_BF16_EXACT,
                     .n = l->out, .k = l->in, .w = l->w16, .w8 = l->w8, .wscale = l->ws,
                     .wsum = l->wsum,
                     .ldw = (size_t)l->in, .bias = l->b};
    return op;
}

/* 16-bit or int8 weights: y = x W^T + b with lx_gemm, from x's bf16 copy when the product
 * takes bf16; y16 (rows ldy16 apart), when given, receives bf16(GELU(y)) and y is
 * scratch. */
static int linear16(lx_rt *rt, const lx_lin *l, const lx_act *x, int m, float *y,
                    size_t ldy, uint16_t *y16, size_t ldy16, lx_error *err) {
    lx_gemm_op op = gemm_op(rt, l);
    op.m = m, op.a = x->f, op.lda = x->ld, op.c = y, op.ldc = ldy;
    op.cb = y16, op.ldcb = ldy16;
    if (op.kind == LX_GEMM_BF16 && x->h) op.ab = x->h, op.ldab = x->ldh, op.a = NULL;
    return lx_gemm(&rt->cpu, &op, rt->nthreads > 1 ? &rt->pool : NULL, rt->gs, err);
}

int lx_op_linear(lx_rt *rt, const lx_lin *l, const lx_act *x, int m, float *y, size_t ldy,
                 lx_error *err) {
    if (m <= 0) return 0;
    if (l->w) return linear_f32(rt, l, l->b, x, m, y, ldy, 0, err);
    return linear16(rt, l, x, m, y, ldy, NULL, 0, err);
}

int lx_rt_linear_rows(lx_rt *rt, const lx_lin *l, const float *x, size_t ldx, int m,
                      float *y, size_t ldy, int t, lx_error *err) {
    if (m <= 0) return 0;
    if (l->w) {
        lx_gemm_f32_cols(rt->cpu.isa, m, l->out, l->in, x, ldx, l->w, l->b, y, ldy, 0, l->out,
                         0, rt->f32pack[t]);
        return 0;
    }
    lx_gemm_op op = gemm_op(rt, l);
    op.m = m, op.a = x, op.lda = ldx, op.c = y, op.ldc = ldy;
    return lx_gemm_range(&rt->cpu, &op, 0, l->out, &rt->gs[t], err);
}

/* ---- row-wise passes ------------------------------------------------------------- */

typedef struct rows_ctx {
    lx_act *x;
    const float *r, *rb;          /* residual rows (ld apart) and row bias, or NULL */
    const float *b;               /* mean: the second operand */
    const lx_ln *ln;
    float eps;
    int n;
} rows_ctx;

/* x.h rows [i0, i1) <- bf16(x.f), while they are in cache. */
static void round_rows(lx_rt *rt, const lx_act *x, int n, size_t i0, size_t i1) {
    if (!x->h) return;
    for (size_t i = i0; i < i1; i++)
        lx_k_round_bf16(x->h + i * x->ldh, x->f + i * x->ld, n, (int)x->ldh, rt->cpu.isa);
}

static void ln_rows(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    rows_ctx *c = ctx;
    size_t off = i0 * c->x->ld;
    lx_k_add_layernorm(c->x->f + off, c->r ? c->r + off : NULL, c->rb, (int)(i1 - i0), c->n,
                       (int)c->x->ld, c->ln->g, c->ln->b, c->eps, rt->cpu.isa);
    round_rows(rt, c->x, c->n, i0, i1);
}

/* x = LayerNorm(x + r + rb) (r rows x->ld apart, rb [n]; either may be NULL). */
static void add_layernorm(lx_rt *rt, lx_act *x, const float *r, const float *rb, int m,
                          const lx_ln *ln, float eps) {
    rows_ctx c = {.x = x, .r = r, .rb = rb, .ln = ln, .eps = eps, .n = ln->n};
    par_for(rt, (size_t)m, 8.0 * ln->n, ln_rows, &c);
}

void lx_op_layernorm(lx_rt *rt, const lx_ln *ln, lx_act *x, int m, float eps) {
    add_layernorm(rt, x, NULL, NULL, m, ln, eps);
}

int lx_op_dense_add_norm(lx_rt *rt, const lx_lin *dense, const lx_ln *ln, const lx_act *x,
                         int m, lx_act *io, float *tmp, float eps, lx_error *err) {
    /* with f32 weights the LayerNorm's pass adds the bias (one pass over y fewer) */
    const float *rb = dense->w ? dense->b : NULL;
    float *y = tmp;
    if (m <= 0) return 0;
    if (dense->w ? linear_f32(rt, dense, NULL, x, m, y, io->ld, 0, err)
                 : linear16(rt, dense, x, m, y, io->ld, NULL, 0, err))
        return -1;
    add_layernorm(rt, io, y, rb, m, ln, eps);
    return 0;
}

static void mean_rows(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    rows_ctx *c = ctx;
    for (size_t i = i0; i < i1; i++) {
        float *y = c->x->f + i * c->x->ld;
        const float *a = c->r + i * c->x->ld, *b = c->b + i * c->x->ld;
        for (int j = 0; j < c->n; j++) y[j] = (a[j] + b[j]) * 0.5f;
    }
    round_rows(rt, c->x, c->n, i0, i1);
}

void lx_op_mean(lx_rt *rt, lx_act *y, const float *a, const float *b, int m, int n) {
    rows_ctx c = {.x = y, .r = a, .b = b, .n = n};
    par_for(rt, (size_t)m, 3.0 * n, mean_rows, &c);
}

typedef struct gelu_ctx {
    float *x;
    const float *b;
    size_t n, ld;
} gelu_ctx;

static void gelu_rows(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    gelu_ctx *c = ctx;
    for (size_t i = i0; i < i1; i++) lx_k_gelu(c->x + i * c->ld, c->b, c->n, rt->cpu.isa);
}

/* x = GELU(x + b) (b [n] may be NULL). */
static void gelu_b(lx_rt *rt, float *x, const float *b, int m, int n, size_t ld) {
    gelu_ctx c = {x, b, (size_t)n, ld};
    par_for(rt, (size_t)m, 20.0 * n, gelu_rows, &c);
}

void lx_op_gelu(lx_rt *rt, float *x, int m, int n, size_t ld) {
    gelu_b(rt, x, NULL, m, n, ld);
}

int lx_op_linear_gelu(lx_rt *rt, const lx_lin *l, const lx_act *x, int m, lx_act *y,
                      lx_error *err) {
    if (m <= 0) return 0;
    if (l->w) /* f32: GELU applied by the product, per column range */
        return linear_f32(rt, l, l->b, x, m, y->f, y->ld, 1, err);
    if (y->h) /* bf16 out: GELU and the rounding on the product's output tiles */
        return linear16(rt, l, x, m, y->f, y->ld, y->h, y->ldh, err);
    if (linear16(rt, l, x, m, y->f, y->ld, NULL, 0, err) < 0) return -1;
    gelu_b(rt, y->f, NULL, m, l->out, y->ld);
    return 0;
}
