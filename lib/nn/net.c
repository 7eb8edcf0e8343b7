/*
 * net.c — the LXMERT forward pass (HF LxmertModel and its heads), float32.
 *
 * Three parts, as in llama2.c: the weights (lx_weights: views into the mapped .lxm;
 * f16/bf16 matrices stay 16-bit and are widened block by block as they are used, small
 * vectors are widened once; fields named after the checkpoint's modules), the run state (activation buffers sized from the config and the largest
 * batch seen, reused), and forward(), one function per block in the order HF's
 * modeling_lxmert.py runs them:
 *
 *   embeddings      LN(word + position + token_type)                        [L, H]
 *   visn_fc         (LN(visn_fc(feats)) + LN(box_fc(pos))) / 2               [N, H]
 *   layer[l]        BERT layer on the language side (self-att, FFN)
 *   r_layers[r]     BERT layer on the vision side
 *   x_layers[x]     visual_attention (ONE cross-attention module used in both directions,
 *                   both reading the layer's input states), then lang_self_att /
 *                   visn_self_att, then lang_inter+lang_output / visn_inter+visn_output
 *   pooler          tanh(W h_lang[0] + b)
 *   heads           cls.predictions, cls.seq_relationship, obj_predict_head, answer_head
 *
 * Batching without padding.  The records of a batch are packed, not padded: every
 * record's language rows are stacked into one [sum L, H] matrix followed by every
 * record's vision rows [sum N, H], so each linear layer is one GEMM over all the rows of
 * the batch (and the cross-attention's Q, K, V and output projections, whose weights the
 * two directions share, one GEMM over both modalities).  Attention is then computed per
 * record and head over that record's own rows only, so no padded key or query exists and
 * nothing can leak between records: a batched result equals the unbatched one up to the
 * GEMM's rounding.  Masks are HF's additive (1 - m) * finfo(float32).min on the scores.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cblas.h>
#include "gemm.h"
#include "kernels.h"
#include "lx.h"
#include "pool.h"

/* OpenBLAS (pthreads build) starts its worker threads when the library loads, and they
 * spin with sched_yield for ~2^28 cycles waiting for work that never comes here (the
 * net sets OpenBLAS to one thread and splits products over its own pool): on two cores
 * that spinning thread took ~7% off a one-record run.  OpenBLAS exports this (its fork
 * handler calls it); weak, so another BLAS without it simply skips the call.  Nothing in
 * lx asks OpenBLAS for more than one thread afterwards. */
void blas_thread_shutdown_(void) __attribute__((weak));

/* Regions a record may carry: its vision attention scores are [N, N] per thread. */
#define LX_NET_MAX_REGIONS 4096

/* ---- weights ------------------------------------------------------------- */

/* LxmertAttention + LxmertAttentionOutput: q, k, v [H, H] (k, v [H, ctx] in general),
 * output dense [H, H] and its LayerNorm. */
typedef struct lx_att {
    lx_lin query, key, value;
    lx_lin qkv;                   /* the three as one [3H, H] product (qkv.out != 0) when the
                                   * file stores their weights back to back (lx-convert
                                   * does): one pass over A instead of three */
    lx_lin dense;
    lx_ln ln;
} lx_att;

/* LxmertIntermediate + LxmertOutput: dense [I, H] + GELU, dense [H, I], LayerNorm. */
typedef struct lx_ffn {
    lx_lin inter, out;
    lx_ln ln;
} lx_ffn;

/* LxmertLayer (encoder.layer.i, encoder.r_layers.i). */
typedef struct lx_layer {
    lx_att attention;
    lx_ffn ffn;
} lx_layer;

/* LxmertXLayer (encoder.x_layers.i). */
typedef struct lx_xlayer {
    lx_att visual_attention;      /* shared by both directions */
    lx_att lang_self_att, visn_self_att;
    lx_ffn lang, visn;            /* lang_inter + lang_output, visn_inter + visn_output */
} lx_xlayer;

typedef struct lx_weights {
    lx_lin word_embeddings;             /* [vocab, H], no bias */
    const float *position_embeddings;   /* [max_pos, H] */
    const float *token_type_embeddings; /* [type_vocab, H] */
    lx_ln emb_ln;                       /* [H] */
    lx_lin visn_fc;                     /* [H, feat_dim] */
    lx_ln visn_layer_norm;
    lx_lin box_fc;                      /* [H, pos_dim] */
    lx_ln box_layer_norm;
    lx_layer *layer;                    /* [l_layers] */
    lx_layer *r_layers;                 /* [r_layers] */
    lx_xlayer *x_layers;                /* [x_layers] */
    lx_lin pooler;                      /* [H, H] */
    /* cls.predictions: transform dense [H, H] + GELU + LN, decoder [vocab, H] (tied to
     * the word embeddings) + bias [vocab] */
    lx_lin mlm_transform;
    lx_ln mlm_ln;
    lx_lin mlm_decoder;
    lx_lin seq_relationship;            /* [2, H] */
    /* obj_predict_head: transform as above, decoder_dict obj/attr/feat [n, H] */
    lx_lin obj_transform;
    lx_ln obj_ln;
    lx_lin obj, attr, feat;
    /* answer_head.logit_fc: 0 Linear [2H, H], 1 GELU, 2 LayerNorm [2H], 3 Linear [labels, 2H] */
    lx_lin qa0;
    lx_ln qa2;
    lx_lin qa3;
} lx_weights;

/* ---- run state ----------------------------------------------------------- */

typedef struct lx_state {
    size_t rows_cap;              /* rows (language + vision) the buffers hold */
    size_t vis_cap;               /* vision rows feats/pos hold */
    size_t score_cap;             /* floats in scores */
    size_t n_cap;                 /* records the per-record arrays hold */
    float *hs;                    /* [rows, H] hidden states: language rows, then vision */
    float *qkv;                   /* [rows, 3H]: Q | K | V of each row */
    float *q, *k, *v;             /* qkv, qkv + H, qkv + 2H: rows QKV_LD apart */
    float *ctx, *tmp;             /* [rows, H] */
    float *inter;                 /* [rows, max(inter_ld, 2H)] */
    uint16_t *inter16;            /* [rows, I rounded up to 32]: GELU's output in bf16, for
                                   * a bf16 feed-forward output layer (the columns past I
                                   * stay zero from allocation) */
    uint16_t *hs16;               /* [rows, H rounded up to 32]: bf16(hs), kept by every
                                   * writer of hs while net->hs16_on (see hs16_ld) */
    uint16_t *ctx16;              /* [rows, H rounded up to 32]: bf16(ctx), written with ctx
                                   * by attention while net->hs16_on, for the output product
                                   * (the padding stays zero from allocation) */
    float *madd;                  /* [rows] additive mask of each row as a key */
    float *feats;                 /* [vis, feat_dim] */
    float *pos;                   /* [vis, pos_dim] */
    float *scores[LX_POOL_MAX];   /* per thread: [maxLq * maxLk] */
    float *small, *small2;        /* [n, max(H, 2H, labels)] pooled rows and head outputs */
    size_t small_cap;
    int *lo, *ll, *vo, *vl;       /* per record: language offset/length, vision offset/length */
    lx_gemm_scratch gs[LX_POOL_MAX]; /* per thread: lx_gemm's working memory */
    float *f32pack[LX_POOL_MAX];  /* per thread: packed f32 weights for products with many
                                   * rows on AVX-512 (lx_gemm_f32pack_bytes() each), from
                                   * the first such product */
} lx_state;

struct lx_net {
    const lx_model *model;
    lx_config cfg;
    lx_net_opts opts;
    int H, heads, dh, isz;   /* hidden, heads, head size, intermediate size */
    float eps;
    unsigned avail;
    lx_weights w;
    lx_state s;
    int nthreads;                 /* threads of the pool, the caller's included */
    lx_pool pool;                 /* runs the products, attention heads, LayerNorm rows */
    int pool_up;
    lx_gemm_caps caps;            /* which lx_gemm / kernel paths this CPU takes */
    int isa;                      /* LX_ISA_*: which elementwise kernels run */
    int hs16_on;                  /* hand activations to bf16 products in bf16: every
                                   * writer of hs also writes s->hs16, GELU writes
                                   * s->inter16 (bf16 weights with the CPU's dot products,
                                   * not opts.unfused); the two buffers exist only then */
    void **owned;                 /* f32 copies of f16/bf16 tensors */
    size_t nowned, owned_cap;
};

/* ---- binding the weights ------------------------------------------------ */

typedef struct binder {
    lx_net *net;
    const char *prefix;           /* "lxmert." or "" for the base model's names */
    lx_error *err;
    int failed;
} binder;

static int keep(lx_net *net, void *p) {
    if (net->nowned == net->owned_cap) {
        size_t nc = net->owned_cap ? 2 * net->owned_cap : 64;
        void **n = realloc(net->owned, nc * sizeof *n);
        if (!n) return -1;
        net->owned = n;
        net->owned_cap = nc;
    }
    net->owned[net->nowned++] = p;
    return 0;
}

/* The tensor named by fmt, checked to have shape [d0] (d1 == 0) or [d0, d1].  Returns
 * its f32 data (a view, or a converted copy), or NULL with the error set.  With w16 !=
 * NULL, an f16/bf16 tensor is returned there as a view instead (NULL returned, *bf16 set
 * to 1 for bf16): matrices stay 16-bit and are widened as they are used. */
static const float *bind(binder *b, int64_t d0, int64_t d1, const uint16_t **w16, int *bf16,
                         const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static const float *bind(binder *b, int64_t d0, int64_t d1, const uint16_t **w16, int *bf16,
                         const char *fmt, ...) {
    if (b->failed) return NULL;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    char full[300];
    snprintf(full, sizeof full, "%s%s", name[0] == '@' ? "" : b->prefix, name[0] == '@' ? name + 1 : name);
    const lx_tensor *t = lx_model_tensor(b->net->model, full);
    b->failed = 1;
    if (!t) {
        lx_error_set(b->err, "model: tensor %s is missing", full);
        return NULL;
    }
    lx_tensor want = {.dtype = t->dtype, .ndim = d1 ? 2 : 1, .shape = {d0, d1}};
    int ok = t->ndim == want.ndim && t->shape[0] == d0 && (!d1 || t->shape[1] == d1);
    if (!ok) {
        char g[96], e[96];
        lx_error_set(b->err, "model: tensor %s: got %s, expected %s", full,
                     lx_tensor_shape_str(t, g, sizeof g), lx_tensor_shape_str(&want, e, sizeof e));
        return NULL;
    }
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    b->failed = 0;
    if (t->dtype == LX_F32) return t->data;
    if ((t->dtype == LX_BF16 || t->dtype == LX_F16) && w16) {
        *w16 = t->data;
        *bf16 = t->dtype == LX_BF16;
        return NULL;
    }
    if (t->dtype != LX_F16 && t->dtype != LX_BF16) {
        b->failed = 1;
        lx_error_set(b->err, "model: tensor %s: got dtype %s, expected f32, f16 or bf16", full,
                     lx_dtype_name(t->dtype));
        return NULL;
    }
    float *c = (t->dtype == LX_F16 || t->dtype == LX_BF16) ? lx_aligned_alloc(n * sizeof *c) : NULL;
    if (!c || keep(b->net, c) < 0) {
        free(c);
        b->failed = 1;
        lx_error_set(b->err, "model: out of memory converting %s to f32", full);
        return NULL;
    }
    lx_k_widen(c, t->data, n, t->dtype == LX_BF16, b->net->isa);
    return c;
}

static int has(const binder *b, const char *name) {
    char full[300];
    snprintf(full, sizeof full, "%s%s", b->prefix, name);
    return lx_model_tensor(b->net->model, full) != NULL;
}

static void bind_lin(binder *b, lx_lin *l, int out, int in, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void bind_lin(binder *b, lx_lin *l, int out, int in, const char *fmt, ...) {
    char p[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    l->out = out;
    l->in = in;
    l->w16 = NULL;
    l->w = bind(b, out, in, &l->w16, &l->bf16, "%s.weight", p);
    l->b = bind(b, out, 0, NULL, NULL, "%s.bias", p);
}

static void bind_ln(binder *b, lx_ln *ln, int n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void bind_ln(binder *b, lx_ln *ln, int n, const char *fmt, ...) {
    char p[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    ln->n = n;
    ln->g = bind(b, n, 0, NULL, NULL, "%s.weight", p);
    ln->b = bind(b, n, 0, NULL, NULL, "%s.bias", p);
}

/* Q, K and V as one [3H, H] layer when their weights lie back to back in the mapping
 * (same storage, key right after query, value right after key) and all three have
 * biases; the biases are copied into one [3H] array.  Otherwise a->qkv stays empty and
 * the three products run separately, with the same results column by column. */
static void fuse_qkv(binder *b, lx_att *a) {
    memset(&a->qkv, 0, sizeof a->qkv);
    if (b->failed || b->net->opts.separate_qkv) return;
    const lx_lin *q = &a->query, *k = &a->key, *v = &a->value;
    size_t hh = (size_t)q->out * (size_t)q->in;
    if (k->out != q->out || v->out != q->out || k->in != q->in || v->in != q->in ||
        !q->b || !k->b || !v->b)
        return;
    int adjacent = q->w ? k->w == q->w + hh && v->w == k->w + hh
                        : q->w16 && k->w16 == q->w16 + hh && v->w16 == k->w16 + hh &&
                              k->bf16 == q->bf16 && v->bf16 == q->bf16;
    if (!adjacent) return;
    float *bias = lx_aligned_alloc(3 * (size_t)q->out * sizeof *bias);
    if (!bias || keep(b->net, bias) < 0) { /* not fusing is fine: no error */
        free(bias);
        return;
    }
    memcpy(bias, q->b, (size_t)q->out * sizeof *bias);
    memcpy(bias + q->out, k->b, (size_t)q->out * sizeof *bias);
    memcpy(bias + 2 * q->out, v->b, (size_t)q->out * sizeof *bias);
    a->qkv = *q;
    a->qkv.out = 3 * q->out;
    a->qkv.b = bias;
}

/* attention.self.{query,key,value} (or visual_attention.att.*) + output.{dense,LayerNorm} */
static void bind_att(binder *b, lx_att *a, const char *p, const char *self) {
    int H = b->net->H;
    bind_lin(b, &a->query, H, H, "%s.%s.query", p, self);
    bind_lin(b, &a->key, H, H, "%s.%s.key", p, self);
    bind_lin(b, &a->value, H, H, "%s.%s.value", p, self);
    bind_lin(b, &a->dense, H, H, "%s.output.dense", p);
    bind_ln(b, &a->ln, H, "%s.output.LayerNorm", p);
    fuse_qkv(b, a);
}

static void bind_ffn(binder *b, lx_ffn *f, const char *inter, const char *out) {
    int H = b->net->H, isz = b->net->isz;
    bind_lin(b, &f->inter, isz, H, "%s.dense", inter);
    bind_lin(b, &f->out, H, isz, "%s.dense", out);
    bind_ln(b, &f->ln, H, "%s.LayerNorm", out);
}

static void bind_layer(binder *b, lx_layer *l, const char *kind, int i) {
    char p[128], q[128];
    snprintf(p, sizeof p, "encoder.%s.%d.attention", kind, i);
    bind_att(b, &l->attention, p, "self");
    snprintf(p, sizeof p, "encoder.%s.%d.intermediate", kind, i);
    snprintf(q, sizeof q, "encoder.%s.%d.output", kind, i);
    bind_ffn(b, &l->ffn, p, q);
}

static void bind_xlayer(binder *b, lx_xlayer *x, int i) {
    char p[128], q[128];
    snprintf(p, sizeof p, "encoder.x_layers.%d.visual_attention", i);
    bind_att(b, &x->visual_attention, p, "att");
    snprintf(p, sizeof p, "encoder.x_layers.%d.lang_self_att", i);
    bind_att(b, &x->lang_self_att, p, "self");
    snprintf(p, sizeof p, "encoder.x_layers.%d.visn_self_att", i);
    bind_att(b, &x->visn_self_att, p, "self");
    snprintf(p, sizeof p, "encoder.x_layers.%d.lang_inter", i);
    snprintf(q, sizeof q, "encoder.x_layers.%d.lang_output", i);
    bind_ffn(b, &x->lang, p, q);
    snprintf(p, sizeof p, "encoder.x_layers.%d.visn_inter", i);
    snprintf(q, sizeof q, "encoder.x_layers.%d.visn_output", i);
    bind_ffn(b, &x->visn, p, q);
}

static int bind_all(lx_net *net, lx_error *err) {
    const lx_config *c = &net->cfg;
    lx_weights *w = &net->w;
    int H = net->H;
    binder b = {.net = net, .prefix = "lxmert.", .err = err};
    if (!has(&b, "embeddings.word_embeddings.weight")) b.prefix = "";
    /* The word embeddings as a [vocab, H] "linear layer": rows are looked up (widened one
     * by one when 16-bit), and the tied MLM decoder multiplies by them. */
    w->word_embeddings.out = c->vocab_size;
    w->word_embeddings.in = H;
    w->word_embeddings.w = bind(&b, c->vocab_size, H, &w->word_embeddings.w16,
                                &w->word_embeddings.bf16, "embeddings.word_embeddings.weight");
    w->position_embeddings = bind(&b, c->max_position_embeddings, H, NULL, NULL,
                                  "embeddings.position_embeddings.weight");
    w->token_type_embeddings = bind(&b, c->type_vocab_size, H, NULL, NULL,
                                    "embeddings.token_type_embeddings.weight");
    bind_ln(&b, &w->emb_ln, H, "embeddings.LayerNorm");
    bind_lin(&b, &w->visn_fc, H, c->visual_feat_dim, "encoder.visn_fc.visn_fc");
    bind_ln(&b, &w->visn_layer_norm, H, "encoder.visn_fc.visn_layer_norm");
    bind_lin(&b, &w->box_fc, H, c->visual_pos_dim, "encoder.visn_fc.box_fc");
    bind_ln(&b, &w->box_layer_norm, H, "encoder.visn_fc.box_layer_norm");
    w->layer = calloc((size_t)c->l_layers + 1, sizeof *w->layer);
    w->r_layers = calloc((size_t)c->r_layers + 1, sizeof *w->r_layers);
    w->x_layers = calloc((size_t)c->x_layers + 1, sizeof *w->x_layers);
    if (!w->layer || !w->r_layers || !w->x_layers) return lx_error_set(err, "out of memory");
    for (int i = 0; i < c->l_layers; i++) bind_layer(&b, &w->layer[i], "layer", i);
    for (int i = 0; i < c->r_layers; i++) bind_layer(&b, &w->r_layers[i], "r_layers", i);
    for (int i = 0; i < c->x_layers; i++) bind_xlayer(&b, &w->x_layers[i], i);
    bind_lin(&b, &w->pooler, H, H, "pooler.dense");
    if (b.failed) return -1;
    net->avail = LX_OUT_LANGUAGE | LX_OUT_VISION | LX_OUT_POOLED | LX_OUT_HIDDEN |
                 LX_OUT_ATTENTIONS;

    /* The heads sit outside the "lxmert." prefix. */
    binder h = {.net = net, .prefix = "", .err = err};
    if (has(&h, "cls.predictions.transform.dense.weight")) {
        bind_lin(&h, &w->mlm_transform, H, H, "cls.predictions.transform.dense");
        bind_ln(&h, &w->mlm_ln, H, "cls.predictions.transform.LayerNorm");
        w->mlm_decoder = w->word_embeddings; /* tied, unless the file has its own copy */
        if (has(&h, "cls.predictions.decoder.weight"))
            w->mlm_decoder.w = bind(&h, c->vocab_size, H, &w->mlm_decoder.w16,
                                    &w->mlm_decoder.bf16, "cls.predictions.decoder.weight");
        w->mlm_decoder.b = bind(&h, c->vocab_size, 0, NULL, NULL, "cls.predictions.bias");
        net->avail |= LX_OUT_MLM;
    }
    if (has(&h, "cls.seq_relationship.weight")) {
        bind_lin(&h, &w->seq_relationship, 2, H, "cls.seq_relationship");
        net->avail |= LX_OUT_MATCH;
    }
    if (has(&h, "obj_predict_head.transform.dense.weight")) {
        bind_lin(&h, &w->obj_transform, H, H, "obj_predict_head.transform.dense");
        bind_ln(&h, &w->obj_ln, H, "obj_predict_head.transform.LayerNorm");
        if (has(&h, "obj_predict_head.decoder_dict.obj.weight")) {
            bind_lin(&h, &w->obj, c->num_object_labels, H, "obj_predict_head.decoder_dict.obj");
            net->avail |= LX_OUT_OBJ;
        }
        if (has(&h, "obj_predict_head.decoder_dict.attr.weight")) {
            bind_lin(&h, &w->attr, c->num_attr_labels, H, "obj_predict_head.decoder_dict.attr");
            net->avail |= LX_OUT_ATTR;
        }
        if (has(&h, "obj_predict_head.decoder_dict.feat.weight")) {
            bind_lin(&h, &w->feat, c->visual_feat_dim, H, "obj_predict_head.decoder_dict.feat");
            net->avail |= LX_OUT_FEAT;
        }
    }
    if (c->num_qa_labels > 0 && has(&h, "answer_head.logit_fc.0.weight")) {
        bind_lin(&h, &w->qa0, 2 * H, H, "answer_head.logit_fc.0");
        bind_ln(&h, &w->qa2, 2 * H, "answer_head.logit_fc.2");
        bind_lin(&h, &w->qa3, c->num_qa_labels, 2 * H, "answer_head.logit_fc.3");
        net->avail |= LX_OUT_QA;
    }
    return h.failed ? -1 : 0;
}

/* Does l's product take A rounded to bf16 (LX_GEMM_BF16)? */
static int takes_bf16(const lx_net *net, const lx_lin *l) {
    return !l->w && l->bf16 && !net->opts.exact_bf16;
}

lx_net *lx_net_new(const lx_model *m, const lx_net_opts *opts, lx_error *err) {
    const lx_config *c = lx_model_config(m);
    if (lx_config_check(c, err) < 0) return NULL;
    lx_net *net = lx_aligned_alloc(sizeof *net); /* the pool's cache-line alignment */
    if (!net) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    memset(net, 0, sizeof *net);
    net->model = m;
    net->cfg = *c;
    net->opts = opts ? *opts : (lx_net_opts){.threads = 0, .box_check = 1};
    net->H = c->hidden_size;
    net->heads = c->num_attention_heads;
    net->dh = c->hidden_size / c->num_attention_heads;
    net->isz = c->intermediate_size;
    net->eps = (float)c->layer_norm_eps;
    int cpu = net->opts.portable ? LX_CPU_PORTABLE : net->opts.cpu;
    lx_gemm_caps_detect_max(&net->caps, lx_gemm_isa_ceiling(cpu));
    net->isa = lx_gemm_caps_isa(&net->caps);
    if (bind_all(net, err) < 0) {
        lx_net_free(net);
        return NULL;
    }
    /* bf16 hidden states for the layers' products: worth keeping when the first layer's
     * products take bf16 (lx-convert stores every matrix alike) */
    const lx_lin *first = c->l_layers ? &net->w.layer[0].ffn.inter
                        : c->r_layers ? &net->w.r_layers[0].ffn.inter
                        : c->x_layers ? &net->w.x_layers[0].lang.inter : NULL;
    net->hs16_on = !net->opts.unfused && first && takes_bf16(net, first);
    /* One pool of threads runs everything: each product split by output columns, the
     * attention heads, the elementwise kernels.  OpenBLAS then runs single-threaded
     * inside each share (its own threads would compete with the pool's). */
    long nt = net->opts.threads > 0 ? net->opts.threads : sysconf(_SC_NPROCESSORS_ONLN);
    net->nthreads = nt < 1 ? 1 : nt > LX_POOL_MAX ? LX_POOL_MAX : (int)nt;
    if (lx_pool_init(&net->pool, net->nthreads, err) < 0) {
        lx_net_free(net);
        return NULL;
    }
    net->pool_up = 1;
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
    for (int t = 0; t < LX_POOL_MAX; t++) lx_gemm_scratch_init(&net->s.gs[t]);
    return net;
}

static void state_free(lx_state *s) {
    free(s->hs); free(s->qkv); free(s->ctx); free(s->tmp);
    free(s->inter); free(s->inter16); free(s->hs16); free(s->ctx16); free(s->madd); free(s->feats); free(s->pos);
    free(s->small); free(s->small2);
    free(s->lo); free(s->ll); free(s->vo); free(s->vl);
    for (int t = 0; t < LX_POOL_MAX; t++) {
        free(s->scores[t]);
        free(s->f32pack[t]);
        lx_gemm_scratch_free(&s->gs[t]);
    }
    memset(s, 0, sizeof *s);
}

void lx_net_free(lx_net *net) {
    if (!net) return;
    if (net->pool_up) lx_pool_free(&net->pool);
    state_free(&net->s);
    for (size_t i = 0; i < net->nowned; i++) free(net->owned[i]);
    free(net->owned);
    free(net->w.layer);
    free(net->w.r_layers);
    free(net->w.x_layers);
    free(net);
}

unsigned lx_net_available(const lx_net *net) { return net->avail; }

/* ---- checking a record's inputs ----------------------------------------- */

/* A numeric tensor field, or NULL (absent: *present = 0; present but JSON: error). */
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
    if (f->json || f->tensor.dtype > LX_U8) {
        *bad = 1;
        lx_error_set(err, "%s: got a non-numeric value, expected an array of numbers", name);
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

/* Element i of a numeric tensor as double. */
static double elem(const lx_tensor *t, size_t i) {
    switch (t->dtype) {
    case LX_F32: return ((const float *)t->data)[i];
    case LX_F16: return lx_f16_to_f32(((const uint16_t *)t->data)[i]);
    case LX_BF16: return lx_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case LX_I32: return ((const int32_t *)t->data)[i];
    case LX_I64: return (double)((const int64_t *)t->data)[i];
    case LX_U8: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

static int check_ids(const lx_tensor *t, const char *name, int64_t L, int64_t limit,
                     const char *what, lx_error *err) {
    char e[64];
    snprintf(e, sizeof e, "[%lld] like input_ids", (long long)L);
    if (want_shape(t, name, 1, L, 0, e, err) < 0) return -1;
    for (int64_t i = 0; i < L; i++) {
        double v = elem(t, (size_t)i);
        if (!(v >= 0 && v < (double)limit) || v != floor(v))
            return lx_error_set(err, "%s[%lld]: got %g, expected an integer in 0..%lld (%s)", name,
                                (long long)i, v, (long long)limit - 1, what);
    }
    return 0;
}

static int check_finite(const lx_tensor *t, const char *name, int width, lx_error *err) {
    size_t n = (size_t)lx_tensor_nelem(t);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(elem(t, i))) {
            if (width > 0)
                return lx_error_set(err, "%s[%zu][%zu]: got %g, expected a finite number", name,
                                    i / (size_t)width, i % (size_t)width, elem(t, i));
            return lx_error_set(err, "%s[%zu]: got %g, expected a finite number", name, i,
                                elem(t, i));
        }
    return 0;
}

int lx_net_check(const lx_net *net, const lx_record *r, lx_error *err) {
    const lx_config *c = &net->cfg;
    int bad = 0;
    char e[96];
    const lx_tensor *ids = input(r, "input_ids", 1, err, &bad);
    if (bad) return -1;
    if (ids->ndim != 1 || ids->shape[0] < 1) {
        char g[96];
        return lx_error_set(err, "input_ids: got %s, expected [L] with L >= 1 (one record, no batch dimension)",
                            lx_tensor_shape_str(ids, g, sizeof g));
    }
    int64_t L = ids->shape[0];
    if (L > c->max_position_embeddings)
        return lx_error_set(err, "input_ids: got %lld tokens, expected at most %d (the model's position embeddings)",
                            (long long)L, c->max_position_embeddings);
    if (check_ids(ids, "input_ids", L, c->vocab_size, "the vocabulary size", err) < 0) return -1;
    const lx_tensor *tt = input(r, "token_type_ids", 0, err, &bad);
    if (bad) return -1;
    if (tt && check_ids(tt, "token_type_ids", L, c->type_vocab_size, "the token type vocabulary", err) < 0)
        return -1;
    const lx_tensor *am = input(r, "attention_mask", 0, err, &bad);
    if (bad) return -1;
    if (am) {
        snprintf(e, sizeof e, "[%lld] like input_ids", (long long)L);
        if (want_shape(am, "attention_mask", 1, L, 0, e, err) < 0) return -1;
        if (check_finite(am, "attention_mask", 0, err) < 0) return -1;
    }
    const lx_tensor *vf = input(r, "visual_feats", 1, err, &bad);
    if (bad) return -1;
    if (vf->ndim != 2 || vf->shape[0] < 1 || vf->shape[1] != c->visual_feat_dim) {
        char g[96];
        return lx_error_set(err, "visual_feats: got %s, expected [N, %d] with N >= 1",
                            lx_tensor_shape_str(vf, g, sizeof g), c->visual_feat_dim);
    }
    int64_t N = vf->shape[0];
    /* Bound the [N, N] attention scores a record may ask for (LXMERT uses 36 to 100). */
    if (N > LX_NET_MAX_REGIONS)
        return lx_error_set(err, "visual_feats: got %lld regions, expected at most %d",
                            (long long)N, LX_NET_MAX_REGIONS);
    if (check_finite(vf, "visual_feats", c->visual_feat_dim, err) < 0) return -1;
    const lx_tensor *vp = input(r, "visual_pos", 1, err, &bad);
    if (bad) return -1;
    snprintf(e, sizeof e, "[%lld, %d] (one box per region of visual_feats)", (long long)N,
             c->visual_pos_dim);
    if (want_shape(vp, "visual_pos", 2, N, c->visual_pos_dim, e, err) < 0) return -1;
    if (check_finite(vp, "visual_pos", c->visual_pos_dim, err) < 0) return -1;
    if (net->opts.box_check) {
        size_t n = (size_t)N * (size_t)c->visual_pos_dim;
        for (size_t i = 0; i < n; i++) {
            double v = elem(vp, i);
            if (v < -1e-5 || v > 1 + 1e-5)
                return lx_error_set(err,
                    "visual_pos[%zu][%zu]: got %g, expected boxes normalised to 0..1 "
                    "(divide pixel boxes by the image width and height, as lx-embed-vis does; "
                    "--no-box-check to skip this check)",
                    i / (size_t)c->visual_pos_dim, i % (size_t)c->visual_pos_dim, v);
        }
    }
    const lx_tensor *vm = input(r, "visual_attention_mask", 0, err, &bad);
    if (bad) return -1;
    if (vm) {
        snprintf(e, sizeof e, "[%lld] like the regions of visual_feats", (long long)N);
        if (want_shape(vm, "visual_attention_mask", 1, N, 0, e, err) < 0) return -1;
        if (check_finite(vm, "visual_attention_mask", 0, err) < 0) return -1;
    }
    return 0;
}

/* ---- run state ----------------------------------------------------------- */

static int grow(float **p, size_t n) {
    float *q = lx_aligned_alloc((n ? n : 1) * sizeof *q);
    if (!q) return -1;
    free(*p);
    *p = q;
    return 0;
}

/* Row strides of s->inter16 and s->hs16: lx_gemm wants bf16 A rows a multiple of 32
 * apart. */
static size_t inter16_ld(const lx_net *net) {
    return ((size_t)net->isz + 31) & ~(size_t)31;
}

/* Row stride of s->inter, the feed-forward's intermediate (A of its second product):
 * the intermediate size, padded off a multiple of 4 KiB (lx_gemm_pad_ld). */
static size_t inter_ld(const lx_net *net) {
    return lx_gemm_pad_ld((size_t)net->isz);
}

static size_t hs16_ld(const lx_net *net) {
    return ((size_t)net->H + 31) & ~(size_t)31;
}

/* Size the buffers for a batch of n records with rows = TL + TN rows, TN vision rows and
 * at most maxq x maxk attention scores. */
static int state_reserve(lx_net *net, size_t n, size_t rows, size_t TN, size_t maxsc,
                         lx_error *err) {
    lx_state *s = &net->s;
    size_t H = (size_t)net->H, wide = inter_ld(net) > 2 * H ? inter_ld(net) : 2 * H;
    if (rows > s->rows_cap) {
        size_t r = rows + rows / 4;
        if (grow(&s->hs, r * H) || grow(&s->qkv, r * 3 * H) || grow(&s->ctx, r * H) ||
            grow(&s->tmp, r * H) ||
            grow(&s->inter, r * wide) || grow(&s->madd, r))
            goto oom;
        free(s->inter16);
        free(s->hs16);
        free(s->ctx16);
        s->inter16 = s->hs16 = s->ctx16 = NULL;
        if (net->hs16_on &&
            (!(s->inter16 = lx_aligned_alloc(r * inter16_ld(net) * sizeof *s->inter16)) ||
             !(s->hs16 = lx_aligned_alloc(r * hs16_ld(net) * sizeof *s->hs16)) ||
             !(s->ctx16 = lx_aligned_alloc(r * hs16_ld(net) * sizeof *s->ctx16))))
            goto oom;
        /* lx_gemm's zero padding: nothing writes it later */
        if (s->inter16 && inter16_ld(net) > (size_t)net->isz)
            memset(s->inter16, 0, r * inter16_ld(net) * sizeof *s->inter16);
        if (s->ctx16 && hs16_ld(net) > H)
            memset(s->ctx16, 0, r * hs16_ld(net) * sizeof *s->ctx16);
        s->q = s->qkv;
        s->k = s->qkv + H;
        s->v = s->qkv + 2 * H;
        s->rows_cap = r;
    }
    if (TN > s->vis_cap) {
        size_t r = TN + TN / 4;
        if (grow(&s->feats, r * (size_t)net->cfg.visual_feat_dim) ||
            grow(&s->pos, r * (size_t)net->cfg.visual_pos_dim))
            goto oom;
        s->vis_cap = r;
    }
    if (maxsc > s->score_cap) {
        for (int t = 0; t < net->nthreads; t++)
            if (grow(&s->scores[t], maxsc)) goto oom;
        s->score_cap = maxsc;
    }
    size_t swide = 2 * H;
    if ((size_t)net->cfg.num_qa_labels > swide) swide = (size_t)net->cfg.num_qa_labels;
    if (n * swide > s->small_cap) {
        if (grow(&s->small, n * swide) || grow(&s->small2, n * swide)) goto oom;
        s->small_cap = n * swide;
    }
    if (n > s->n_cap) {
        int *a = realloc(s->lo, n * sizeof *a);
        if (!a) goto oom;
        s->lo = a;
        if (!(a = realloc(s->ll, n * sizeof *a))) goto oom;
        s->ll = a;
        if (!(a = realloc(s->vo, n * sizeof *a))) goto oom;
        s->vo = a;
        if (!(a = realloc(s->vl, n * sizeof *a))) goto oom;
        s->vl = a;
        s->n_cap = n;
    }
    return 0;
oom:
    return lx_error_set(err, "out of memory for a batch of %zu records (%zu rows)", n, rows);
}

/* ---- blocks --------------------------------------------------------------- */

/* Spread fn over the pool.  Items are handed out in chunks from a shared counter, so a
 * thread that runs late (a busy machine) does less, the others more, rather than all
 * waiting for its fixed share. */
typedef void (*range_fn)(lx_net *net, void *ctx, size_t i0, size_t i1, int t);
typedef struct par_ctx {
    lx_net *net;
    range_fn fn;
    void *ctx;
    size_t cnt, chunk;
    atomic_size_t next;
} par_ctx;

static void par_share(void *arg, int t, int nt) {
    par_ctx *p = arg;
    (void)nt;
    for (;;) {
        size_t i0 = atomic_fetch_add(&p->next, p->chunk);
        if (i0 >= p->cnt) break;
        size_t i1 = i0 + p->chunk < p->cnt ? i0 + p->chunk : p->cnt;
        p->fn(p->net, p->ctx, i0, i1, t);
    }
}

/* cnt items of about work flops each: on one thread when the whole is too small to pay
 * for waking the others (a few microseconds; a batch-1 LayerNorm over 20 rows, 1.2e5 by
 * this count, took 15 us alone: its rows come from the other core's cache); else in
 * per_thread chunks per thread. */
static void par_for_n(lx_net *net, size_t cnt, double work, range_fn fn, void *ctx,
                      size_t per_thread) {
    if (net->nthreads == 1 || cnt < 2 || work * (double)cnt < 5e4) {
        fn(net, ctx, 0, cnt, 0);
        return;
    }
    size_t chunk = (cnt + per_thread * (size_t)net->nthreads - 1) / (per_thread * (size_t)net->nthreads);
    par_ctx p = {net, fn, ctx, cnt, chunk ? chunk : 1, 0};
    lx_pool_run(&net->pool, par_share, &p);
}

static void par_for(lx_net *net, size_t cnt, double work, range_fn fn, void *ctx) {
    par_for_n(net, cnt, work, fn, ctx, 4);
}

typedef struct lin_ctx {
    const lx_lin *l;
    const float *x;
    int ldx, m;
    float *y;
    int ldy;
    int gelu;                     /* y = GELU(x W^T + b) */
} lin_ctx;

/* Output columns [16 i0, 16 i1) of an f32 product. */
static void lin_cols(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    lin_ctx *c = ctx;
    int n1 = (int)(16 * i1) < c->l->out ? (int)(16 * i1) : c->l->out;
    lx_k_linear_f32(c->l, c->x, c->ldx, c->m, c->y, c->ldy, (int)(16 * i0), n1, c->gelu,
                    net->isa, net->s.f32pack[t]);
}

/* y = x W^T + b for 16-bit weights with lx_gemm; ab (rows ldab apart), when given, is x
 * already rounded to bf16 and x is not read; gelu16, when given, receives bf16(GELU(y))
 * (rows ld16 apart) and y is only scratch. */
static int linear16(lx_net *net, const lx_lin *l, const float *x, int ldx, const uint16_t *ab,
                    size_t ldab, int m, float *y, int ldy, uint16_t *gelu16, size_t ld16,
                    lx_error *err) {
    lx_gemm_op op = {
        .kind = !l->bf16 ? LX_GEMM_F16 : net->opts.exact_bf16 ? LX_GEMM_BF16_EXACT : LX_GEMM_BF16,
        .m = m, .n = l->out, .k = l->in, .a = x, .lda = (size_t)ldx, .w = l->w16,
        .ldw = (size_t)l->in, .bias = l->b, .c = y, .ldc = (size_t)ldy, .accumulate = 0,
        .ab = ab, .ldab = ldab, .cb = gelu16, .ldcb = ld16};
    return lx_gemm(&net->caps, &op, net->nthreads > 1 ? &net->pool : NULL, net->s.gs, err);
}

/* f32 weights: y = x W^T + b (GELU of it when gelu is set) in column ranges over the
 * pool's threads (lx_k_linear_f32). */
static int linear_f32(lx_net *net, const lx_lin *l, const float *x, int ldx, int m, float *y,
                      int ldy, int gelu, lx_error *err) {
    if (net->isa >= LX_ISA_AVX512 && m > LX_K_F32_FEW_ROWS && !net->s.f32pack[0])
        for (int t = 0; t < net->nthreads; t++)
            if (!(net->s.f32pack[t] = lx_aligned_alloc(lx_gemm_f32pack_bytes())))
                return lx_error_set(err, "out of memory (packed weights)");
    lin_ctx c = {l, x, ldx, m, y, ldy, gelu};
    /* many rows: each chunk packs its own columns of W (two chunks per thread, so that a
     * thread slowed by a busy machine takes less); sgemm (no AVX-512) packs both
     * operands per call: one chunk per thread then */
    par_for_n(net, ((size_t)l->out + 15) / 16, 32.0 * m * l->in, lin_cols, &c,
              m <= LX_K_F32_FEW_ROWS ? 4 : net->isa >= LX_ISA_AVX512 ? 2 : 1);
    return 0;
}

/* y[m, out] = x[m, in] W^T + b over the pool's threads: f32 weights with linear_f32,
 * 16-bit weights with lx_gemm (bf16 with the CPU's bf16 dot products, or exactly in f32
 * when opts.exact_bf16). */
static int linear(lx_net *net, const lx_lin *l, const float *x, int ldx, int m, float *y,
                  int ldy, lx_error *err) {
    if (m <= 0) return 0;
    if (l->w) return linear_f32(net, l, x, ldx, m, y, ldy, 0, err);
    return linear16(net, l, x, ldx, NULL, 0, m, y, ldy, NULL, 0, err);
}

/* The same product with its bias left to the caller (returned; NULL when the product
 * added it itself), for a consumer that passes over the output anyway (GELU, LayerNorm):
 * saves writing the bias into y and reading it back for f32 weights. */
static int linear_defer_bias(lx_net *net, const lx_lin *l, const float *x, int ldx, int m,
                             float *y, int ldy, const float **bias, lx_error *err) {
    *bias = NULL;
    if (!l->w) return linear(net, l, x, ldx, m, y, ldy, err);
    lx_lin nb = *l;
    nb.b = NULL;
    *bias = l->b;
    return linear(net, &nb, x, ldx, m, y, ldy, err);
}

/* x16 rows <- bf16(x rows) (zero padded to ld16), rows [i0, i1). */
typedef struct round_ctx {
    const float *x;
    size_t ld;
    uint16_t *x16;
    size_t ld16;
    int n;
} round_ctx;

static void round_rows(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    round_ctx *c = ctx;
    for (size_t i = i0; i < i1; i++)
        lx_k_round_bf16(c->x16 + i * c->ld16, c->x + i * c->ld, c->n, (int)c->ld16, net->isa);
}

typedef struct ln_ctx {
    float *x;
    const float *r, *rb;
    int n, ld;
    const lx_ln *ln;
    float eps;
    uint16_t *x16;                /* bf16 copy of the rows (ld16 apart), or NULL */
    size_t ld16;
} ln_ctx;

static void ln_rows(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    ln_ctx *c = ctx;
    size_t off = i0 * (size_t)c->ld;
    lx_k_add_layernorm(c->x + off, c->r ? c->r + off : NULL, c->rb, (int)(i1 - i0), c->n, c->ld,
                       c->ln, c->eps, net->isa);
    if (c->x16) { /* while the rows are in cache */
        round_ctx rc = {c->x, (size_t)c->ld, c->x16, c->ld16, c->n};
        round_rows(net, &rc, i0, i1, t);
    }
}

/* x[m, n] <- LayerNorm(x + r + rb) (r [m, n], rb [n] may be NULL), rows spread over the
 * pool; with x16, also x16 <- bf16(x) (rows ld16 apart, zero padded). */
static void add_layernorm_b(lx_net *net, float *x, const float *r, const float *rb, int m, int n,
                            const lx_ln *ln, float eps, uint16_t *x16, size_t ld16) {
    ln_ctx c = {x, r, rb, n, n, ln, eps, x16, ld16};
    par_for(net, (size_t)m, 8.0 * n, ln_rows, &c);
}

static void add_layernorm(lx_net *net, float *x, const float *r, int m, int n, const lx_ln *ln,
                          float eps) {
    add_layernorm_b(net, x, r, NULL, m, n, ln, eps, NULL, 0);
}

/* bf16 copy of hs rows [r0, r0 + m), or NULL when hidden states go as f32. */
static uint16_t *hs16_rows(const lx_net *net, int r0) {
    return net->hs16_on ? net->s.hs16 + (size_t)r0 * hs16_ld(net) : NULL;
}

typedef struct gelu_ctx {
    float *x;
    const float *b;
    size_t n, ld;
} gelu_ctx;

static void gelu_rows(lx_net *net, void *ctx, size_t i0, size_t i1, int t) {
    gelu_ctx *c = ctx;
    for (size_t i = i0; i < i1; i++) lx_k_gelu(c->x + i * c->ld, c->b, c->n, net->isa);
}

/* x[m, n] (rows ld apart) <- GELU(x + b) (b [n] may be NULL), rows spread over the
 * pool. */
static void gelu_b(lx_net *net, float *x, const float *b, size_t m, size_t n, size_t ld) {
    gelu_ctx c = {x, b, n, ld};
    par_for(net, m, 20.0 * (double)n, gelu_rows, &c);
}

/* LxmertEmbeddings for record i: rows lo..lo+L of hs. */
static void embeddings(lx_net *net, const lx_record *r, float *out) {
    const lx_weights *w = &net->w;
    int H = net->H;
    const lx_tensor *ids = lx_record_tensor(r, "input_ids");
    const lx_tensor *tt = lx_record_tensor(r, "token_type_ids");
    int64_t L = ids->shape[0];
    for (int64_t t = 0; t < L; t++) {
        size_t id = (size_t)elem(ids, (size_t)t), ty = tt ? (size_t)elem(tt, (size_t)t) : 0;
        const float *pe = w->position_embeddings + t * H, *te = w->token_type_embeddings + ty * H;
        float *row = out + t * H;
        const float *we = row;
        if (w->word_embeddings.w)
            we = w->word_embeddings.w + id * H;
        else
            lx_k_widen(row, w->word_embeddings.w16 + id * H, (size_t)H, w->word_embeddings.bf16,
                       net->isa);
        for (int j = 0; j < H; j++) row[j] = we[j] + pe[j] + te[j];
    }
    lx_k_add_layernorm(out, NULL, NULL, (int)L, H, H, &w->emb_ln, net->eps, net->isa);
}

/* LxmertVisualFeatureEncoder over all TN vision rows (feats and pos already packed). */
static int visual_feature_encoder(lx_net *net, int TN, float *out, lx_error *err) {
    const lx_weights *w = &net->w;
    int H = net->H;
    lx_state *s = &net->s;
    if (linear(net, &w->visn_fc, s->feats, net->cfg.visual_feat_dim, TN, out, H, err) < 0 ||
        linear(net, &w->box_fc, s->pos, net->cfg.visual_pos_dim, TN, s->tmp, H, err) < 0)
        return -1;
    add_layernorm(net, out, NULL, TN, H, &w->visn_layer_norm, net->eps);
    add_layernorm(net, s->tmp, NULL, TN, H, &w->box_layer_norm, net->eps);
    size_t n = (size_t)TN * H;
    for (size_t i = 0; i < n; i++) out[i] = (out[i] + s->tmp[i]) * 0.5f;
    return 0;
}

/* Which rows attend to which: n records, query rows qbase + qo[i] (ql[i] of them) over key
 * rows kbase + ko[i] (kl[i]); probs[i] (optional) receives [heads, ql, kl]. */
typedef struct lx_span {
    int qbase, kbase;
    const int *qo, *ql, *ko, *kl;
    float **probs;
} lx_span;

/* y = hs[r0, r0 + m) W^T + b, from the bf16 copy of hs when the product takes bf16. */
static int from_hs(lx_net *net, const lx_lin *l, int r0, int m, float *y, int ldy,
                   lx_error *err) {
    if (net->hs16_on && takes_bf16(net, l))
        return linear16(net, l, NULL, 0, hs16_rows(net, r0), hs16_ld(net), m, y, ldy, NULL, 0,
                        err);
    return linear(net, l, net->s.hs + (size_t)r0 * net->H, net->H, m, y, ldy, err);
}

/* Q, K, V projections of rows [r0, r0 + m) into s->qkv (rows QKV_LD apart). */
#define QKV_LD(net) (3 * (net)->H)
static int qkv(lx_net *net, const lx_att *a, int r0, int m, lx_error *err) {
    lx_state *s = &net->s;
    size_t off = (size_t)r0 * QKV_LD(net);
    if (a->qkv.out) return from_hs(net, &a->qkv, r0, m, s->qkv + off, QKV_LD(net), err);
    if (from_hs(net, &a->query, r0, m, s->q + off, QKV_LD(net), err) < 0 ||
        from_hs(net, &a->key, r0, m, s->k + off, QKV_LD(net), err) < 0 ||
        from_hs(net, &a->value, r0, m, s->v + off, QKV_LD(net), err) < 0)
        return -1;
    return 0;
}

/* Scaled dot-product attention for units [i0, i1) of (record, head) pairs:
 * ctx = softmax(Q K^T / sqrt(d) + mask) V, with thread t's score buffer. */
typedef struct att_ctx {
    const lx_span *sp;
} att_ctx;

static void attend_units(lx_net *net, void *ctx, size_t u0, size_t u1, int t) {
    const lx_span *sp = ((att_ctx *)ctx)->sp;
    lx_state *s = &net->s;
    int H = net->H, dh = net->dh, ld = QKV_LD(net);
    float scale = 1.0f / sqrtf((float)dh);
    float *S = s->scores[t];
    for (size_t u = u0; u < u1; u++) {
        size_t i = u / (size_t)net->heads;
        int h = (int)(u % (size_t)net->heads);
        int Lq = sp->ql[i], Lk = sp->kl[i];
        size_t qr = (size_t)(sp->qbase + sp->qo[i]), kr = (size_t)(sp->kbase + sp->ko[i]);
        size_t q0 = qr * (size_t)ld, k0 = kr * (size_t)ld;
        const float *mask = s->madd + sp->kbase + sp->ko[i];
        float *ctx = s->ctx + qr * H + h * dh;
        lx_k_attention(s->q + q0 + h * dh, s->k + k0 + h * dh, s->v + k0 + h * dh, (size_t)ld,
                       Lq, Lk, dh, scale, mask, S, ctx, (size_t)H, net->isa);
        if (net->hs16_on) /* the output product's A, rounded here while ctx is in L1 */
            for (int r = 0; r < Lq; r++)
                lx_k_round_bf16(s->ctx16 + (qr + (size_t)r) * hs16_ld(net) + h * dh,
                                ctx + (size_t)r * H, dh, dh, net->isa);
        if (sp->probs && sp->probs[i])
            memcpy(sp->probs[i] + (size_t)h * Lq * Lk, S, (size_t)Lq * Lk * sizeof *S);
    }
}

/* Every head of every record, spread over the pool. */
static void attend(lx_net *net, size_t n, const lx_span *sp) {
    att_ctx c = {sp};
    par_for(net, n * (size_t)net->heads, 4.0 * 20 * 20 * net->dh, attend_units, &c);
}

/* LxmertAttentionOutput over rows [r0, r0 + m): hs = LN(dense(ctx) + hs). */
static int att_output(lx_net *net, const lx_att *a, int r0, int m, lx_error *err) {
    lx_state *s = &net->s;
    size_t off = (size_t)r0 * net->H;
    const float *b = NULL;
    if (net->hs16_on && takes_bf16(net, &a->dense)) {
        if (linear16(net, &a->dense, NULL, 0, s->ctx16 + (size_t)r0 * hs16_ld(net),
                     hs16_ld(net), m, s->tmp + off, net->H, NULL, 0, err) < 0)
            return -1;
    } else if (linear_defer_bias(net, &a->dense, s->ctx + off, net->H, m, s->tmp + off,
                                 net->H, &b, err) < 0) {
        return -1;
    }
    add_layernorm_b(net, s->hs + off, s->tmp + off, b, m, net->H, &a->ln, net->eps,
                    hs16_rows(net, r0), hs16_ld(net));
    return 0;
}

/* LxmertSelfAttentionLayer over one modality: rows [r0, r0 + m), records laid out by o/l. */
static int self_attention(lx_net *net, const lx_att *a, size_t n, int r0, int m, const int *o,
                          const int *l, float **probs, lx_error *err) {
    if (qkv(net, a, r0, m, err) < 0) return -1;
    lx_span sp = {.qbase = r0, .kbase = r0, .qo = o, .ql = l, .ko = o, .kl = l, .probs = probs};
    attend(net, n, &sp);
    return att_output(net, a, r0, m, err);
}

/* LxmertIntermediate + LxmertOutput over rows [r0, r0 + m).  With the bf16 hand-offs
 * on, the first product ends in GELU and bf16 (in registers on the packed kernel) and the
 * second reads that; otherwise GELU runs in place in f32 and each product rounds its own
 * input (the same bits: test_fused_same_bits). */
static int feed_forward(lx_net *net, const lx_ffn *f, int r0, int m, lx_error *err) {
    lx_state *s = &net->s;
    size_t off = (size_t)r0 * net->H;
    int ldi = (int)inter_ld(net);
    const float *b;
    if (net->hs16_on && takes_bf16(net, &f->out) && !f->inter.w) {
        size_t ld16 = inter16_ld(net);
        const uint16_t *a16 = takes_bf16(net, &f->inter) ? hs16_rows(net, r0) : NULL;
        if (linear16(net, &f->inter, a16 ? NULL : s->hs + off, net->H, a16, hs16_ld(net), m,
                     s->inter, ldi, s->inter16, ld16, err) < 0 ||
            linear16(net, &f->out, NULL, 0, s->inter16, ld16, m, s->tmp + off, net->H, NULL, 0,
                     err) < 0)
            return -1;
        b = NULL; /* both products added their biases */
    } else {
        if (f->inter.w) { /* f32: GELU applied by the product, per column range */
            if (linear_f32(net, &f->inter, s->hs + off, net->H, m, s->inter, ldi, 1,
                           err) < 0)
                return -1;
        } else {
            if (linear_defer_bias(net, &f->inter, s->hs + off, net->H, m, s->inter, ldi,
                                  &b, err) < 0)
                return -1;
            gelu_b(net, s->inter, b, (size_t)m, (size_t)net->isz, (size_t)ldi);
        }
        if (linear_defer_bias(net, &f->out, s->inter, ldi, m, s->tmp + off, net->H, &b,
                              err) < 0)
            return -1;
    }
    add_layernorm_b(net, s->hs + off, s->tmp + off, b, m, net->H, &f->ln, net->eps,
                    hs16_rows(net, r0), hs16_ld(net));
    return 0;
}

/* LxmertXLayer: the shared cross-attention in both directions over the layer's input
 * states (Q, K, V and the output projection run once over all rows), then self-attention
 * and feed-forward per modality. */
static int x_layer(lx_net *net, const lx_xlayer *x, size_t n, int TL, int TN, float **cross_probs,
                   lx_error *err) {
    lx_state *s = &net->s;
    if (qkv(net, &x->visual_attention, 0, TL + TN, err) < 0) return -1;
    lx_span lang = {.qbase = 0, .kbase = TL, .qo = s->lo, .ql = s->ll, .ko = s->vo, .kl = s->vl,
                    .probs = cross_probs};
    lx_span visn = {.qbase = TL, .kbase = 0, .qo = s->vo, .ql = s->vl, .ko = s->lo, .kl = s->ll};
    attend(net, n, &lang);
    attend(net, n, &visn);
    if (att_output(net, &x->visual_attention, 0, TL + TN, err) < 0) return -1;
    if (self_attention(net, &x->lang_self_att, n, 0, TL, s->lo, s->ll, NULL, err) < 0 ||
        self_attention(net, &x->visn_self_att, n, TL, TN, s->vo, s->vl, NULL, err) < 0 ||
        feed_forward(net, &x->lang, 0, TL, err) < 0 ||
        feed_forward(net, &x->visn, TL, TN, err) < 0)
        return -1;
    return 0;
}

/* ---- outputs -------------------------------------------------------------- */

enum { O_LANG, O_VIS, O_POOLED, O_LHS, O_VHS, O_LATT, O_VATT, O_XATT, O_MLM, O_MATCH, O_OBJ,
       O_ATTR, O_FEAT, O_QA, O_COUNT };

static const char *const out_names[O_COUNT] = {
    "language_output", "vision_output", "pooled_output", "language_hidden_states",
    "vision_hidden_states", "language_attentions", "vision_attentions",
    "cross_encoder_attentions", "prediction_logits", "cross_relationship_score",
    "visual_obj_logits", "visual_attr_logits", "visual_feat_logits", "question_answering_score",
};

static float *odata(lx_tensor *outs, size_t i, int o) {
    return outs[i * O_COUNT + o].data;
}

/* Copy each record's rows [base + off[i], + len[i]) of hs into slot k of output o. */
static void save_rows(lx_net *net, lx_tensor *outs, size_t n, int o, int k, int base,
                      const int *off, const int *len) {
    size_t H = (size_t)net->H;
    for (size_t i = 0; i < n; i++) {
        float *dst = odata(outs, i, o);
        if (!dst) continue;
        size_t sz = (size_t)len[i] * H;
        memcpy(dst + (size_t)k * sz, net->s.hs + (size_t)(base + off[i]) * H, sz * sizeof *dst);
    }
}

/* Pointers to slot k of output o for every record (NULL if not wanted). */
static float **slots(lx_tensor *outs, size_t n, int o, int k, float **buf) {
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        lx_tensor *t = &outs[i * O_COUNT + o];
        buf[i] = NULL;
        if (!t->data) continue;
        size_t per = (size_t)lx_tensor_nelem(t) / (size_t)t->shape[0];
        buf[i] = (float *)t->data + (size_t)k * per;
        any = 1;
    }
    return any ? buf : NULL;
}

static int alloc_out(lx_tensor *t, int ndim, int64_t a, int64_t b, int64_t c, int64_t d,
                     lx_error *err) {
    int64_t shape[4] = {a, b, c, d};
    return lx_tensor_alloc(t, LX_F32, ndim, shape, err);
}

/* ---- forward ---------------------------------------------------------------- */

int lx_net_forward(lx_net *net, lx_record *recs, size_t n, unsigned want, lx_error *err) {
    if (n == 0) return 0;
    const lx_config *c = &net->cfg;
    const lx_weights *w = &net->w;
    unsigned miss = want & ~net->avail;
    if (miss)
        return lx_error_set(err, "the model has no %s head",
                            (miss & LX_OUT_MLM) ? "masked-language-model (mlm)" :
                            (miss & LX_OUT_MATCH) ? "image-text match (match)" :
                            (miss & LX_OUT_OBJ) ? "object (obj)" :
                            (miss & LX_OUT_ATTR) ? "attribute (attr)" :
                            (miss & LX_OUT_FEAT) ? "feature regression (feat)" :
                            "question answering (qa)");
    int H = net->H, heads = net->heads;
    /* Lay the batch out: language rows of every record, then vision rows. */
    size_t TL = 0, TN = 0, maxsc = 1;
    for (size_t i = 0; i < n; i++) {
        const lx_tensor *ids = lx_record_tensor(&recs[i], "input_ids");
        const lx_tensor *vf = lx_record_tensor(&recs[i], "visual_feats");
        if (!ids || !vf) return lx_error_set(err, "record %zu of the batch was not checked", i);
        size_t L = (size_t)ids->shape[0], N = (size_t)vf->shape[0];
        TL += L;
        TN += N;
        size_t m = L > N ? L : N;
        if (m * m > maxsc) maxsc = m * m;
    }
    if (TL + TN > INT32_MAX / (size_t)(H > c->visual_feat_dim ? H : c->visual_feat_dim))
        return lx_error_set(err, "batch too large: %zu rows", TL + TN);
    if (state_reserve(net, n, TL + TN, TN, maxsc, err) < 0) return -1;
    lx_state *s = &net->s;
    {
        int lo = 0, vo = 0;
        for (size_t i = 0; i < n; i++) {
            s->lo[i] = lo;
            s->ll[i] = (int)lx_record_tensor(&recs[i], "input_ids")->shape[0];
            s->vo[i] = vo;
            s->vl[i] = (int)lx_record_tensor(&recs[i], "visual_feats")->shape[0];
            lo += s->ll[i];
            vo += s->vl[i];
        }
    }
    int iTL = (int)TL, iTN = (int)TN;

    /* Output tensors, allocated up front so that layers can write into them. */
    lx_tensor *outs = calloc(n * O_COUNT, sizeof *outs);
    float **pp = calloc(n, sizeof *pp);
    if (!outs || !pp) {
        free(outs);
        free(pp);
        return lx_error_set(err, "out of memory");
    }
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t L = s->ll[i], N = s->vl[i];
        lx_tensor *o = outs + i * O_COUNT;
        int r = 0;
        if (want & LX_OUT_LANGUAGE) r |= alloc_out(&o[O_LANG], 2, L, H, 0, 0, err);
        if (want & LX_OUT_VISION) r |= alloc_out(&o[O_VIS], 2, N, H, 0, 0, err);
        if (want & LX_OUT_POOLED) r |= alloc_out(&o[O_POOLED], 1, H, 0, 0, 0, err);
        if (want & LX_OUT_HIDDEN) {
            r |= alloc_out(&o[O_LHS], 3, c->l_layers + c->x_layers, L, H, 0, err);
            r |= alloc_out(&o[O_VHS], 3, c->r_layers + c->x_layers, N, H, 0, err);
        }
        if (want & LX_OUT_ATTENTIONS) {
            r |= alloc_out(&o[O_LATT], 4, c->l_layers, heads, L, L, err);
            r |= alloc_out(&o[O_VATT], 4, c->r_layers, heads, N, N, err);
            r |= alloc_out(&o[O_XATT], 4, c->x_layers, heads, L, N, err);
        }
        if (want & LX_OUT_MLM) r |= alloc_out(&o[O_MLM], 2, L, c->vocab_size, 0, 0, err);
        if (want & LX_OUT_MATCH) r |= alloc_out(&o[O_MATCH], 1, 2, 0, 0, 0, err);
        if (want & LX_OUT_OBJ) r |= alloc_out(&o[O_OBJ], 2, N, c->num_object_labels, 0, 0, err);
        if (want & LX_OUT_ATTR) r |= alloc_out(&o[O_ATTR], 2, N, c->num_attr_labels, 0, 0, err);
        if (want & LX_OUT_FEAT) r |= alloc_out(&o[O_FEAT], 2, N, c->visual_feat_dim, 0, 0, err);
        if (want & LX_OUT_QA) r |= alloc_out(&o[O_QA], 1, c->num_qa_labels, 0, 0, 0, err);
        if (r) goto out;
    }

    /* Inputs: embeddings, masks, features and boxes into the packed buffers. */
    float *hl = s->hs, *hv = s->hs + TL * (size_t)H;
    for (size_t i = 0; i < n; i++) {
        const lx_record *r = &recs[i];
        embeddings(net, r, hl + (size_t)s->lo[i] * H);
        const lx_tensor *am = lx_record_tensor(r, "attention_mask");
        const lx_tensor *vm = lx_record_tensor(r, "visual_attention_mask");
        for (int t = 0; t < s->ll[i]; t++)
            s->madd[s->lo[i] + t] = am ? (float)((1.0 - elem(am, (size_t)t)) * -FLT_MAX) : 0.0f;
        for (int t = 0; t < s->vl[i]; t++)
            s->madd[TL + s->vo[i] + t] = vm ? (float)((1.0 - elem(vm, (size_t)t)) * -FLT_MAX) : 0.0f;
        const lx_tensor *vf = lx_record_tensor(r, "visual_feats");
        const lx_tensor *vp = lx_record_tensor(r, "visual_pos");
        lx_convert_to_f32(s->feats + (size_t)s->vo[i] * c->visual_feat_dim, vf->data, vf->dtype,
                          (size_t)s->vl[i] * c->visual_feat_dim);
        lx_convert_to_f32(s->pos + (size_t)s->vo[i] * c->visual_pos_dim, vp->data, vp->dtype,
                          (size_t)s->vl[i] * c->visual_pos_dim);
    }
    if (visual_feature_encoder(net, iTN, hv, err) < 0) goto out;
    if (net->hs16_on) { /* the one write of hs that is not a LayerNorm's own */
        round_ctx rc = {s->hs, (size_t)H, s->hs16, hs16_ld(net), H};
        par_for(net, (size_t)(iTL + iTN), 2.0 * H, round_rows, &rc);
    }

    /* Language layers, then vision (relational) layers, then cross-modality layers. */
    int k = 0;
    for (int l = 0; l < c->l_layers; l++, k++) {
        const lx_layer *ly = &w->layer[l];
        if (self_attention(net, &ly->attention, n, 0, iTL, s->lo, s->ll,
                           slots(outs, n, O_LATT, l, pp), err) < 0 ||
            feed_forward(net, &ly->ffn, 0, iTL, err) < 0)
            goto out;
        save_rows(net, outs, n, O_LHS, k, 0, s->lo, s->ll);
    }
    for (int l = 0; l < c->r_layers; l++) {
        const lx_layer *ly = &w->r_layers[l];
        if (self_attention(net, &ly->attention, n, iTL, iTN, s->vo, s->vl,
                           slots(outs, n, O_VATT, l, pp), err) < 0 ||
            feed_forward(net, &ly->ffn, iTL, iTN, err) < 0)
            goto out;
        save_rows(net, outs, n, O_VHS, l, iTL, s->vo, s->vl);
    }
    for (int l = 0; l < c->x_layers; l++) {
        if (x_layer(net, &w->x_layers[l], n, iTL, iTN, slots(outs, n, O_XATT, l, pp), err) < 0)
            goto out;
        save_rows(net, outs, n, O_LHS, c->l_layers + l, 0, s->lo, s->ll);
        save_rows(net, outs, n, O_VHS, c->r_layers + l, iTL, s->vo, s->vl);
    }
    save_rows(net, outs, n, O_LANG, 0, 0, s->lo, s->ll);
    save_rows(net, outs, n, O_VIS, 0, iTL, s->vo, s->vl);

    /* Pooler: tanh(dense(first token)). */
    float *first = s->small2, *pooled = s->small;
    if (want & (LX_OUT_POOLED | LX_OUT_MATCH | LX_OUT_QA)) {
        for (size_t i = 0; i < n; i++)
            memcpy(first + i * H, hl + (size_t)s->lo[i] * H, (size_t)H * sizeof *first);
        if (linear(net, &w->pooler, first, H, (int)n, pooled, H, err) < 0) goto out;
        for (size_t i = 0; i < n * (size_t)H; i++) pooled[i] = tanhf(pooled[i]);
        for (size_t i = 0; i < n; i++)
            if (odata(outs, i, O_POOLED))
                memcpy(odata(outs, i, O_POOLED), pooled + i * H, (size_t)H * sizeof *pooled);
    }
    if (want & LX_OUT_MATCH)
        for (size_t i = 0; i < n; i++)
            if (linear(net, &w->seq_relationship, pooled + i * H, H, 1, odata(outs, i, O_MATCH), 2,
                       err) < 0)
                goto out;
    if (want & LX_OUT_QA)
        for (size_t i = 0; i < n; i++)
            if (lx_net_qa_head(net, pooled + i * H, 1, odata(outs, i, O_QA), err) < 0) goto out;
    if (want & LX_OUT_MLM) {
        /* cls.predictions: transform all language rows (into tmp), then the decoder per record
         * straight into its output. */
        if (linear(net, &w->mlm_transform, hl, H, iTL, s->tmp, H, err) < 0) goto out;
        gelu_b(net, s->tmp, NULL, TL, (size_t)H, (size_t)H);
        add_layernorm(net, s->tmp, NULL, iTL, H, &w->mlm_ln, net->eps);
        for (size_t i = 0; i < n; i++)
            if (linear(net, &w->mlm_decoder, s->tmp + (size_t)s->lo[i] * H, H, s->ll[i],
                       odata(outs, i, O_MLM), c->vocab_size, err) < 0)
                goto out;
    }
    if (want & (LX_OUT_OBJ | LX_OUT_ATTR | LX_OUT_FEAT)) {
        float *t = s->tmp + TL * (size_t)H;
        if (linear(net, &w->obj_transform, hv, H, iTN, t, H, err) < 0) goto out;
        gelu_b(net, t, NULL, TN, (size_t)H, (size_t)H);
        add_layernorm(net, t, NULL, iTN, H, &w->obj_ln, net->eps);
        for (size_t i = 0; i < n; i++) {
            const float *x = t + (size_t)s->vo[i] * H;
            if (((want & LX_OUT_OBJ) && linear(net, &w->obj, x, H, s->vl[i], odata(outs, i, O_OBJ),
                                               c->num_object_labels, err) < 0) ||
                ((want & LX_OUT_ATTR) && linear(net, &w->attr, x, H, s->vl[i],
                                                odata(outs, i, O_ATTR), c->num_attr_labels, err) < 0) ||
                ((want & LX_OUT_FEAT) && linear(net, &w->feat, x, H, s->vl[i],
                                                odata(outs, i, O_FEAT), c->visual_feat_dim, err) < 0))
                goto out;
        }
    }

    /* Append the outputs in HF's order. */
    for (size_t i = 0; i < n; i++)
        for (int o = 0; o < O_COUNT; o++) {
            lx_tensor *t = &outs[i * O_COUNT + o];
            if (t->data && lx_record_set_tensor(&recs[i], out_names[o], t, err) < 0) goto out;
        }
    rc = 0;
out:
    for (size_t i = 0; i < n * O_COUNT; i++) lx_tensor_free(&outs[i]);
    free(outs);
    free(pp);
    return rc;
}

int lx_net_qa_head(lx_net *net, const float *pooled, size_t n, float *logits, lx_error *err) {
    if (!(net->avail & LX_OUT_QA)) return lx_error_set(err, "the model has no question answering head");
    if (n == 0) return 0;
    const lx_weights *w = &net->w;
    int H2 = 2 * net->H;
    /* logit_fc: Linear -> GELU -> LayerNorm(eps 1e-12, as HF fixes it) -> Linear. */
    float *a = malloc(n * (size_t)H2 * sizeof *a);
    if (!a) return lx_error_set(err, "out of memory");
    int rc = linear(net, &w->qa0, pooled, net->H, (int)n, a, H2, err);
    if (rc == 0) {
        gelu_b(net, a, NULL, n, (size_t)H2, (size_t)H2);
        add_layernorm(net, a, NULL, (int)n, H2, &w->qa2, 1e-12f);
        rc = linear(net, &w->qa3, a, H2, (int)n, logits, net->cfg.num_qa_labels, err);
    }
    free(a);
    return rc;
}
