/*
 * detconfig.c — lx_detector_config (lx.h): the Faster R-CNN's architecture and test-time
 * parameters, as a .lxm header stores them (flat JSON with these field names) and as an
 * HF config.yaml gives the test-time part (HF's Config layout: input.min_size_test,
 * rpn.pre_nms_topk_test, roi_heads.nms_thresh_test, ...).
 *
 * The defaults are the published unc-nlp/frcnn-vg-finetuned model's.  Every value comes
 * from files written by others, so each is type-checked and lx_detector_config_check
 * bounds them before anything is sized from them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

void lx_detector_config_default(lx_detector_config *c) {
    *c = (lx_detector_config){
        .stem_channels = 64,
        .blocks = {3, 4, 23, 3},
        .bottleneck = {64, 128, 256, 512},
        .channels = {256, 512, 1024, 2048},
        .rpn_hidden = 512,
        .num_anchors = 12,
        .num_classes = 1600,
        .num_attrs = 400,
        .cls_embed_dim = 256,
        .attr_hidden = 512,
        .min_size = 800,
        .max_size = 1333,
        .pixel_mean = {102.9801, 115.9465, 122.7717},
        .pixel_std = {1.0, 1.0, 1.0},
        .pre_nms_topk = 6000,
        .post_nms_topk = 300,
        .rpn_nms_thresh = 0.7,
        .rpn_bbox_weights = {1.0, 1.0, 1.0, 1.0},
        .box_bbox_weights = {10.0, 10.0, 5.0, 5.0},
        .nms_tries = 3,
        .nms_thresh_test = {0.5, 0.6, 0.7},
        .min_detections = 36,
        .max_detections = 36,
        .pooler_resolution = 14,
        .bn_eps = 1e-5,
    };
}

/* The integer fields, the arrays of four, and the real fields, by JSON name. */
#define DET_INTS(X)                                                                         \
    X(stem_channels) X(rpn_hidden) X(num_anchors) X(num_classes) X(num_attrs)               \
    X(cls_embed_dim) X(attr_hidden) X(min_size) X(max_size) X(pre_nms_topk)                 \
    X(post_nms_topk) X(min_detections) X(max_detections) X(pooler_resolution)
#define DET_INT4(X) X(blocks) X(bottleneck) X(channels)
#define DET_REALS(X) X(rpn_nms_thresh) X(bn_eps)

/* A count or size: an integer in 0..2^30 (bounded so that products of two fit). */
static int is_count(const json_t *v) {
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1 << 30;
}

static int get_int(const json_t *v, const char *name, int *out, lx_error *err) {
    if (!is_count(v)) return lx_error_set(err, "%s: expected a non-negative integer", name);
    *out = (int)json_integer_value(v);
    return 0;
}

/* A JSON list of four counts into out. */
static int get_int4(const json_t *v, const char *name, int *out, lx_error *err) {
    if (!json_is_array(v) || json_array_size(v) != 4)
        return lx_error_set(err, "%s: expected a list of 4 non-negative integers", name);
    for (size_t i = 0; i < 4; i++) {
        if (!is_count(json_array_get(v, i)))
            return lx_error_set(err, "%s[%zu]: expected a non-negative integer", name, i);
        out[i] = (int)json_integer_value(json_array_get(v, i));
    }
    return 0;
}

/* A JSON list of n (exact; or at most n with *got) numbers into out. */
static int get_reals(const json_t *v, const char *name, double *out, size_t n, int *got,
                     lx_error *err) {
    size_t k = json_array_size(v);
    if (!json_is_array(v) || k == 0 || (got ? k > n : k != n))
        return lx_error_set(err, "%s: expected a list of %s%zu numbers", name,
                            got ? "at most " : "", n);
    for (size_t i = 0; i < k; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_number(e)) return lx_error_set(err, "%s[%zu]: expected a number", name, i);
        out[i] = json_number_value(e);
    }
    if (got) *got = (int)k;
    return 0;
}

int lx_detector_config_from_json(lx_detector_config *c, const json_t *o, lx_error *err) {
    if (!json_is_object(o)) return lx_error_set(err, "detector config is not a JSON object");
    const json_t *v;
#define GET_INT(f) \
    if ((v = json_object_get(o, #f)) && get_int(v, #f, &c->f, err) < 0) return -1;
    DET_INTS(GET_INT)
#undef GET_INT
#define GET_INT4(f) \
    if ((v = json_object_get(o, #f)) && get_int4(v, #f, c->f, err) < 0) return -1;
    DET_INT4(GET_INT4)
#undef GET_INT4
#define GET_REAL(f)                                                                         \
    if ((v = json_object_get(o, #f)) && !json_is_number(v))                                 \
        return lx_error_set(err, #f ": expected a number");                                \
    if (v) c->f = json_number_value(v);
    DET_REALS(GET_REAL)
#undef GET_REAL
    if (((v = json_object_get(o, "pixel_mean")) && get_reals(v, "pixel_mean", c->pixel_mean, 3, NULL, err) < 0) ||
        ((v = json_object_get(o, "pixel_std")) && get_reals(v, "pixel_std", c->pixel_std, 3, NULL, err) < 0) ||
        ((v = json_object_get(o, "rpn_bbox_weights")) &&
         get_reals(v, "rpn_bbox_weights", c->rpn_bbox_weights, 4, NULL, err) < 0) ||
        ((v = json_object_get(o, "box_bbox_weights")) &&
         get_reals(v, "box_bbox_weights", c->box_bbox_weights, 4, NULL, err) < 0) ||
        ((v = json_object_get(o, "nms_thresh_test")) &&
         get_reals(v, "nms_thresh_test", c->nms_thresh_test, LX_DETECTOR_MAX_TRIES, &c->nms_tries,
                   err) < 0))
        return -1;
    return 0;
}

static json_t *reals(const double *a, int n) {
    json_t *l = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(l, json_real(a[i]));
    return l;
}

json_t *lx_detector_config_to_json(const lx_detector_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
#define PUT_INT(f) json_object_set_new(o, #f, json_integer(c->f));
    DET_INTS(PUT_INT)
#undef PUT_INT
#define PUT_INT4(f)                                                                         \
    {                                                                                       \
        json_t *l = json_array();                                                           \
        for (int i = 0; i < 4; i++) json_array_append_new(l, json_integer(c->f[i]));        \
        json_object_set_new(o, #f, l);                                                      \
    }
    DET_INT4(PUT_INT4)
#undef PUT_INT4
#define PUT_REAL(f) json_object_set_new(o, #f, json_real(c->f));
    DET_REALS(PUT_REAL)
#undef PUT_REAL
    json_object_set_new(o, "pixel_mean", reals(c->pixel_mean, 3));
    json_object_set_new(o, "pixel_std", reals(c->pixel_std, 3));
    json_object_set_new(o, "rpn_bbox_weights", reals(c->rpn_bbox_weights, 4));
    json_object_set_new(o, "box_bbox_weights", reals(c->box_bbox_weights, 4));
    json_object_set_new(o, "nms_thresh_test", reals(c->nms_thresh_test, c->nms_tries));
    return o;
}

/* x within [lo, hi] (and finite), else an error naming it. */
static int in_range(double x, double lo, double hi, const char *name, lx_error *err) {
    if (isfinite(x) && x >= lo && x <= hi) return 0;
    return lx_error_set(err, "detector config: %s is %g, expected %g..%g", name, x, lo, hi);
}

int lx_detector_config_check(const lx_detector_config *c, lx_error *err) {
    /* bounds generous for any such detector, tight enough that sizes computed from them
     * (channels * channels * 9, proposals * 14 * 14 * channels) cannot overflow */
    const struct {
        double x, lo, hi;
        const char *name;
    } b[] = {
        {c->stem_channels, 1, 1 << 14, "stem_channels"}, {c->rpn_hidden, 1, 1 << 14, "rpn_hidden"},
        {c->num_anchors, 1, 1024, "num_anchors"}, {c->num_classes, 1, 1 << 20, "num_classes"},
        {c->num_attrs, 1, 1 << 20, "num_attrs"}, {c->cls_embed_dim, 1, 1 << 14, "cls_embed_dim"},
        {c->attr_hidden, 1, 1 << 14, "attr_hidden"}, {c->min_size, 1, 1 << 14, "min_size"},
        {c->max_size, c->min_size, 1 << 14, "max_size"},
        {c->pre_nms_topk, 1, 1 << 20, "pre_nms_topk"},
        {c->post_nms_topk, 1, 1 << 16, "post_nms_topk"},
        {c->max_detections, 1, 1 << 16, "max_detections"},
        {c->min_detections, 0, c->max_detections, "min_detections"},
        {c->pooler_resolution, 1, 64, "pooler_resolution"},
        {c->rpn_nms_thresh, 0, 1, "rpn_nms_thresh"}, {c->bn_eps, 0, 1, "bn_eps"},
        {c->nms_tries, 1, LX_DETECTOR_MAX_TRIES, "the number of nms_thresh_test values"},
    };
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        if (in_range(b[i].x, b[i].lo, b[i].hi, b[i].name, err) < 0) return -1;
    for (int s = 0; s < 4; s++)
        if (in_range(c->blocks[s], 1, 256, "blocks", err) < 0 ||
            in_range(c->bottleneck[s], 1, 1 << 14, "bottleneck", err) < 0 ||
            in_range(c->channels[s], 1, 1 << 14, "channels", err) < 0)
            return -1;
    for (int i = 0; i < 3; i++)
        if (in_range(c->pixel_mean[i], -1e6, 1e6, "pixel_mean", err) < 0 ||
            in_range(c->pixel_std[i], 1e-6, 1e6, "pixel_std", err) < 0)
            return -1;
    for (int i = 0; i < 4; i++)
        if (in_range(c->rpn_bbox_weights[i], 1e-6, 1e6, "rpn_bbox_weights", err) < 0 ||
            in_range(c->box_bbox_weights[i], 1e-6, 1e6, "box_bbox_weights", err) < 0)
            return -1;
    for (int i = 0; i < c->nms_tries; i++)
        if (in_range(c->nms_thresh_test[i], 0, 1, "nms_thresh_test", err) < 0) return -1;
    return 0;
}

/* ---- HF's config.yaml ---------------------------------------------------------------- */

/* o[section][key] (section NULL: o[key]), or NULL. */
static const json_t *at(const json_t *o, const char *section, const char *key) {
    return json_object_get(section ? json_object_get(o, section) : o, key);
}

/* The sections read, each a mapping when present. */
static int check_sections(const json_t *hf, lx_error *err) {
    static const char *const names[] = {"input", "model", "rpn", "roi_heads", "roi_box_head"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const json_t *s = json_object_get(hf, names[i]);
        if (s && !json_is_object(s)) return lx_error_set(err, "%s: expected a mapping", names[i]);
    }
    return 0;
}

static int hf_ints(lx_detector_config *c, const json_t *hf, lx_error *err) {
    static const struct {
        const char *section, *key;
        size_t off;
    } ints[] = {
#define I(s, k, f) {s, k, offsetof(lx_detector_config, f)}
        I("input", "min_size_test", min_size), I("input", "max_size_test", max_size),
        I("rpn", "pre_nms_topk_test", pre_nms_topk), I("rpn", "post_nms_topk_test", post_nms_topk),
        I(NULL, "min_detections", min_detections), I(NULL, "max_detections", max_detections),
        I("roi_box_head", "pooler_resolution", pooler_resolution),
#undef I
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        const json_t *v = at(hf, ints[i].section, ints[i].key);
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", ints[i].section ? ints[i].section : "",
                 ints[i].section ? "." : "", ints[i].key);
        if (v && get_int(v, name, (int *)((char *)c + ints[i].off), err) < 0) return -1;
    }
    return 0;
}

static int hf_reals(lx_detector_config *c, const json_t *hf, lx_error *err) {
    const json_t *v;
    if ((v = at(hf, "rpn", "nms_thresh"))) {
        if (!json_is_number(v)) return lx_error_set(err, "rpn.nms_thresh: expected a number");
        c->rpn_nms_thresh = json_number_value(v);
    }
    /* HF's ROIOutputs takes a single threshold as a list of one */
    if ((v = at(hf, "roi_heads", "nms_thresh_test")) && json_is_number(v)) {
        c->nms_thresh_test[0] = json_number_value(v);
        c->nms_tries = 1;
    } else if (v && get_reals(v, "roi_heads.nms_thresh_test", c->nms_thresh_test,
                              LX_DETECTOR_MAX_TRIES, &c->nms_tries, err) < 0) {
        return -1;
    }
    if (((v = at(hf, "model", "pixel_mean")) &&
         get_reals(v, "model.pixel_mean", c->pixel_mean, 3, NULL, err) < 0) ||
        ((v = at(hf, "model", "pixel_std")) &&
         get_reals(v, "model.pixel_std", c->pixel_std, 3, NULL, err) < 0) ||
        ((v = at(hf, "rpn", "bbox_reg_weights")) &&
         get_reals(v, "rpn.bbox_reg_weights", c->rpn_bbox_weights, 4, NULL, err) < 0) ||
        ((v = at(hf, "roi_box_head", "bbox_reg_weights")) &&
         get_reals(v, "roi_box_head.bbox_reg_weights", c->box_bbox_weights, 4, NULL, err) < 0))
        return -1;
    return 0;
}

int lx_detector_config_from_hf(lx_detector_config *c, const json_t *hf, lx_error *err) {
    if (!json_is_object(hf)) return lx_error_set(err, "config is not a mapping");
    if (check_sections(hf, err) < 0 || hf_ints(c, hf, err) < 0 || hf_reals(c, hf, err) < 0)
        return -1;
    return 0;
}
