/*
 * test_frcnn.c — the detector stage by stage against the PyTorch reference's tensors in
 * $LX_FIXTURES/frcnn (a tiny random network of the real architecture, three images),
 * each stage fed the reference's own input for it, then whole images end to end for
 * both selections.
 *
 * Tolerances (the fixtures' README): the resized input bit for bit; float stages within
 * 1e-4 * max(1, |want|); boxes within 1e-3 pixels; indices, counts and orders exactly.
 * The fixtures' decisions were checked to have float32 margins larger than these.
 */
#include <math.h>
#include "testutil.h"
#include "nn/cpu.h"
#include "nn/frcnn.h"

#define NIMAGES 3

static lx_model *model;
static lx_detector *det;
static json_t *index_json;
static lx_tensor_dict expect[NIMAGES];

/* ---- set-up: the fixture checkpoint as a .lxm --------------------------------------- */

/* The fixture checkpoint folder (config.yaml, model.safetensors), as lx-convert reads
 * it, written as a .lxm of dtype and opened. */
static lx_model *write_model(lx_dtype dtype, const char *tag) {
    lx_error err = {0};
    lx_checkpoint ck;
    lx_model *m = NULL;
    const char *path = scratch(tag);
    if (lx_checkpoint_load(&ck, fixture("frcnn/models/frcnn-tiny"), NULL, &err) < 0) {
        print_error("fixture model: %s\n", err.msg);
        lx_checkpoint_free(&ck);
        return NULL;
    }
    lx_model_spec spec = {.tensors = &ck.tensors, .dtype = dtype, .kind = ck.kind,
                          .detector = &ck.detector};
    if (lx_model_write(path, &spec, &err) < 0 || !(m = lx_model_open(path, &err)))
        print_error("%s: %s\n", path, err.msg);
    unlink(path);
    lx_checkpoint_free(&ck);
    return m;
}

static lx_detector_opts opts; /* max_isa from LX_CPU, as the tools take it */

static int setup(void **state) {
    lx_error err = {0};
    if (lx_isa_parse(getenv("LX_CPU"), &opts.max_isa) < 0) {
        print_error("LX_CPU: got '%s', expected portable, avx2, avx512 or best\n",
                    getenv("LX_CPU"));
        return -1;
    }
    if (!(model = write_model(LX_F32, "frcnn.lxm"))) return -1;
    if (!(det = lx_detector_new(model, &opts, &err))) {
        print_error("detector: %s\n", err.msg);
        return -1;
    }
    if (!(index_json = json_load_file(fixture("frcnn/expected/index.json"), 0, NULL))) return -1;
    for (int k = 0; k < NIMAGES; k++) {
        char rel[96];
        snprintf(rel, sizeof rel, "frcnn/expected/frcnn-tiny.img%d.safetensors", k);
        lx_tensor_dict_init(&expect[k]);
        if (lx_safetensors_read(&expect[k], fixture(rel), &err) < 0) {
            print_error("%s: %s\n", rel, err.msg);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state) {
    for (int k = 0; k < NIMAGES; k++) lx_tensor_dict_free(&expect[k]);
    lx_detector_free(det);
    lx_model_close(model);
    json_decref(index_json);
    return 0;
}

/* ---- fixture access and comparisons -------------------------------------------------- */

static const lx_tensor *want(int k, const char *name) {
    const lx_tensor *t = lx_tensor_dict_get(&expect[k], name);
    if (!t) {
        print_error("img%d: no tensor %s in the fixture\n", k, name);
        fail();
    }
    return t;
}

static const float *wantf(int k, const char *name) { return want(k, name)->data; }

static int64_t want_i(int k, const char *name, size_t i) {
    return ((const int64_t *)want(k, name)->data)[i];
}

static size_t count(int k, const char *name) { return (size_t)lx_tensor_nelem(want(k, name)); }

static int network_rgb(int k) {
    json_t *im = json_array_get(json_object_get(index_json, "images"), (size_t)k);
    return strcmp(json_string_value(json_object_get(im, "network_channel_order")), "RGB") == 0;
}

/* Every |got - want| <= tol * max(1, |want|). */
static void near(int k, const char *what, const float *got, const float *w, size_t n, double tol) {
    size_t bad = 0, first = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - w[i]) / fmax(1.0, fabs(w[i]));
        if (!(e <= tol)) {
            if (!bad++) first = i;
            worst = isnan(e) ? INFINITY : fmax(worst, e);
        }
    }
    if (bad) {
        print_error("img%d %s: %zu of %zu values off (first [%zu]: got %.9g want %.9g; worst "
                    "relative error %.3g > %.1g)\n", k, what, bad, n, first, got[first], w[first],
                    worst, tol);
        fail();
    }
}

/* Boxes within 1e-3 pixels. */
static void near_px(int k, const char *what, const float *got, const float *w, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - w[i]) <= 1e-3)) {
            print_error("img%d %s[%zu]: got %.6f want %.6f\n", k, what, i, got[i], w[i]);
            fail();
        }
}

static void same_ints(int k, const char *what, const int *got, size_t n, const char *name) {
    assert_int_equal(count(k, name), n);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want_i(k, name, i)) {
            print_error("img%d %s[%zu]: got %d want %lld\n", k, what, i, got[i],
                        (long long)want_i(k, name, i));
            fail();
        }
}

/* A [C, h, w] fixture map as channels last [h, w, C]. */
static float *hwc(int k, const char *name, lx_fmap *m) {
    const lx_tensor *t = want(k, name);
    int C = (int)t->shape[0], h = (int)t->shape[1], w = (int)t->shape[2];
    float *o = malloc((size_t)C * h * w * sizeof *o);
    const float *s = t->data;
    for (int c = 0; c < C; c++)
        for (int p = 0; p < h * w; p++) o[(size_t)p * C + c] = s[(size_t)c * h * w + p];
    *m = (lx_fmap){o, 1, h, w, C};
    return o;
}

/* Compare a channels-last map with the fixture's [C, h, w] (or [P, C, h, w]) one. */
static void near_map(int k, const char *name, const lx_fmap *got, double tol) {
    const lx_tensor *t = want(k, name);
    int lead = t->ndim == 4;
    assert_int_equal(t->shape[lead], got->c);
    assert_int_equal(t->shape[lead + 1], got->h);
    assert_int_equal(t->shape[lead + 2], got->w);
    size_t n = lx_fmap_rows(got) * (size_t)got->c, hw = (size_t)got->h * got->w;
    float *chw = malloc(n * sizeof *chw);
    for (size_t b = 0; b < (size_t)got->n; b++)
        for (size_t p = 0; p < hw; p++)
            for (int c = 0; c < got->c; c++)
                chw[(b * got->c + c) * hw + p] = got->d[(b * hw + p) * got->c + c];
    near(k, name, chw, t->data, n, tol);
    free(chw);
}

static void resized_hw(int k, int *h, int *w) {
    *h = (int)want_i(k, "resized_hw", 0);
    *w = (int)want_i(k, "resized_hw", 1);
}

/* ---- stages -------------------------------------------------------------------------- */

static void test_resize(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        const lx_tensor *img = want(k, "image_bgr");
        int H = (int)img->shape[0], W = (int)img->shape[1], h, w, eh, ew;
        lx_frcnn_resized_size(H, W, det->cfg.min_size, det->cfg.max_size, &h, &w);
        resized_hw(k, &eh, &ew);
        assert_int_equal(h, eh);
        assert_int_equal(w, ew);
        float *out = malloc((size_t)h * w * 3 * sizeof *out);
        assert_int_equal(lx_frcnn_resize(&det->rt, img->data, H, W, network_rgb(k), h, w, out, &err), 0);
        lx_fmap m = {out, 1, h, w, 3};
        near_map(k, "resized", &m, 0);
        lx_frcnn_normalize(out, (size_t)h * w, det->cfg.pixel_mean, det->cfg.pixel_std);
        near_map(k, "input", &m, 0);
        free(out);
    }
}

/* One backbone step from the fixture's input for it to its output. */
static void backbone_step(int k, const char *from, const char *to, int stage) {
    lx_error err = {0};
    lx_fmap x, y;
    float *xd = hwc(k, from, &x);
    const lx_tensor *t = want(k, to);
    y = (lx_fmap){.d = malloc((size_t)lx_tensor_nelem(t) * sizeof(float))};
    int rc = stage < 0 ? lx_frcnn_stem(det, &x, &y, &err) : lx_frcnn_stage(det, stage, &x, &y, &err);
    if (rc < 0) print_error("%s: %s\n", to, err.msg);
    assert_int_equal(rc, 0);
    near_map(k, to, &y, 1e-4);
    free(xd);
    free(y.d);
}

static void test_backbone(void **state) {
    for (int k = 0; k < NIMAGES; k++) {
        backbone_step(k, "input", "stem", -1);
        backbone_step(k, "stem", "res2", 0);
        backbone_step(k, "res2", "res3", 1);
        backbone_step(k, "res3", "res4", 2);
    }
}

/* The whole backbone from the input image to res4. */
static void test_backbone_whole(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        lx_fmap x, res4;
        float *xd = hwc(k, "input", &x);
        assert_int_equal(lx_frcnn_backbone(det, &x, &res4, &err), 0);
        near_map(k, "res4", &res4, 1e-4);
        free(xd);
    }
}

/* The top-k order: the same indices, in the same order except where two consecutive
 * logits are within 1e-4 (the fixtures' order there is not guaranteed). */
static void same_topk(int k) {
    const lx_rpn_state *r = &det->rpn;
    const float *logits = wantf(k, "rpn_logits_flat");
    assert_int_equal(count(k, "rpn_topk_idx"), r->ntop);
    for (int i = 0; i < r->ntop; i++) {
        int64_t w = want_i(k, "rpn_topk_idx", (size_t)i);
        if (r->order[i] == w) continue;
        int j = i + 1 < r->ntop && r->order[i + 1] == w ? i + 1 : i - 1;
        assert_true(j >= 0 && (r->order[j] == w || want_i(k, "rpn_topk_idx", (size_t)j) == r->order[i]));
        assert_true(fabsf(logits[r->order[i]] - logits[w]) < 1e-4f);
    }
}

static void test_rpn(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        lx_fmap res4;
        int h, w;
        float *rd = hwc(k, "res4", &res4);
        resized_hw(k, &h, &w);
        assert_int_equal(lx_frcnn_rpn(det, &res4, h, w, &err), 0);
        const lx_rpn_state *r = &det->rpn;
        size_t n = (size_t)r->h16 * r->w16 * r->anchors;
        near(k, "rpn_logits_flat", r->logits, wantf(k, "rpn_logits_flat"), n, 1e-4);
        float *anchors = malloc(n * 4 * sizeof *anchors);
        for (size_t i = 0; i < n; i++) lx_frcnn_anchor(det, (int)i, anchors + 4 * i);
        near(k, "rpn_anchors", anchors, wantf(k, "rpn_anchors"), 4 * n, 0);
        near_px(k, "rpn_proposals_all", r->proposals, wantf(k, "rpn_proposals_all"), 4 * n);
        same_topk(k);
        same_ints(k, "rpn_nms_keep", r->nms_keep, (size_t)r->nkept, "rpn_nms_keep");
        assert_int_equal(det->rois.n, count(k, "proposal_logits"));
        near_px(k, "proposals", det->rois.boxes, wantf(k, "proposals"), 4 * (size_t)det->rois.n);
        near(k, "proposal_logits", det->rois.logits, wantf(k, "proposal_logits"),
             (size_t)det->rois.n, 1e-4);
        free(anchors);
        free(rd);
    }
}

static void test_roipool_res5(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        lx_fmap res4, pooled, one, out;
        float *rd = hwc(k, "res4", &res4);
        int P = (int)count(k, "proposal_logits"), R = det->cfg.pooler_resolution;
        pooled.d = malloc((size_t)P * R * R * res4.c * sizeof(float));
        lx_op_roipool(&det->rt, &res4, wantf(k, "proposals"), P, 1.0f / 16, R, &pooled);
        near_map(k, "roi_pooled", &pooled, 0);
        /* res5 on the fixture's pooled map of proposal 0 */
        const lx_tensor *rp = want(k, "roi_pooled");
        float *p0 = NULL;
        one = (lx_fmap){NULL, 1, R, R, (int)rp->shape[1]};
        p0 = malloc((size_t)R * R * one.c * sizeof *p0);
        for (int c = 0; c < one.c; c++)
            for (int p = 0; p < R * R; p++)
                p0[(size_t)p * one.c + c] = ((const float *)rp->data)[(size_t)c * R * R + p];
        one.d = p0;
        out.d = malloc((size_t)R * R * det->cfg.channels[3] * sizeof(float));
        assert_int_equal(lx_frcnn_stage(det, 3, &one, &out, &err), 0);
        /* the fixture keeps channel 0 of it, [14, 14] */
        float c0[64 * 64];
        assert_int_equal(count(k, "res5_roi0"), R * R);
        for (int p = 0; p < R * R; p++) c0[p] = out.d[(size_t)p * out.c];
        near(k, "res5_roi0", c0, wantf(k, "res5_roi0"), (size_t)R * R, 1e-4);
        /* every proposal's feature, through the chunks */
        assert_int_equal(lx_frcnn_rois_reserve(det, P, &err), 0);
        memcpy(det->rois.boxes, wantf(k, "proposals"), (size_t)P * 4 * sizeof(float));
        assert_int_equal(lx_frcnn_roi_features(det, &res4, &err), 0);
        near(k, "roi_features_all", det->rois.features, wantf(k, "roi_features_all"),
             count(k, "roi_features_all"), 1e-4);
        free(p0), free(out.d), free(pooled.d), free(rd);
    }
}

/* The rois of image k with the fixture's proposals and features. */
static void fixture_rois(int k) {
    lx_error err = {0};
    int P = (int)count(k, "proposal_logits");
    assert_int_equal(lx_frcnn_rois_reserve(det, P, &err), 0);
    memcpy(det->rois.boxes, wantf(k, "proposals"), (size_t)P * 4 * sizeof(float));
    memcpy(det->rois.features, wantf(k, "roi_features_all"),
           count(k, "roi_features_all") * sizeof(float));
}

static void test_box_head(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        int h, w;
        resized_hw(k, &h, &w);
        fixture_rois(k);
        assert_int_equal(lx_frcnn_box_head(det, h, w, &err), 0);
        const lx_frcnn_rois *r = &det->rois;
        size_t P = (size_t)r->n;
        near(k, "cls_logits", r->cls_logits, wantf(k, "cls_logits"), count(k, "cls_logits"), 1e-4);
        near(k, "box_deltas", r->box_deltas, wantf(k, "box_deltas"), count(k, "box_deltas"), 1e-4);
        near(k, "attr_logits", r->attr_logits, wantf(k, "attr_logits"), count(k, "attr_logits"), 1e-4);
        same_ints(k, "attr_embed_class", r->embed_class, P, "attr_embed_class");
        near(k, "cls_probs", r->cls_probs, wantf(k, "cls_probs"), count(k, "cls_probs"), 1e-4);
        same_ints(k, "roi_max_classes", r->best_class, P, "roi_max_classes");
        near(k, "roi_max_scores", r->best_score, wantf(k, "roi_max_scores"), P, 1e-4);
        near_px(k, "roi_max_boxes", r->best_box, wantf(k, "roi_max_boxes"), 4 * P);
        same_ints(k, "roi_attr_ids", r->attr_id, P, "roi_attr_ids");
        near(k, "roi_attr_probs", r->attr_prob, wantf(k, "roi_attr_probs"), P, 1e-4);
    }
}

static void test_select_hf(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        fixture_rois(k);
        lx_frcnn_rois *r = &det->rois;
        memcpy(r->best_box, wantf(k, "roi_max_boxes"), (size_t)r->n * 4 * sizeof(float));
        memcpy(r->best_score, wantf(k, "roi_max_scores"), (size_t)r->n * sizeof(float));
        assert_int_equal(lx_frcnn_select_hf(det, &err), 0);
        assert_int_equal(det->tries, count(k, "det_nms_thresh_tried"));
        for (int t = 0; t < det->tries; t++)
            assert_int_equal(det->survivors[t], want_i(k, "det_nms_survivors", (size_t)t));
        same_ints(k, "det_keep", r->keep, (size_t)r->nkeep, "det_keep");
    }
}

static void test_select_caffe(void **state) {
    lx_error err = {0};
    for (int k = 0; k < NIMAGES; k++) {
        fixture_rois(k);
        lx_frcnn_rois *r = &det->rois;
        memcpy(r->cls_probs, wantf(k, "cls_probs"), count(k, "cls_probs") * sizeof(float));
        assert_int_equal(lx_frcnn_select_caffe(det, wantf(k, "caffe_cls_boxes"), &err), 0);
        near(k, "caffe_max_conf", r->max_conf, wantf(k, "caffe_max_conf"), (size_t)r->n, 0);
        same_ints(k, "caffe_keep", r->keep, (size_t)r->nkeep, "caffe_keep");
    }
}

/* ---- whole images ------------------------------------------------------------------- */

static void run_image(lx_detector *d, int k, lx_regions *g) {
    lx_error err = {0};
    const lx_tensor *t = want(k, "image_bgr");
    lx_image img = {(int)t->shape[0], (int)t->shape[1], t->data};
    d->opts.rgb = network_rgb(k);
    int rc = lx_detector_run(d, &img, g, &err);
    if (rc < 0) print_error("img%d: %s\n", k, err.msg);
    assert_int_equal(rc, 0);
}

/* The regions of image k against the fixture's final tensors (prefix "" or "caffe_"). */
static void same_regions(int k, const lx_regions *g, const char *pre) {
    char n[64];
#define NAME(s) (snprintf(n, sizeof n, "%s%s", pre, s), n)
    size_t D = count(k, NAME("obj_probs"));
    assert_int_equal(g->num_boxes, D);
    assert_int_equal(g->img_h, want_i(k, "raw_hw", 0));
    assert_int_equal(g->img_w, want_i(k, "raw_hw", 1));
    near_px(k, NAME("boxes"), g->boxes, wantf(k, NAME("boxes")), 4 * D);
    near(k, NAME("roi_features"), g->features, wantf(k, NAME("roi_features")),
         count(k, NAME("roi_features")), 1e-4);
    near(k, NAME("obj_probs"), g->objects_conf, wantf(k, NAME("obj_probs")), D, 1e-4);
    near(k, NAME("attr_probs"), g->attrs_conf, wantf(k, NAME("attr_probs")), D, 1e-4);
    for (size_t i = 0; i < D; i++) {
        assert_int_equal(g->objects_id[i], want_i(k, NAME("obj_ids"), i));
        assert_int_equal(g->attrs_id[i], want_i(k, NAME("attr_ids"), i));
    }
#undef NAME
}

static void test_images(void **state) {
    lx_regions g;
    lx_regions_init(&g);
    for (int k = 0; k < NIMAGES; k++) {
        det->opts.select = LX_SELECT_HF;
        run_image(det, k, &g);
        same_regions(k, &g, "");
        det->opts.select = LX_SELECT_CAFFE;
        run_image(det, k, &g);
        same_regions(k, &g, "caffe_");
    }
    det->opts.select = LX_SELECT_HF;
    lx_regions_free(&g);
}

/* Every lower kernel level this CPU has gives the same regions. */
static void test_levels(void **state) {
    lx_error err = {0};
    lx_cpu cpu;
    lx_cpu_detect(&cpu, opts.max_isa);
    lx_regions g;
    lx_regions_init(&g);
    for (lx_isa isa = LX_ISA_PORTABLE; isa < cpu.isa; isa++) {
        lx_detector_opts o = opts;
        o.max_isa = isa;
        for (int s = 0; s < 2; s++) {
            o.select = s ? LX_SELECT_CAFFE : LX_SELECT_HF;
            lx_detector *d = lx_detector_new(model, &o, &err);
            assert_non_null(d);
            for (int k = 0; k < NIMAGES; k++) {
                run_image(d, k, &g);
                same_regions(k, &g, s ? "caffe_" : "");
            }
            lx_detector_free(d);
        }
    }
    lx_regions_free(&g);
}

/* bf16 weights (rounded once, 8 significant bits), through the backbone's 100
 * convolutions: res4 within 4e-2 of the reference's in RMS and 6e-2 of its largest
 * value everywhere, on the bf16 dot products (activations rounded too) and exactly in
 * f32.  Measured: 1.3-2.3e-2 RMS and under 4e-2 of the largest value. */
static void test_bf16(void **state) {
    lx_error err = {0};
    lx_model *m = write_model(LX_BF16, "frcnn-bf16.lxm");
    assert_non_null(m);
    for (int exact = 0; exact < 2; exact++) {
        lx_detector_opts o = opts;
        o.exact_bf16 = exact;
        lx_detector *d = lx_detector_new(m, &o, &err);
        assert_non_null(d);
        for (int k = 0; k < NIMAGES; k++) {
            lx_fmap x, res4;
            float *xd = hwc(k, "input", &x);
            assert_int_equal(lx_frcnn_backbone(d, &x, &res4, &err), 0);
            float *got = res4.d;
            lx_fmap w;
            float *wd = hwc(k, "res4", &w);
            double worst = 0, top = 0, se = 0, sw = 0;
            for (size_t i = 0; i < lx_fmap_rows(&w) * (size_t)w.c; i++) {
                double e = (double)got[i] - wd[i];
                worst = fmax(worst, fabs(e));
                top = fmax(top, fabs(wd[i]));
                se += e * e, sw += (double)wd[i] * wd[i];
            }
            if (!(sqrt(se / sw) <= 4e-2 && worst <= 6e-2 * top)) {
                print_error("bf16 (exact %d) img%d res4: RMS error %.3g, largest %.3g of %.3g\n",
                            exact, k, sqrt(se / sw), worst, top);
                fail();
            }
            free(xd), free(wd);
        }
        lx_detector_free(d);
    }
    lx_model_close(m);
}

/* Every threshold leaving fewer boxes than asked for: the last one's survivors. */
static void test_hf_fallback(void **state) {
    lx_error err = {0};
    lx_detector_opts o = opts;
    o.min_boxes = o.max_boxes = 35;
    lx_detector *d = lx_detector_new(model, &o, &err);
    assert_non_null(d);
    lx_regions g;
    lx_regions_init(&g);
    run_image(d, 0, &g);
    assert_int_equal(d->tries, 3);
    assert_int_equal(d->survivors[2], 30);   /* the fixtures' survivors at 0.7 */
    assert_int_equal(g.num_boxes, 30);
    lx_regions_free(&g);
    lx_detector_free(d);
}

/* Images too small, or too elongated to resize, are refused. */
static void test_bad_sizes(void **state) {
    lx_error err = {0};
    uint8_t *px = calloc(8 * 4000 * 3, 1);
    lx_regions g;
    lx_regions_init(&g);
    lx_image one = {1, 1, px}, thin = {8, 4000, px};
    assert_int_equal(lx_detector_run(det, &one, &g, &err), -1);
    assert_non_null(strstr(err.msg, "at least 8x8"));
    assert_int_equal(lx_detector_run(det, &thin, &g, &err), -1);
    assert_non_null(strstr(err.msg, "too elongated"));
    lx_regions_free(&g);
    free(px);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize),        cmocka_unit_test(test_backbone),
        cmocka_unit_test(test_backbone_whole), cmocka_unit_test(test_rpn),
        cmocka_unit_test(test_roipool_res5),  cmocka_unit_test(test_box_head),
        cmocka_unit_test(test_select_hf),     cmocka_unit_test(test_select_caffe),
        cmocka_unit_test(test_images),        cmocka_unit_test(test_hf_fallback),
        cmocka_unit_test(test_levels),        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_bad_sizes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
