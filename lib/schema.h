/*
 * schema.h — the networks' tensors: every name a network of a given config can carry,
 * with its shape, its group (the backbone or a head) and its role, in the order the
 * checkpoints list them: LXMERT's (lib/schema.c) and the detector's (schema_frcnn.c).
 * Private to liblx; the one place the names and shapes are written.  It drives the
 * converter's check (lx_schema_normalize, lx.h), the loader's check at every open
 * (lx_schema_check), the networks' binding (which take their shapes from the checked
 * file) and the test model generator (tests/tools/randmodel.c).
 */
#ifndef LX_SCHEMA_H
#define LX_SCHEMA_H

#include <stddef.h>
#include <stdint.h>
#include "lx.h"

/* The backbone is always required; each head is all-or-nothing. */
typedef enum lx_schema_group {
    LX_GROUP_BACKBONE, LX_GROUP_MLM, LX_GROUP_MATCH, LX_GROUP_OBJ, LX_GROUP_OBJ_OBJ,
    LX_GROUP_OBJ_ATTR, LX_GROUP_OBJ_FEAT, LX_GROUP_QA,
    LX_GROUP_TIED,                /* the MLM decoder's copies of what it is tied to */
    LX_GROUP_SCALES,              /* the row scales of int8 matrices: present exactly where
                                   * the matrix is stored in int8 */
    LX_GROUP_COUNT
} lx_schema_group;

/* What a tensor is within its module (how a generator initialises it). */
typedef enum lx_schema_role {
    LX_ROLE_MATRIX,               /* a Linear layer's weight [out, in] */
    LX_ROLE_BIAS,                 /* a Linear layer's bias [out] */
    LX_ROLE_NORM_WEIGHT,          /* a LayerNorm's gamma [n] */
    LX_ROLE_NORM_BIAS,            /* a LayerNorm's beta [n] */
    LX_ROLE_EMBEDDING,            /* an embedding table [rows, H] */
    LX_ROLE_CONV,                 /* a convolution's weight [out, in, kh, kw] */
    LX_ROLE_NORM_MEAN,            /* a BatchNorm's running mean [n] */
    LX_ROLE_NORM_VAR,             /* a BatchNorm's running variance [n] */
    LX_ROLE_ANCHORS,              /* anchor boxes [A, 4] */
    LX_ROLE_SCALE                 /* an int8 matrix's row scales [out] (NAME_scale) */
} lx_schema_role;

typedef struct lx_schema_entry {
    char name[96];                /* HF LxmertFor... name */
    lx_schema_group group;
    lx_schema_role role;
    int ndim;                     /* 1 to 4 */
    int64_t shape[4];
    int int8;                     /* a matrix lx-convert --dtype int8 stores in int8, with
                                   * its row scales as the entry NAME_scale after it (the
                                   * encoder layers' Linear weights; lxm(5)) */
} lx_schema_entry;

typedef struct lx_schema {
    lx_schema_entry *v;           /* owned */
    size_t n, cap;
    int oom;                      /* an append failed (the build then fails) */
    char context[200];            /* the config's sizes, for messages about shapes */
} lx_schema;

/* Append an entry named by fmt: ndim dimensions of shape (builders only). */
void lx_schema_add(lx_schema *s, lx_schema_group g, lx_schema_role r, int ndim,
                   const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Every tensor an LXMERT with config c can carry, in HF's order.  Returns 0 or -1. */
int lx_schema_build(lx_schema *s, const lx_config *c, lx_error *err);
/* Every tensor of the detector with config c, in the published checkpoint's order
 * (schema_frcnn.c; the unused BatchNorm num_batches_tracked counters are not listed). */
int lx_schema_build_detector(lx_schema *s, const lx_detector_config *c, lx_error *err);
void lx_schema_free(lx_schema *s);
/* The entry called name, or NULL. */
const lx_schema_entry *lx_schema_find(const lx_schema *s, const char *name);
/* "backbone", "masked-LM head", ... */
const char *lx_schema_group_name(lx_schema_group g);

/* Every LXMERT naming scheme mapped to the HF LxmertFor... names: HF (lxmert.*,
 * answer_head.*, cls.*, obj_predict_head.*), bare LxmertModel (embeddings.*, encoder.*,
 * pooler.*), original pre-training (module.bert.*, module.cls.*, ...) and original
 * fine-tuning (lxrt_encoder.model.bert.*, logit_fc.N.*); old LayerNorm gamma/beta become
 * weight/bias.  Writes the HF name into buf and returns buf, or NULL when name fits no
 * scheme. */
const char *lx_schema_map_name(const char *name, char *buf, size_t len);
/* Check n named tensors against s (what the normalisation checks after renaming): every
 * name known, every shape the config's, float dtypes (or int8 for the matrices the schema
 * marks int8, each then with its f32 row scales NAME_scale, and scales only for int8
 * matrices), backbone and each present head complete (the tied decoder weight may be
 * absent).  Returns 0 or -1. */
int lx_schema_check(const lx_schema *s, const char *const *names,
                    const lx_tensor *const *tensors, size_t n, lx_error *err);

/* The normalisation's shared steps (schema.c), for a schema's own normaliser: drop[i]
 * marks d's tensors already set aside (1: unknown, reported; 2: dropped quietly).
 * Mark the names s does not list as unknown: an error naming them (code
 * LX_ERR_UNKNOWN_TENSORS; what says what they are not, e.g. "LXMERT's") unless flags
 * has LX_SCHEMA_IGNORE_UNKNOWN. */
int lx_schema_drop_unknown(lx_tensor_dict *d, const lx_schema *s, char *drop, unsigned flags,
                           const char *what, lx_error *err);
/* Every group present complete, every shape and dtype right. */
int lx_schema_check_dict(const lx_schema *s, const lx_tensor_dict *d, lx_error *err);
/* Keep the tensors not dropped, in s's order. */
int lx_schema_reorder(lx_tensor_dict *d, const lx_schema *s, const char *drop, lx_error *err);

#endif
