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
    lx_binder l;
    lx_detector *d;
} binder;

/* A 2-D weight as a Linear layer (as stored), and the bias called pre.bias. */
static void bind_linear(binder *b, lx_lin *l, const char *pre) {
    *l = (lx_lin){0};
    lx_bind_matrix(l, lx_bind_tensor(&b->l, 0, "%s.weight", pre));
    l->b = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "%s.bias", pre));
}

/* [out, in, k, k] -> [out, k, k, in], elements of es bytes. */
static void *kernel_rows(binder *b, const lx_tensor *t) {
    size_t out = (size_t)t->shape[0], in = (size_t)t->shape[1], kk = (size_t)(t->shape[2] * t->shape[3]);
    size_t es = lx_dtype_size(t->dtype);
    char *dst = lx_bind_alloc(&b->l, out * in * kk * es);
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
    lx_binder *l = &b->l;
    const float *g = lx_bind_f32(l, lx_bind_tensor(l, 0, "%s.norm.weight", pre));
    const float *be = lx_bind_f32(l, lx_bind_tensor(l, 0, "%s.norm.bias", pre));
    const float *mu = lx_bind_f32(l, lx_bind_tensor(l, 0, "%s.norm.running_mean", pre));
    const float *var = lx_bind_f32(l, lx_bind_tensor(l, 0, "%s.norm.running_var", pre));
    float *scale = lx_bind_alloc(l, 2 * (size_t)cv->lin.out * sizeof *scale);
    if (l->failed) return;
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
    const lx_tensor *t = lx_bind_tensor(&b->l, 0, "%s.weight", pre);
    if (!t) return;
    int k = (int)t->shape[2];
    *cv = (lx_conv){.in = (int)t->shape[1], .k = k, .stride = stride, .pad = dil * (k / 2),
                    .dil = dil};
    lx_bind_matrix(&cv->lin, t);
    if (k > 1) {   /* the same weight, its kernel rows laid out [out, ky, kx, in] */
        void *rows = kernel_rows(b, t);
        if (cv->lin.w) cv->lin.w = rows;
        else cv->lin.w16 = rows;
    }
    if (norm) bind_norm(b, cv, pre);
    else cv->lin.b = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "%s.bias", pre));
}

/* Stage s's blocks pre.I: the first with the stage's stride (on conv1 and the shortcut:
 * stride_in_1x1), every conv2 with dilation dil. */
static void bind_stage(binder *b, int s, const char *pre, int stride, int dil) {
    lx_detector *d = b->d;
    int n = d->cfg.blocks[s];
    lx_bottleneck *blk = lx_bind_alloc(&b->l, (size_t)n * sizeof *blk);
    if (!blk) return;
    memset(blk, 0, (size_t)n * sizeof *blk);
    d->w.res[s] = blk;
    d->w.nres[s] = n;
    char p[96];
    for (int i = 0; i < n; i++) {
        int st = i == 0 ? stride : 1;
        snprintf(p, sizeof p, "%s.%d.shortcut", pre, i);
        if (lx_bind_tensor(&b->l, 1, "%s.weight", p)) bind_conv(b, &blk[i].shortcut, p, st, 1, 1);
        snprintf(p, sizeof p, "%s.%d.conv1", pre, i);
        bind_conv(b, &blk[i].conv1, p, st, 1, 1);
        snprintf(p, sizeof p, "%s.%d.conv2", pre, i);
        bind_conv(b, &blk[i].conv2, p, 1, dil, 1);
        snprintf(p, sizeof p, "%s.%d.conv3", pre, i);
        bind_conv(b, &blk[i].conv3, p, 1, 1, 1);
    }
}

int lx_frcnn_bind(lx_detector *d, lx_error *err) {
    binder b = {{.model = d->model, .owned = &d->owned, .isa = d->rt.cpu.isa, .err = err}, d};
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
    w->cell_anchors = lx_bind_f32(
        &b.l, lx_bind_tensor(&b.l, 0, "proposal_generator.anchor_generator.cell_anchors.0"));
    bind_linear(&b, &w->cls_score, "roi_heads.box_predictor.cls_score");
    bind_linear(&b, &w->bbox_pred, "roi_heads.box_predictor.bbox_pred");
    w->cls_embedding = lx_bind_f32(
        &b.l, lx_bind_tensor(&b.l, 0, "roi_heads.box_predictor.cls_embedding.weight"));
    bind_linear(&b, &w->fc_attr, "roi_heads.box_predictor.fc_attr");
    bind_linear(&b, &w->attr_score, "roi_heads.box_predictor.attr_score");
    return b.l.failed ? -1 : 0;
}


void *lx_buf_reserve(lx_buf *b, size_t bytes, lx_error *err) {
    if (bytes <= b->cap && b->p) return b->p;
    free(b->p);
    b->cap = 0;
    if (!(b->p = lx_aligned_alloc(bytes ? bytes : 1))) {
        lx_error_set(err, "out of memory for %zu bytes of working memory", bytes);
        return NULL;
    }
    b->cap = bytes;
    return b->p;
}

void *lx_frcnn_array(lx_detector *d, int slot, size_t n, size_t es, lx_error *err) {
    return lx_buf_reserve(&d->arrays[slot], n * es, err);
}
