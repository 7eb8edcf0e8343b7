/*
 * ops_conv.c — the operations on feature maps (ops.h): convolutions as products over rows
 * of pixels, max pooling, RoIPool, the mean over each map.
 *
 * A convolution runs a chunk of output pixels at a time, each chunk on one thread: the
 * chunk's receptive fields laid out as rows (for each output pixel its k x k input
 * pixels' channels one after another, zeros outside the map: "im2col"), one product with
 * the weight into the thread's working rows, then BatchNorm's scale and shift, the
 * residual and ReLU as the rows are written out.  A 1x1 convolution of stride 1 reads its
 * input rows in place.  The chunks bound the working memory to about 10 MB per thread,
 * whatever the size of the image.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include "kernels.h"
#include "ops.h"

/* Output pixels per chunk: at least CHUNK_MIN (the product kernels' many-row regime,
 * where packing the weights costs little beside the arithmetic), at most what keeps a
 * thread's receptive fields within CHUNK_FLOATS (8 MB), and few enough that each thread
 * takes several chunks (so a thread slowed by a busy machine takes fewer). */
#define CHUNK_MIN 128
#define CHUNK_FLOATS ((size_t)1 << 21)
#define CHUNKS_PER_THREAD 4

typedef struct conv_ctx {
    const lx_conv *cv;
    const lx_fmap *x, *res;
    lx_fmap *y;
    int relu;
    int in_place;                 /* 1x1, stride 1: the input rows are the fields */
    size_t rows;                  /* output pixels per chunk */
    size_t nrows;                 /* output pixels in all */
    size_t K;                     /* floats per receptive field: k * k * in */
    atomic_int failed;
    lx_error err;
} conv_ctx;

/* The receptive fields of output pixels [r0, r1) into col (rows K apart). */
static void gather(const conv_ctx *c, size_t r0, size_t r1, float *col) {
    const lx_conv *cv = c->cv;
    const lx_fmap *x = c->x, *y = c->y;
    size_t C = (size_t)x->c, bytes = C * sizeof(float);
    for (size_t r = r0; r < r1; r++, col += c->K) {
        int ox = (int)(r % (size_t)y->w), oy = (int)(r / (size_t)y->w % (size_t)y->h);
        size_t b = r / ((size_t)y->w * (size_t)y->h);
        float *dst = col;
        for (int ky = 0; ky < cv->k; ky++) {
            int iy = oy * cv->stride - cv->pad + ky * cv->dil;
            for (int kx = 0; kx < cv->k; kx++, dst += C) {
                int ix = ox * cv->stride - cv->pad + kx * cv->dil;
                if (iy < 0 || iy >= x->h || ix < 0 || ix >= x->w)
                    memset(dst, 0, bytes);
                else
                    memcpy(dst, x->d + ((b * (size_t)x->h + (size_t)iy) * (size_t)x->w +
                                        (size_t)ix) * C, bytes);
            }
        }
    }
}

/* Output rows [r0, r0 + n) = ReLU?(p * scale + shift + res). */
static void finish(lx_rt *rt, const conv_ctx *c, size_t r0, size_t n, const float *p) {
    size_t out = (size_t)c->cv->lin.out;
    for (size_t i = r0; i < r0 + n; i++, p += out)
        lx_k_affine_relu(c->y->d + i * out, p, c->cv->scale, c->cv->shift,
                         c->res ? c->res->d + i * out : NULL, out, c->relu, rt->cpu.isa);
}

static void conv_chunks(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    conv_ctx *c = ctx;
    float *col = rt->work[t], *p = col + (c->in_place ? 0 : c->rows * c->K);
    lx_error err = {0};
    for (size_t i = i0; i < i1 && !atomic_load(&c->failed); i++) {
        size_t r0 = i * c->rows, r1 = r0 + c->rows < c->nrows ? r0 + c->rows : c->nrows;
        const float *a = col;
        if (c->in_place) a = c->x->d + r0 * c->K;
        else gather(c, r0, r1, col);
        if (lx_rt_linear_rows(rt, &c->cv->lin, a, c->K, (int)(r1 - r0), p,
                              (size_t)c->cv->lin.out, t, &err) < 0) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&c->failed, &expect, 1)) c->err = err;
            return;
        }
        finish(rt, c, r0, r1 - r0, p);
    }
}

int lx_op_conv(lx_rt *rt, const lx_conv *cv, const lx_fmap *x, lx_fmap *y, const lx_fmap *res,
               int relu, lx_error *err) {
    if (x->c != cv->in || cv->lin.in != cv->k * cv->k * cv->in)
        return lx_error_set(err, "internal: convolution of %d channels given %d", cv->in, x->c);
    *y = (lx_fmap){y->d, x->n, lx_conv_out(cv, x->h), lx_conv_out(cv, x->w), cv->lin.out};
    conv_ctx c = {.cv = cv, .x = x, .res = res, .y = y, .relu = relu,
                  .in_place = cv->k == 1 && cv->stride == 1, .nrows = lx_fmap_rows(y),
                  .K = (size_t)cv->lin.in};
    size_t wide = c.K > (size_t)cv->lin.out ? c.K : (size_t)cv->lin.out;
    size_t share = (c.nrows + CHUNKS_PER_THREAD * (size_t)rt->nthreads - 1) /
                   (CHUNKS_PER_THREAD * (size_t)rt->nthreads);
    c.rows = share > CHUNK_MIN ? share : CHUNK_MIN;
    if (c.rows > CHUNK_FLOATS / wide) c.rows = CHUNK_FLOATS / wide;
    if (c.rows < 16) c.rows = 16;
    if (y->h <= 0 || y->w <= 0) return lx_error_set(err, "internal: empty convolution output");
    if (lx_rt_work(rt, c.rows * ((c.in_place ? 0 : c.K) + (size_t)cv->lin.out), err) < 0)
        return -1;
    size_t chunks = (c.nrows + c.rows - 1) / c.rows;
    lx_rt_for(rt, chunks, 2.0 * (double)c.rows * (double)c.K * cv->lin.out, conv_chunks, &c,
              CHUNKS_PER_THREAD);
    if (c.failed) {
        *err = c.err;
        return -1;
    }
    return 0;
}

/* ---- pooling ------------------------------------------------------------------------ */

/* The max over pixels [y0, y1) x [x0, x1) of map b of x into dst (0 when empty). */
static void max_window(const lx_fmap *x, int b, int y0, int y1, int x0, int x1, float *dst) {
    size_t C = (size_t)x->c;
    if (y1 <= y0 || x1 <= x0) {
        memset(dst, 0, C * sizeof *dst);
        return;
    }
    const float *map = x->d + (size_t)b * (size_t)x->h * (size_t)x->w * C;
    memcpy(dst, map + ((size_t)y0 * (size_t)x->w + (size_t)x0) * C, C * sizeof *dst);
    for (int yy = y0; yy < y1; yy++)
        for (int xx = yy == y0 ? x0 + 1 : x0; xx < x1; xx++) {
            const float *r = map + ((size_t)yy * (size_t)x->w + (size_t)xx) * C;
            for (size_t j = 0; j < C; j++) dst[j] = r[j] > dst[j] ? r[j] : dst[j];
        }
}

typedef struct pool_ctx {
    const lx_fmap *x;
    lx_fmap *y;
    int k, stride;
    const float *boxes;
    float scale;
} pool_ctx;

static void maxpool_rows(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    pool_ctx *c = ctx;
    const lx_fmap *x = c->x;
    for (size_t i = i0; i < i1; i++) {          /* output rows of pixels, (b, oy) */
        int b = (int)(i / (size_t)c->y->h), oy = (int)(i % (size_t)c->y->h);
        int y0 = oy * c->stride, y1 = y0 + c->k < x->h ? y0 + c->k : x->h;
        for (int ox = 0; ox < c->y->w; ox++) {
            int x0 = ox * c->stride, x1 = x0 + c->k < x->w ? x0 + c->k : x->w;
            max_window(x, b, y0, y1, x0, x1, c->y->d + (i * (size_t)c->y->w + (size_t)ox) * x->c);
        }
    }
}

void lx_op_maxpool_ceil(lx_rt *rt, const lx_fmap *x, int k, int stride, lx_fmap *y) {
    *y = (lx_fmap){y->d, x->n, lx_pool_ceil_out(x->h, k, stride), lx_pool_ceil_out(x->w, k, stride), x->c};
    pool_ctx c = {.x = x, .y = y, .k = k, .stride = stride};
    lx_rt_for(rt, (size_t)y->n * (size_t)y->h, (double)y->w * k * k * x->c, maxpool_rows, &c,
              4);
}

/* [start, end) of bin i of a RoI's side: torchvision's float arithmetic. */
static void roi_bin(int i, float bin, int start, int limit, int *b0, int *b1) {
    int s = (int)floorf((float)i * bin) + start, e = (int)ceilf((float)(i + 1) * bin) + start;
    *b0 = s < 0 ? 0 : s > limit ? limit : s;
    *b1 = e < 0 ? 0 : e > limit ? limit : e;
}

static void roipool_boxes(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    pool_ctx *c = ctx;
    int out = c->y->h;
    for (size_t i = i0; i < i1; i++) {
        const float *bx = c->boxes + 4 * i;
        int sw = (int)roundf(bx[0] * c->scale), sh = (int)roundf(bx[1] * c->scale);
        int ew = (int)roundf(bx[2] * c->scale), eh = (int)roundf(bx[3] * c->scale);
        float bw = (float)(ew - sw + 1 > 1 ? ew - sw + 1 : 1) / (float)out;
        float bh = (float)(eh - sh + 1 > 1 ? eh - sh + 1 : 1) / (float)out;
        for (int ph = 0; ph < out; ph++) {
            int y0, y1;
            roi_bin(ph, bh, sh, c->x->h, &y0, &y1);
            for (int pw = 0; pw < out; pw++) {
                int x0, x1;
                roi_bin(pw, bw, sw, c->x->w, &x0, &x1);
                size_t row = (i * (size_t)out + (size_t)ph) * (size_t)out + (size_t)pw;
                max_window(c->x, 0, y0, y1, x0, x1, c->y->d + row * (size_t)c->x->c);
            }
        }
    }
}

void lx_op_roipool(lx_rt *rt, const lx_fmap *x, const float *boxes, int nbox, float scale,
                   int out, lx_fmap *y) {
    *y = (lx_fmap){y->d, nbox, out, out, x->c};
    pool_ctx c = {.x = x, .y = y, .boxes = boxes, .scale = scale};
    lx_rt_for(rt, (size_t)nbox, (double)out * out * 4.0 * x->c, roipool_boxes, &c, 4);
}

typedef struct mean_ctx {
    const lx_fmap *x;
    float *y;
    size_t ldy;
} mean_ctx;

static void mean_maps(lx_rt *rt, void *ctx, size_t i0, size_t i1, int t) {
    mean_ctx *c = ctx;
    size_t C = (size_t)c->x->c, n = (size_t)c->x->h * (size_t)c->x->w;
    for (size_t b = i0; b < i1; b++) {
        float *y = c->y + b * c->ldy;
        const float *r = c->x->d + b * n * C;
        memset(y, 0, C * sizeof *y);
        for (size_t p = 0; p < n; p++, r += C)
            for (size_t j = 0; j < C; j++) y[j] += r[j];
        for (size_t j = 0; j < C; j++) y[j] /= (float)n;
    }
}

void lx_op_map_mean(lx_rt *rt, const lx_fmap *x, float *y, size_t ldy) {
    mean_ctx c = {x, y, ldy};
    lx_rt_for(rt, (size_t)x->n, (double)x->h * x->w * x->c, mean_maps, &c, 4);
}
