/*
 * net.h — the LXMERT network's internals, shared by its files (private to liblx):
 *
 *   net.c          the model: one function per block of HF's modeling_lxmert.py, in its
 *                  order and with its names, written in the operations below
 *   net_ops.c      attention over the packed batch (the other operations, linear,
 *                  linear + GELU, dense + residual + LayerNorm, ..., are the networks'
 *                  shared ones: ops.h)
 *   net_bind.c     the weights: views into the mapped .lxm, named and shaped by the
 *                  schema (lib/schema.c)
 *   net_check.c    a record's inputs, checked before it joins a batch
 *   net_outputs.c  the table of outputs and the tensors a forward pass fills
 *
 * Batching without padding.  The records of a batch are packed, not padded: every
 * record's language rows are stacked into one [sum L, H] matrix followed by every
 * record's vision rows [sum N, H], so each linear layer is one product over all the rows
 * of the batch (and the cross-attention's Q, K, V and output projections, whose weights
 * the two directions share, one product over both modalities).  Attention is computed
 * per record and head over that record's own rows only, so no padded key or query
 * exists and nothing can leak between records.
 */
#ifndef LX_NN_NET_H
#define LX_NN_NET_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "../bytes.h"
#include "lx.h"
#include "ops.h"

/* Regions a record may carry: its vision attention scores are [N, N] per thread. */
#define LX_NET_MAX_REGIONS 4096
/* The largest magnitude of a visual_feats or visual_pos value.  Region features are
 * ReLU activations averaged over a region, boxes are 0..1 (pixels, with --no-box-check:
 * thousands): 1e6 is far beyond both, and through a layer of 2048 inputs with weights
 * below 1 it stays far inside the float range, where 3e38 overflows the first product. */
#define LX_NET_MAX_INPUT 1e6

/* ---- weights ------------------------------------------------------------------- */

/* LxmertAttention + LxmertAttentionOutput (the self-attention or cross-attention layer):
 * query, key, value [H, H], output dense [H, H] and its LayerNorm. */
typedef struct lx_att {
    lx_lin query, key, value;
    lx_lin qkv;                   /* the three as one [3H, H] product (qkv.out != 0) when
                                   * the file stores their weights back to back, as
                                   * lx-convert does: one pass over the input, not three */
    lx_lin dense;
    lx_ln ln;
} lx_att;

/* LxmertIntermediate + LxmertOutput: dense [I, H] + GELU, dense [H, I] + LayerNorm. */
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
    lx_att visual_attention;      /* one module, used in both directions */
    lx_att lang_self_att, visn_self_att;
    lx_ffn lang, visn;            /* lang_inter + lang_output, visn_inter + visn_output */
} lx_xlayer;

typedef struct lx_weights {
    lx_lin word_embeddings;             /* [vocab, H], no bias: rows looked up */
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
     * the word embeddings unless the file has its own) + bias [vocab] */
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

/* ---- batches --------------------------------------------------------------------- */

/* One modality's rows for each of the n records of a batch: record i's rows are
 * base + off[i] .. base + off[i] + len[i] - 1 of the packed matrices; total rows in all. */
typedef struct lx_rows {
    size_t n;
    int base, total;
    const int *off, *len;
} lx_rows;

/* ---- run state ----------------------------------------------------------------- */

/* Buffers sized from the config and the largest batch seen, reused (net.c). */
typedef struct lx_state {
    size_t rows_cap;              /* rows (language + vision) the buffers hold */
    size_t vis_cap;               /* vision rows feats/pos hold */
    size_t score_cap;             /* floats in scores */
    size_t n_cap;                 /* records the per-record arrays hold */
    lx_act hs;                    /* [rows, H] hidden states: language rows, then vision */
    float *qkv;                   /* [rows, 3H]: Q | K | V of each row */
    lx_act ctx;                   /* [rows, H] attention's output */
    lx_act inter;                 /* [rows, I] the feed-forward's intermediate (f32 rows
                                   * padded off a multiple of 4 KiB: lx_gemm_pad_ld) */
    float *tmp;                   /* [rows, H] */
    float *madd;                  /* [rows] additive mask of each row as a key */
    float *feats;                 /* [vis, feat_dim] */
    float *pos;                   /* [vis, pos_dim] */
    float *scores[LX_POOL_MAX];   /* per thread: [maxLq * maxLk] */
    float *small, *small2;        /* [n, max(2H, labels)] pooled rows and head outputs */
    size_t small_cap;
    int *lo, *ll, *vo, *vl;       /* per record: language offset/length, vision offset/length */
} lx_state;

struct lx_net {
    const lx_model *model;
    lx_config cfg;
    lx_net_opts opts;
    int H, heads, dh, isz;        /* hidden, heads, head size, intermediate size */
    float eps;
    unsigned avail;               /* LX_OUT_* the file's heads allow */
    lx_weights w;
    lx_state s;
    int bf16_acts;                /* activations carry bf16 copies (lx_act.h) */
    lx_owned owned;               /* f32 copies of small 16-bit tensors, fused biases */
    lx_rt rt;                     /* CPU level, thread pool, scratch (64-byte aligned:
                                   * the net is allocated so) */
};

/* ---- net_state.c ---------------------------------------------------------------- */

/* Size the buffers for n records with rows = language + vision rows, TN of them vision,
 * and attention maps of at most maxsc scores. */
int lx_net_state_reserve(lx_net *net, size_t n, size_t rows, size_t TN, size_t maxsc,
                         lx_error *err);
void lx_net_state_free(lx_state *s);

/* ---- net_bind.c ---------------------------------------------------------------- */

/* Bind every weight of net->model by the schema's names and shapes; sets net->avail. */
int lx_net_bind(lx_net *net, lx_error *err);
/* ---- net_ops.c ----------------------------------------------------------------- */

/* Scaled dot-product attention of q's rows over k's rows, record by record and head by
 * head: ctx = softmax(Q K^T / sqrt(dh) + mask) V from the Q | K | V rows in s.qkv and the
 * keys' additive masks s.madd; probs (NULL, or an entry per record, NULL or [heads, Lq,
 * Lk]) receives the probabilities. */
void lx_op_attention(lx_net *net, const lx_rows *q, const lx_rows *k, float **probs);

/* ---- net_outputs.c ------------------------------------------------------------- */

/* The network's outputs, in the order lx_net_forward appends them (HF's): index, field
 * name, the LX_OUT_* flag that asks for it, its head (NULL: the encoder's own), its
 * shape.  The one list: it makes both the LX_O_* indices the model code fills and the
 * table the tools read (lx_net_outputs, net_outputs.c). */
#define LX_NET_OUTPUTS(X)                                                                  \
    X(LANGUAGE, "language_output", LX_OUT_LANGUAGE, NULL, 2, TOKENS, HIDDEN)               \
    X(VISION, "vision_output", LX_OUT_VISION, NULL, 2, REGIONS, HIDDEN)                    \
    X(POOLED, "pooled_output", LX_OUT_POOLED, NULL, 1, HIDDEN)                             \
    X(LANGUAGE_HS, "language_hidden_states", LX_OUT_HIDDEN, NULL, 3, LX_LAYERS, TOKENS,     \
      HIDDEN)                                                                              \
    X(VISION_HS, "vision_hidden_states", LX_OUT_HIDDEN, NULL, 3, RX_LAYERS, REGIONS,       \
      HIDDEN)                                                                              \
    X(LANGUAGE_ATT, "language_attentions", LX_OUT_SELF_ATTENTIONS, NULL, 4, L_LAYERS,      \
      HEADS, TOKENS, TOKENS)                                                               \
    X(VISION_ATT, "vision_attentions", LX_OUT_SELF_ATTENTIONS, NULL, 4, R_LAYERS, HEADS,   \
      REGIONS, REGIONS)                                                                    \
    X(CROSS_ATT, "cross_encoder_attentions", LX_OUT_CROSS_ATTENTIONS, NULL, 4, X_LAYERS,   \
      HEADS, TOKENS, REGIONS)                                                              \
    X(MLM, "prediction_logits", LX_OUT_MLM, "mlm", 2, TOKENS, VOCAB)                       \
    X(MATCH, "cross_relationship_score", LX_OUT_MATCH, "match", 1, TWO)                    \
    X(OBJ, "visual_obj_logits", LX_OUT_OBJ, "obj", 2, REGIONS, OBJECTS)                    \
    X(ATTR, "visual_attr_logits", LX_OUT_ATTR, "attr", 2, REGIONS, ATTRIBUTES)             \
    X(FEAT, "visual_feat_logits", LX_OUT_FEAT, "feat", 2, REGIONS, FEATURES)               \
    X(QA, "question_answering_score", LX_OUT_QA, "qa", 1, LABELS)

#define LX_O_INDEX(id, ...) LX_O_##id,
enum { LX_NET_OUTPUTS(LX_O_INDEX) LX_O_COUNT };
#undef LX_O_INDEX

/* The output tensors of a batch: t[i * LX_O_COUNT + o] is record i's output o (no data:
 * not asked for). */
typedef struct lx_outs {
    size_t n;
    lx_tensor *t;
    float **slot;                 /* [n] scratch for lx_outs_slots */
} lx_outs;

/* Allocate every output want asks for, shaped for each record (lang / visn rows). */
int lx_outs_alloc(lx_outs *o, const lx_net *net, size_t n, const lx_rows *lang,
                  const lx_rows *visn, unsigned want, lx_error *err);
/* Record i's output k, or NULL when not asked for. */
float *lx_outs_data(const lx_outs *o, size_t i, int k);
/* Copy each record's hidden-state rows r into layer slot `layer` of output k. */
void lx_outs_rows(lx_outs *o, int k, int layer, const lx_net *net, const lx_rows *r);
/* Per record, a pointer to layer slot `layer` of output k (NULL when not asked for);
 * NULL when no record asked for it. */
float **lx_outs_slots(lx_outs *o, int k, int layer);
/* Record i's outputs: 0 when every value is finite, else -1 naming the first that is
 * not (one pass over them, vectorised). */
int lx_outs_check(const lx_outs *o, size_t i, lx_error *err);
/* Free record i's outputs: lx_outs_append then gives it none. */
void lx_outs_drop(lx_outs *o, size_t i);
/* The message for output `name` whose value v at flat index at of t (a tensor of the
 * output's shape, for the index) is not finite.  Returns -1. */
int lx_out_not_finite(lx_error *err, const char *name, const lx_tensor *t, size_t at, float v);
/* Append the outputs to the records, in HF's order (the tensors move into them). */
int lx_outs_append(lx_outs *o, lx_record *recs, lx_error *err);
void lx_outs_free(lx_outs *o);

#endif
