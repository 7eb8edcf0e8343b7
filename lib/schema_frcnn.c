/*
 * schema_frcnn.c — the detector's tensors (schema.h): the published frcnn-vg-finetuned
 * checkpoint's names, in its order, with the shapes a detector config gives them; the
 * architecture read back from a checkpoint's shapes and names; and the normalisation
 * lx-convert runs on a detector checkpoint.
 *
 *   backbone.stem.conv1                          conv 7x7 [C0, 3, 7, 7] + BatchNorm
 *   backbone.res{2,3,4}.I.{shortcut,conv1,2,3}   bottleneck blocks (shortcut: block 0)
 *   proposal_generator.anchor_generator.cell_anchors.0              [A, 4]
 *   proposal_generator.rpn_head.{conv,objectness_logits,anchor_deltas}
 *   roi_heads.res5.I.{shortcut,conv1,2,3}        res5, run on each RoI's pooled map
 *   roi_heads.box_predictor.{cls_score,bbox_pred,cls_embedding,fc_attr,attr_score}
 *
 * Every convolution is bias-free and followed by a BatchNorm (weight, bias, running_mean,
 * running_var; the checkpoint's num_batches_tracked counters are unused and dropped).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema.h"

#define G LX_GROUP_BACKBONE

static void vec(lx_schema *s, lx_schema_role r, int64_t n, const char *pre, const char *what) {
    int64_t shape[1] = {n};
    lx_schema_add(s, G, r, 1, shape, "%s.%s", pre, what);
}

/* A bias-free convolution out x in x k x k and its BatchNorm. */
static void conv_bn(lx_schema *s, int64_t out, int64_t in, int64_t k, const char *pre) {
    int64_t shape[4] = {out, in, k, k};
    lx_schema_add(s, G, LX_ROLE_CONV, 4, shape, "%s.weight", pre);
    vec(s, LX_ROLE_NORM_WEIGHT, out, pre, "norm.weight");
    vec(s, LX_ROLE_NORM_BIAS, out, pre, "norm.bias");
    vec(s, LX_ROLE_NORM_MEAN, out, pre, "norm.running_mean");
    vec(s, LX_ROLE_NORM_VAR, out, pre, "norm.running_var");
}

/* A convolution with a bias (the RPN's). */
static void conv_b(lx_schema *s, int64_t out, int64_t in, int64_t k, const char *pre) {
    int64_t shape[4] = {out, in, k, k};
    lx_schema_add(s, G, LX_ROLE_CONV, 4, shape, "%s.weight", pre);
    vec(s, LX_ROLE_BIAS, out, pre, "bias");
}

static void linear(lx_schema *s, int64_t out, int64_t in, const char *pre) {
    int64_t shape[2] = {out, in};
    lx_schema_add(s, G, LX_ROLE_MATRIX, 2, shape, "%s.weight", pre);
    vec(s, LX_ROLE_BIAS, out, pre, "bias");
}

/* A stage of bottleneck blocks PREFIX.I: in channels in, inner b, out channels out. */
static void stage(lx_schema *s, const char *prefix, int blocks, int64_t in, int64_t b,
                  int64_t out) {
    char p[96];
    for (int i = 0; i < blocks; i++, in = out) {
        if (i == 0) {
            snprintf(p, sizeof p, "%s.%d.shortcut", prefix, i);
            conv_bn(s, out, in, 1, p);
        }
        snprintf(p, sizeof p, "%s.%d.conv1", prefix, i);
        conv_bn(s, b, in, 1, p);
        snprintf(p, sizeof p, "%s.%d.conv2", prefix, i);
        conv_bn(s, b, b, 3, p);
        snprintf(p, sizeof p, "%s.%d.conv3", prefix, i);
        conv_bn(s, out, b, 1, p);
    }
}

int lx_schema_build_detector(lx_schema *s, const lx_detector_config *c, lx_error *err) {
    memset(s, 0, sizeof *s);
    snprintf(s->context, sizeof s->context, "stem %d, channels %d/%d/%d/%d, %d classes, %d "
             "attributes, %d anchors", c->stem_channels, c->channels[0], c->channels[1],
             c->channels[2], c->channels[3], c->num_classes, c->num_attrs, c->num_anchors);
    static const char *const stages[4] = {"backbone.res2", "backbone.res3", "backbone.res4",
                                          "roi_heads.res5"};
    conv_bn(s, c->stem_channels, 3, 7, "backbone.stem.conv1");
    int64_t in = c->stem_channels;
    for (int k = 0; k < 3; k++) {
        stage(s, stages[k], c->blocks[k], in, c->bottleneck[k], c->channels[k]);
        in = c->channels[k];
    }
    int64_t A = c->num_anchors, shape[2] = {A, 4};
    lx_schema_add(s, G, LX_ROLE_ANCHORS, 2, shape, "proposal_generator.anchor_generator.cell_anchors.0");
    conv_b(s, c->rpn_hidden, in, 3, "proposal_generator.rpn_head.conv");
    conv_b(s, A, c->rpn_hidden, 1, "proposal_generator.rpn_head.objectness_logits");
    conv_b(s, 4 * A, c->rpn_hidden, 1, "proposal_generator.rpn_head.anchor_deltas");
    stage(s, stages[3], c->blocks[3], in, c->bottleneck[3], c->channels[3]);
    int64_t C5 = c->channels[3], NC = c->num_classes, E = c->cls_embed_dim;
    linear(s, NC + 1, C5, "roi_heads.box_predictor.cls_score");
    linear(s, 4 * NC, C5, "roi_heads.box_predictor.bbox_pred");
    int64_t emb[2] = {NC + 1, E};
    lx_schema_add(s, G, LX_ROLE_EMBEDDING, 2, emb, "roi_heads.box_predictor.cls_embedding.weight");
    linear(s, c->attr_hidden, C5 + E, "roi_heads.box_predictor.fc_attr");
    linear(s, c->num_attrs + 1, c->attr_hidden, "roi_heads.box_predictor.attr_score");
    if (s->oom) {
        lx_schema_free(s);
        return lx_error_set(err, "out of memory");
    }
    return 0;
}

/* Dimension k of the tensor called name (printf-style), or -1 with the error set. */
static int64_t dim(const lx_tensor_dict *d, int k, lx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int64_t dim(const lx_tensor_dict *d, int k, lx_error *err, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const lx_tensor *t = lx_tensor_dict_get(d, name);
    if (!t || t->ndim <= k || t->shape[k] < 1 || t->shape[k] > 1 << 20) {
        lx_error_set(err, "not a Faster R-CNN checkpoint of the bottom-up-attention layout: "
                          "%s %s", name, t ? "has an unexpected shape" : "is missing");
        return -1;
    }
    return t->shape[k];
}

/* The architecture of the checkpoint in d: widths and counts from the shapes, blocks per
 * stage from the names. */
static int arch_from_tensors(lx_detector_config *c, const lx_tensor_dict *d, lx_error *err) {
    static const char *const stages[4] = {"backbone.res2", "backbone.res3", "backbone.res4",
                                          "roi_heads.res5"};
    int64_t v[8];
    if ((v[0] = dim(d, 0, err, "backbone.stem.conv1.weight")) < 0) return -1;
    c->stem_channels = (int)v[0];
    for (int k = 0; k < 4; k++) {
        char p[96];
        int n = 0;
        do snprintf(p, sizeof p, "%s.%d.conv1.weight", stages[k], n);
        while (lx_tensor_dict_get(d, p) && ++n < 256);
        c->blocks[k] = n;
        if ((v[0] = dim(d, 0, err, "%s.0.conv1.weight", stages[k])) < 0 ||
            (v[1] = dim(d, 0, err, "%s.0.conv3.weight", stages[k])) < 0)
            return -1;
        c->bottleneck[k] = (int)v[0];
        c->channels[k] = (int)v[1];
    }
    if ((v[0] = dim(d, 0, err, "proposal_generator.rpn_head.conv.weight")) < 0 ||
        (v[1] = dim(d, 0, err, "proposal_generator.rpn_head.objectness_logits.weight")) < 0 ||
        (v[2] = dim(d, 0, err, "roi_heads.box_predictor.cls_score.weight")) < 0 ||
        (v[3] = dim(d, 0, err, "roi_heads.box_predictor.attr_score.weight")) < 0 ||
        (v[4] = dim(d, 1, err, "roi_heads.box_predictor.cls_embedding.weight")) < 0 ||
        (v[5] = dim(d, 0, err, "roi_heads.box_predictor.fc_attr.weight")) < 0)
        return -1;
    c->rpn_hidden = (int)v[0];
    c->num_anchors = (int)v[1];
    c->num_classes = (int)v[2] - 1;
    c->num_attrs = (int)v[3] - 1;
    c->cls_embed_dim = (int)v[4];
    c->attr_hidden = (int)v[5];
    return 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

int lx_schema_normalize_detector(lx_tensor_dict *d, lx_detector_config *c, unsigned flags,
                                 lx_error *err) {
    char *drop = calloc(d->n ? d->n : 1, 1);
    lx_schema s = {0};
    int rc = drop ? arch_from_tensors(c, d, err) : lx_error_set(err, "out of memory");
    if (rc == 0)
        rc = lx_detector_config_check(c, err) < 0 || lx_schema_build_detector(&s, c, err) < 0
                 ? -1 : 0;
    /* BatchNorm's training counters are not weights: dropped quietly */
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        if (ends_with(d->items[i].name, ".num_batches_tracked")) drop[i] = 2;
    if (rc == 0) rc = lx_schema_drop_unknown(d, &s, drop, flags, "the detector's", err);
    if (rc == 0) rc = lx_schema_check_dict(&s, d, err);
    if (rc == 0) rc = lx_schema_reorder(d, &s, drop, err);
    lx_schema_free(&s);
    free(drop);
    return rc;
}
