/*
 * frcnn_bind.c — the detector's weights (lx_frcnn_weights, frcnn.h), bound by the
 * published checkpoint's names, module by module.
 *
 * lx_model_open checked every tensor against the detector's schema (lib/schema_frcnn.c),
 * so shapes come from the file.  A 1x1 convolution's weight [out, in, 1, 1] is a Linear
 * layer's [out, in] and is read in place (f32, or 16-bit by the product kernels).  A k x k
 * kernel [out, in, k, k] is copied once, in the file's dtype, to [out, k, k, in]: the
 * order of the receptive-field rows the convolution builds (ops_conv.c).  BatchNorm
 * (eval) becomes one scale and one shift per channel, as detectron2's FrozenBatchNorm2d
 * computes them: scale = weight / sqrt(running_var + eps), shift = bias - mean * scale.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "frcnn.h"

typedef struct binder {
    lx_detector *d;
    lx_error *err;
    int failed;
} binder;

static void *owned(binder *b, size_t bytes) {
    lx_detector *d = b->d;
    void *p = b->failed ? NULL : lx_aligned_alloc(bytes ? bytes : 1);
    if (p && d->nowned == d->owned_cap) {
        size_t nc = d->owned_cap ? 2 * d->owned_cap : 256;
        void **n = realloc(d->owned, nc * sizeof *n);
        if (n) {
            d->owned = n;
            d->owned_cap = nc;
        }
    }
    if (p && d->nowned < d->owned_cap) {
        d->owned[d->nowned++] = p;
        return p;
    }
    free(p);
    if (!b->failed) lx_error_set(b->err, "model: out of memory binding the detector");
    b->failed = 1;
    return NULL;
}

/* The tensor called name (printf-style), or NULL (with the error set unless optional). */
static const lx_tensor *find(binder *b, int optional, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const lx_tensor *find(binder *b, int optional, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (b->failed) return NULL;
    const lx_tensor *t = lx_model_tensor(b->d->model, name);
    if (!t && !optional) {
        b->failed = 1;
        lx_error_set(b->err, "model: tensor %s is missing", name);
    }
    return t;
}

/* t's values as f32: the data itself, or a widened copy. */
static const float *as_f32(binder *b, const lx_tensor *t) {
    if (!t || t->dtype == LX_F32) return t ? t->data : NULL;
    size_t n = (size_t)lx_tensor_nelem(t);
    float *c = owned(b, n * sizeof *c);
    if (c) lx_k_widen(c, t->data, n, t->dtype == LX_BF16, b->d->rt.cpu.isa);
    return c;
}

/* A 2-D weight as a Linear layer (as stored), and the bias called pre.bias. */
static void bind_linear(binder *b, lx_lin *l, const char *pre) {
    const lx_tensor *t = find(b, 0, "%s.weight", pre);
    if (!t) return;
    *l = (lx_lin){.w = t->dtype == LX_F32 ? t->data : NULL,
                  .w16 = t->dtype == LX_F32 ? NULL : t->data, .bf16 = t->dtype == LX_BF16,
                  .out = (int)t->shape[0], .in = (int)(lx_tensor_nelem(t) / t->shape[0])};
    l->b = as_f32(b, find(b, 0, "%s.bias", pre));
}

/* [out, in, k, k] -> [out, k, k, in], elements of es bytes. */
static void *kernel_rows(binder *b, const lx_tensor *t) {
    size_t out = (size_t)t->shape[0], in = (size_t)t->shape[1], kk = (size_t)(t->shape[2] * t->shape[3]);
    size_t es = lx_dtype_size(t->dtype);
    char *dst = owned(b, out * in * kk * es);
    const char *src = t->data;
    if (!dst) return NULL;
    for (size_t o = 0; o < out; o++)
        for (size_t c = 0; c < in; c++)
            for (size_t p = 0; p < kk; p++)
                memcpy(dst + ((o * kk + p) * in + c) * es, src + ((o * in + c) * kk + p) * es, es);
    return dst;
}

/* BatchNorm pre.norm.* as scale and shift. */
static void bind_norm(binder *b, lx_conv *cv, const char *pre) {
    const float *g = as_f32(b, find(b, 0, "%s.norm.weight", pre));
    const float *be = as_f32(b, find(b, 0, "%s.norm.bias", pre));
    const float *mu = as_f32(b, find(b, 0, "%s.norm.running_mean", pre));
    const float *var = as_f32(b, find(b, 0, "%s.norm.running_var", pre));
    float *scale = owned(b, 2 * (size_t)cv->lin.out * sizeof *scale);
    if (!scale || !var) return;
    float eps = (float)b->d->cfg.bn_eps;
    for (int j = 0; j < cv->lin.out; j++) {
        scale[j] = g[j] * (1.0f / sqrtf(var[j] + eps));
        scale[cv->lin.out + j] = be[j] - mu[j] * scale[j];
    }
    cv->scale = scale;
    cv->shift = scale + cv->lin.out;
}

/* The convolution pre.weight: with BatchNorm (norm) or its bias. */
static void bind_conv(binder *b, lx_conv *cv, const char *pre, int stride, int dil, int norm) {
    const lx_tensor *t = find(b, 0, "%s.weight", pre);
    if (!t) return;
    int k = (int)t->shape[2];
    const void *w = k == 1 ? t->data : kernel_rows(b, t);
    *cv = (lx_conv){.lin = {.w = t->dtype == LX_F32 ? w : NULL,
                            .w16 = t->dtype == LX_F32 ? NULL : w, .bf16 = t->dtype == LX_BF16,
                            .out = (int)t->shape[0], .in = (int)t->shape[1] * k * k},
                    .in = (int)t->shape[1], .k = k, .stride = stride, .pad = dil * (k / 2),
                    .dil = dil};
    if (norm) bind_norm(b, cv, pre);
    else cv->lin.b = as_f32(b, find(b, 0, "%s.bias", pre));
}

/* Stage s's blocks pre.I: the first with the stage's stride (on conv1 and the shortcut:
 * stride_in_1x1), every conv2 with dilation dil. */
static void bind_stage(binder *b, int s, const char *pre, int stride, int dil) {
    lx_detector *d = b->d;
    int n = d->cfg.blocks[s];
    lx_bottleneck *blk = owned(b, (size_t)n * sizeof *blk);
    if (!blk) return;
    memset(blk, 0, (size_t)n * sizeof *blk);
    d->w.res[s] = blk;
    d->w.nres[s] = n;
    char p[96];
    for (int i = 0; i < n; i++) {
        int st = i == 0 ? stride : 1;
        snprintf(p, sizeof p, "%s.%d.shortcut", pre, i);
        if (find(b, 1, "%s.weight", p)) bind_conv(b, &blk[i].shortcut, p, st, 1, 1);
        snprintf(p, sizeof p, "%s.%d.conv1", pre, i);
        bind_conv(b, &blk[i].conv1, p, st, 1, 1);
        snprintf(p, sizeof p, "%s.%d.conv2", pre, i);
        bind_conv(b, &blk[i].conv2, p, 1, dil, 1);
        snprintf(p, sizeof p, "%s.%d.conv3", pre, i);
        bind_conv(b, &blk[i].conv3, p, 1, 1, 1);
    }
}

int lx_frcnn_bind(lx_detector *d, lx_error *err) {
    binder b = {d, err, 0};
    lx_frcnn_weights *w = &d->w;
    bind_conv(&b, &w->stem, "backbone.stem.conv1", 2, 1, 1);
    bind_stage(&b, 0, "backbone.res2", 1, 1);
    bind_stage(&b, 1, "backbone.res3", 2, 1);
    bind_stage(&b, 2, "backbone.res4", 2, 1);
    /* res5 on the 14 x 14 RoI maps: stride 1, dilation 2 (RES5HALVE false) */
    bind_stage(&b, 3, "roi_heads.res5", 1, 2);
    bind_conv(&b, &w->rpn_conv, "proposal_generator.rpn_head.conv", 1, 1, 0);
    bind_conv(&b, &w->rpn_logits, "proposal_generator.rpn_head.objectness_logits", 1, 1, 0);
    bind_conv(&b, &w->rpn_deltas, "proposal_generator.rpn_head.anchor_deltas", 1, 1, 0);
    w->cell_anchors = as_f32(&b, find(&b, 0, "proposal_generator.anchor_generator.cell_anchors.0"));
    bind_linear(&b, &w->cls_score, "roi_heads.box_predictor.cls_score");
    bind_linear(&b, &w->bbox_pred, "roi_heads.box_predictor.bbox_pred");
    w->cls_embedding = as_f32(&b, find(&b, 0, "roi_heads.box_predictor.cls_embedding.weight"));
    bind_linear(&b, &w->fc_attr, "roi_heads.box_predictor.fc_attr");
    bind_linear(&b, &w->attr_score, "roi_heads.box_predictor.attr_score");
    return b.failed ? -1 : 0;
}

void lx_frcnn_unbind(lx_detector *d) {
    for (size_t i = 0; i < d->nowned; i++) free(d->owned[i]);
    free(d->owned);
    d->owned = NULL;
    d->nowned = d->owned_cap = 0;
}

void *lx_buf_reserve(lx_buf *b, size_t bytes, lx_error *err) {
    if (bytes <= b->cap && b->p) return b->p;
    free(b->p);
    b->cap = 0;
    if (!(b->p = lx_aligned_alloc(bytes ? bytes : 1))) {
        lx_error_set(err, "out of memory (%zu MB of working memory)", bytes >> 20);
        return NULL;
    }
    b->cap = bytes;
    return b->p;
}

void *lx_frcnn_array(lx_detector *d, int slot, size_t n, size_t es, lx_error *err) {
    return lx_buf_reserve(&d->arrays[slot], n * es, err);
}
