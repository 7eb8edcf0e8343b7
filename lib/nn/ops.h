/*
 * ops.h — what a network is computed with (lib/nn/ops.c; private to liblx): the runtime
 * (the CPU's kernel level, the thread pool and each thread's scratch), the weights of a
 * layer (lx_lin, lx_ln), rows of activations (lx_act), and the operations every network
 * writes its blocks in, each spread over the pool: products, products with GELU, dense +
 * residual + LayerNorm, LayerNorm, GELU, the mean of two row sets; and for images
 * (ops_conv.c) convolutions with BatchNorm, residual and ReLU, max pooling, RoIPool and
 * the mean over each map.  The LXMERT network (net*.c) and the detector (frcnn*.c) are
 * both written in these.
 *
 * Products: f32 weights go through lx_gemm_f32_cols one range of 16 output columns at a
 * time (the ranges handed out over the pool); 16-bit and int8 weights through lx_gemm
 * (bf16 with the CPU's bf16 dot products, or exactly in f32 with exact_bf16; f16
 * widened; int8 with the input quantized per row, gemm.h).
 *
 * bf16 hand-offs: where activations carry a bf16 copy (lx_act.h), the products that take
 * bf16 read it instead of rounding their input, and every operation that writes such
 * rows writes the copy too, while the rows are in cache.  Where a bias can be added later
 * for free it is: with f32 weights, the bias of a product whose output goes straight into
 * a LayerNorm is added by that pass.
 */
#ifndef LX_NN_OPS_H
#define LX_NN_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "gemm.h"
#include "lx.h"
#include "pool.h"

/* nn.Linear (and a convolution's weight seen as [out, in * kh * kw]): y = x W^T + b.  The
 * weight is f32 (w), or 16-bit (w16, f16 or bf16 as the file stores it), or int8 with a
 * scale per row (w8, ws), read in place by the product kernels, so that memory holds and
 * streams half or a quarter of the bytes. */
typedef struct lx_lin {
    const float *w;               /* [out, in] f32, or NULL */
    const uint16_t *w16;          /* [out, in] f16/bf16, or NULL */
    int bf16;                     /* w16 holds bf16 (else f16) */
    const int8_t *w8;             /* [out, in] int8 (when w and w16 are NULL), or NULL */
    const float *ws;              /* [out] w8's row scales (lx_quantize_row_i8) */
    const int32_t *wsum;          /* [out] w8's row sums (lx_i8_row_sums) */
    const float *b;               /* [out] or NULL */
    int out, in;
    int rowwise;                  /* f32 w: each row's result independent of how many rows
                                   * the product has (lx_gemm_f32_cols_rowwise), for a
                                   * product whose output an int8 product quantizes next:
                                   * the quantization would turn the last-bit differences
                                   * between batch sizes into whole steps */
} lx_lin;

/* Output rows [r0, r0 + n) of l, as a Linear of n outputs (the query, or the key and
 * value, of a fused [3H, H] projection). */
static inline lx_lin lx_lin_rows(const lx_lin *l, int r0, int n) {
    lx_lin s = *l;
    size_t at = (size_t)r0 * (size_t)l->in;
    if (s.w) s.w += at;
    if (s.w16) s.w16 += at;
    if (s.w8) s.w8 += at;
    if (s.ws) s.ws += r0;
    if (s.wsum) s.wsum += r0;
    if (s.b) s.b += r0;
    s.out = n;
    return s;
}

/* nn.LayerNorm: gamma and beta [n]. */
typedef struct lx_ln {
    const float *g, *b;
    int n;
} lx_ln;

/* Rows of activations: f32 rows ld apart and, where the products that read them take
 * bf16 (bf16 weights on the CPU's dot products), their bf16 copy h (rows ldh apart,
 * zero padded to a multiple of 32).  A network gives its activations copies only when
 * every product reading them takes bf16, so an operation may then write h alone (linear
 * + GELU does: in the packed kernel's registers).  Model blocks never look inside. */
typedef struct lx_act {
    float *f;
    size_t ld;
    uint16_t *h;                  /* or NULL */
    size_t ldh;
} lx_act;

/* The same rows from row r on. */
static inline lx_act lx_act_at(const lx_act *a, int r) {
    lx_act b = *a;
    b.f += (size_t)r * a->ld;
    if (b.h) b.h += (size_t)r * a->ldh;
    return b;
}

/* Plain f32 rows (no bf16 copy). */
static inline lx_act lx_act_f32(float *f, size_t ld) {
    return (lx_act){f, ld, NULL, 0};
}

/* ---- binding weights ------------------------------------------------------------------
 * Both networks bind their weights from the mapped model file by name.  An lx_binder
 * looks tensors up by printf-style name and remembers the first failure (so a binding
 * function can go on and report once); the memory binding allocates (widened copies,
 * permuted kernels, fused biases) is kept in an lx_owned list, freed with the network. */
typedef struct lx_owned {
    void **p;
    size_t n, cap;
} lx_owned;

/* bytes (64-byte aligned) kept in o; NULL when out of memory (o unchanged). */
void *lx_owned_alloc(lx_owned *o, size_t bytes);
void lx_owned_free(lx_owned *o);

typedef struct lx_binder {
    const lx_model *model;
    lx_owned *owned;
    lx_isa isa;                   /* for widening */
    lx_error *err;
    int failed;                   /* a lookup or allocation failed: err says which */
} lx_binder;

/* The tensor called fmt..., or NULL: an error ("model: tensor NAME is missing") unless
 * optional; NULL without a lookup once the binder has failed. */
const lx_tensor *lx_bind_tensor(lx_binder *b, int optional, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* t's values as f32: its data, or a widened copy (NULL for a NULL t). */
const float *lx_bind_f32(lx_binder *b, const lx_tensor *t);
/* bytes kept until the network is freed; NULL (and the binder failed) when out of memory. */
void *lx_bind_alloc(lx_binder *b, size_t bytes);
/* A weight [out, ...] as a Linear layer, read in place as stored (f32, 16-bit or int8),
 * its other dimensions flattened into in; bias (and int8's row scales) left alone. */
void lx_bind_matrix(lx_lin *l, const lx_tensor *t);

/* A network's runtime.  Not thread-safe: one per network. */
typedef struct lx_rt {
    lx_cpu cpu;                   /* which kernels this CPU runs */
    int exact_bf16;               /* bf16 weights computed exactly in f32 */
    int nthreads;                 /* threads of the pool, the caller's included */
    int pool_up;
    lx_gemm_scratch gs[LX_POOL_MAX]; /* per thread: lx_gemm's working memory */
    float *f32pack[LX_POOL_MAX];  /* per thread: packed f32 weights for products with many
                                   * rows on AVX-512 (lx_gemm_f32pack_bytes() each) */
    float *work[LX_POOL_MAX];     /* per thread: an operation's working rows (lx_rt_work) */
    size_t work_cap;              /* floats in each */
    lx_pool pool;                 /* runs the products and the row-wise passes; its run
                                   * counters sit on cache lines of their own, so keep
                                   * the lx_rt 64-byte aligned (a batch-1 LXMERT record
                                   * makes ~130 runs) */
} lx_rt;

/* Detect the CPU (up to max_isa); when a product of the network of model m (NULL: any
 * network) may take OpenBLAS on it, load OpenBLAS with one thread (the pool splits every
 * product itself) and a matrix buffer for each pool thread (blas.h: "out of memory" when
 * they do not fit); start a pool of threads (0: all cores).  rt->exact_bf16 is set
 * first.  Returns 0 or -1. */
int lx_rt_init(lx_rt *rt, const lx_model *m, int threads, lx_isa max_isa, lx_error *err);
void lx_rt_free(lx_rt *rt);
/* Does l's product take its input rounded to bf16 (bf16 weights, not exact_bf16)? */
int lx_rt_takes_bf16(const lx_rt *rt, const lx_lin *l);

/* Make each thread's work buffer hold at least n floats (64-byte aligned), and ready
 * what lx_rt_linear_rows needs.  Returns 0 or -1.  Not to be called while the pool runs. */
int lx_rt_work(lx_rt *rt, size_t n, lx_error *err);

/* fn(rt, ctx, i0, i1, t) does items [i0, i1) on thread t.  cnt items of about work flops
 * each, handed out in chunks from a shared counter (per_thread chunks per thread), so a
 * thread that runs late (a busy machine) does less; on the calling thread alone when the
 * whole is too small to pay for waking the others. */
typedef void (*lx_range_fn)(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t);
void lx_rt_for(lx_rt *rt, size_t cnt, double work, lx_range_fn fn, void *ctx,
               size_t per_thread);

/* y[m, out] = x W^T + b. */
int lx_op_linear(lx_rt *rt, const lx_lin *l, const lx_act *x, int m, float *y, size_t ldy,
                 lx_error *err);
/* y = GELU(x W^T + b) (into y->h alone when y has a bf16 copy). */
int lx_op_linear_gelu(lx_rt *rt, const lx_lin *l, const lx_act *x, int m, lx_act *y,
                      lx_error *err);
/* io = LayerNorm(x W^T + b + io) (BERT's attention output and output layers); tmp holds
 * m rows of io->ld floats of scratch. */
int lx_op_dense_add_norm(lx_rt *rt, const lx_lin *dense, const lx_ln *ln, const lx_act *x,
                         int m, lx_act *io, float *tmp, float eps, lx_error *err);
/* x = LayerNorm(x) over m rows of ln->n values, with eps. */
void lx_op_layernorm(lx_rt *rt, const lx_ln *ln, lx_act *x, int m, float eps);
/* y = (a + b) / 2 over m rows of n values (a, b rows y->ld apart). */
void lx_op_mean(lx_rt *rt, lx_act *y, const float *a, const float *b, int m, int n);
/* x = GELU(x) over m rows of n values, ld apart. */
void lx_op_gelu(lx_rt *rt, float *x, int m, int n, size_t ld);
/* One thread's share of a product: y[m, out] = x[m, in] W^T + b (x rows ldx apart) on
 * thread t alone (its scratch), for operations that split rows over the pool
 * themselves (after lx_rt_work).  Returns 0 or -1. */
int lx_rt_linear_rows(lx_rt *rt, const lx_lin *l, const float *x, size_t ldx, int m,
                      float *y, size_t ldy, int t, lx_error *err);

/* ---- images (ops_conv.c) ----------------------------------------------------------- */

/* Feature maps: n maps of h x w pixels with c channels, channels last: pixel (b, y, x)
 * is the row d + ((b * h + y) * w + x) * c.  Rows of pixels are what the products
 * take, so a 1x1 convolution is a Linear layer over the pixels. */
typedef struct lx_fmap {
    float *d;
    int n, h, w, c;
} lx_fmap;

static inline size_t lx_fmap_rows(const lx_fmap *f) {
    return (size_t)f->n * (size_t)f->h * (size_t)f->w;
}

/* nn.Conv2d (one group) followed by an eval-mode BatchNorm2d folded into a per-channel
 * scale and shift (scale NULL: no BatchNorm, lin's bias instead).  The weight is lin,
 * [out, k * k * in] with the input channel fastest, then kx, then ky (a PyTorch weight
 * [out, in, k, k] permuted; for k = 1 the same thing). */
typedef struct lx_conv {
    lx_lin lin;
    int in, k, stride, pad, dil;
    const float *scale, *shift;   /* [out], or NULL */
} lx_conv;

/* The output size along an axis of n pixels. */
static inline int lx_conv_out(const lx_conv *cv, int n) {
    return (n + 2 * cv->pad - cv->dil * (cv->k - 1) - 1) / cv->stride + 1;
}

/* y = ReLU?(BN(conv(x)) + res): y's n, h, w, c are set; y->d must hold them.  res (y's
 * shape) may be NULL, or y itself; x must not overlap y.  relu: 0 or 1. */
int lx_op_conv(lx_rt *rt, const lx_conv *cv, const lx_fmap *x, lx_fmap *y, const lx_fmap *res,
               int relu, lx_error *err);
/* The output size of max pooling (window k, stride, no padding, ceil_mode) over n
 * pixels: the last window must start inside the map. */
static inline int lx_pool_ceil_out(int n, int k, int stride) {
    int out = (n - k + stride - 1) / stride + 1;
    if ((out - 1) * stride >= n) out--;
    return out < 1 ? 1 : out;
}
/* nn.MaxPool2d(k, stride, padding 0, ceil_mode=True): windows that start inside the map
 * and run past its edge take the pixels inside.  y's n, h, w, c are set. */
void lx_op_maxpool_ceil(lx_rt *rt, const lx_fmap *x, int k, int stride, lx_fmap *y);
/* torchvision's RoIPool (max) of x (one map) over boxes [nbox, 4] (x1 y1 x2 y2, in the
 * pixels of the image x was computed from at 1 / scale): y gets nbox maps of out x out,
 * an empty bin 0. */
void lx_op_roipool(lx_rt *rt, const lx_fmap *x, const float *boxes, int nbox, float scale,
                   int out, lx_fmap *y);
/* y[b, :] = the mean of map b's pixels (rows ldy apart). */
void lx_op_map_mean(lx_rt *rt, const lx_fmap *x, float *y, size_t ldy);

#endif
