/*
 * schema.c — LXMERT's tensors (schema.h): the list of every name with its shape, group
 * and role; the mapping of every LXMERT naming scheme onto HF's LxmertFor... names; and
 * the checks of a checkpoint's tensors against a config.
 *
 * The schemes (prefix -> HF prefix):
 *   lxmert.  answer_head.  cls.  obj_predict_head.     HF LxmertForPreTraining/QA (kept)
 *   embeddings.  encoder.  pooler.                      HF LxmertModel  -> lxmert.
 *   module.  (any number, from nn.DataParallel)         dropped, then the rest mapped
 *   bert.                                               original LXRTModel -> lxmert.
 *   lxrt_encoder.model.bert.                            original fine-tuning -> lxmert.
 *   logit_fc.                                           original fine-tuning head
 *                                                       -> answer_head.logit_fc.
 * and old BERT LayerNorm parameter names gamma/beta become weight/bias.
 *
 * The canonical list (lx_schema_build) is every tensor an LXMERT of a given config can
 * carry, in the order HF lists them, each with its shape and its group: the backbone
 * (always required) and the heads (MLM, matching, object/attribute/feature, QA), each
 * all-or-nothing.  The tied MLM decoder weight (= word embeddings) and HF BERT's
 * decoder bias (= cls.predictions.bias) are optional: dropped when they equal what they
 * are tied to, kept otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "schema.h"

static const char *const group_names[LX_GROUP_COUNT] = {
    "backbone", "masked-LM head", "matching head", "visual object head",
    "object classifier", "attribute classifier", "feature regressor", "QA head", "tied",
    "int8 scales",
};

const char *lx_schema_group_name(lx_schema_group g) {
    return (unsigned)g < LX_GROUP_COUNT ? group_names[g] : "?";
}

/* snprintf into a name buffer (names are far shorter than the buffers). */
static void fmt(char *b, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *b, size_t n, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, n, f, ap);
    va_end(ap);
}

void lx_schema_add(lx_schema *s, lx_schema_group g, lx_schema_role r, int ndim,
                   const int64_t *shape, const char *fmt, ...) {
    if (s->oom) return;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 512;
        lx_schema_entry *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            s->oom = 1;
            return;
        }
        s->v = nv;
        s->cap = nc;
    }
    lx_schema_entry *p = &s->v[s->n++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->group = g;
    p->role = r;
    p->ndim = ndim;
    memcpy(p->shape, shape, (size_t)ndim * sizeof *shape);
}

typedef lx_schema specs;

/* An LXMERT tensor: [d0] (d1 < 0) or [d0, d1]. */
static void add(specs *s, int group, int role, int64_t d0, int64_t d1, const char *name) {
    int64_t shape[2] = {d0, d1};
    lx_schema_add(s, (lx_schema_group)group, (lx_schema_role)role, d1 < 0 ? 1 : 2, shape, "%s",
                  name);
}

/* A linear layer: weight [out, in], bias [out]. */
static void linear(specs *s, int g, int64_t out, int64_t in, const char *pre) {
    char b[96];
    fmt(b, sizeof b, "%s.weight", pre);
    add(s, g, LX_ROLE_MATRIX, out, in, b);
    fmt(b, sizeof b, "%s.bias", pre);
    add(s, g, LX_ROLE_BIAS, out, -1, b);
}

/* A backbone linear layer whose weight lx-convert --dtype int8 stores in int8 (the
 * encoder layers': lib/quant.c says why these): weight [out, in] (marked int8), its row
 * scales weight_scale [out] (present exactly when the weight is int8), bias [out]. */
static void linear_int8(specs *s, int64_t out, int64_t in, const char *pre) {
    char b[96];
    fmt(b, sizeof b, "%s.weight", pre);
    add(s, LX_GROUP_BACKBONE, LX_ROLE_MATRIX, out, in, b);
    if (!s->oom) s->v[s->n - 1].int8 = 1;
    fmt(b, sizeof b, "%s.weight_scale", pre);
    add(s, LX_GROUP_SCALES, LX_ROLE_SCALE, out, -1, b);
    fmt(b, sizeof b, "%s.bias", pre);
    add(s, LX_GROUP_BACKBONE, LX_ROLE_BIAS, out, -1, b);
}

static void layernorm(specs *s, int g, int64_t h, const char *pre) {
    char b[96];
    fmt(b, sizeof b, "%s.weight", pre);
    add(s, g, LX_ROLE_NORM_WEIGHT, h, -1, b);
    fmt(b, sizeof b, "%s.bias", pre);
    add(s, g, LX_ROLE_NORM_BIAS, h, -1, b);
}

/* pre.dense [h, in] (int8-able: dense_ln is the encoder layers' output layers) +
 * pre.LayerNorm [h]. */
static void dense_ln(specs *s, int64_t h, int64_t in, const char *pre) {
    char b[96];
    fmt(b, sizeof b, "%s.dense", pre);
    linear_int8(s, h, in, b);
    fmt(b, sizeof b, "%s.LayerNorm", pre);
    layernorm(s, LX_GROUP_BACKBONE, h, b);
}

/* LxmertAttention + LxmertAttentionOutput: pre.SELF.{query,key,value}, each [H, H], then
 * pre.output.dense and LayerNorm. */
static void attention(specs *s, int64_t h, const char *pre, const char *self) {
    char b[96];
    static const char *const p[] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) {
        fmt(b, sizeof b, "%s.%s.%s", pre, self, p[i]);
        linear_int8(s, h, h, b);
    }
    fmt(b, sizeof b, "%s.output", pre);
    dense_ln(s, h, h, b);
}

/* LxmertIntermediate (inter.dense [I, H]) + LxmertOutput (out.dense [H, I], LayerNorm). */
static void ffn(specs *s, const lx_config *c, const char *inter, const char *out) {
    char b[96];
    fmt(b, sizeof b, "%s.dense", inter);
    linear_int8(s, c->intermediate_size, c->hidden_size, b);
    dense_ln(s, c->hidden_size, c->intermediate_size, out);
}

/* LxmertLayer (lxmert.encoder.layer.N / r_layers.N). */
static void bert_layer(specs *s, const lx_config *c, const char *pre) {
    char a[96], b[96];
    fmt(a, sizeof a, "%s.attention", pre);
    attention(s, c->hidden_size, a, "self");
    fmt(a, sizeof a, "%s.intermediate", pre);
    fmt(b, sizeof b, "%s.output", pre);
    ffn(s, c, a, b);
}

/* LxmertXLayer (lxmert.encoder.x_layers.N). */
static void x_layer(specs *s, const lx_config *c, const char *pre) {
    char a[96], b[96];
    fmt(a, sizeof a, "%s.visual_attention", pre);
    attention(s, c->hidden_size, a, "att");
    static const char *const side[] = {"lang", "visn"};
    for (int i = 0; i < 2; i++) {
        fmt(a, sizeof a, "%s.%s_self_att", pre, side[i]);
        attention(s, c->hidden_size, a, "self");
    }
    for (int i = 0; i < 2; i++) {
        fmt(a, sizeof a, "%s.%s_inter", pre, side[i]);
        fmt(b, sizeof b, "%s.%s_output", pre, side[i]);
        ffn(s, c, a, b);
    }
}

int lx_schema_build(lx_schema *sch, const lx_config *c, lx_error *err) {
    int64_t h = c->hidden_size;
    char b[96];
    memset(sch, 0, sizeof *sch);
    specs *s = sch;
    snprintf(sch->context, sizeof sch->context, "hidden_size %d, intermediate_size %d, "
             "vocab_size %d, visual_feat_dim %d", c->hidden_size, c->intermediate_size,
             c->vocab_size, c->visual_feat_dim);
    add(s, LX_GROUP_BACKBONE, LX_ROLE_EMBEDDING, c->vocab_size, h,
        "lxmert.embeddings.word_embeddings.weight");
    add(s, LX_GROUP_BACKBONE, LX_ROLE_EMBEDDING, c->max_position_embeddings, h,
        "lxmert.embeddings.position_embeddings.weight");
    add(s, LX_GROUP_BACKBONE, LX_ROLE_EMBEDDING, c->type_vocab_size, h,
        "lxmert.embeddings.token_type_embeddings.weight");
    layernorm(s, LX_GROUP_BACKBONE, h, "lxmert.embeddings.LayerNorm");
    linear(s, LX_GROUP_BACKBONE, h, c->visual_feat_dim, "lxmert.encoder.visn_fc.visn_fc");
    layernorm(s, LX_GROUP_BACKBONE, h, "lxmert.encoder.visn_fc.visn_layer_norm");
    linear(s, LX_GROUP_BACKBONE, h, c->visual_pos_dim, "lxmert.encoder.visn_fc.box_fc");
    layernorm(s, LX_GROUP_BACKBONE, h, "lxmert.encoder.visn_fc.box_layer_norm");
    for (int i = 0; i < c->l_layers; i++) {
        fmt(b, sizeof b, "lxmert.encoder.layer.%d", i);
        bert_layer(s, c, b);
    }
    for (int i = 0; i < c->x_layers; i++) {
        fmt(b, sizeof b, "lxmert.encoder.x_layers.%d", i);
        x_layer(s, c, b);
    }
    for (int i = 0; i < c->r_layers; i++) {
        fmt(b, sizeof b, "lxmert.encoder.r_layers.%d", i);
        bert_layer(s, c, b);
    }
    linear(s, LX_GROUP_BACKBONE, h, h, "lxmert.pooler.dense");
    /* Masked-LM head: transform, then the decoder (tied to the word embeddings). */
    add(s, LX_GROUP_MLM, LX_ROLE_BIAS, c->vocab_size, -1, "cls.predictions.bias");
    linear(s, LX_GROUP_MLM, h, h, "cls.predictions.transform.dense");
    layernorm(s, LX_GROUP_MLM, h, "cls.predictions.transform.LayerNorm");
    add(s, LX_GROUP_TIED, LX_ROLE_MATRIX, c->vocab_size, h, "cls.predictions.decoder.weight");
    add(s, LX_GROUP_TIED, LX_ROLE_BIAS, c->vocab_size, -1, "cls.predictions.decoder.bias");
    linear(s, LX_GROUP_MATCH, 2, h, "cls.seq_relationship");
    linear(s, LX_GROUP_OBJ, h, h, "obj_predict_head.transform.dense");
    layernorm(s, LX_GROUP_OBJ, h, "obj_predict_head.transform.LayerNorm");
    linear(s, LX_GROUP_OBJ_OBJ, c->num_object_labels, h, "obj_predict_head.decoder_dict.obj");
    linear(s, LX_GROUP_OBJ_ATTR, c->num_attr_labels, h, "obj_predict_head.decoder_dict.attr");
    linear(s, LX_GROUP_OBJ_FEAT, c->visual_feat_dim, h, "obj_predict_head.decoder_dict.feat");
    /* QA head: Linear(H, 2H), GeLU (no weights: index 1), LayerNorm(2H), Linear(2H, n). */
    linear(s, LX_GROUP_QA, 2 * h, h, "answer_head.logit_fc.0");
    layernorm(s, LX_GROUP_QA, 2 * h, "answer_head.logit_fc.2");
    linear(s, LX_GROUP_QA, c->num_qa_labels, 2 * h, "answer_head.logit_fc.3");
    if (s->oom) {
        lx_schema_free(sch);
        return lx_error_set(err, "out of memory");
    }
    return 0;
}

void lx_schema_free(lx_schema *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

const lx_schema_entry *lx_schema_find(const lx_schema *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0) return &s->v[i];
    return NULL;
}

static int starts(const char *s, const char *p) {
    return strncmp(s, p, strlen(p)) == 0;
}

const char *lx_schema_map_name(const char *name, char *buf, size_t len) {
    while (starts(name, "module.")) name += strlen("module.");
    static const struct {
        const char *from, *to;
    } pre[] = {
        {"lxmert.", "lxmert."},
        {"answer_head.", "answer_head."},
        {"cls.", "cls."},
        {"obj_predict_head.", "obj_predict_head."},
        {"lxrt_encoder.model.bert.", "lxmert."},
        {"bert.", "lxmert."},
        {"logit_fc.", "answer_head.logit_fc."},
        {"embeddings.", "lxmert.embeddings."},
        {"encoder.", "lxmert.encoder."},
        {"pooler.", "lxmert.pooler."},
    };
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        if (!starts(name, pre[i].from)) continue;
        const char *rest = name + strlen(pre[i].from);
        size_t rl = strlen(rest);
        const char *suffix = "";
        /* Old BERT checkpoints call the LayerNorm parameters gamma and beta. */
        if (rl > 6 && strcmp(rest + rl - 6, ".gamma") == 0) rl -= 6, suffix = ".weight";
        else if (rl > 5 && strcmp(rest + rl - 5, ".beta") == 0) rl -= 5, suffix = ".bias";
        int n = snprintf(buf, len, "%s%.*s%s", pre[i].to, (int)rl, rest, suffix);
        if (n < 0 || (size_t)n >= len) return NULL;
        return buf;
    }
    return NULL;
}

/* A short list of names for messages: "a, b, c and 4 more". */
typedef struct namelist {
    char buf[700];
    size_t n;
} namelist;

static void nl_add(namelist *l, const char *name) {
    size_t o = strlen(l->buf);
    if (l->n < 4 && o < sizeof l->buf - 2)
        snprintf(l->buf + o, sizeof l->buf - o, "%s%s", l->n ? ", " : "", name);
    l->n++;
}

static const char *nl_str(namelist *l) {
    if (l->n > 4) {
        size_t o = strlen(l->buf);
        snprintf(l->buf + o, sizeof l->buf - o, " and %zu more", l->n - 4);
    }
    return l->buf;
}

/* 1 if tensors a and b hold the same values (compared as f32 when dtypes differ). */
static int same_values(const lx_tensor *a, const lx_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    int64_t n = lx_tensor_nelem(a);
    if (n < 0) return 0;
    if (a->dtype == b->dtype) return memcmp(a->data, b->data, (size_t)lx_tensor_nbytes(a)) == 0;
    float x[256], y[256];
    size_t sa = lx_dtype_size(a->dtype), sb = lx_dtype_size(b->dtype);
    for (int64_t i = 0; i < n; i += 256) {
        size_t k = (size_t)(n - i < 256 ? n - i : 256);
        lx_convert_to_f32(x, (const char *)a->data + (size_t)i * sa, a->dtype, k);
        lx_convert_to_f32(y, (const char *)b->data + (size_t)i * sb, b->dtype, k);
        if (memcmp(x, y, k * sizeof(float))) return 0;
    }
    return 1;
}

static int is_float(lx_dtype t) {
    return t == LX_F32 || t == LX_F16 || t == LX_BF16;
}

typedef const lx_tensor *(*lookup_fn)(const void *ctx, const char *name);

/* int8 storage: only the matrices the schema marks int8, each with its row scales
 * (NAME_scale, f32), and scales only beside an int8 matrix. */
static int check_int8(const lx_schema_entry *p, const lx_tensor *t, lookup_fn get,
                      const void *ctx, lx_error *err) {
    char other[sizeof p->name + 8];
    if (p->role == LX_ROLE_SCALE) {
        size_t n = strlen(p->name) - strlen("_scale");
        snprintf(other, sizeof other, "%.*s", (int)n, p->name);
        const lx_tensor *w = get(ctx, other);
        if (t->dtype != LX_F32)
            return lx_error_set(err, "%s: got dtype %s, expected f32", p->name,
                                lx_dtype_name(t->dtype));
        if (!w || w->dtype != LX_I8)
            return lx_error_set(err, "%s: row scales for %s, which is %s, expected int8",
                                p->name, other, w ? lx_dtype_name(w->dtype) : "missing");
        return 0;
    }
    if (t->dtype != LX_I8) return 0;
    if (!p->int8)
        return lx_error_set(err, "%s: got dtype i8, expected f32, f16 or bf16 (only the "
                            "encoder layers' Linear weights are stored in int8)", p->name);
    snprintf(other, sizeof other, "%s_scale", p->name);
    if (!get(ctx, other))
        return lx_error_set(err, "%s: int8 without its row scales %s", p->name, other);
    return 0;
}

/* Each present group complete, every present tensor of the right shape and a float (or
 * int8 where check_int8 allows it). */
static int check_groups(const lx_schema *s, lookup_fn get, const void *ctx, lx_error *err) {
    int present[LX_GROUP_COUNT] = {0};
    present[LX_GROUP_BACKBONE] = 1;
    for (size_t i = 0; i < s->n; i++)
        if (get(ctx, s->v[i].name)) present[s->v[i].group] = 1;
    if (present[LX_GROUP_OBJ_OBJ] || present[LX_GROUP_OBJ_ATTR] || present[LX_GROUP_OBJ_FEAT])
        present[LX_GROUP_OBJ] = 1;
    for (int g = 0; g < (int)LX_GROUP_COUNT; g++) {
        if (!present[g] || g == LX_GROUP_TIED || g == LX_GROUP_SCALES) continue;
        namelist miss = {{0}, 0};
        for (size_t i = 0; i < s->n; i++)
            if ((int)s->v[i].group == g && !get(ctx, s->v[i].name)) nl_add(&miss, s->v[i].name);
        if (miss.n)
            return lx_error_set(err, "%s: %zu tensor%s missing: %s", group_names[g], miss.n,
                                miss.n > 1 ? "s" : "", nl_str(&miss));
    }
    for (size_t i = 0; i < s->n; i++) {
        const lx_schema_entry *p = &s->v[i];
        const lx_tensor *t = get(ctx, p->name);
        if (!t) continue;
        lx_tensor want = {.dtype = t->dtype, .ndim = p->ndim};
        int ok = t->ndim == p->ndim;
        for (int k = 0; k < p->ndim; k++) {
            want.shape[k] = p->shape[k];
            ok = ok && t->shape[k] == p->shape[k];
        }
        if (!ok) {
            char g[128], w[128];
            return lx_error_set(err, "%s: got shape %s, expected %s from the config (%s)",
                                p->name, lx_tensor_shape_str(t, g, sizeof g),
                                lx_tensor_shape_str(&want, w, sizeof w), s->context);
        }
        if (check_int8(p, t, get, ctx, err) < 0) return -1;
        if (!is_float(t->dtype) && t->dtype != LX_I8)
            return lx_error_set(err, "%s: got dtype %s, expected f32, f16 or bf16", p->name,
                                lx_dtype_name(t->dtype));
    }
    return 0;
}

static const lx_tensor *dict_lookup(const void *ctx, const char *name) {
    return lx_tensor_dict_get(ctx, name);
}

/* Sorted name lookups for lx_schema_check, which runs at every model open: n names
 * against ~470 specs would be ~10^5 strcmp calls linearly. */
typedef struct arrays {
    const char *const *names;
    const lx_tensor *const *ts;
    size_t *order;                /* indices sorted by name */
    size_t n;
} arrays;

/* Sort idx[0..n) by names[idx[i]] (merge sort: qsort has no context argument). */
static void sort_by_name(size_t *idx, size_t *tmp, size_t n, const char *const *names) {
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = strcmp(names[idx[j]], names[idx[i]]) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, n * sizeof *idx);
    }
}

static const lx_tensor *array_lookup(const void *ctx, const char *name) {
    const arrays *a = ctx;
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, a->names[a->order[mid]]);
        if (c == 0) return a->ts[a->order[mid]];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

static int cmp_entry_ptr(const void *a, const void *b) {
    return strcmp((*(const lx_schema_entry *const *)a)->name,
                  (*(const lx_schema_entry *const *)b)->name);
}

int lx_schema_check(const lx_schema *sch, const char *const *names,
                    const lx_tensor *const *tensors, size_t n, lx_error *err) {
    const lx_schema s = *sch; /* a shallow copy: the entries are only read */
    arrays a = {names, tensors, malloc((n ? n : 1) * sizeof(size_t)), n};
    const lx_schema_entry **sp = malloc((s.n ? s.n : 1) * sizeof *sp);
    int rc = 0;
    if (!a.order || !sp) {
        rc = lx_error_set(err, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) a.order[i] = i;
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) {
        rc = lx_error_set(err, "out of memory");
        goto out;
    }
    sort_by_name(a.order, tmp, n, names);
    free(tmp);
    for (size_t i = 0; i < s.n; i++) sp[i] = &s.v[i];
    qsort(sp, s.n, sizeof *sp, cmp_entry_ptr);
    namelist unknown = {{0}, 0};
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(names[a.order[i]], names[a.order[i - 1]]) == 0) {
            rc = lx_error_set(err, "tensor '%s' appears twice", names[a.order[i]]);
            goto out;
        }
        lx_schema_entry key, *kp = &key;
        snprintf(key.name, sizeof key.name, "%s", names[i]);
        if (strlen(names[i]) >= sizeof key.name ||
            !bsearch(&kp, sp, s.n, sizeof *sp, cmp_entry_ptr))
            nl_add(&unknown, names[i]);
    }
    if (unknown.n)
        rc = lx_error_set(err, "%zu unknown tensor%s: %s", unknown.n, unknown.n > 1 ? "s" : "",
                          nl_str(&unknown));
    if (rc == 0) rc = check_groups(&s, array_lookup, &a, err);
out:
    free(a.order);
    free(sp);
    return rc;
}

int lx_schema_drop_unknown(lx_tensor_dict *d, const lx_schema *s, char *drop, unsigned flags,
                           const char *what, lx_error *err) {
    namelist unknown = {{0}, 0};
    for (size_t i = 0; i < d->n; i++) {
        if (!drop[i] && !lx_schema_find(s, d->items[i].name)) drop[i] = 1;
        if (drop[i] == 1) nl_add(&unknown, d->items[i].name);
    }
    if (!unknown.n || (flags & LX_SCHEMA_IGNORE_UNKNOWN)) return 0;
    lx_error_set(err, "%zu unknown tensor%s (not %s): %s", unknown.n, unknown.n > 1 ? "s" : "",
                 what, nl_str(&unknown));
    if (err) err->code = LX_ERR_UNKNOWN_TENSORS;
    return -1;
}

int lx_schema_check_dict(const lx_schema *s, const lx_tensor_dict *d, lx_error *err) {
    return check_groups(s, dict_lookup, d, err);
}

int lx_schema_reorder(lx_tensor_dict *d, const lx_schema *s, const char *drop, lx_error *err) {
    lx_tensor_entry *items = malloc((d->n ? d->n : 1) * sizeof *items);
    if (!items) return lx_error_set(err, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < d->n; j++)
            if (!drop[j] && d->items[j].name && strcmp(d->items[j].name, s->v[i].name) == 0) {
                items[n++] = d->items[j];
                d->items[j].name = NULL;
                break;
            }
    for (size_t j = 0; j < d->n; j++)
        if (d->items[j].name) {
            free(d->items[j].name);
            lx_tensor_free(&d->items[j].t);
        }
    free(d->items);
    d->items = items;
    d->n = n;
    d->cap = d->n ? d->n : 1;
    return 0;
}

/* Every LXMERT naming scheme to HF's names; drop[i] = 1 for names that fit none. */
static int map_names(lx_tensor_dict *d, char *drop, lx_error *err) {
    char buf[512];
    for (size_t i = 0; i < d->n; i++) {
        const char *hf = lx_schema_map_name(d->items[i].name, buf, sizeof buf);
        if (!hf) {
            drop[i] = 1;
            continue;
        }
        if (strcmp(hf, d->items[i].name) == 0) continue;
        char *nn = strdup(hf);
        if (!nn) return lx_error_set(err, "out of memory");
        free(d->items[i].name);
        d->items[i].name = nn;
    }
    for (size_t i = 0; i < d->n; i++)
        for (size_t j = 0; j < i; j++)
            if (!drop[i] && !drop[j] && strcmp(d->items[i].name, d->items[j].name) == 0)
                return lx_error_set(err, "two tensors map to '%s'", d->items[i].name);
    return 0;
}

/* Tied weights: drop copies of what they are tied to. */
static int drop_tied(lx_tensor_dict *d, char *drop, lx_error *err) {
    static const char *const tied[][2] = {
        {"cls.predictions.decoder.weight", "lxmert.embeddings.word_embeddings.weight"},
        {"cls.predictions.decoder.bias", "cls.predictions.bias"},
    };
    for (size_t k = 0; k < 2; k++) {
        lx_tensor *t = lx_tensor_dict_get(d, tied[k][0]), *to = lx_tensor_dict_get(d, tied[k][1]);
        if (!t) continue;
        if (k == 1 && !to) return lx_error_set(err, "%s without %s", tied[k][0], tied[k][1]);
        if (same_values(t, to))
            for (size_t i = 0; i < d->n; i++)
                if (d->items[i].name && strcmp(d->items[i].name, tied[k][0]) == 0) drop[i] = 1;
    }
    return 0;
}

int lx_schema_normalize(lx_tensor_dict *d, lx_config *c, unsigned flags, lx_error *err) {
    char *drop = calloc(d->n ? d->n : 1, 1), what[128];
    lx_schema s = {0};
    int rc = drop ? map_names(d, drop, err) : lx_error_set(err, "out of memory");
    /* The QA head's size is the head's own (a fine-tuned head has its own answers). */
    lx_tensor *qa = lx_tensor_dict_get(d, "answer_head.logit_fc.3.weight");
    c->num_qa_labels = qa && qa->ndim == 2 && qa->shape[0] <= (1 << 24) ? (int)qa->shape[0] : 0;
    if (rc == 0) rc = lx_config_check(c, err) < 0 || lx_schema_build(&s, c, err) < 0 ? -1 : 0;
    /* Buffers some HF versions save next to the weights (position_ids: arange(max
     * positions), an I64 tensor) are not weights: dropped quietly. */
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        if (!drop[i] && strcmp(d->items[i].name, "lxmert.embeddings.position_ids") == 0)
            drop[i] = 2;
    snprintf(what, sizeof what, "LXMERT's, or beyond the config's %d/%d/%d layers",
             c->l_layers, c->x_layers, c->r_layers);
    if (rc == 0) rc = lx_schema_drop_unknown(d, &s, drop, flags, what, err);
    if (rc == 0) rc = lx_schema_check_dict(&s, d, err);
    if (rc == 0) rc = drop_tied(d, drop, err);
    if (rc == 0) rc = lx_schema_reorder(d, &s, drop, err);
    lx_schema_free(&s);
    free(drop);
    return rc;
}
