/*
 * net_ops.c — the operations the LXMERT blocks are written in (net.h), each spread over
 * the net's thread pool, and which product kernel each weight takes.
 *
 * Products: f32 weights go through lx_gemm_f32_cols one range of 16 output columns at a
 * time (the ranges handed out over the pool); 16-bit weights through lx_gemm (bf16 with
 * the CPU's bf16 dot products, or exactly in f32 with opts.exact_bf16; f16 widened).
 *
 * The bf16 hand-offs: where activations carry a bf16 copy (lx_act.h), the products that
 * take bf16 read it instead of rounding their input, and every operation that writes
 * such rows writes the copy too, while the rows are in cache: LayerNorm (its last pass),
 * attention (each head's context), the mean of the visual encoder, and linear + GELU,
 * whose product applies GELU and the rounding to its output tiles in registers.  With
 * opts.unfused the copies do not exist and each product rounds its own input: the same
 * bits (test_fused_same_bits).
 *
 * Where a bias can be added later for free it is: with f32 weights, the bias of a
 * product whose output goes straight into a LayerNorm or GELU is added by that pass.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "net.h"

/* ---- spreading work over the pool ---------------------------------------------- */

/* fn(net, ctx, i0, i1, t) does items [i0, i1) on thread t.  Items are handed out in
 * chunks from a shared counter, so a thread that runs late (a busy machine) does less,
 * the others more, rather than all waiting for its fixed share. */
typedef void (*range_fn)(lx_net *net, void *ctx, size_t i0, size_t i1, int t);

typedef struct par_ctx {
    lx_net *net;
    range_fn fn;
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
        p->fn(p->net, p->ctx, i0, i1, t);
    }
}

/* cnt items of about work flops each: on one thread when the whole is too small to pay
 * for waking the others (a few microseconds; a batch-1 LayerNorm over 20 rows, 1.2e5 by
 * this count, took 15 us alone: its rows come from the other core's cache); else in
 * per_thread chunks per thread. */
static void par_for_n(lx_net *net, size_t cnt, double work, range_fn fn, void *ctx,
                      size_t per_thread) {
    if (net->nthreads == 1 || cnt < 2 || work * (double)cnt < 5e4) {
        fn(net, ctx, 0, cnt, 0);
        return;
    }
    size_t chunk = (cnt + per_thread * (size_t)net->nthreads - 1) /
                   (per_thread * (size_t)net->nthreads);
    par_ctx p = {net, fn, ctx, cnt, chunk ? chunk : 1, 0};
    lx_pool_run(&net->pool, par_share, &p);
}

static void par_for(lx_net *net, size_t cnt, double work, range_fn fn, void *ctx) {
    par_for_n(net, cnt, work, fn, ctx, 4);
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
static void lin_cols(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    lin_ctx *c = ctx;
    int n1 = (int)(16 * i1) < c->l->out ? (int)(16 * i1) : c->l->out;
    lx_gemm_f32_cols(net->cpu.isa, c->m, c->l->out, c->l->in, c->x, c->ldx, c->l->w, c->b,
                     c->y, c->ldy, (int)(16 * i0), n1, c->gelu, net->s.f32pack[t]);
}

/* f32 weights: y = x W^T + b (GELU of it when gelu is set), column ranges over the pool. */
static int linear_f32(lx_net *net, const lx_lin *l, const float *b, const lx_act *x, int m,
                      float *y, size_t ldy, int gelu, lx_error *err) {
    if (net->cpu.isa >= LX_ISA_AVX512 && m > LX_GEMM_F32_FEW_ROWS && !net->s.f32pack[0])
        for (int t = 0; t < net->nthreads; t++)
            if (!(net->s.f32pack[t] = lx_aligned_alloc(lx_gemm_f32pack_bytes())))
                return lx_error_set(err, "out of memory (packed weights)");
    lin_ctx c = {l, b, x->f, x->ld, m, y, ldy, gelu};
    /* many rows: each chunk packs its own columns of W (two chunks per thread, so that a
     * thread slowed by a busy machine takes less); sgemm (no AVX-512) packs both
     * operands per call: one chunk per thread then */
    par_for_n(net, ((size_t)l->out + 15) / 16, 32.0 * m * l->in, lin_cols, &c,
              m <= LX_GEMM_F32_FEW_ROWS ? 4 : net->cpu.isa >= LX_ISA_AVX512 ? 2 : 1);
    return 0;
}

/* 16-bit weights: y = x W^T + b with lx_gemm, from x's bf16 copy when the product takes
 * bf16; y16 (rows ldy16 apart), when given, receives bf16(GELU(y)) and y is scratch. */
static int linear16(lx_net *net, const lx_lin *l, const lx_act *x, int m, float *y,
                    size_t ldy, uint16_t *y16, size_t ldy16, lx_error *err) {
    int bf16 = lx_net_takes_bf16(net, l);
    lx_gemm_op op = {
        .kind = !l->bf16 ? LX_GEMM_F16 : bf16 ? LX_GEMM_BF16 : LX_GEMM_BF16_EXACT,
        .m = m, .n = l->out, .k = l->in, .a = x->f, .lda = x->ld, .w = l->w16,
        .ldw = (size_t)l->in, .bias = l->b, .c = y, .ldc = ldy, .accumulate = 0,
        .ab = bf16 ? x->h : NULL, .ldab = x->ldh, .cb = y16, .ldcb = ldy16};
    if (op.ab) op.a = NULL;
    return lx_gemm(&net->cpu, &op, net->nthreads > 1 ? &net->pool : NULL, net->s.gs, err);
}

int lx_op_linear(lx_net *net, const lx_lin *l, const lx_act *x, int m, float *y, size_t ldy,
                 lx_error *err) {
    if (m <= 0) return 0;
    if (l->w) return linear_f32(net, l, l->b, x, m, y, ldy, 0, err);
    return linear16(net, l, x, m, y, ldy, NULL, 0, err);
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
static void round_rows(lx_net *net, const lx_act *x, int n, size_t i0, size_t i1) {
    if (!x->h) return;
    for (size_t i = i0; i < i1; i++)
        lx_k_round_bf16(x->h + i * x->ldh, x->f + i * x->ld, n, (int)x->ldh, net->cpu.isa);
}

static void ln_rows(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    rows_ctx *c = ctx;
    size_t off = i0 * c->x->ld;
    lx_k_add_layernorm(c->x->f + off, c->r ? c->r + off : NULL, c->rb, (int)(i1 - i0), c->n,
                       (int)c->x->ld, c->ln->g, c->ln->b, c->eps, net->cpu.isa);
    round_rows(net, c->x, c->n, i0, i1);
}

/* x = LayerNorm(x + r + rb) (r rows x->ld apart, rb [n]; either may be NULL). */
static void add_layernorm(lx_net *net, lx_act *x, const float *r, const float *rb, int m,
                          const lx_ln *ln, float eps) {
    rows_ctx c = {.x = x, .r = r, .rb = rb, .ln = ln, .eps = eps, .n = ln->n};
    par_for(net, (size_t)m, 8.0 * ln->n, ln_rows, &c);
}

void lx_op_layernorm(lx_net *net, const lx_ln *ln, lx_act *x, int m, float eps) {
    add_layernorm(net, x, NULL, NULL, m, ln, eps);
}

int lx_op_dense_add_norm(lx_net *net, const lx_lin *dense, const lx_ln *ln, const lx_act *x,
                         int m, lx_act *io, lx_error *err) {
    /* with f32 weights the LayerNorm's pass adds the bias (one pass over y fewer) */
    const float *rb = dense->w ? dense->b : NULL;
    float *y = net->s.tmp;
    if (m <= 0) return 0;
    if (dense->w ? linear_f32(net, dense, NULL, x, m, y, io->ld, 0, err)
                 : linear16(net, dense, x, m, y, io->ld, NULL, 0, err))
        return -1;
    add_layernorm(net, io, y, rb, m, ln, net->eps);
    return 0;
}

static void mean_rows(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    rows_ctx *c = ctx;
    for (size_t i = i0; i < i1; i++) {
        float *y = c->x->f + i * c->x->ld;
        const float *a = c->r + i * c->x->ld, *b = c->b + i * c->x->ld;
        for (int j = 0; j < c->n; j++) y[j] = (a[j] + b[j]) * 0.5f;
    }
    round_rows(net, c->x, c->n, i0, i1);
}

void lx_op_mean(lx_net *net, lx_act *y, const float *a, const float *b, int m) {
    rows_ctx c = {.x = y, .r = a, .b = b, .n = net->H};
    par_for(net, (size_t)m, 3.0 * net->H, mean_rows, &c);
}

typedef struct gelu_ctx {
    float *x;
    const float *b;
    size_t n, ld;
} gelu_ctx;

static void gelu_rows(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    gelu_ctx *c = ctx;
    for (size_t i = i0; i < i1; i++) lx_k_gelu(c->x + i * c->ld, c->b, c->n, net->cpu.isa);
}

/* x = GELU(x + b) (b [n] may be NULL). */
static void gelu_b(lx_net *net, float *x, const float *b, int m, int n, size_t ld) {
    gelu_ctx c = {x, b, (size_t)n, ld};
    par_for(net, (size_t)m, 20.0 * n, gelu_rows, &c);
}

void lx_op_gelu(lx_net *net, float *x, int m, int n, size_t ld) {
    gelu_b(net, x, NULL, m, n, ld);
}

int lx_op_linear_gelu(lx_net *net, const lx_lin *l, const lx_act *x, int m, lx_act *y,
                      lx_error *err) {
    if (m <= 0) return 0;
    if (l->w) /* f32: GELU applied by the product, per column range */
        return linear_f32(net, l, l->b, x, m, y->f, y->ld, 1, err);
    if (y->h) /* bf16 out: GELU and the rounding on the product's output tiles */
        return linear16(net, l, x, m, y->f, y->ld, y->h, y->ldh, err);
    if (linear16(net, l, x, m, y->f, y->ld, NULL, 0, err) < 0) return -1;
    gelu_b(net, y->f, NULL, m, l->out, y->ld);
    return 0;
}

/* ---- attention ------------------------------------------------------------------- */

typedef struct att_ctx {
    const lx_rows *q, *k;
    float **probs;
} att_ctx;

/* Units [u0, u1) of (record, head) pairs, with thread t's score buffer. */
static void attend_units(lx_net *net, void *ctx, size_t u0, size_t u1, int t) {
    const att_ctx *c = ctx;
    lx_state *s = &net->s;
    int H = net->H, dh = net->dh, ld = 3 * H;
    float scale = 1.0f / sqrtf((float)dh), *S = s->scores[t];
    for (size_t u = u0; u < u1; u++) {
        size_t i = u / (size_t)net->heads;
        int h = (int)(u % (size_t)net->heads), Lq = c->q->len[i], Lk = c->k->len[i];
        size_t qr = (size_t)(c->q->base + c->q->off[i]), kr = (size_t)(c->k->base + c->k->off[i]);
        const float *q = s->qkv + qr * ld + h * dh, *k = s->qkv + kr * ld + H + h * dh;
        lx_act ctx_h = lx_act_at(&s->ctx, (int)qr);
        ctx_h.f += h * dh;
        lx_gemm_attention(net->cpu.isa, q, k, k + H, (size_t)ld, Lq, Lk, dh, scale,
                          s->madd + kr, S, ctx_h.f, ctx_h.ld);
        if (ctx_h.h) /* the output product's input, rounded while in L1 */
            for (int r = 0; r < Lq; r++)
                lx_k_round_bf16(ctx_h.h + (size_t)r * ctx_h.ldh + h * dh,
                                ctx_h.f + (size_t)r * ctx_h.ld, dh, dh, net->cpu.isa);
        if (c->probs && c->probs[i])
            memcpy(c->probs[i] + (size_t)h * Lq * Lk, S, (size_t)Lq * Lk * sizeof *S);
    }
}

void lx_op_attention(lx_net *net, const lx_rows *q, const lx_rows *k, float **probs) {
    att_ctx c = {q, k, probs};
    par_for(net, q->n * (size_t)net->heads, 4.0 * 20 * 20 * net->dh, attend_units, &c);
}
