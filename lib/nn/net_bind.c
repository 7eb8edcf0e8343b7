/*
 * net_bind.c — the network's weights (lx_weights, net.h): views into the mapped .lxm,
 * bound by name, module by module as HF's classes name them.
 *
 * Shapes come from the file: lx_model_open checked every tensor against the schema
 * (lib/schema.c) for the file's config, so a Linear layer's [out, in] is its weight's
 * shape.  Matrices stay as stored (f32, or 16-bit read in place by the product kernels);
 * vectors and the position / token type tables are used as f32 (widened copies when the
 * file stores them in 16 bits).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "net.h"

typedef struct binder {
    lx_binder l;
    lx_net *net;
} binder;

/* nn.Linear: P.weight (with P.weight_scale, and the row sums computed here, when it is
 * int8), P.bias. */
static void bind_lin(binder *b, lx_lin *l, const char *p) {
    memset(l, 0, sizeof *l);
    lx_bind_matrix(l, lx_bind_tensor(&b->l, 0, "%s.weight", p));
    if (l->w8) {
        l->ws = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "%s.weight_scale", p));
        int32_t *sums = lx_bind_alloc(&b->l, (size_t)l->out * sizeof *sums);
        if (sums) lx_i8_row_sums(b->l.isa, l->w8, l->out, l->in, (size_t)l->in, sums);
        l->wsum = sums;
    }
    l->b = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "%s.bias", p));
}

/* nn.LayerNorm: P.weight, P.bias. */
static void bind_ln(binder *b, lx_ln *ln, const char *p) {
    const lx_tensor *g = lx_bind_tensor(&b->l, 0, "%s.weight", p);
    ln->g = lx_bind_f32(&b->l, g);
    ln->b = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "%s.bias", p));
    ln->n = g ? (int)g->shape[0] : 0;
}

/* Q, K and V as one [3H, H] layer when their weights lie back to back in the mapping
 * (same dtype, key right after query, value right after key), as lx-convert writes
 * them; the biases (and int8 row scales and sums) are copied into one [3H] array each.  Otherwise
 * a->qkv stays empty and the three products run separately, with the same results
 * column by column. */
static void fuse_qkv(binder *b, lx_att *a) {
    memset(&a->qkv, 0, sizeof a->qkv);
    if (b->l.failed || b->net->opts.separate_qkv) return;
    const lx_lin *q = &a->query, *k = &a->key, *v = &a->value;
    size_t hh = (size_t)q->out * (size_t)q->in;
    int adjacent = q->w    ? k->w == q->w + hh && v->w == k->w + hh
                   : q->w8 ? k->w8 == q->w8 + hh && v->w8 == k->w8 + hh
                           : k->w16 == q->w16 + hh && v->w16 == k->w16 + hh &&
                                 k->bf16 == q->bf16 && v->bf16 == q->bf16;
    if (!adjacent) return;
    size_t H = (size_t)q->out;
    float *bias = lx_owned_alloc(&b->net->owned, (q->w8 ? 6 : 3) * H * sizeof *bias);
    if (!bias) return; /* not fusing is fine: no error */
    memcpy(bias, q->b, H * sizeof *bias);
    memcpy(bias + H, k->b, H * sizeof *bias);
    memcpy(bias + 2 * H, v->b, H * sizeof *bias);
    a->qkv = *q;
    a->qkv.out = 3 * q->out;
    a->qkv.b = bias;
    if (q->w8) {
        float *ws = bias + 3 * H;
        memcpy(ws, q->ws, H * sizeof *ws);
        memcpy(ws + H, k->ws, H * sizeof *ws);
        memcpy(ws + 2 * H, v->ws, H * sizeof *ws);
        a->qkv.ws = ws;
        int32_t *sums = lx_owned_alloc(&b->net->owned, 3 * H * sizeof *sums);
        if (!sums) {
            memset(&a->qkv, 0, sizeof a->qkv);
            return;
        }
        memcpy(sums, q->wsum, H * sizeof *sums);
        memcpy(sums + H, k->wsum, H * sizeof *sums);
        memcpy(sums + 2 * H, v->wsum, H * sizeof *sums);
        a->qkv.wsum = sums;
    }
}

/* LxmertAttention (P.SELF.{query,key,value}) + LxmertAttentionOutput (P.output). */
static void bind_att(binder *b, lx_att *a, const char *p, const char *self) {
    char n[160];
    snprintf(n, sizeof n, "%s.%s.query", p, self);
    bind_lin(b, &a->query, n);
    snprintf(n, sizeof n, "%s.%s.key", p, self);
    bind_lin(b, &a->key, n);
    snprintf(n, sizeof n, "%s.%s.value", p, self);
    bind_lin(b, &a->value, n);
    snprintf(n, sizeof n, "%s.output.dense", p);
    bind_lin(b, &a->dense, n);
    snprintf(n, sizeof n, "%s.output.LayerNorm", p);
    bind_ln(b, &a->ln, n);
    fuse_qkv(b, a);
}

/* LxmertIntermediate (INTER.dense) + LxmertOutput (OUT.dense, OUT.LayerNorm). */
static void bind_ffn(binder *b, lx_ffn *f, const char *inter, const char *out) {
    char n[160];
    snprintf(n, sizeof n, "%s.dense", inter);
    bind_lin(b, &f->inter, n);
    snprintf(n, sizeof n, "%s.dense", out);
    bind_lin(b, &f->out, n);
    snprintf(n, sizeof n, "%s.LayerNorm", out);
    bind_ln(b, &f->ln, n);
}

/* LxmertLayer: lxmert.encoder.KIND.I (layer or r_layers). */
static void bind_layer(binder *b, lx_layer *l, const char *kind, int i) {
    char p[128], q[128];
    snprintf(p, sizeof p, "lxmert.encoder.%s.%d.attention", kind, i);
    bind_att(b, &l->attention, p, "self");
    snprintf(p, sizeof p, "lxmert.encoder.%s.%d.intermediate", kind, i);
    snprintf(q, sizeof q, "lxmert.encoder.%s.%d.output", kind, i);
    bind_ffn(b, &l->ffn, p, q);
}

/* LxmertXLayer: lxmert.encoder.x_layers.I. */
static void bind_xlayer(binder *b, lx_xlayer *x, int i) {
    char p[128], q[128];
    snprintf(p, sizeof p, "lxmert.encoder.x_layers.%d.visual_attention", i);
    bind_att(b, &x->visual_attention, p, "att");
    snprintf(p, sizeof p, "lxmert.encoder.x_layers.%d.lang_self_att", i);
    bind_att(b, &x->lang_self_att, p, "self");
    snprintf(p, sizeof p, "lxmert.encoder.x_layers.%d.visn_self_att", i);
    bind_att(b, &x->visn_self_att, p, "self");
    snprintf(p, sizeof p, "lxmert.encoder.x_layers.%d.lang_inter", i);
    snprintf(q, sizeof q, "lxmert.encoder.x_layers.%d.lang_output", i);
    bind_ffn(b, &x->lang, p, q);
    snprintf(p, sizeof p, "lxmert.encoder.x_layers.%d.visn_inter", i);
    snprintf(q, sizeof q, "lxmert.encoder.x_layers.%d.visn_output", i);
    bind_ffn(b, &x->visn, p, q);
}

/* LxmertModel: embeddings, encoder (visn_fc and the three stacks), pooler. */
static void bind_backbone(binder *b, lx_weights *w, const lx_config *c) {
    lx_bind_matrix(&w->word_embeddings, lx_bind_tensor(&b->l, 0, "lxmert.embeddings.word_embeddings.weight"));
    w->position_embeddings = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "lxmert.embeddings.position_embeddings.weight"));
    w->token_type_embeddings =
        lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "lxmert.embeddings.token_type_embeddings.weight"));
    bind_ln(b, &w->emb_ln, "lxmert.embeddings.LayerNorm");
    bind_lin(b, &w->visn_fc, "lxmert.encoder.visn_fc.visn_fc");
    bind_ln(b, &w->visn_layer_norm, "lxmert.encoder.visn_fc.visn_layer_norm");
    bind_lin(b, &w->box_fc, "lxmert.encoder.visn_fc.box_fc");
    bind_ln(b, &w->box_layer_norm, "lxmert.encoder.visn_fc.box_layer_norm");
    for (int i = 0; i < c->l_layers; i++) bind_layer(b, &w->layer[i], "layer", i);
    for (int i = 0; i < c->r_layers; i++) bind_layer(b, &w->r_layers[i], "r_layers", i);
    for (int i = 0; i < c->x_layers; i++) bind_xlayer(b, &w->x_layers[i], i);
    bind_lin(b, &w->pooler, "lxmert.pooler.dense");
}

static int has(const lx_net *net, const char *name) {
    return lx_model_tensor(net->model, name) != NULL;
}

/* nn.Linear P when the file has it: 1 if bound. */
static int bind_optional(binder *b, lx_lin *l, const char *p) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", p);
    if (!has(b->net, n)) return 0;
    bind_lin(b, l, p);
    return 1;
}

/* The heads the file carries (the schema made each complete or absent): cls.predictions
 * (its decoder tied to the word embeddings unless the file has its own), cls.
 * seq_relationship, obj_predict_head, answer_head. */
static unsigned bind_heads(binder *b, lx_weights *w) {
    lx_net *net = b->net;
    unsigned avail = 0;
    if (has(net, "cls.predictions.transform.dense.weight")) {
        bind_lin(b, &w->mlm_transform, "cls.predictions.transform.dense");
        bind_ln(b, &w->mlm_ln, "cls.predictions.transform.LayerNorm");
        w->mlm_decoder = w->word_embeddings;
        if (has(net, "cls.predictions.decoder.weight"))
            lx_bind_matrix(&w->mlm_decoder, lx_bind_tensor(&b->l, 0, "cls.predictions.decoder.weight"));
        w->mlm_decoder.b = lx_bind_f32(&b->l, lx_bind_tensor(&b->l, 0, "cls.predictions.bias"));
        avail |= LX_OUT_MLM;
    }
    if (has(net, "cls.seq_relationship.weight")) {
        bind_lin(b, &w->seq_relationship, "cls.seq_relationship");
        avail |= LX_OUT_MATCH;
    }
    if (has(net, "obj_predict_head.transform.dense.weight")) {
        bind_lin(b, &w->obj_transform, "obj_predict_head.transform.dense");
        bind_ln(b, &w->obj_ln, "obj_predict_head.transform.LayerNorm");
        if (bind_optional(b, &w->obj, "obj_predict_head.decoder_dict.obj")) avail |= LX_OUT_OBJ;
        if (bind_optional(b, &w->attr, "obj_predict_head.decoder_dict.attr")) avail |= LX_OUT_ATTR;
        if (bind_optional(b, &w->feat, "obj_predict_head.decoder_dict.feat")) avail |= LX_OUT_FEAT;
    }
    if (net->cfg.num_qa_labels > 0 && has(net, "answer_head.logit_fc.0.weight")) {
        bind_lin(b, &w->qa0, "answer_head.logit_fc.0");
        bind_ln(b, &w->qa2, "answer_head.logit_fc.2");
        bind_lin(b, &w->qa3, "answer_head.logit_fc.3");
        avail |= LX_OUT_QA;
    }
    return avail;
}

static int att_bf16(const lx_net *net, const lx_att *a) {
    return lx_rt_takes_bf16(&net->rt, &a->query) && lx_rt_takes_bf16(&net->rt, &a->key) &&
           lx_rt_takes_bf16(&net->rt, &a->value) && lx_rt_takes_bf16(&net->rt, &a->dense);
}

static int ffn_bf16(const lx_net *net, const lx_ffn *f) {
    return lx_rt_takes_bf16(&net->rt, &f->inter) && lx_rt_takes_bf16(&net->rt, &f->out);
}

/* 1 when every product of the encoder takes bf16: the activations then carry bf16
 * copies for them (net.h, lx_act).  (lx-convert stores every matrix in one dtype.) */
static int all_bf16(const lx_net *net) {
    const lx_weights *w = &net->w;
    const lx_config *c = &net->cfg;
    int ok = c->l_layers + c->r_layers + c->x_layers > 0;
    for (int i = 0; ok && i < c->l_layers; i++)
        ok = att_bf16(net, &w->layer[i].attention) && ffn_bf16(net, &w->layer[i].ffn);
    for (int i = 0; ok && i < c->r_layers; i++)
        ok = att_bf16(net, &w->r_layers[i].attention) && ffn_bf16(net, &w->r_layers[i].ffn);
    for (int i = 0; ok && i < c->x_layers; i++) {
        const lx_xlayer *x = &w->x_layers[i];
        ok = att_bf16(net, &x->visual_attention) && att_bf16(net, &x->lang_self_att) &&
             att_bf16(net, &x->visn_self_att) && ffn_bf16(net, &x->lang) &&
             ffn_bf16(net, &x->visn);
    }
    return ok;
}

int lx_net_bind(lx_net *net, lx_error *err) {
    const lx_config *c = &net->cfg;
    lx_weights *w = &net->w;
    binder b = {.l = {.model = net->model, .owned = &net->owned, .isa = net->rt.cpu.isa,
                      .err = err},
                .net = net};
    w->layer = calloc((size_t)c->l_layers + 1, sizeof *w->layer);
    w->r_layers = calloc((size_t)c->r_layers + 1, sizeof *w->r_layers);
    w->x_layers = calloc((size_t)c->x_layers + 1, sizeof *w->x_layers);
    if (!w->layer || !w->r_layers || !w->x_layers) return lx_error_set(err, "out of memory");
    bind_backbone(&b, w, c);
    net->avail = LX_OUT_LANGUAGE | LX_OUT_VISION | LX_OUT_POOLED | LX_OUT_HIDDEN |
                 LX_OUT_ATTENTIONS;
    if (!b.l.failed) net->avail |= bind_heads(&b, w);
    if (b.l.failed) return -1;
    net->bf16_acts = !net->opts.unfused && all_bf16(net);
    /* int8 layers quantize what the visual projections write: their rows must not depend
     * on the batch (ops.h, lx_lin.rowwise) */
    if ((c->r_layers && w->r_layers[0].attention.query.w8) ||
        (c->x_layers && w->x_layers[0].visual_attention.query.w8))
        w->visn_fc.rowwise = w->box_fc.rowwise = 1;
    return 0;
}
