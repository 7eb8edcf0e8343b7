/*
 * frcnn.h — the detector's internals (lx_detector, lx.h), shared by its files and the
 * tests (private to liblx).  The bottom-up-attention Faster R-CNN as HF's
 * modeling_frcnn.py and processing_image.py compute it:
 *
 *   frcnn_image.c  Preprocess: ResizeShortestEdge (torch's bilinear kernel, bit for bit)
 *                  and the per-channel normalisation
 *   frcnn.c        the model: ResNet's stem and BottleneckBlocks (backbone.res2..res4),
 *                  the RPN head, Res5ROIHeads (RoIPool, res5, the mean), the box
 *                  predictor (FastRCNNOutputLayers with the attribute branch), each a
 *                  function written in the operations of ops.h; lx_detector_run
 *   frcnn_boxes.c  boxes: anchors, the deltas' decoding, torchvision's NMS, the RPN's
 *                  proposals, the two selections of regions
 *   frcnn_bind.c   the weights: views into the mapped .lxm, BatchNorm as a scale and a
 *                  shift, k x k kernels laid out for products over pixel rows
 *
 * Feature maps are channels last (lx_fmap), so every convolution is a product over rows
 * of pixels and the RPN's outputs come out in the (y, x, anchor) order the proposals are
 * listed in.  One image at a time: HF pads a batch to one size, which changes the
 * features at the border.
 */
#ifndef LX_NN_FRCNN_H
#define LX_NN_FRCNN_H

#include <stddef.h>
#include <stdint.h>
#include "lx.h"
#include "ops.h"

/* The stride of res4, the map the RPN and RoIPool read. */
#define LX_FRCNN_STRIDE 16
/* The smallest resized side (res4 then has two cells), and the smallest image side. */
#define LX_FRCNN_MIN_RESIZED 32
#define LX_FRCNN_MIN_SIDE 8

/* ---- weights (frcnn_bind.c) --------------------------------------------------------- */

/* BottleneckBlock: conv1 1x1 (with the block's stride), conv2 3x3, conv3 1x1, each with
 * its BatchNorm; the shortcut 1x1 + BatchNorm where the widths differ (lin.out 0: the
 * identity). */
typedef struct lx_bottleneck {
    lx_conv shortcut, conv1, conv2, conv3;
} lx_bottleneck;

typedef struct lx_frcnn_weights {
    lx_conv stem;                 /* backbone.stem.conv1: 7x7 / 2 + BatchNorm */
    lx_bottleneck *res[4];        /* backbone.res2, res3, res4; roi_heads.res5 */
    int nres[4];
    lx_conv rpn_conv;             /* proposal_generator.rpn_head.conv: 3x3 + bias */
    lx_conv rpn_logits;           /* .objectness_logits: 1x1 [A] */
    lx_conv rpn_deltas;           /* .anchor_deltas: 1x1 [4A] */
    const float *cell_anchors;    /* [A, 4] */
    lx_lin cls_score;             /* roi_heads.box_predictor: [NC + 1, C5] */
    lx_lin bbox_pred;             /* [4 NC, C5] */
    const float *cls_embedding;   /* [NC + 1, E] */
    lx_lin fc_attr;               /* [attr_hidden, C5 + E] */
    lx_lin attr_score;            /* [NA + 1, attr_hidden] */
} lx_frcnn_weights;

/* ---- one image's working state ----------------------------------------------------- */

/* A buffer grown on demand and reused from image to image. */
typedef struct lx_buf {
    void *p;
    size_t cap;                   /* bytes */
} lx_buf;

/* The proposals and what the box head says of each (P of them), and the selection. */
typedef struct lx_frcnn_rois {
    int n;                        /* P */
    float *boxes;                 /* [P, 4] x1 y1 x2 y2, resized-image pixels */
    float *logits;                /* [P] objectness */
    float *features;              /* [P, C5] the mean res5 feature */
    float *cls_logits;            /* [P, NC + 1], background last */
    float *box_deltas;            /* [P, 4 NC] */
    float *attr_logits;           /* [P, NA + 1], "no attribute" last */
    float *cls_probs;             /* [P, NC + 1] softmax */
    int *embed_class;             /* [P] argmax of all NC + 1 logits */
    int *best_class;              /* [P] the best foreground class */
    float *best_score;            /* [P] its probability */
    float *best_box;              /* [P, 4] its decoded box, clipped */
    int *attr_id;                 /* [P] the best of the NA attributes */
    float *attr_prob;             /* [P] its probability (softmax over the NA) */
    int *keep;                    /* [<= P] the selected rows, in output order */
    int nkeep;
    float *max_conf;              /* [P] the Caffe selection's confidence per row */
} lx_frcnn_rois;

/* The RPN's intermediate results, kept for the tests. */
typedef struct lx_rpn_state {
    int h16, w16, anchors;        /* res4's size, anchors per cell (A) */
    float *logits;                /* [h16 * w16 * A] (y, x, a) */
    float *deltas;                /* [h16 * w16 * A, 4] */
    float *proposals;             /* [h16 * w16 * A, 4] decoded, unclipped */
    int *order;                   /* [ntop] the top logits' indices, descending */
    int ntop;
    float *top_boxes;             /* [ntop, 4] clipped */
    int *nms_keep;                /* [nkept] anchor indices NMS kept, in its order */
    int nkept;
} lx_rpn_state;

enum { LX_FRCNN_MAX_TRIES = LX_DETECTOR_MAX_TRIES };

/* The detector's arrays (lx_frcnn_array), one buffer each. */
enum {
    LX_A_RPN_LOGITS, LX_A_RPN_DELTAS, LX_A_RPN_PROPOSALS, LX_A_RPN_ORDER, LX_A_RPN_TOP,
    LX_A_RPN_KEEP, LX_A_CAND_BOXES, LX_A_CAND_SCORES, LX_A_CAND_INDEX, LX_A_SCRATCH,
    LX_A_BOXES, LX_A_LOGITS, LX_A_FEATURES, LX_A_CLS_LOGITS, LX_A_BOX_DELTAS,
    LX_A_ATTR_LOGITS, LX_A_CLS_PROBS, LX_A_ATTR_IN, LX_A_ATTR_HIDDEN, LX_A_INTS,
    LX_A_FLOATS, LX_A_KEEP, LX_A_SUPPRESS, LX_A_OUT_BOXES,
    LX_FRCNN_ARRAYS
};

struct lx_detector {
    lx_rt rt;                     /* first: 64-byte aligned, the detector is allocated so */
    const lx_model *model;
    lx_detector_config cfg;       /* the file's, with the options' sizes and counts */
    lx_detector_opts opts;
    lx_frcnn_weights w;
    lx_owned owned;               /* permuted kernels, BatchNorm scales, widened tensors */
    lx_buf maps[6];               /* feature maps: two for the stages' ping-pong, the
                                   * stage temporaries (a block's output, conv1's,
                                   * conv2's), RoI chunk input */
    lx_buf roi_out;               /* a chunk of res5 outputs */
    lx_buf arrays[LX_FRCNN_ARRAYS]; /* the arrays of rpn and rois, and scratch */
    lx_rpn_state rpn;
    lx_frcnn_rois rois;
    int tries;                    /* HF selection: thresholds tried, survivors of each */
    int survivors[LX_FRCNN_MAX_TRIES];
    double seconds[LX_STAGE_COUNT];
};

/* ---- frcnn_bind.c -------------------------------------------------------------------- */

int lx_frcnn_bind(lx_detector *d, lx_error *err);
/* b->p with room for at least bytes (the contents are not kept when it grows).  Returns
 * the pointer, or NULL with err set. */
void *lx_buf_reserve(lx_buf *b, size_t bytes, lx_error *err);
/* d's array slot (LX_A_*) with room for n elements of size es. */
void *lx_frcnn_array(lx_detector *d, int slot, size_t n, size_t es, lx_error *err);

/* ---- frcnn_image.c ------------------------------------------------------------------- */

/* ResizeShortestEdge's size for an H x W image: the shorter side to min_size, the longer
 * at most max_size (in double, then rounded half up). */
void lx_frcnn_resized_size(int H, int W, int min_size, int max_size, int *h, int *w);
/* The H x W x 3 pixels (the channels reversed when rgb) resized to h x w as float HWC
 * (torch's bilinear, align_corners=False, no antialias: bit for bit). */
int lx_frcnn_resize(lx_rt *rt, const uint8_t *px, int H, int W, int rgb, int h, int w,
                    float *out, lx_error *err);
/* out = (out - mean) / std per channel over n pixels. */
void lx_frcnn_normalize(float *out, size_t n, const double mean[3], const double std[3]);

/* ---- frcnn.c ----------------------------------------------------------------------- */

/* The stem: conv 7x7 / 2 + BatchNorm + ReLU, max pool 3x3 / 2 (ceil).  y->d must hold
 * the output (lx_frcnn_stem_rows(x) rows of the stem's width). */
int lx_frcnn_stem(lx_detector *d, const lx_fmap *x, lx_fmap *y, lx_error *err);
/* Stage s (0..2: res2..res4 of the backbone; 3: res5 over RoI maps) from x into y (y->d
 * must hold the output; x must not be y). */
int lx_frcnn_stage(lx_detector *d, int s, const lx_fmap *x, lx_fmap *y, lx_error *err);
/* The backbone from the normalised input (HWC, 3 channels) to res4, into d's buffers:
 * *res4 points there. */
int lx_frcnn_backbone(lx_detector *d, const lx_fmap *input, lx_fmap *res4, lx_error *err);
/* The RPN over res4 of an h x w image: d->rpn and the proposals in d->rois. */
int lx_frcnn_rpn(lx_detector *d, const lx_fmap *res4, int h, int w, lx_error *err);
/* RoIPool, res5 and the mean for d->rois' boxes: d->rois.features. */
int lx_frcnn_roi_features(lx_detector *d, const lx_fmap *res4, lx_error *err);
/* The box predictor over d->rois.features, then the probabilities, the best class and
 * its box (clipped to h x w), the attributes. */
int lx_frcnn_box_head(lx_detector *d, int h, int w, lx_error *err);
/* Size d->rois' arrays for n proposals (the box head's included). */
int lx_frcnn_rois_reserve(lx_detector *d, int n, lx_error *err);

/* ---- frcnn_boxes.c ----------------------------------------------------------------- */

/* Box2BoxTransform.apply_deltas for one box: weights wx, wy, ww, wh; dw, dh clamped at
 * log(1000 / 16). */
void lx_frcnn_decode(const float *box, const float *delta, const double weights[4],
                     float *out);
/* Anchor i of the (y, x, a) list over res4 (w16 cells a row): cell_anchors[a] shifted
 * by 16 x and 16 y. */
void lx_frcnn_anchor(const lx_detector *d, int i, float *out);
/* torchvision.ops.nms: boxes [n, 4], scores [n]; keep receives the kept indices in
 * descending score order; order is scratch [n].  Returns the count kept. */
int lx_frcnn_nms(const float *boxes, const float *scores, int n, double thresh, int *order,
                 int *keep);
/* The RPN's selection (find_top_rpn_proposals) from d->rpn's logits and deltas: top-k,
 * clip to h x w, drop empty boxes, NMS, the first post_nms_topk: d->rois.boxes, logits. */
int lx_frcnn_proposals(lx_detector *d, int h, int w, lx_error *err);
/* HF's do_nms over d->rois' best boxes and scores: d->rois.keep, d->tries. */
int lx_frcnn_select_hf(lx_detector *d, lx_error *err);
/* The Caffe extractor's selection over boxes [P, 4] (the proposals in image pixels):
 * d->rois.max_conf and keep. */
int lx_frcnn_select_caffe(lx_detector *d, const float *boxes, lx_error *err);

#endif
