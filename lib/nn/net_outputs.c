/*
 * net_outputs.c — the one table of the network's outputs (lx_net_outputs: field name,
 * the flag that asks for it, its head, its shape rule) and the tensors a forward pass
 * fills (lx_outs, net.h).
 *
 * Adding an output: a line in LX_NET_OUTPUTS (net.h, in HF's order) and the code in
 * net.c that fills it.  The tools (lx-encode's --only and --heads,
 * lx-vqa's list of fields to drop, their help) read this table; a test checks the man
 * page against it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "net.h"

/* LX_NET_OUTPUTS (net.h) as a table: dimensions named without their LX_DIM_ prefix. */
#define DIMS1(a) {LX_DIM_##a}
#define DIMS2(a, b) {LX_DIM_##a, LX_DIM_##b}
#define DIMS3(a, b, c) {LX_DIM_##a, LX_DIM_##b, LX_DIM_##c}
#define DIMS4(a, b, c, d) {LX_DIM_##a, LX_DIM_##b, LX_DIM_##c, LX_DIM_##d}
#define ENTRY(id, name, flag, head, nd, ...) [LX_O_##id] = {name, flag, head, nd, DIMS##nd(__VA_ARGS__)},
static const lx_output outputs[LX_O_COUNT] = {LX_NET_OUTPUTS(ENTRY)};
#undef ENTRY

/* How each dimension is written in shapes, as the man pages write them. */
static const char *const dim_names[] = {
    [LX_DIM_TOKENS] = "L", [LX_DIM_REGIONS] = "N", [LX_DIM_HIDDEN] = "H",
    [LX_DIM_HEADS] = "heads", [LX_DIM_L_LAYERS] = "l", [LX_DIM_R_LAYERS] = "r",
    [LX_DIM_X_LAYERS] = "x", [LX_DIM_LX_LAYERS] = "l+x", [LX_DIM_RX_LAYERS] = "r+x",
    [LX_DIM_VOCAB] = "vocab", [LX_DIM_OBJECTS] = "objects", [LX_DIM_ATTRIBUTES] = "attributes",
    [LX_DIM_FEATURES] = "2048", [LX_DIM_LABELS] = "labels", [LX_DIM_TWO] = "2",
};

const lx_output *lx_net_outputs(size_t *n) {
    *n = LX_O_COUNT;
    return outputs;
}

const lx_output *lx_net_output_find(const char *name) {
    for (size_t i = 0; i < LX_O_COUNT; i++)
        if (strcmp(outputs[i].name, name) == 0) return &outputs[i];
    return NULL;
}

const char *lx_output_shape_str(const lx_output *o, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = 0;
    for (int d = 0; d < o->ndim && at < len; d++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", d ? ", " : "[", dim_names[o->dims[d]]);
    if (at < len) snprintf(buf + at, len - at, "]");
    return buf;
}

static int64_t dim_size(lx_dim d, const lx_config *c, int64_t L, int64_t N) {
    switch (d) {
    case LX_DIM_TOKENS: return L;
    case LX_DIM_REGIONS: return N;
    case LX_DIM_HIDDEN: return c->hidden_size;
    case LX_DIM_HEADS: return c->num_attention_heads;
    case LX_DIM_L_LAYERS: return c->l_layers;
    case LX_DIM_R_LAYERS: return c->r_layers;
    case LX_DIM_X_LAYERS: return c->x_layers;
    case LX_DIM_LX_LAYERS: return c->l_layers + c->x_layers;
    case LX_DIM_RX_LAYERS: return c->r_layers + c->x_layers;
    case LX_DIM_VOCAB: return c->vocab_size;
    case LX_DIM_OBJECTS: return c->num_object_labels;
    case LX_DIM_ATTRIBUTES: return c->num_attr_labels;
    case LX_DIM_FEATURES: return c->visual_feat_dim;
    case LX_DIM_LABELS: return c->num_qa_labels;
    case LX_DIM_TWO: return 2;
    }
    return 0;
}

void lx_output_shape(const lx_output *o, const lx_config *c, int64_t L, int64_t N,
                     int64_t shape[4]) {
    for (int d = 0; d < o->ndim; d++) shape[d] = dim_size(o->dims[d], c, L, N);
}

/* ---- the tensors of a batch ------------------------------------------------------ */

int lx_outs_alloc(lx_outs *o, const lx_net *net, size_t n, const lx_rows *lang,
                  const lx_rows *visn, unsigned want, lx_error *err) {
    o->n = n;
    o->t = calloc(n * LX_O_COUNT, sizeof *o->t);
    o->slot = calloc(n, sizeof *o->slot);
    if (!o->t || !o->slot) return lx_error_set(err, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < LX_O_COUNT; k++) {
            if (!(want & outputs[k].flag)) continue;
            int64_t shape[4];
            lx_output_shape(&outputs[k], &net->cfg, lang->len[i], visn->len[i], shape);
            if (lx_tensor_alloc(&o->t[i * LX_O_COUNT + k], LX_F32, outputs[k].ndim, shape,
                                err) < 0)
                return -1;
        }
    return 0;
}

float *lx_outs_data(const lx_outs *o, size_t i, int k) {
    return o->t[i * LX_O_COUNT + k].data;
}

void lx_outs_rows(lx_outs *o, int k, int layer, const lx_net *net, const lx_rows *r) {
    size_t H = (size_t)net->H;
    for (size_t i = 0; i < o->n; i++) {
        float *dst = lx_outs_data(o, i, k);
        if (!dst) continue;
        size_t sz = (size_t)r->len[i] * H;
        memcpy(dst + (size_t)layer * sz, net->s.hs.f + (size_t)(r->base + r->off[i]) * H,
               sz * sizeof *dst);
    }
}

float **lx_outs_slots(lx_outs *o, int k, int layer) {
    int any = 0;
    for (size_t i = 0; i < o->n; i++) {
        lx_tensor *t = &o->t[i * LX_O_COUNT + k];
        o->slot[i] = NULL;
        if (!t->data) continue;
        size_t per = (size_t)lx_tensor_nelem(t) / (size_t)t->shape[0];
        o->slot[i] = (float *)t->data + (size_t)layer * per;
        any = 1;
    }
    return any ? o->slot : NULL;
}

int lx_outs_append(lx_outs *o, lx_record *recs, lx_error *err) {
    for (size_t i = 0; i < o->n; i++)
        for (int k = 0; k < LX_O_COUNT; k++) {
            lx_tensor *t = &o->t[i * LX_O_COUNT + k];
            if (t->data && lx_record_set_tensor(&recs[i], outputs[k].name, t, err) < 0)
                return -1;
        }
    return 0;
}

int lx_out_not_finite(lx_error *err, const char *name, const lx_tensor *t, size_t at, float v) {
    char idx[8 * 24];
    return lx_error_set(err, "%s%s: got %g, expected a finite number: the network overflowed "
                             "(a weight of the model that is not finite or too large, or an "
                             "input value too large for it)",
                        name, lx_tensor_index_str(t, at, idx, sizeof idx),
                        isnan(v) ? NAN : (double)v);
}

int lx_outs_check(const lx_outs *o, size_t i, lx_error *err) {
    for (int k = 0; k < LX_O_COUNT; k++) {
        const lx_tensor *t = &o->t[i * LX_O_COUNT + k];
        if (!t->data) continue;
        size_t n = (size_t)lx_tensor_nelem(t), at = lx_f32_first_nonfinite(t->data, n);
        if (at < n) return lx_out_not_finite(err, outputs[k].name, t, at, ((float *)t->data)[at]);
    }
    return 0;
}

void lx_outs_drop(lx_outs *o, size_t i) {
    for (int k = 0; k < LX_O_COUNT; k++) lx_tensor_free(&o->t[i * LX_O_COUNT + k]);
}

void lx_outs_free(lx_outs *o) {
    for (size_t i = 0; o->t && i < o->n * LX_O_COUNT; i++) lx_tensor_free(&o->t[i]);
    free(o->t);
    free(o->slot);
    memset(o, 0, sizeof *o);
}
