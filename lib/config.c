/*
 * config.c — lx_config (the LXMERT hyper-parameters, HF LxmertConfig field names) and
 * lx_strlist, the list of strings a vocabulary, an answer list or a table of names is
 * held in, and the reader of files of one entry a line.
 *
 * The defaults are LXMERT-base, so that an original .pth with no config.json converts.
 * Values come from JSON written by others (config.json, the .lxm header), so each one is
 * type-checked and lx_config_check bounds them before anything is sized from them.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

void lx_config_default(lx_config *c) {
    *c = (lx_config){
        .vocab_size = 30522,
        .hidden_size = 768,
        .num_attention_heads = 12,
        .intermediate_size = 3072,
        .max_position_embeddings = 512,
        .type_vocab_size = 2,
        .l_layers = 9,
        .x_layers = 5,
        .r_layers = 5,
        .visual_feat_dim = 2048,
        .visual_pos_dim = 4,
        .num_qa_labels = 9500,
        .num_object_labels = 1600,
        .num_attr_labels = 400,
        .layer_norm_eps = 1e-12,
        .do_lower_case = 1,
    };
}

/* The integer fields, by JSON name. */
#define INT_FIELDS(X)                                                                  \
    X(vocab_size) X(hidden_size) X(num_attention_heads) X(intermediate_size)           \
    X(max_position_embeddings) X(type_vocab_size) X(l_layers) X(x_layers) X(r_layers)  \
    X(visual_feat_dim) X(visual_pos_dim) X(num_qa_labels) X(num_object_labels)         \
    X(num_attr_labels)

int lx_config_from_json(lx_config *c, const json_t *obj, lx_error *err) {
    if (!json_is_object(obj)) return lx_error_set(err, "config is not a JSON object");
    json_t *v;
#define GET_INT(f)                                                                      \
    if ((v = json_object_get(obj, #f))) {                                               \
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||                         \
            json_integer_value(v) > INT_MAX)                                            \
            return lx_error_set(err, "config: " #f ": expected a non-negative integer"); \
        c->f = (int)json_integer_value(v);                                              \
    }
    INT_FIELDS(GET_INT)
#undef GET_INT
    if ((v = json_object_get(obj, "layer_norm_eps"))) {
        if (!json_is_number(v))
            return lx_error_set(err, "config: layer_norm_eps: expected a number");
        c->layer_norm_eps = json_number_value(v);
    }
    if ((v = json_object_get(obj, "do_lower_case"))) {
        if (!json_is_boolean(v))
            return lx_error_set(err, "config: do_lower_case: expected true or false");
        c->do_lower_case = json_is_true(v);
    }
    return 0;
}

json_t *lx_config_to_json(const lx_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_type", json_string("lxmert"));
#define PUT_INT(f) json_object_set_new(o, #f, json_integer(c->f));
    INT_FIELDS(PUT_INT)
#undef PUT_INT
    json_object_set_new(o, "layer_norm_eps", json_real(c->layer_norm_eps));
    json_object_set_new(o, "do_lower_case", json_boolean(c->do_lower_case));
    return o;
}

int lx_config_read_file(lx_config *c, const char *path, lx_error *err) {
    json_t *j = lx_json_read_file(path, LX_JSON_FILE_MAX, 0, err);
    if (!j) return -1;
    int rc = lx_config_from_json(c, j, err);
    json_decref(j);
    if (rc < 0) lx_error_prefix(err, "%s", path);
    return rc;
}

int lx_config_check(const lx_config *c, lx_error *err) {
    /* Bounds generous enough for any LXMERT, tight enough that sizes computed from them
     * (vocab * hidden, layers * hidden^2) cannot overflow. */
    static const struct {
        const char *name;
        size_t off;
        int min, max;
    } b[] = {
#define B(f, lo, hi) {#f, offsetof(lx_config, f), lo, hi}
        B(vocab_size, 1, 1 << 24),         B(hidden_size, 1, 1 << 16),
        B(num_attention_heads, 1, 1 << 10), B(intermediate_size, 1, 1 << 18),
        B(max_position_embeddings, 1, 1 << 20), B(type_vocab_size, 1, 1 << 10),
        B(l_layers, 0, 1000),              B(x_layers, 0, 1000),
        B(r_layers, 0, 1000),              B(visual_feat_dim, 1, 1 << 20),
        B(visual_pos_dim, 1, 1 << 10),     B(num_qa_labels, 0, 1 << 24),
        B(num_object_labels, 0, 1 << 24),  B(num_attr_labels, 0, 1 << 24),
#undef B
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        int v = *(const int *)((const char *)c + b[i].off);
        if (v < b[i].min || v > b[i].max)
            return lx_error_set(err, "config: %s is %d, expected %d..%d", b[i].name, v,
                                b[i].min, b[i].max);
    }
    if (c->hidden_size % c->num_attention_heads)
        return lx_error_set(err, "config: hidden_size %d is not a multiple of "
                                 "num_attention_heads %d", c->hidden_size,
                            c->num_attention_heads);
    if (!(c->layer_norm_eps > 0) || !isfinite(c->layer_norm_eps))
        return lx_error_set(err, "config: layer_norm_eps %g, expected a positive number",
                            c->layer_norm_eps);
    if (c->do_lower_case != 0 && c->do_lower_case != 1)
        return lx_error_set(err, "config: do_lower_case %d, expected 0 or 1", c->do_lower_case);
    return 0;
}

/* ---- string lists: vocabulary, labels, names ---------------------------------------- */

void lx_strlist_free(lx_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int lx_strlist_push(lx_strlist *l, const char *s, size_t len, lx_error *err) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 1024;
        char **ni = realloc(l->items, nc * sizeof *ni);
        if (!ni) return lx_error_set(err, "out of memory for a list of %zu entries", nc);
        l->items = ni;
        l->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return lx_error_set(err, "out of memory for entry %zu of a list", l->n + 1);
    memcpy(c, s, len);
    c[len] = 0;
    l->items[l->n++] = c;
    return 0;
}

int lx_lines_read_file(lx_strlist *l, const char *path, lx_error *err) {
    memset(l, 0, sizeof *l);
    FILE *f = lx_file_fopen(path, err);
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((errno = 0, n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n, bad;
        if (len && line[len - 1] == '\n') len--;
        if (len && line[len - 1] == '\r') len--; /* a file written with CRLF line ends */
        if (memchr(line, 0, len))
            rc = lx_error_set(err, "%s: line %zu: holds a NUL byte", path, l->n + 1);
        else if ((bad = lx_utf8_invalid(line, len)) != (size_t)-1)
            rc = lx_error_set(err, "%s: line %zu: invalid UTF-8 at byte %zu", path, l->n + 1,
                              bad);
        else if ((rc = lx_strlist_push(l, line, len, err)) < 0)
            lx_error_prefix(err, "%s", path);
        if (rc < 0) break;
    }
    /* getline fails without an error on the stream when it cannot grow its buffer */
    if (rc == 0 && !feof(f) && errno == ENOMEM)
        rc = lx_error_set(err, "%s: out of memory for line %zu", path, l->n + 1);
    if (rc == 0 && ferror(f)) rc = lx_error_set(err, "%s: %s", path, strerror(errno));
    if (rc == 0 && l->n == 0)
        rc = lx_error_set(err, "%s: empty, expected one entry per line", path);
    free(line);
    fclose(f);
    if (rc < 0) lx_strlist_free(l);
    return rc;
}
