/*
 * net.c — the LXMERT forward pass: HF's LxmertModel and its heads (modeling_lxmert.py),
 * one function per module, in its order and with its name, written in the operations of
 * net_ops.c over the packed batch described in net.h:
 *
 *   embeddings              LayerNorm(word + position + token_type)              [L, H]
 *   visual_feature_encoder  (LayerNorm(visn_fc(feats)) + LayerNorm(box_fc(pos))) / 2  [N, H]
 *   bert_layer              LxmertLayer: self-attention, then feed-forward (layer, r_layers)
 *   x_layer                 LxmertXLayer: visual_attention (ONE cross-attention module,
 *                           used in both directions over the layer's input states), then
 *                           lang/visn_self_att, then lang/visn feed-forward
 *                           (x_layer_first: the last one, when only each record's first
 *                           language row is read, as by the pooler)
 *   encoder                 the language layers, the vision layers, the cross layers
 *   pooler                  tanh(dense(the first token))
 *   heads                   cls.predictions, cls.seq_relationship, obj_predict_head,
 *                           answer_head
 *
 * Masks are HF's additive (1 - m) * finfo(float32).min on the scores.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "kernels.h"
#include "net.h"

/* A batch laid out: the language rows of every record, then the vision rows. */
typedef struct lx_batch {
    size_t n;
    lx_rows lang, visn;
    int first_only;               /* the outputs asked for read no more of the last cross
                                   * layer than each record's first language row (the
                                   * pooler's): that layer computes those rows alone and
                                   * leaves record i's in row i (x_layer_first) */
    lx_outs out;
} lx_batch;

/* ---- the model -------------------------------------------------------------------- */

/* LxmertEmbeddings: every record's rows of word + position + token type embeddings,
 * then one LayerNorm over all language rows. */
static void embeddings(lx_net *net, const lx_record *recs, const lx_batch *b) {
    const lx_weights *w = &net->w;
    int H = net->H;
    for (size_t i = 0; i < b->n; i++) {
        const lx_tensor *ids = lx_record_tensor(&recs[i], "input_ids");
        const lx_tensor *tt = lx_record_tensor(&recs[i], "token_type_ids");
        for (int t = 0; t < b->lang.len[i]; t++) {
            size_t id = (size_t)lx_tensor_elem(ids, (size_t)t);
            size_t ty = tt ? (size_t)lx_tensor_elem(tt, (size_t)t) : 0;
            float *row = net->s.hs.f + (size_t)(b->lang.off[i] + t) * H;
            const float *pe = w->position_embeddings + (size_t)t * H;
            const float *te = w->token_type_embeddings + ty * H, *we = row;
            if (w->word_embeddings.w) we = w->word_embeddings.w + id * H;
            else lx_k_widen(row, w->word_embeddings.w16 + id * H, (size_t)H,
                            w->word_embeddings.bf16, net->rt.cpu.isa);
            for (int j = 0; j < H; j++) row[j] = we[j] + pe[j] + te[j];
        }
    }
    lx_op_layernorm(&net->rt, &w->emb_ln, &net->s.hs, b->lang.total, net->eps);
}

/* LxmertVisualFeatureEncoder over all vision rows (features and boxes packed). */
static int visual_feature_encoder(lx_net *net, const lx_batch *b, lx_error *err) {
    const lx_weights *w = &net->w;
    lx_state *s = &net->s;
    int N = b->visn.total;
    lx_act feats = lx_act_f32(s->feats, (size_t)net->cfg.visual_feat_dim);
    lx_act pos = lx_act_f32(s->pos, (size_t)net->cfg.visual_pos_dim);
    lx_act x = lx_act_f32(s->ctx.f, (size_t)net->H), y = lx_act_f32(s->tmp, (size_t)net->H);
    lx_act out = lx_act_at(&s->hs, b->lang.total);
    if (lx_op_linear(&net->rt, &w->visn_fc, &feats, N, x.f, x.ld, err) < 0 ||
        lx_op_linear(&net->rt, &w->box_fc, &pos, N, y.f, y.ld, err) < 0)
        return -1;
    lx_op_layernorm(&net->rt, &w->visn_layer_norm, &x, N, net->eps);
    lx_op_layernorm(&net->rt, &w->box_layer_norm, &y, N, net->eps);
    lx_op_mean(&net->rt, &out, x.f, y.f, N, net->H);
    return 0;
}

/* LxmertSelfAttention's (or the cross-attention's) projections of rows r: Q, K and V,
 * as one product where the file lets them. */
static int project_qkv(lx_net *net, const lx_att *a, const lx_rows *r, lx_error *err) {
    lx_state *s = &net->s;
    lx_act x = lx_act_at(&s->hs, r->base);
    size_t ld = 3 * (size_t)net->H;
    float *q = s->qkv + (size_t)r->base * ld;
    if (a->qkv.out) return lx_op_linear(&net->rt, &a->qkv, &x, r->total, q, ld, err);
    return lx_op_linear(&net->rt, &a->query, &x, r->total, q, ld, err) < 0 ||
           lx_op_linear(&net->rt, &a->key, &x, r->total, q + net->H, ld, err) < 0 ||
           lx_op_linear(&net->rt, &a->value, &x, r->total, q + 2 * net->H, ld, err) < 0 ? -1 : 0;
}

/* The projections of one direction of the cross-attention: Q of rows qr, K and V of
 * rows kr (the rows of the fused weight, or the three weights). */
static int project_q_kv(lx_net *net, const lx_att *a, const lx_rows *qr, const lx_rows *kr,
                        lx_error *err) {
    lx_state *s = &net->s;
    int H = net->H;
    size_t ld = 3 * (size_t)H;
    lx_act xq = lx_act_at(&s->hs, qr->base), xk = lx_act_at(&s->hs, kr->base);
    float *q = s->qkv + (size_t)qr->base * ld, *kv = s->qkv + (size_t)kr->base * ld + H;
    lx_lin query = a->qkv.out ? lx_lin_rows(&a->qkv, 0, H) : a->query;
    if (lx_op_linear(&net->rt, &query, &xq, qr->total, q, ld, err) < 0) return -1;
    if (a->qkv.out) {
        lx_lin key_value = lx_lin_rows(&a->qkv, H, 2 * H);
        return lx_op_linear(&net->rt, &key_value, &xk, kr->total, kv, ld, err);
    }
    return lx_op_linear(&net->rt, &a->key, &xk, kr->total, kv, ld, err) < 0 ||
           lx_op_linear(&net->rt, &a->value, &xk, kr->total, kv + H, ld, err) < 0 ? -1 : 0;
}

/* LxmertAttentionOutput over rows r: hidden = LayerNorm(dense(context) + hidden). */
static int attention_output(lx_net *net, const lx_att *a, const lx_rows *r, lx_error *err) {
    lx_act ctx = lx_act_at(&net->s.ctx, r->base), hs = lx_act_at(&net->s.hs, r->base);
    return lx_op_dense_add_norm(&net->rt, &a->dense, &a->ln, &ctx, r->total, &hs, net->s.tmp,
                                net->eps, err);
}

/* LxmertSelfAttentionLayer over one modality's rows r (probs: its attention maps). */
static int self_attention(lx_net *net, const lx_att *a, const lx_rows *r, float **probs,
                          lx_error *err) {
    if (project_qkv(net, a, r, err) < 0) return -1;
    lx_op_attention(net, r, r, probs);
    return attention_output(net, a, r, err);
}

/* LxmertIntermediate + LxmertOutput over rows r:
 * hidden = LayerNorm(dense(GELU(dense(hidden))) + hidden). */
static int feed_forward(lx_net *net, const lx_ffn *f, const lx_rows *r, lx_error *err) {
    lx_act hs = lx_act_at(&net->s.hs, r->base), mid = net->s.inter;
    return lx_op_linear_gelu(&net->rt, &f->inter, &hs, r->total, &mid, err) < 0 ||
           lx_op_dense_add_norm(&net->rt, &f->out, &f->ln, &mid, r->total, &hs, net->s.tmp,
                                net->eps, err) < 0 ? -1 : 0;
}

/* LxmertLayer. */
static int bert_layer(lx_net *net, const lx_layer *l, const lx_rows *r, float **probs,
                      lx_error *err) {
    return self_attention(net, &l->attention, r, probs, err) < 0 ||
           feed_forward(net, &l->ffn, r, err) < 0 ? -1 : 0;
}

/* LxmertCrossAttentionLayer, as LxmertXLayer uses it: the one visual_attention module
 * with language queries over vision keys and vision queries over language keys, both
 * from the layer's input states (Q, K, V and the output run once over all rows).  With
 * lang_only, the language queries alone. */
static int cross_attention(lx_net *net, const lx_att *a, const lx_batch *b, int lang_only,
                           float **probs, lx_error *err) {
    lx_rows all = {b->n, 0, b->lang.total + b->visn.total, NULL, NULL};
    if (lang_only) {
        if (project_q_kv(net, a, &b->lang, &b->visn, err) < 0) return -1;
        lx_op_attention(net, &b->lang, &b->visn, probs);
        return attention_output(net, a, &b->lang, err);
    }
    if (project_qkv(net, a, &all, err) < 0) return -1;
    lx_op_attention(net, &b->lang, &b->visn, probs);
    lx_op_attention(net, &b->visn, &b->lang, NULL);
    return attention_output(net, a, &all, err);
}

/* Each record's first language row moved to row i, with its bf16 copy (row i is never
 * after the row it takes, and rows taken are not yet written). */
static void gather_first(lx_net *net, const lx_rows *lang) {
    lx_act *hs = &net->s.hs;
    for (size_t i = 0; i < lang->n; i++) {
        size_t from = (size_t)lang->off[i];
        if (from == i) continue;
        memcpy(hs->f + i * hs->ld, hs->f + from * hs->ld, (size_t)net->H * sizeof *hs->f);
        if (hs->h) memcpy(hs->h + i * hs->ldh, hs->h + from * hs->ldh, hs->ldh * sizeof *hs->h);
    }
}

/* LxmertXLayer for each record's first language row alone (b->first_only): the
 * cross-attention's language queries, the language self-attention over all language
 * rows, then the feed-forward of the first rows, gathered into rows 0..n-1. */
static int x_layer_first(lx_net *net, const lx_xlayer *x, const lx_batch *b, float **probs,
                         lx_error *err) {
    lx_rows first = {b->n, 0, (int)b->n, NULL, NULL};
    if (cross_attention(net, &x->visual_attention, b, 1, probs, err) < 0 ||
        self_attention(net, &x->lang_self_att, &b->lang, NULL, err) < 0)
        return -1;
    gather_first(net, &b->lang);
    return feed_forward(net, &x->lang, &first, err);
}

/* LxmertXLayer. */
static int x_layer(lx_net *net, const lx_xlayer *x, const lx_batch *b, float **probs,
                   lx_error *err) {
    return cross_attention(net, &x->visual_attention, b, 0, probs, err) < 0 ||
           self_attention(net, &x->lang_self_att, &b->lang, NULL, err) < 0 ||
           self_attention(net, &x->visn_self_att, &b->visn, NULL, err) < 0 ||
           feed_forward(net, &x->lang, &b->lang, err) < 0 ||
           feed_forward(net, &x->visn, &b->visn, err) < 0 ? -1 : 0;
}

/* LxmertEncoder after visn_fc: the three stacks, each layer's states and attention maps
 * kept where the outputs ask for them. */
static int encoder(lx_net *net, lx_batch *b, lx_error *err) {
    const lx_config *c = &net->cfg;
    const lx_weights *w = &net->w;
    lx_outs *o = &b->out;
    for (int l = 0; l < c->l_layers; l++) {
        if (bert_layer(net, &w->layer[l], &b->lang, lx_outs_slots(o, LX_O_LANGUAGE_ATT, l),
                       err) < 0)
            return -1;
        lx_outs_rows(o, LX_O_LANGUAGE_HS, l, net, &b->lang);
    }
    for (int l = 0; l < c->r_layers; l++) {
        if (bert_layer(net, &w->r_layers[l], &b->visn, lx_outs_slots(o, LX_O_VISION_ATT, l),
                       err) < 0)
            return -1;
        lx_outs_rows(o, LX_O_VISION_HS, l, net, &b->visn);
    }
    for (int l = 0; l < c->x_layers; l++) {
        float **probs = lx_outs_slots(o, LX_O_CROSS_ATT, l);
        if (b->first_only && l == c->x_layers - 1)
            return x_layer_first(net, &w->x_layers[l], b, probs, err);
        if (x_layer(net, &w->x_layers[l], b, probs, err) < 0) return -1;
        lx_outs_rows(o, LX_O_LANGUAGE_HS, c->l_layers + l, net, &b->lang);
        lx_outs_rows(o, LX_O_VISION_HS, c->r_layers + l, net, &b->visn);
    }
    lx_outs_rows(o, LX_O_LANGUAGE, 0, net, &b->lang);
    lx_outs_rows(o, LX_O_VISION, 0, net, &b->visn);
    return 0;
}

/* LxmertPooler: pooled = tanh(dense(each record's first token)), into s.small. */
static int pooler(lx_net *net, lx_batch *b, lx_error *err) {
    lx_state *s = &net->s;
    size_t H = (size_t)net->H;
    for (size_t i = 0; i < b->n; i++) {
        size_t row = b->first_only ? i : (size_t)b->lang.off[i];
        memcpy(s->small2 + i * H, s->hs.f + row * s->hs.ld, H * sizeof *s->small2);
    }
    lx_act first = lx_act_f32(s->small2, H);
    if (lx_op_linear(&net->rt, &net->w.pooler, &first, (int)b->n, s->small, H, err) < 0) return -1;
    for (size_t i = 0; i < b->n * H; i++) s->small[i] = tanhf(s->small[i]);
    for (size_t i = 0; i < b->n; i++)
        if (lx_outs_data(&b->out, i, LX_O_POOLED))
            memcpy(lx_outs_data(&b->out, i, LX_O_POOLED), s->small + i * H, H * sizeof(float));
    return 0;
}

/* BertPredictionHeadTransform (cls.predictions.transform, obj_predict_head.transform)
 * over m rows of x: LayerNorm(GELU(dense(x))), into y. */
static int head_transform(lx_net *net, const lx_lin *dense, const lx_ln *ln, const float *x,
                          int m, float *y, lx_error *err) {
    lx_act in = lx_act_f32((float *)x, (size_t)net->H), out = lx_act_f32(y, (size_t)net->H);
    if (lx_op_linear_gelu(&net->rt, dense, &in, m, &out, err) < 0) return -1;
    lx_op_layernorm(&net->rt, ln, &out, m, net->eps);
    return 0;
}

/* Decoder l over each record's rows r of x (transformed), into output k. */
static int decode_rows(lx_net *net, const lx_lin *l, const float *x, const lx_rows *r,
                       lx_batch *b, int k, lx_error *err) {
    for (size_t i = 0; i < b->n; i++) {
        lx_act in = lx_act_f32((float *)x + (size_t)r->off[i] * net->H, (size_t)net->H);
        float *y = lx_outs_data(&b->out, i, k);
        if (y && lx_op_linear(&net->rt, l, &in, r->len[i], y, (size_t)l->out, err) < 0) return -1;
    }
    return 0;
}

/* LxmertVisualAnswerHead over n pooled rows: logits [n, labels]. */
static int qa_head(lx_net *net, const float *pooled, size_t n, float *logits, lx_error *err) {
    if (n == 0) return 0;
    const lx_weights *w = &net->w;
    size_t H2 = 2 * (size_t)net->H;
    /* logit_fc: Linear -> GELU -> LayerNorm(eps 1e-12, as HF fixes it) -> Linear */
    lx_act in = lx_act_f32((float *)pooled, (size_t)net->H), a = lx_act_f32(NULL, H2);
    if (!(a.f = malloc(n * H2 * sizeof *a.f))) return lx_error_set(err, "out of memory");
    int rc = lx_op_linear_gelu(&net->rt, &w->qa0, &in, (int)n, &a, err);
    if (rc == 0) {
        lx_op_layernorm(&net->rt, &w->qa2, &a, (int)n, 1e-12f);
        rc = lx_op_linear(&net->rt, &w->qa3, &a, (int)n, logits, (size_t)net->cfg.num_qa_labels,
                          err);
    }
    free(a.f);
    return rc;
}

/* LxmertPreTrainingHeads, LxmertVisualObjHead and LxmertVisualAnswerHead: the heads
 * want asks for. */
static int heads(lx_net *net, lx_batch *b, unsigned want, lx_error *err) {
    const lx_weights *w = &net->w;
    lx_state *s = &net->s;
    float *pooled = s->small, *lang = s->tmp, *visn = s->tmp + (size_t)b->lang.total * net->H;
    const float *hl = s->hs.f, *hv = s->hs.f + (size_t)b->lang.total * net->H;
    for (size_t i = 0; i < b->n; i++) {
        lx_act p = lx_act_f32(pooled + i * net->H, (size_t)net->H);
        float *match = lx_outs_data(&b->out, i, LX_O_MATCH);
        if ((match && lx_op_linear(&net->rt, &w->seq_relationship, &p, 1, match, 2, err) < 0) ||
            ((want & LX_OUT_QA) &&
             qa_head(net, p.f, 1, lx_outs_data(&b->out, i, LX_O_QA), err) < 0))
            return -1;
    }
    if ((want & LX_OUT_MLM) &&
        (head_transform(net, &w->mlm_transform, &w->mlm_ln, hl, b->lang.total, lang, err) < 0 ||
         decode_rows(net, &w->mlm_decoder, lang, &b->lang, b, LX_O_MLM, err) < 0))
        return -1;
    if (!(want & (LX_OUT_OBJ | LX_OUT_ATTR | LX_OUT_FEAT))) return 0;
    return head_transform(net, &w->obj_transform, &w->obj_ln, hv, b->visn.total, visn, err) < 0 ||
           decode_rows(net, &w->obj, visn, &b->visn, b, LX_O_OBJ, err) < 0 ||
           decode_rows(net, &w->attr, visn, &b->visn, b, LX_O_ATTR, err) < 0 ||
           decode_rows(net, &w->feat, visn, &b->visn, b, LX_O_FEAT, err) < 0 ? -1 : 0;
}

int lx_net_qa_head(lx_net *net, const float *pooled, size_t n, float *logits, lx_error *bad,
                   lx_error *err) {
    if (!(net->avail & LX_OUT_QA)) return lx_error_set(err, "the model has no question answering head");
    if (qa_head(net, pooled, n, logits, err) < 0) return -1;
    size_t L = (size_t)net->cfg.num_qa_labels;
    lx_tensor row = {.dtype = LX_F32, .ndim = 1, .shape = {(int64_t)L}};
    for (size_t i = 0; i < n; i++) {
        const float *r = logits + i * L;
        size_t at = lx_f32_first_nonfinite(r, L);
        if (bad) bad[i].msg[0] = '\0';
        if (at == L) continue;
        lx_out_not_finite(bad ? &bad[i] : err, "question_answering_score", &row, at, r[at]);
        if (!bad) return n > 1 ? lx_error_prefix(err, "row %zu", i) : -1;
    }
    return 0;
}

/* ---- a batch ------------------------------------------------------------------------ */

/* Lay the batch out (lang rows, then vision rows) and size the buffers for it. */
static int batch_layout(lx_net *net, lx_record *recs, size_t n, lx_batch *b, lx_error *err) {
    size_t TL = 0, TN = 0, maxsc = 1, H = (size_t)net->H, F = (size_t)net->cfg.visual_feat_dim;
    for (size_t i = 0; i < n; i++) {
        const lx_tensor *ids = lx_record_tensor(&recs[i], "input_ids");
        const lx_tensor *vf = lx_record_tensor(&recs[i], "visual_feats");
        if (!ids || !vf) return lx_error_set(err, "record %zu of the batch was not checked", i);
        size_t L = (size_t)ids->shape[0], N = (size_t)vf->shape[0], m = L > N ? L : N;
        TL += L;
        TN += N;
        if (m * m > maxsc) maxsc = m * m;
    }
    if (TL + TN > INT32_MAX / (H > F ? H : F))
        return lx_error_set(err, "batch too large: %zu rows", TL + TN);
    if (lx_net_state_reserve(net, n, TL + TN, TN, maxsc, err) < 0) return -1;
    lx_state *s = &net->s;
    for (size_t i = 0; i < n; i++) {
        s->ll[i] = (int)lx_record_tensor(&recs[i], "input_ids")->shape[0];
        s->vl[i] = (int)lx_record_tensor(&recs[i], "visual_feats")->shape[0];
        s->lo[i] = i ? s->lo[i - 1] + s->ll[i - 1] : 0;
        s->vo[i] = i ? s->vo[i - 1] + s->vl[i - 1] : 0;
    }
    b->n = n;
    b->lang = (lx_rows){n, 0, (int)TL, s->lo, s->ll};
    b->visn = (lx_rows){n, (int)TL, (int)TN, s->vo, s->vl};
    return 0;
}

/* Each row's additive mask as a key, and the features and boxes packed. */
static void load_inputs(lx_net *net, const lx_record *recs, const lx_batch *b) {
    lx_state *s = &net->s;
    size_t F = (size_t)net->cfg.visual_feat_dim, P = (size_t)net->cfg.visual_pos_dim;
    for (size_t i = 0; i < b->n; i++) {
        const lx_record *r = &recs[i];
        const lx_tensor *am = lx_record_tensor(r, "attention_mask");
        const lx_tensor *vm = lx_record_tensor(r, "visual_attention_mask");
        const lx_tensor *vf = lx_record_tensor(r, "visual_feats");
        const lx_tensor *vp = lx_record_tensor(r, "visual_pos");
        float *ml = s->madd + b->lang.off[i], *mv = s->madd + b->visn.base + b->visn.off[i];
        for (int t = 0; t < b->lang.len[i]; t++)
            ml[t] = am ? (float)((1.0 - lx_tensor_elem(am, (size_t)t)) * -FLT_MAX) : 0.0f;
        for (int t = 0; t < b->visn.len[i]; t++)
            mv[t] = vm ? (float)((1.0 - lx_tensor_elem(vm, (size_t)t)) * -FLT_MAX) : 0.0f;
        size_t N = (size_t)b->visn.len[i], o = (size_t)b->visn.off[i];
        lx_convert_to_f32(s->feats + o * F, vf->data, vf->dtype, N * F);
        lx_convert_to_f32(s->pos + o * P, vp->data, vp->dtype, N * P);
    }
}

/* The name of the first head want asks for that the model lacks. */
static const char *missing_head(unsigned miss) {
    return (miss & LX_OUT_MLM) ? "masked-language-model (mlm)"
         : (miss & LX_OUT_MATCH) ? "image-text match (match)"
         : (miss & LX_OUT_OBJ) ? "object (obj)"
         : (miss & LX_OUT_ATTR) ? "attribute (attr)"
         : (miss & LX_OUT_FEAT) ? "feature regression (feat)" : "question answering (qa)";
}

/* Check each record's outputs: a bad one's go (bad[i] says why), or, without bad, the
 * first fails the batch. */
static int check_outputs(lx_batch *b, lx_error *bad, lx_error *err) {
    for (size_t i = 0; i < b->n; i++) {
        if (bad) bad[i].msg[0] = '\0';
        if (lx_outs_check(&b->out, i, bad ? &bad[i] : err) == 0) continue;
        if (!bad) return b->n > 1 ? lx_error_prefix(err, "record %zu of the batch", i) : -1;
        lx_outs_drop(&b->out, i);
    }
    return 0;
}

int lx_net_forward(lx_net *net, lx_record *recs, size_t n, unsigned want, lx_error *bad,
                   lx_error *err) {
    if (n == 0) return 0;
    if (want & ~net->avail)
        return lx_error_set(err, "the model has no %s head", missing_head(want & ~net->avail));
    lx_batch b = {0};
    if (batch_layout(net, recs, n, &b, err) < 0) return -1;
    b.first_only = net->cfg.x_layers > 0 &&
                   !(want & ~(LX_OUT_POOLED | LX_OUT_MATCH | LX_OUT_QA | LX_OUT_ATTENTIONS));
    int rc = lx_outs_alloc(&b.out, net, n, &b.lang, &b.visn, want, err);
    if (rc == 0) {
        load_inputs(net, recs, &b);
        embeddings(net, recs, &b);
        rc = visual_feature_encoder(net, &b, err) < 0 || encoder(net, &b, err) < 0 ? -1 : 0;
    }
    if (rc == 0 && (want & (LX_OUT_POOLED | LX_OUT_MATCH | LX_OUT_QA)))
        rc = pooler(net, &b, err);
    if (rc == 0) rc = heads(net, &b, want, err);
    if (rc == 0) rc = check_outputs(&b, bad, err);
    if (rc == 0) rc = lx_outs_append(&b.out, recs, err);
    lx_outs_free(&b.out);
    return rc;
}

/* ---- the net ------------------------------------------------------------------------ */

lx_net *lx_net_new(const lx_model *m, const lx_net_opts *opts, lx_error *err) {
    const lx_config *c = lx_model_config(m);
    if (lx_model_expect(m, LX_MODEL_LXMERT, err) < 0 || lx_config_check(c, err) < 0)
        return NULL;
    lx_net *net = lx_aligned_alloc(sizeof *net); /* the pool's cache-line alignment */
    if (!net) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    memset(net, 0, sizeof *net);
    net->model = m;
    net->cfg = *c;
    if (opts) net->opts = *opts;
    net->H = c->hidden_size;
    net->heads = c->num_attention_heads;
    net->dh = c->hidden_size / c->num_attention_heads;
    net->isz = c->intermediate_size;
    net->eps = (float)c->layer_norm_eps;
    net->rt.exact_bf16 = net->opts.exact_bf16;
    /* One pool of threads runs everything: each product split by output columns, the
     * attention heads, the element-wise passes. */
    if (lx_rt_init(&net->rt, m, net->opts.threads, net->opts.max_isa, err) < 0 ||
        lx_net_bind(net, err) < 0) {
        lx_net_free(net);
        return NULL;
    }
    return net;
}

void lx_net_free(lx_net *net) {
    if (!net) return;
    lx_rt_free(&net->rt);
    lx_net_state_free(&net->s);
    lx_owned_free(&net->owned);
    free(net->w.layer);
    free(net->w.r_layers);
    free(net->w.x_layers);
    free(net);
}

unsigned lx_net_available(const lx_net *net) { return net->avail; }
