/*
 * frcnn_boxes.c — the detector's boxes (frcnn.h): anchors, decoding, NMS, the RPN's
 * proposals and the two selections of regions.
 *
 * Every comparison is the reference's own: torchvision's NMS computes IoU in float32 and
 * suppresses when (double)iou > threshold; the Caffe extractor's NMS (py-faster-rcnn's
 * cpu_nms) measures boxes with the +1 pixel convention and suppresses when the overlap
 * is >= its threshold.  Orders are stable: among equal scores torchvision's sort is
 * unspecified and lx takes the lower index first; among equal confidences the Caffe
 * selection (numpy's argsort reversed) takes the higher index first.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "frcnn.h"

void lx_frcnn_decode(const float *box, const float *delta, const double weights[4],
                     float *out) {
    const float clamp = (float)log(1000.0 / 16);
    float w = box[2] - box[0], h = box[3] - box[1];
    float cx = box[0] + 0.5f * w, cy = box[1] + 0.5f * h;
    float dx = delta[0] / (float)weights[0], dy = delta[1] / (float)weights[1];
    float dw = delta[2] / (float)weights[2], dh = delta[3] / (float)weights[3];
    dw = dw > clamp ? clamp : dw;
    dh = dh > clamp ? clamp : dh;
    float pcx = dx * w + cx, pcy = dy * h + cy;
    float pw = expf(dw) * w, ph = expf(dh) * h;
    out[0] = pcx - 0.5f * pw;
    out[1] = pcy - 0.5f * ph;
    out[2] = pcx + 0.5f * pw;
    out[3] = pcy + 0.5f * ph;
}

void lx_frcnn_anchor(const lx_detector *d, int i, float *out) {
    int A = d->rpn.anchors, cell = i / A, a = i % A;
    float sx = (float)(LX_FRCNN_STRIDE * (cell % d->rpn.w16));
    float sy = (float)(LX_FRCNN_STRIDE * (cell / d->rpn.w16));
    const float *c = d->w.cell_anchors + 4 * a;
    out[0] = c[0] + sx;
    out[1] = c[1] + sy;
    out[2] = c[2] + sx;
    out[3] = c[3] + sy;
}

/* ---- sorting ------------------------------------------------------------------------ */

/* Descending score; equal scores by ascending index (low_first) or descending. */
typedef struct by_score {
    const float *s;
    size_t stride;
    int low_first;
} by_score;

static int cmp_desc(const void *a, const void *b, void *ctx) {
    const by_score *c = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    float si = c->s[(size_t)i * c->stride], sj = c->s[(size_t)j * c->stride];
    if (si != sj) return si > sj ? -1 : 1;
    return (i < j) == c->low_first ? -1 : 1;
}

/* order = 0..n-1 sorted by s[i * stride] descending. */
static void sort_desc(int *order, int n, const float *s, size_t stride, int low_first) {
    by_score c = {s, stride, low_first};
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, cmp_desc, &c);
}

/* ---- NMS ------------------------------------------------------------------------------ */

static float lo(float a, float b) { return b < a ? b : a; }
static float hi(float a, float b) { return a < b ? b : a; }

static float iou(const float *a, const float *b) {
    float w = lo(a[2], b[2]) - hi(a[0], b[0]), h = lo(a[3], b[3]) - hi(a[1], b[1]);
    float inter = (w > 0 ? w : 0) * (h > 0 ? h : 0);
    float area_a = (a[2] - a[0]) * (a[3] - a[1]), area_b = (b[2] - b[0]) * (b[3] - b[1]);
    return inter / ((area_a + area_b) - inter);
}

int lx_frcnn_nms(const float *boxes, const float *scores, int n, double thresh, int *order,
                 int *keep) {
    int nk = 0;
    sort_desc(order, n, scores, 1, 1);
    for (int a = 0; a < n; a++) {
        int i = order[a];
        if (i < 0) continue;
        keep[nk++] = i;
        for (int b = a + 1; b < n; b++)
            if (order[b] >= 0 && (double)iou(boxes + 4 * i, boxes + 4 * order[b]) > thresh)
                order[b] = -1;   /* suppressed (NaN, from empty boxes, never is) */
    }
    return nk;
}

/* ---- the RPN's proposals (find_top_rpn_proposals) --------------------------------- */

static void clip(float *b, int h, int w) {
    for (int k = 0; k < 4; k++) {
        float lim = (float)(k % 2 ? h : w);
        b[k] = b[k] < 0 ? 0 : b[k] > lim ? lim : b[k];
    }
}

/* The NMS candidates: the top boxes, clipped, without the empty ones. */
typedef struct candidates {
    float *boxes, *scores;        /* [ntop, 4], [ntop] */
    int *anchor;                  /* [ntop] their anchor indices */
    int *scratch;                 /* [ntop] NMS's order */
    int n;
} candidates;

/* d->rpn's arrays for its anchors and top boxes, and the candidates'. */
static int rpn_arrays(lx_detector *d, candidates *c, lx_error *err) {
    lx_rpn_state *r = &d->rpn;
    size_t n = (size_t)r->h16 * r->w16 * r->anchors, k;
    r->ntop = n < (size_t)d->cfg.pre_nms_topk ? (int)n : d->cfg.pre_nms_topk;
    k = (size_t)r->ntop;
    r->proposals = lx_frcnn_array(d, LX_A_RPN_PROPOSALS, n * 4, sizeof(float), err);
    r->order = lx_frcnn_array(d, LX_A_RPN_ORDER, n, sizeof(int), err);
    r->top_boxes = lx_frcnn_array(d, LX_A_RPN_TOP, k * 4, sizeof(float), err);
    r->nms_keep = lx_frcnn_array(d, LX_A_RPN_KEEP, k, sizeof(int), err);
    *c = (candidates){lx_frcnn_array(d, LX_A_CAND_BOXES, k * 4, sizeof(float), err),
                      lx_frcnn_array(d, LX_A_CAND_SCORES, k, sizeof(float), err),
                      lx_frcnn_array(d, LX_A_CAND_INDEX, k, sizeof(int), err),
                      lx_frcnn_array(d, LX_A_SCRATCH, k, sizeof(int), err), 0};
    return r->proposals && r->order && r->top_boxes && r->nms_keep && c->boxes && c->scores &&
                   c->anchor && c->scratch ? 0 : -1;
}

int lx_frcnn_proposals(lx_detector *d, int h, int w, lx_error *err) {
    lx_rpn_state *r = &d->rpn;
    candidates c;
    if (rpn_arrays(d, &c, err) < 0) return -1;
    int n = r->h16 * r->w16 * r->anchors;
    for (int i = 0; i < n; i++) {
        float anchor[4];
        lx_frcnn_anchor(d, i, anchor);
        lx_frcnn_decode(anchor, r->deltas + 4 * (size_t)i, d->cfg.rpn_bbox_weights,
                        r->proposals + 4 * (size_t)i);
    }
    sort_desc(r->order, n, r->logits, 1, 1);
    for (int k = 0; k < r->ntop; k++) {
        float *b = r->top_boxes + 4 * k;
        memcpy(b, r->proposals + 4 * (size_t)r->order[k], 4 * sizeof *b);
        clip(b, h, w);
        if (!(b[2] - b[0] > 0 && b[3] - b[1] > 0)) continue;
        memcpy(c.boxes + 4 * c.n, b, 4 * sizeof *b);
        c.scores[c.n] = r->logits[r->order[k]];
        c.anchor[c.n++] = r->order[k];
    }
    r->nkept = lx_frcnn_nms(c.boxes, c.scores, c.n, d->cfg.rpn_nms_thresh, c.scratch, r->nms_keep);
    int P = r->nkept < d->cfg.post_nms_topk ? r->nkept : d->cfg.post_nms_topk;
    if (lx_frcnn_rois_reserve(d, P, err) < 0) return -1;
    for (int k = 0; k < P; k++) {   /* NMS gives them in descending logit order */
        memcpy(d->rois.boxes + 4 * k, c.boxes + 4 * r->nms_keep[k], 4 * sizeof(float));
        d->rois.logits[k] = c.scores[r->nms_keep[k]];
    }
    for (int k = 0; k < r->nkept; k++) r->nms_keep[k] = c.anchor[r->nms_keep[k]];
    return 0;
}

/* ---- HF's selection (do_nms) -------------------------------------------------------- */

int lx_frcnn_select_hf(lx_detector *d, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    int *order = lx_frcnn_array(d, LX_A_SCRATCH, (size_t)r->n, sizeof(int), err);
    if (!order) return -1;
    const lx_detector_config *c = &d->cfg;
    int nk = 0;
    for (d->tries = 0; d->tries < c->nms_tries;) {
        nk = lx_frcnn_nms(r->best_box, r->best_score, r->n, c->nms_thresh_test[d->tries],
                          order, r->keep);
        d->survivors[d->tries++] = nk;
        if (nk >= c->min_detections) break;
    }
    /* every threshold leaving fewer than min_detections: the last one's survivors */
    r->nkeep = nk < c->max_detections ? nk : c->max_detections;
    return 0;
}

/* ---- the Caffe extractor's selection ------------------------------------------------ */

#define CAFFE_NMS 0.3
#define CAFFE_CONF 0.2

/* py-faster-rcnn's overlap of two boxes (+1 pixel convention), float32. */
static float overlap(const float *a, const float *b) {
    float w = lo(a[2], b[2]) - hi(a[0], b[0]) + 1, h = lo(a[3], b[3]) - hi(a[1], b[1]) + 1;
    float inter = (w > 0 ? w : 0) * (h > 0 ? h : 0);
    float area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1), area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1);
    return inter / ((area_a + area_b) - inter);
}

typedef struct caffe_ctx {
    const lx_frcnn_rois *r;
    const uint8_t *sup;           /* [P, P]: row i suppresses row j (overlap >= 0.3) */
    int P, ncls;
} caffe_ctx;

/* Classes [c0, c1): each one's NMS over the boxes by its probabilities; the rows it
 * keeps raise their max_conf (this thread's, in its work buffer: [P] floats, then [P]
 * order, then [P] flags). */
static void caffe_classes(lx_rt *rt, void *ctx, size_t c0, size_t c1, int t) {
    const caffe_ctx *c = ctx;
    int P = c->P;
    if (P <= 0) return;
    float *conf = rt->work[t];
    int *order = (int *)(conf + P);
    uint8_t *gone = (uint8_t *)(order + P);
    size_t ld = (size_t)c->ncls + 1;
    for (size_t cls = c0; cls < c1; cls++) {
        const float *p = c->r->cls_probs + cls;
        sort_desc(order, P, p, ld, 0);
        memset(gone, 0, (size_t)P);
        for (int a = 0; a < P; a++) {
            int i = order[a];
            if (gone[i]) continue;
            if (p[(size_t)i * ld] > conf[i]) conf[i] = p[(size_t)i * ld];
            const uint8_t *s = c->sup + (size_t)i * P;
            for (int b = a + 1; b < P; b++) gone[order[b]] |= s[order[b]];
        }
    }
}

/* max_conf: each row's best probability among the classes whose NMS kept it. */
static int caffe_max_conf(lx_detector *d, const float *boxes, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    int P = r->n;
    uint8_t *sup = lx_frcnn_array(d, LX_A_SUPPRESS, (size_t)P * P, 1, err);
    if (!sup || lx_rt_work(&d->rt, (size_t)P * 3, err) < 0) return -1;
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++)
            sup[(size_t)i * P + j] = i != j && (double)overlap(boxes + 4 * i, boxes + 4 * j) >= CAFFE_NMS;
    for (int t = 0; t < d->rt.nthreads; t++) memset(d->rt.work[t], 0, (size_t)P * sizeof(float));
    caffe_ctx c = {r, sup, P, d->cfg.num_classes};
    lx_rt_for(&d->rt, (size_t)c.ncls, (double)P * P, caffe_classes, &c, 4);
    memset(r->max_conf, 0, (size_t)P * sizeof *r->max_conf);
    for (int t = 0; t < d->rt.nthreads; t++)
        for (int i = 0; i < P; i++)
            if (d->rt.work[t][i] > r->max_conf[i]) r->max_conf[i] = d->rt.work[t][i];
    return 0;
}

int lx_frcnn_select_caffe(lx_detector *d, const float *boxes, lx_error *err) {
    lx_frcnn_rois *r = &d->rois;
    if (caffe_max_conf(d, boxes, err) < 0) return -1;
    int least = d->cfg.min_detections, most = d->cfg.max_detections, n = 0;
    for (int i = 0; i < r->n; i++)
        if ((double)r->max_conf[i] >= CAFFE_CONF) r->keep[n++] = i;
    r->nkeep = n;
    if (n >= least && n <= most) return 0;
    /* fewer than min or more than max: the top rows by confidence, below 0.2 or not */
    sort_desc(r->keep, r->n, r->max_conf, 1, 0);
    int want = n < least ? least : most;
    r->nkeep = want < r->n ? want : r->n;
    return 0;
}
