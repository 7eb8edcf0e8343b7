/*
 * net_check.c — the network's inputs (lx_net_inputs) and the checks a record passes
 * before it joins a batch (lx_net_check), so that an error names its record and nothing
 * the network sizes or indexes comes unchecked from the input.
 */
#include <math.h>
#include <stdio.h>
#include "../internal.h"
#include "net.h"

static const lx_input inputs[] = {
    {"input_ids", 1, 0},          {"token_type_ids", 0, 0},       {"attention_mask", 0, 0},
    {"visual_feats", 1, 1},       {"visual_pos", 1, 1},           {"visual_attention_mask", 0, 1},
};

const lx_input *lx_net_inputs(size_t *n) {
    *n = sizeof inputs / sizeof *inputs;
    return inputs;
}

/* What a JSON value that is not a numeric tensor is, for a message: the reader keeps
 * empty, ragged and mixed arrays as JSON. */
static const char *json_kind(const json_t *v) {
    if (!v) return "a non-numeric value";
    if (!json_is_array(v)) return json_is_string(v) ? "a string" : json_is_object(v) ? "an object"
                                                                 : "a single value";
    if (json_array_size(v) == 0) return "an empty list";
    size_t n = json_array_size(v), nums = 0, rows = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        nums += json_is_number(e) != 0;
        rows += json_is_array(e) != 0;
    }
    if (rows == n) return "nested lists of different lengths, or empty ones";
    return nums == n ? "numbers out of range" : "a list that is not all numbers";
}

/* A numeric tensor field, or NULL (absent: *bad stays 0 unless it is required; present
 * but JSON: *bad = 1). */
static const lx_tensor *input(const lx_record *r, const char *name, int required,
                              lx_error *err, int *bad) {
    const lx_field *f = lx_record_find(r, name);
    if (!f) {
        if (required) {
            *bad = 1;
            lx_error_set(err, "%s: missing (the model needs it)", name);
        }
        return NULL;
    }
    if (f->json || (unsigned)f->tensor.dtype >= LX_DTYPE_COUNT) {
        *bad = 1;
        lx_error_set(err, "%s: got %s, expected an array of numbers", name, json_kind(f->json));
        return NULL;
    }
    return &f->tensor;
}

static int want_shape(const lx_tensor *t, const char *name, int ndim, int64_t d0, int64_t d1,
                      const char *expect, lx_error *err) {
    int ok = t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
    if (ok) return 0;
    char g[96];
    return lx_error_set(err, "%s: got %s, expected %s", name, lx_tensor_shape_str(t, g, sizeof g),
                        expect);
}

/* [L] integers in 0..limit-1. */
static int check_ids(const lx_tensor *t, const char *name, int64_t L, int64_t limit,
                     const char *what, lx_error *err) {
    char e[64];
    snprintf(e, sizeof e, "[%lld] like input_ids", (long long)L);
    if (want_shape(t, name, 1, L, 0, e, err) < 0) return -1;
    for (int64_t i = 0; i < L; i++) {
        double v = lx_tensor_elem(t, (size_t)i);
        if (!(v >= 0 && v < (double)limit) || v != floor(v))
            return lx_error_set(err, "%s[%lld]: got %g, expected an integer in 0..%lld (%s)", name,
                                (long long)i, v, (long long)limit - 1, what);
    }
    return 0;
}

static int check_finite(const lx_tensor *t, const char *name, int width, lx_error *err) {
    size_t n = (size_t)lx_tensor_nelem(t);
    for (size_t i = 0; i < n; i++) {
        double v = lx_tensor_elem(t, i);
        if (isfinite(v)) continue;
        if (width > 0)
            return lx_error_set(err, "%s[%zu][%zu]: got %g, expected a finite number", name,
                                i / (size_t)width, i % (size_t)width, v);
        return lx_error_set(err, "%s[%zu]: got %g, expected a finite number", name, i, v);
    }
    return 0;
}

/* Values of magnitude at most LX_NET_MAX_INPUT (finite ones). */
static int check_bounded(const lx_tensor *t, const char *name, int width, lx_error *err) {
    if (check_finite(t, name, width, err) < 0) return -1;
    size_t n = (size_t)lx_tensor_nelem(t);
    for (size_t i = 0; i < n; i++) {
        double v = lx_tensor_elem(t, i);
        if (fabs(v) <= LX_NET_MAX_INPUT) continue;
        return lx_error_set(err, "%s[%zu][%zu]: got %g, expected a value from -%g to %g (a "
                                 "larger one overflows the network)", name, i / (size_t)width,
                            i % (size_t)width, v, LX_NET_MAX_INPUT, LX_NET_MAX_INPUT);
    }
    return 0;
}

/* An optional mask [n] of 0s and 1s, as HF's attention masks are: 1 attends, 0 masks.
 * Any other value would scale the additive mask (1 - m) * -FLT_MAX past the float range
 * (255 or 1e30 give infinities, then NaN scores), or half-mask a token. */
static int check_mask(const lx_tensor *m, const char *name, int64_t n, const char *like,
                      lx_error *err) {
    char e[96];
    snprintf(e, sizeof e, "[%lld] like %s", (long long)n, like);
    if (!m) return 0;
    if (want_shape(m, name, 1, n, 0, e, err) < 0) return -1;
    for (int64_t i = 0; i < n; i++) {
        double v = lx_tensor_elem(m, (size_t)i);
        if (v != 0 && v != 1)
            return lx_error_set(err, "%s[%lld]: got %g, expected 0 or 1 (1: attend, 0: "
                                     "masked)", name, (long long)i, v);
    }
    return 0;
}

/* The language side: input_ids [L], token_type_ids and attention_mask [L].  *L out. */
static int check_language(const lx_net *net, const lx_record *r, int64_t *L, lx_error *err) {
    const lx_config *c = &net->cfg;
    int bad = 0;
    const lx_tensor *ids = input(r, "input_ids", 1, err, &bad);
    if (bad) return -1;
    char g[96];
    if (ids->ndim != 1 || ids->shape[0] < 1)
        return lx_error_set(err, "input_ids: got %s, expected [L] with L >= 1 (one record, "
                                 "no batch dimension)", lx_tensor_shape_str(ids, g, sizeof g));
    *L = ids->shape[0];
    if (*L > c->max_position_embeddings)
        return lx_error_set(err, "input_ids: got %lld tokens, expected at most %d (the model's "
                                 "position embeddings)", (long long)*L, c->max_position_embeddings);
    if (check_ids(ids, "input_ids", *L, c->vocab_size, "the vocabulary size", err) < 0) return -1;
    const lx_tensor *tt = input(r, "token_type_ids", 0, err, &bad);
    if (bad || (tt && check_ids(tt, "token_type_ids", *L, c->type_vocab_size,
                                "the token type vocabulary", err) < 0))
        return -1;
    const lx_tensor *am = input(r, "attention_mask", 0, err, &bad);
    return bad || check_mask(am, "attention_mask", *L, "input_ids", err) < 0 ? -1 : 0;
}

/* Boxes normalised to 0..1 (unless opts.no_box_check). */
static int check_boxes(const lx_net *net, const lx_tensor *vp, int64_t N, lx_error *err) {
    size_t w = (size_t)net->cfg.visual_pos_dim, n = (size_t)N * w;
    for (size_t i = 0; !net->opts.no_box_check && i < n; i++) {
        double v = lx_tensor_elem(vp, i);
        if (v < -1e-5 || v > 1 + 1e-5)
            return lx_error_set(err,
                "visual_pos[%zu][%zu]: got %g, expected boxes normalised to 0..1 (divide "
                "pixel boxes by the image width and height, as lx-embed-vis does; "
                "--no-box-check to skip this check)", i / w, i % w, v);
    }
    return 0;
}

/* The vision side: visual_feats [N, F], visual_pos [N, 4], visual_attention_mask [N]. */
static int check_vision(const lx_net *net, const lx_record *r, lx_error *err) {
    const lx_config *c = &net->cfg;
    int bad = 0;
    char g[96], e[96];
    const lx_tensor *vf = input(r, "visual_feats", 1, err, &bad);
    if (bad) return -1;
    if (vf->ndim != 2 || vf->shape[0] < 1 || vf->shape[1] != c->visual_feat_dim)
        return lx_error_set(err, "visual_feats: got %s, expected [N, %d] with N >= 1",
                            lx_tensor_shape_str(vf, g, sizeof g), c->visual_feat_dim);
    int64_t N = vf->shape[0];
    /* Bound the [N, N] attention scores a record may ask for (LXMERT uses 36 to 100). */
    if (N > LX_NET_MAX_REGIONS)
        return lx_error_set(err, "visual_feats: got %lld regions, expected at most %d",
                            (long long)N, LX_NET_MAX_REGIONS);
    if (check_bounded(vf, "visual_feats", c->visual_feat_dim, err) < 0) return -1;
    const lx_tensor *vp = input(r, "visual_pos", 1, err, &bad);
    if (bad) return -1;
    snprintf(e, sizeof e, "[%lld, %d] (one box per region of visual_feats)", (long long)N,
             c->visual_pos_dim);
    if (want_shape(vp, "visual_pos", 2, N, c->visual_pos_dim, e, err) < 0 ||
        check_bounded(vp, "visual_pos", c->visual_pos_dim, err) < 0 ||
        check_boxes(net, vp, N, err) < 0)
        return -1;
    const lx_tensor *vm = input(r, "visual_attention_mask", 0, err, &bad);
    return bad || check_mask(vm, "visual_attention_mask", N, "the regions of visual_feats",
                             err) < 0 ? -1 : 0;
}

int lx_net_check(const lx_net *net, const lx_record *r, lx_error *err) {
    int64_t L;
    return check_language(net, r, &L, err) < 0 || check_vision(net, r, err) < 0 ? -1 : 0;
}
