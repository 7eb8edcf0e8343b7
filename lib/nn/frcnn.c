/*
 * frcnn.c — the detector (lx_detector, lx.h): HF's GeneralizedRCNN (modeling_frcnn.py)
 * in eval mode on one image, one function per module, in the order the reference runs
 * them: Preprocess, the ResNet backbone (stem, res2..res4), the RPN, Res5ROIHeads
 * (RoIPool, res5, the mean over each RoI), FastRCNNOutputLayers with the attribute
 * branch, then the selection of regions (frcnn_boxes.c).
 *
 * Memory: feature maps live in the detector's buffers, grown to the largest image seen
 * and reused; the RoIs go through res5 a chunk at a time (300 RoIs' res5 maps at full
 * width would be 0.5 GB).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../internal.h"
#include "frcnn.h"

/* The feature-map buffers: the stages' ping-pong, a block's output (or the stem's
 * convolution), conv1's and conv2's outputs, and the RoI maps of a chunk. */
enum { MAP_A, MAP_B, MAP_BLOCK, MAP_CONV1, MAP_CONV2, MAP_ROIS };

/* RoIs per pass through res5: their res5 maps take about 32 MB. */
#define ROI_CHUNK_FLOATS ((size_t)8 << 20)

/* y = the shape conv cv makes of x, in buffer slot. */
static int out_map(lx_detector *d, int slot, const lx_conv *cv, const lx_fmap *x, lx_fmap *y,
                   lx_error *err) {
    *y = (lx_fmap){NULL, x->n, lx_conv_out(cv, x->h), lx_conv_out(cv, x->w), cv->lin.out};
    y->d = lx_buf_reserve(&d->maps[slot], lx_fmap_rows(y) * (size_t)y->c * sizeof(float), err);
    return y->d ? 0 : -1;
}

/* 0 when the n values of v (rows of width values) are finite, else -1 naming the first
 * that is not.  Nothing in an image's pixels can overflow the detector, so the cause is
 * a weight; checked where a value that is not finite would be sorted or cast to an
 * integer (the RPN's and the box head's outputs) and in the regions returned. */
static int check_finite(const char *what, const float *v, size_t n, size_t width,
                        lx_error *err) {
    size_t at = lx_f32_first_nonfinite(v, n);
    if (at == n) return 0;
    lx_tensor t = {.dtype = LX_F32, .ndim = width > 1 ? 2 : 1,
                   .shape = {(int64_t)(n / width), (int64_t)width}};
    char idx[64];
    return lx_error_set(err, "%s%s: got %g, expected a finite number: the detector "
                             "overflowed (a weight of the model that is not finite or too "
                             "large)", what, lx_tensor_index_str(&t, at, idx, sizeof idx),
                        isnan(v[at]) ? NAN : (double)v[at]);
}

/* ---- ResNet ------------------------------------------------------------------------- */

/* BasicStem: conv1 7x7 / 2 + BatchNorm + ReLU, then max_pool2d(3, 2, ceil_mode). */
int lx_frcnn_stem(lx_detector *d, const lx_fmap *x, lx_fmap *y, lx_error *err) {
    lx_fmap c;
    if (out_map(d, MAP_BLOCK, &d->w.stem, x, &c, err) < 0 ||
        lx_op_conv(&d->rt, &d->w.stem, x, &c, NULL, 1, err) < 0)
        return -1;
    lx_op_maxpool_ceil(&d->rt, &c, 3, 2, y);
    return 0;
}

/* BottleneckBlock: ReLU(conv3(ReLU(conv2(ReLU(conv1(x))))) + shortcut(x)). */
static int bottleneck(lx_detector *d, const lx_bottleneck *b, const lx_fmap *x, lx_fmap *out,
                      lx_error *err) {
    const lx_fmap *shortcut = x;
    lx_fmap t1, t2;
    if (b->shortcut.lin.out) {
        if (lx_op_conv(&d->rt, &b->shortcut, x, out, NULL, 0, err) < 0) return -1;
        shortcut = out;
    }
    if (out_map(d, MAP_CONV1, &b->conv1, x, &t1, err) < 0 ||
        lx_op_conv(&d->rt, &b->conv1, x, &t1, NULL, 1, err) < 0 ||
        out_map(d, MAP_CONV2, &b->conv2, &t1, &t2, err) < 0 ||
        lx_op_conv(&d->rt, &b->conv2, &t1, &t2, NULL, 1, err) < 0)
        return -1;
    return lx_op_conv(&d->rt, &b->conv3, &t2, out, shortcut, 1, err);
}

/* The shape stage s makes of x (its first block carries the stride). */
static lx_fmap stage_shape(const lx_detector *d, int s, const lx_fmap *x) {
    const lx_bottleneck *b = &d->w.res[s][0];
    return (lx_fmap){NULL, x->n, lx_conv_out(&b->conv1, x->h), lx_conv_out(&b->conv1, x->w),
                     b->conv3.lin.out};
}

int lx_frcnn_stage(lx_detector *d, int s, const lx_fmap *x, lx_fmap *y, lx_error *err) {
    int n = d->w.nres[s];
    lx_fmap t = stage_shape(d, s, x);
    if (!(t.d = lx_buf_reserve(&d->maps[MAP_BLOCK], lx_fmap_rows(&t) * (size_t)t.c * 4, err)))
        return -1;
    /* blocks alternate between y and t, so that the last one writes y */
    const lx_fmap *cur = x;
    for (int i = 0; i < n; i++) {
        lx_fmap *out = (n - 1 - i) % 2 == 0 ? y : &t;
        if (bottleneck(d, &d->w.res[s][i], cur, out, err) < 0) return -1;
        cur = out;
    }
    return 0;
}

/* Stage s of x into buffer slot. */
static int stage_into(lx_detector *d, int s, const lx_fmap *x, int slot, lx_fmap *y,
                      lx_error *err) {
    *y = stage_shape(d, s, x);
    if (!(y->d = lx_buf_reserve(&d->maps[slot], lx_fmap_rows(y) * (size_t)y->c * 4, err)))
        return -1;
    return lx_frcnn_stage(d, s, x, y, err);
}

int lx_frcnn_backbone(lx_detector *d, const lx_fmap *input, lx_fmap *res4, lx_error *err) {
    const lx_conv *c = &d->w.stem;
    lx_fmap stem = {NULL, 1, lx_pool_ceil_out(lx_conv_out(c, input->h), 3, 2),
                    lx_pool_ceil_out(lx_conv_out(c, input->w), 3, 2), c->lin.out};
    lx_fmap res2, res3;
    if (!(stem.d = lx_buf_reserve(&d->maps[MAP_A], lx_fmap_rows(&stem) * (size_t)stem.c * 4,
                                  err)) ||
        lx_frcnn_stem(d, input, &stem, err) < 0 || stage_into(d, 0, &stem, MAP_B, &res2, err) < 0 ||
        stage_into(d, 1, &res2, MAP_A, &res3, err) < 0)
        return -1;
    return stage_into(d, 2, &res3, MAP_B, res4, err);
}

/* ---- RPN ---------------------------------------------------------------------------- */

/* StandardRPNHead: hidden = ReLU(conv 3x3), objectness logits and anchor deltas (1x1);
 * channels last, so both come out in the (y, x, anchor) order of the proposals. */
int lx_frcnn_rpn(lx_detector *d, const lx_fmap *res4, int h, int w, lx_error *err) {
    lx_rpn_state *r = &d->rpn;
    *r = (lx_rpn_state){.h16 = res4->h, .w16 = res4->w, .anchors = d->cfg.num_anchors};
    size_t n = (size_t)res4->h * (size_t)res4->w * (size_t)r->anchors;
    lx_fmap hidden, logits = {0}, deltas = {0};
    if (!(logits.d = r->logits = lx_frcnn_array(d, LX_A_RPN_LOGITS, n, sizeof(float), err)) ||
        !(deltas.d = r->deltas = lx_frcnn_array(d, LX_A_RPN_DELTAS, 4 * n, sizeof(float), err)) ||
        out_map(d, MAP_CONV1, &d->w.rpn_conv, res4, &hidden, err) < 0 ||
        lx_op_conv(&d->rt, &d->w.rpn_conv, res4, &hidden, NULL, 1, err) < 0 ||
        lx_op_conv(&d->rt, &d->w.rpn_logits, &hidden, &logits, NULL, 0, err) < 0 ||
        lx_op_conv(&d->rt, &d->w.rpn_deltas, &hidden, &deltas, NULL, 0, err) < 0 ||
        check_finite("pred_objectness_logits", r->logits, n, 1, err) < 0 ||
        check_finite("pred_anchor_deltas", r->deltas, 4 * n, 4, err) < 0)
        return -1;
    return lx_frcnn_proposals(d, h, w, err);
}

/* ---- Res5ROIHeads ------------------------------------------------------------------- */

int lx_frcnn_roi_features(lx_detector *d, const lx_fmap *res4, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    int R = d->cfg.pooler_resolution, C4 = res4->c, C5 = d->cfg.channels[3];
    size_t per_roi = (size_t)R * R * (size_t)(C5 > C4 ? C5 : C4);
    int chunk = (int)(ROI_CHUNK_FLOATS / per_roi);
    chunk = chunk < 1 ? 1 : chunk;
    for (int i0 = 0; i0 < r->n; i0 += chunk) {
        int m = r->n - i0 < chunk ? r->n - i0 : chunk;
        lx_fmap pooled = {.d = lx_buf_reserve(&d->maps[MAP_ROIS], (size_t)m * per_roi * 4, err)};
        lx_fmap out = {lx_buf_reserve(&d->roi_out, (size_t)m * per_roi * 4, err), m, R, R, C5};
        if (!pooled.d || !out.d) return -1;
        lx_op_roipool(&d->rt, res4, r->boxes + 4 * (size_t)i0, m, 1.0f / LX_FRCNN_STRIDE, R,
                      &pooled);
        if (lx_frcnn_stage(d, 3, &pooled, &out, err) < 0) return -1;
        lx_op_map_mean(&d->rt, &out, r->features + (size_t)i0 * C5, (size_t)C5);
    }
    return 0;
}

/* ---- FastRCNNOutputLayers ----------------------------------------------------------- */

int lx_frcnn_rois_reserve(lx_detector *d, int n, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    const lx_detector_config *c = &d->cfg;
    size_t P = (size_t)(n > 0 ? n : 1), NC1 = (size_t)c->num_classes + 1;
    float *f = lx_frcnn_array(d, LX_A_FLOATS, 7 * P, sizeof(float), err);
    int *iv = lx_frcnn_array(d, LX_A_INTS, 4 * P, sizeof(int), err);
    *r = (lx_frcnn_rois){
        .n = n,
        .boxes = lx_frcnn_array(d, LX_A_BOXES, 4 * P, sizeof(float), err),
        .logits = lx_frcnn_array(d, LX_A_LOGITS, P, sizeof(float), err),
        .features = lx_frcnn_array(d, LX_A_FEATURES, P * (size_t)c->channels[3], sizeof(float), err),
        .cls_logits = lx_frcnn_array(d, LX_A_CLS_LOGITS, P * NC1, sizeof(float), err),
        .box_deltas = lx_frcnn_array(d, LX_A_BOX_DELTAS, P * 4 * (NC1 - 1), sizeof(float), err),
        .attr_logits = lx_frcnn_array(d, LX_A_ATTR_LOGITS, P * ((size_t)c->num_attrs + 1),
                                      sizeof(float), err),
        .cls_probs = lx_frcnn_array(d, LX_A_CLS_PROBS, P * NC1, sizeof(float), err),
    };
    if (!f || !iv || !r->boxes || !r->logits || !r->features || !r->cls_logits ||
        !r->box_deltas || !r->attr_logits || !r->cls_probs)
        return -1;
    r->embed_class = iv, r->best_class = iv + P, r->attr_id = iv + 2 * P, r->keep = iv + 3 * P;
    r->best_score = f, r->attr_prob = f + P, r->max_conf = f + 2 * P, r->best_box = f + 3 * P;
    return 0;
}

/* Index of the largest of x[0, n) (the first on ties, as torch.argmax). */
static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* y = softmax(x) over n values. */
static void softmax(const float *x, float *y, int n) {
    float m = x[argmax(x, n)], s = 0;
    for (int i = 0; i < n; i++) s += y[i] = expf(x[i] - m);
    for (int i = 0; i < n; i++) y[i] /= s;
}

/* The largest probability of softmax(x[0, n)): exp(0) over the sum. */
static float top_prob(const float *x, int n, int *at) {
    *at = argmax(x, n);
    float s = 0;
    for (int i = 0; i < n; i++) s += expf(x[i] - x[*at]);
    return 1.0f / s;
}

/* The attribute branch: attr_score(ReLU(fc_attr([feature, cls_embedding[argmax]]))). */
static int attributes(lx_detector *d, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    const lx_frcnn_weights *w = &d->w;
    int P = r->n, C5 = w->cls_score.in, E = w->fc_attr.in - C5, H = w->fc_attr.out;
    int NC1 = w->cls_score.out;
    float *in = lx_frcnn_array(d, LX_A_ATTR_IN, (size_t)P * (size_t)(C5 + E), sizeof(float), err);
    float *hid = lx_frcnn_array(d, LX_A_ATTR_HIDDEN, (size_t)P * (size_t)H, sizeof(float), err);
    if (!in || !hid) return -1;
    for (int i = 0; i < P; i++) {
        r->embed_class[i] = argmax(r->cls_logits + (size_t)i * NC1, NC1);
        float *row = in + (size_t)i * (C5 + E);
        memcpy(row, r->features + (size_t)i * C5, (size_t)C5 * sizeof *row);
        memcpy(row + C5, w->cls_embedding + (size_t)r->embed_class[i] * E, (size_t)E * sizeof *row);
    }
    lx_act x = lx_act_f32(in, (size_t)(C5 + E)), h = lx_act_f32(hid, (size_t)H);
    if (lx_op_linear(&d->rt, &w->fc_attr, &x, P, hid, (size_t)H, err) < 0) return -1;
    for (size_t k = 0; k < (size_t)P * H; k++) hid[k] = hid[k] > 0 ? hid[k] : 0;
    return lx_op_linear(&d->rt, &w->attr_score, &h, P, r->attr_logits,
                        (size_t)w->attr_score.out, err);
}

/* Per RoI: class probabilities, the best foreground class, its box (decoded on the
 * proposal, clipped to h x w), the best attribute. */
static void scores(lx_detector *d, int h, int w) {
    lx_frcnn_rois *r = &d->rois;
    int NC = d->cfg.num_classes, NA = d->cfg.num_attrs;
    for (int i = 0; i < r->n; i++) {
        float *p = r->cls_probs + (size_t)i * (NC + 1), *box = r->best_box + 4 * (size_t)i;
        softmax(r->cls_logits + (size_t)i * (NC + 1), p, NC + 1);
        int c = r->best_class[i] = argmax(p, NC);
        r->best_score[i] = p[c];
        lx_frcnn_decode(r->boxes + 4 * (size_t)i, r->box_deltas + ((size_t)i * NC + c) * 4,
                        d->cfg.box_bbox_weights, box);
        for (int k = 0; k < 4; k++) {
            float lim = (float)(k % 2 ? h : w);
            box[k] = box[k] < 0 ? 0 : box[k] > lim ? lim : box[k];
        }
        r->attr_prob[i] = top_prob(r->attr_logits + (size_t)i * (NA + 1), NA, &r->attr_id[i]);
    }
}

int lx_frcnn_box_head(lx_detector *d, int h, int w, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    const lx_frcnn_weights *wt = &d->w;
    lx_act f = lx_act_f32(r->features, (size_t)wt->cls_score.in);
    if (lx_op_linear(&d->rt, &wt->cls_score, &f, r->n, r->cls_logits,
                     (size_t)wt->cls_score.out, err) < 0 ||
        lx_op_linear(&d->rt, &wt->bbox_pred, &f, r->n, r->box_deltas,
                     (size_t)wt->bbox_pred.out, err) < 0 ||
        attributes(d, err) < 0)
        return -1;
    size_t P = (size_t)r->n;
    if (check_finite("cls_score", r->cls_logits, P * (size_t)wt->cls_score.out,
                     (size_t)wt->cls_score.out, err) < 0 ||
        check_finite("bbox_pred", r->box_deltas, P * (size_t)wt->bbox_pred.out,
                     (size_t)wt->bbox_pred.out, err) < 0 ||
        check_finite("attr_score", r->attr_logits, P * (size_t)wt->attr_score.out,
                     (size_t)wt->attr_score.out, err) < 0)
        return -1;
    scores(d, h, w);
    return 0;
}

/* ---- lx_detector -------------------------------------------------------------------- */

static const char *const stage_names[LX_STAGE_COUNT] = {
    "resize", "backbone", "rpn", "roi", "head", "select"};

const char *lx_detector_stage_name(lx_detector_stage s) {
    return (unsigned)s < LX_STAGE_COUNT ? stage_names[s] : "?";
}

double lx_detector_stage_seconds(const lx_detector *d, lx_detector_stage s) {
    return (unsigned)s < LX_STAGE_COUNT ? d->seconds[s] : 0;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The options over the file's config. */
static int configure(lx_detector *d, lx_error *err) {
    const lx_detector_opts *o = &d->opts;
    lx_detector_config *c = &d->cfg;
    if (o->select != LX_SELECT_HF && o->select != LX_SELECT_CAFFE)
        return lx_error_set(err, "unknown selection %d", (int)o->select);
    if (o->min_size > 0) c->min_size = o->min_size;
    if (o->max_size > 0) c->max_size = o->max_size;
    if (o->min_boxes > 0) c->min_detections = o->min_boxes;
    if (o->max_boxes > 0) c->max_detections = o->max_boxes;
    if (c->max_size < c->min_size)
        return lx_error_set(err, "the longest side (%d) is shorter than the shortest (%d)",
                            c->max_size, c->min_size);
    if (c->min_detections > c->max_detections)
        return lx_error_set(err, "at least %d regions but at most %d", c->min_detections,
                            c->max_detections);
    return lx_detector_config_check(c, err);
}

lx_detector *lx_detector_new(const lx_model *m, const lx_detector_opts *opts, lx_error *err) {
    if (lx_model_expect(m, LX_MODEL_DETECTOR, err) < 0) return NULL;
    lx_detector *d = lx_aligned_alloc(sizeof *d);
    if (!d) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    memset(d, 0, sizeof *d);
    d->model = m;
    d->cfg = *lx_model_detector_config(m);
    if (opts) d->opts = *opts;
    d->rt.exact_bf16 = d->opts.exact_bf16;
    if (configure(d, err) < 0 ||
        lx_rt_init(&d->rt, m, d->opts.threads, d->opts.max_isa, err) < 0) {
        free(d);
        return NULL;
    }
    if (lx_frcnn_bind(d, err) < 0) {
        lx_detector_free(d);
        return NULL;
    }
    return d;
}

void lx_detector_free(lx_detector *d) {
    if (!d) return;
    lx_rt_free(&d->rt);
    lx_owned_free(&d->owned);
    for (size_t i = 0; i < sizeof d->maps / sizeof *d->maps; i++) free(d->maps[i].p);
    for (size_t i = 0; i < LX_FRCNN_ARRAYS; i++) free(d->arrays[i].p);
    free(d->roi_out.p);
    free(d);
}

/* The normalised input of img: h x w x 3 in buffer MAP_ROIS (free until the RoIs). */
static int preprocess(lx_detector *d, const lx_image *img, lx_fmap *in, lx_error *err) {
    const lx_detector_config *c = &d->cfg;
    if (img->h < LX_FRCNN_MIN_SIDE || img->w < LX_FRCNN_MIN_SIDE)
        return lx_error_set(err, "image of %dx%d pixels: the detector needs at least %dx%d",
                            img->w, img->h, LX_FRCNN_MIN_SIDE, LX_FRCNN_MIN_SIDE);
    *in = (lx_fmap){NULL, 1, 0, 0, 3};
    lx_frcnn_resized_size(img->h, img->w, c->min_size, c->max_size, &in->h, &in->w);
    if (in->h < LX_FRCNN_MIN_RESIZED || in->w < LX_FRCNN_MIN_RESIZED)
        return lx_error_set(err, "image of %dx%d pixels resizes to %dx%d: too elongated (each "
                                 "side must come to %d pixels or more)", img->w, img->h, in->w,
                            in->h, LX_FRCNN_MIN_RESIZED);
    if (!(in->d = lx_buf_reserve(&d->maps[MAP_ROIS], lx_fmap_rows(in) * 3 * sizeof(float), err)) ||
        lx_frcnn_resize(&d->rt, img->bgr, img->h, img->w, d->opts.rgb, in->h, in->w, in->d,
                        err) < 0)
        return -1;
    lx_frcnn_normalize(in->d, lx_fmap_rows(in), c->pixel_mean, c->pixel_std);
    return 0;
}

/* Boxes [P, 4] in the image's pixels: the selection's own (HF: the best class's box;
 * Caffe: the proposal), scaled as HF scales them (x by W / w, y by H / h in float32). */
static float *image_boxes(lx_detector *d, const lx_image *img, int h, int w, lx_error *err) {
    const lx_frcnn_rois *r = &d->rois;
    const float *src = d->opts.select == LX_SELECT_CAFFE ? r->boxes : r->best_box;
    float *b = lx_frcnn_array(d, LX_A_OUT_BOXES, 4 * (size_t)(r->n > 0 ? r->n : 1),
                              sizeof(float), err);
    float sy = (float)img->h / (float)h, sx = (float)img->w / (float)w;
    for (size_t k = 0; b && k < 4 * (size_t)r->n; k++) b[k] = src[k] * (k % 2 ? sy : sx);
    return b;
}

/* The selected regions into g.  Boxes are clipped to the image: the float32 scaling can
 * put a box on the border an ulp past it. */
static int regions(lx_detector *d, const lx_image *img, const float *boxes, lx_regions *g,
                   lx_error *err) {
    const lx_frcnn_rois *r = &d->rois;
    int C5 = d->cfg.channels[3];
    if (r->nkeep < 1) return lx_error_set(err, "the detector found no regions");
    if (lx_regions_reserve(g, r->nkeep, C5, 1, err) < 0) return -1;
    g->img_h = img->h;
    g->img_w = img->w;
    for (int k = 0; k < r->nkeep; k++) {
        int i = r->keep[k];
        for (int j = 0; j < 4; j++) {
            float v = boxes[4 * i + j], lim = (float)(j % 2 ? img->h : img->w);
            g->boxes[4 * k + j] = v < 0 ? 0 : v > lim ? lim : v;
        }
        memcpy(g->features + (size_t)k * C5, r->features + (size_t)i * C5, (size_t)C5 * 4);
        g->objects_id[k] = r->best_class[i];
        g->objects_conf[k] = r->best_score[i];
        g->attrs_id[k] = r->attr_id[i];
        g->attrs_conf[k] = r->attr_prob[i];
    }
    size_t N = (size_t)r->nkeep;
    return check_finite("boxes", g->boxes, 4 * N, 4, err) < 0 ||
           check_finite("features", g->features, N * (size_t)C5, (size_t)C5, err) < 0 ||
           check_finite("objects_conf", g->objects_conf, N, 1, err) < 0 ||
           check_finite("attrs_conf", g->attrs_conf, N, 1, err) < 0 ? -1 : 0;
}

int lx_detector_run(lx_detector *d, const lx_image *img, lx_regions *out, lx_error *err) {
    lx_fmap in, res4;
    double t = now(), t1;
#define STAGE(s) (t1 = now(), d->seconds[s] += t1 - t, t = t1)
    if (preprocess(d, img, &in, err) < 0) return -1;
    STAGE(LX_STAGE_RESIZE);
    if (lx_frcnn_backbone(d, &in, &res4, err) < 0) return -1;
    STAGE(LX_STAGE_BACKBONE);
    if (lx_frcnn_rpn(d, &res4, in.h, in.w, err) < 0) return -1;
    STAGE(LX_STAGE_RPN);
    if (lx_frcnn_roi_features(d, &res4, err) < 0) return -1;
    STAGE(LX_STAGE_ROI);
    if (lx_frcnn_box_head(d, in.h, in.w, err) < 0) return -1;
    STAGE(LX_STAGE_HEAD);
    float *boxes = image_boxes(d, img, in.h, in.w, err);
    if (!boxes ||
        (d->opts.select == LX_SELECT_CAFFE ? lx_frcnn_select_caffe(d, boxes, err)
                                           : lx_frcnn_select_hf(d, err)) < 0 ||
        regions(d, img, boxes, out, err) < 0)
        return -1;
    STAGE(LX_STAGE_SELECT);
#undef STAGE
    return 0;
}
