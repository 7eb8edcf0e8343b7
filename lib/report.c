/*
 * report.c — a record as lx-show draws it (lx_card): the question, the word pieces, the
 * regions, the weights of one cross-modality attention map, the answers and the truth,
 * read from the record's fields and checked (see lx.h, "report").  The drawing itself is
 * report_html.c.
 *
 * The weights.  cross_encoder_attentions is [x, heads, L, N]: in each cross-modality
 * layer, each head's attention of the L word pieces (queries) over the N regions (keys),
 * each row a softmax summing to 1.  A card keeps one layer and one head, or the mean of
 * the heads (summed in double, then rounded to float), for the word pieces and regions it
 * shows: att[t][b] is the row of word piece t, the column of region b.
 *
 * Everything a record lacks is left empty (the page says so); everything it has must be
 * well formed, and an error names the field.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bytes.h"
#include "internal.h"

/* Word pieces and regions drawn: more would not fit a card (and a record of more is not
 * a question about an image). */
#define MAX_TOKENS 4096
#define MAX_BOXES 4096
/* Truth entries listed. */
#define MAX_TRUTH 5

static char *dup_str(const char *s, lx_error *err) {
    char *d = strdup(s ? s : "");
    if (!d) lx_error_set(err, "out of memory");
    return d;
}

/* printf into a new string. */
static char *dup_printf(lx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *dup_printf(lx_error *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    if (!s) lx_error_set(err, "out of memory");
    return s;
}

void lx_card_free(lx_card *c) {
    if (!c) return;
    free(c->question);
    free(c->caption);
    free(c->img_id);
    free(c->image);
    for (size_t i = 0; c->tokens && i < c->ntokens; i++) free(c->tokens[i]);
    free(c->tokens);
    free(c->boxes);
    for (size_t i = 0; c->names && i < c->nboxes; i++) free(c->names[i]);
    free(c->names);
    free(c->att);
    for (size_t i = 0; c->picks && i < c->npicks; i++) free(c->picks[i].answer);
    free(c->picks);
    free(c->truth);
    memset(c, 0, sizeof *c);
}

/* ---- small readers ---------------------------------------------------------------- */

/* A JSON id (string or integer) as text into buf; 0 when absent, -1 when of another type. */
static int id_text(const lx_record *r, const char *name, char *buf, size_t len, lx_error *err) {
    const lx_field *f = lx_record_find(r, name);
    if (!f) return 0;
    if (!f->json || lx_regions_key(f->json, buf, len, err) < 0)
        return lx_error_set(err, "%s: got %s, expected a string or an integer", name,
                            f->json ? "another JSON value" : "an array");
    return 1;
}

/* The string field name, NULL when absent; *bad when present but not a string. */
static const char *string_field(const lx_record *r, const char *name, int *bad, lx_error *err) {
    const lx_field *f = lx_record_find(r, name);
    if (!f) return NULL;
    if (!json_is_string(f->json)) {
        *bad = 1;
        lx_error_set(err, "%s: got %s, expected a string", name,
                     f->json ? "another JSON value" : "an array");
        return NULL;
    }
    return json_string_value(f->json);
}

/* A numeric tensor field of ndim dimensions (and, where given, these sizes), or NULL when
 * absent; *bad when present but wrong. */
static const lx_tensor *tensor_field(const lx_record *r, const char *name, int ndim,
                                     int64_t d1, int *bad, lx_error *err) {
    const lx_field *f = lx_record_find(r, name);
    if (!f) return NULL;
    const lx_tensor *t = f->json ? NULL : &f->tensor;
    char got[96];
    if (!t || t->ndim != ndim || (d1 >= 0 && t->shape[1] != d1)) {
        *bad = 1;
        if (!t && json_is_array(f->json) && json_array_size(f->json) == 0)
            lx_error_set(err, "%s: got an empty list, expected an array of numbers", name);
        else if (!t)
            lx_error_set(err, "%s: got a non-numeric value, expected an array of numbers", name);
        else
            lx_error_set(err, "%s: got %s, expected %s", name,
                         lx_tensor_shape_str(t, got, sizeof got),
                         ndim == 1 ? "[n]" : ndim == 2 ? "[N, 4]" : "[x, heads, L, N]");
        return NULL;
    }
    return t;
}

/* A mask field (attention_mask, visual_attention_mask) of n entries: keep[i] = value != 0.
 * Absent: all kept.  Returns 0 or -1. */
static int read_mask(const lx_record *r, const char *name, size_t n, unsigned char *keep,
                     lx_error *err) {
    int bad = 0;
    memset(keep, 1, n);
    const lx_tensor *t = tensor_field(r, name, 1, -1, &bad, err);
    if (bad) return -1;
    if (!t) return 0;
    if (t->shape[0] != (int64_t)n)
        return lx_error_set(err, "%s: got %lld entries, expected %zu", name,
                            (long long)t->shape[0], n);
    for (size_t i = 0; i < n; i++) keep[i] = lx_tensor_elem(t, i) != 0;
    return 0;
}

/* ---- word pieces ------------------------------------------------------------------- */

/* The record's word pieces (all L of them, into all[]), from tokens or input_ids. */
static int read_pieces(lx_card *c, const lx_record *r, const lx_card_opts *o, char ***all,
                       size_t *L, lx_error *err) {
    const lx_field *tf = lx_record_find(r, "tokens");
    int bad = 0;
    const lx_tensor *ids = tensor_field(r, "input_ids", 1, -1, &bad, err);
    if (bad) return -1;
    *L = 0;
    *all = NULL;
    if (tf) {
        if (!json_is_array(tf->json))
            return lx_error_set(err, "tokens: got %s, expected a list of strings",
                                tf->json ? "another JSON value" : "an array of numbers");
        *L = json_array_size(tf->json);
    } else if (ids) {
        *L = (size_t)ids->shape[0];
    } else {
        return 0;
    }
    if (*L > MAX_TOKENS)
        return lx_error_set(err, "%s: got %zu word pieces, expected at most %d",
                            tf ? "tokens" : "input_ids", *L, MAX_TOKENS);
    if (tf && ids && ids->shape[0] != (int64_t)*L)
        return lx_error_set(err, "tokens: got %zu, expected one per input_ids entry (%lld)", *L,
                            (long long)ids->shape[0]);
    if (!(*all = calloc(*L ? *L : 1, sizeof **all))) return lx_error_set(err, "out of memory");
    int64_t *id = NULL;
    if (!tf && !(id = lx_record_get_i64(r, "input_ids", NULL, err))) return -1;
    size_t vocab = o->model ? lx_model_vocab_size(o->model) : 0;
    for (size_t i = 0; i < *L; i++) {
        if (tf) {
            const json_t *s = json_array_get(tf->json, i);
            if (!json_is_string(s)) {
                free(id);
                return lx_error_set(err, "tokens[%zu]: got a non-string, expected a word piece", i);
            }
            (*all)[i] = dup_str(json_string_value(s), err);
        } else if (vocab) {
            if (id[i] < 0 || (uint64_t)id[i] >= vocab) {
                lx_error_set(err, "input_ids[%zu]: got %lld, expected an id below %zu (the "
                                  "model's vocabulary)", i, (long long)id[i], vocab);
                free(id);
                return -1;
            }
            (*all)[i] = dup_str(lx_model_vocab_token(o->model, (size_t)id[i]), err);
        } else {
            c->tokens_are_ids = 1;
            (*all)[i] = dup_printf(err, "%lld", (long long)id[i]);
        }
        if (!(*all)[i]) {
            free(id);
            return -1;
        }
    }
    free(id);
    return 0;
}

/* ---- regions ------------------------------------------------------------------------ */

/* A positive number field (img_w, img_h): 0 when absent. */
static int size_field(const lx_record *r, const char *name, double *out, lx_error *err) {
    const lx_field *f = lx_record_find(r, name);
    *out = 0;
    if (!f) return 0;
    if (!json_is_number(f->json) || !(json_number_value(f->json) > 0) ||
        !isfinite(json_number_value(f->json)))
        return lx_error_set(err, "%s: got %s, expected the image's size in pixels (a "
                                 "positive number)", name,
                            f->json ? "another value" : "an array");
    *out = json_number_value(f->json);
    return 0;
}

/* Where one half of the regions' names comes from: ids in the detector's table, else the
 * record's list of names. */
typedef struct name_src {
    const lx_tensor *ids;         /* objects_id / attrs_id, when the table is there */
    const char *const *tab;
    size_t ntab;
    const json_t *list;           /* objects / attrs */
    const char *ids_name, *list_name, *what;
} name_src;

static int name_source(const lx_record *r, const lx_card_opts *o, lx_table table, size_t N,
                       name_src *s, lx_error *err) {
    int obj = table == LX_TABLE_OBJECTS, bad = 0;
    *s = (name_src){.ids_name = obj ? "objects_id" : "attrs_id",
                    .list_name = obj ? "objects" : "attrs",
                    .what = obj ? "object" : "attribute"};
    const lx_tensor *ids = tensor_field(r, s->ids_name, 1, -1, &bad, err);
    if (bad) return -1;
    if (ids && (size_t)ids->shape[0] != N)
        return lx_error_set(err, "%s: got %lld entries, expected one per region (%zu)",
                            s->ids_name, (long long)ids->shape[0], N);
    if (ids && o->detector && (s->tab = lx_model_names(o->detector, table, &s->ntab)))
        s->ids = ids;
    const lx_field *lf = lx_record_find(r, s->list_name);
    if (!s->ids && lf) {
        if (!json_is_array(lf->json) || json_array_size(lf->json) != N)
            return lx_error_set(err, "%s: expected a list of %zu names, one per region",
                                s->list_name, N);
        s->list = lf->json;
    }
    return 0;
}

/* Region i's name in s (empty when s has none): Visual Genome's tables give synonyms on
 * one line ("man,men"), of which the first is taken. */
static int name_part(const name_src *s, size_t i, const char **p, int *len, lx_error *err) {
    const char *name = "";
    if (s->ids) {
        double v = lx_tensor_elem(s->ids, i);
        if (!(v >= 0) || v != floor(v) || v >= (double)s->ntab)
            return lx_error_set(err, "%s[%zu]: got %g, expected an id below %zu (the detector's "
                                     "%s names)", s->ids_name, i, v, s->ntab, s->what);
        name = s->tab[(size_t)v];
    } else if (s->list) {
        const json_t *e = json_array_get(s->list, i);
        if (!json_is_string(e))
            return lx_error_set(err, "%s[%zu]: got a non-string, expected a name", s->list_name, i);
        name = json_string_value(e);
    }
    *p = name;
    *len = (int)strcspn(name, ",");
    return 0;
}

/* names[b] = "attribute object" for the regions kept (columns col[]) of N. */
static int read_names(lx_card *c, const lx_record *r, const lx_card_opts *o, size_t N,
                      const size_t *col, lx_error *err) {
    name_src obj, attr;
    if (N == 0) return 0;
    if (name_source(r, o, LX_TABLE_OBJECTS, N, &obj, err) < 0 ||
        name_source(r, o, LX_TABLE_ATTRIBUTES, N, &attr, err) < 0)
        return -1;
    if (!obj.ids && !obj.list && !attr.ids && !attr.list) return 0;
    if (!(c->names = calloc(c->nboxes ? c->nboxes : 1, sizeof *c->names)))
        return lx_error_set(err, "out of memory");
    for (size_t b = 0; b < c->nboxes; b++) {
        const char *os, *as;
        int ol, al;
        if (name_part(&obj, col[b], &os, &ol, err) < 0 || name_part(&attr, col[b], &as, &al, err) < 0)
            return -1;
        if (!(c->names[b] = dup_printf(err, "%.*s%s%.*s", al, as, al && ol ? " " : "", ol, os)))
            return -1;
    }
    return 0;
}

/* The regions: visual_pos, else boxes; into c->boxes for those kept, their columns in
 * col[].  *N gets the record's count of regions (0: none). */
static int read_regions(lx_card *c, const lx_record *r, size_t *N, size_t **col, lx_error *err) {
    int bad = 0;
    const char *name = "visual_pos";
    const lx_tensor *t = tensor_field(r, name, 2, 4, &bad, err);
    if (bad) return -1;
    if (!t) {
        name = "boxes";
        t = tensor_field(r, name, 2, 4, &bad, err);
        if (bad) return -1;
        c->pixels = t != NULL;
    }
    *N = 0;
    if (!t) return 0;
    *N = (size_t)t->shape[0];
    if (*N > MAX_BOXES)
        return lx_error_set(err, "%s: got %zu regions, expected at most %d", name, *N, MAX_BOXES);
    unsigned char *keep = malloc(*N ? *N : 1);
    float *v = lx_record_get_f32(r, name, NULL, err);
    *col = malloc((*N ? *N : 1) * sizeof **col);
    c->boxes = malloc((*N ? *N : 1) * 4 * sizeof *c->boxes);
    int rc = -1;
    if (!keep || !v || !*col || !c->boxes) {
        if (keep && v) lx_error_set(err, "out of memory");
        goto out;
    }
    if (read_mask(r, "visual_attention_mask", *N, keep, err) < 0) goto out;
    for (size_t i = 0; i < *N; i++) {
        const float *b = v + 4 * i;
        for (int k = 0; k < 4; k++)
            if (!isfinite(b[k])) {
                lx_error_set(err, "%s[%zu]: got %g, expected a finite number", name, i, (double)b[k]);
                goto out;
            }
        if (!(b[0] <= b[2] && b[1] <= b[3])) {
            lx_error_set(err, "%s[%zu]: got [%g, %g, %g, %g], expected x1 <= x2 and y1 <= y2",
                         name, i, (double)b[0], (double)b[1], (double)b[2], (double)b[3]);
            goto out;
        }
        if (!keep[i]) continue;
        memcpy(c->boxes + 4 * c->nboxes, b, 4 * sizeof *b);
        (*col)[c->nboxes++] = i;
    }
    rc = 0;
out:
    free(keep);
    free(v);
    return rc;
}

/* ---- attention ---------------------------------------------------------------------- */

/* The weights of the chosen layer and head for the kept word pieces (rows row[]) and
 * regions (columns col[]) of a record of L word pieces and N regions. */
static int read_attention(lx_card *c, const lx_record *r, const lx_card_opts *o, size_t L,
                          const size_t *row, size_t N, const size_t *col, lx_error *err) {
    static const char name[] = "cross_encoder_attentions";
    int bad = 0;
    const lx_tensor *t = tensor_field(r, name, 4, -1, &bad, err);
    if (bad) return -1;
    if (!t) return 0;
    char got[96];
    if (t->shape[2] != (int64_t)L || t->shape[3] != (int64_t)N || t->shape[0] < 1 ||
        t->shape[1] < 1)
        return lx_error_set(err, "%s: got %s, expected [x, heads, %zu, %zu] (%zu word pieces, "
                                 "%zu regions)", name, lx_tensor_shape_str(t, got, sizeof got),
                            L, N, L, N);
    int64_t X = t->shape[0], H = t->shape[1];
    if (X > 1024 || H > 1024)
        return lx_error_set(err, "%s: got %s, expected at most 1024 layers and heads", name,
                            lx_tensor_shape_str(t, got, sizeof got));
    int64_t layer = o->layer < 0 ? X + o->layer : o->layer;
    if (layer < 0 || layer >= X)
        return lx_error_set(err, "%s: layer %d asked for, but the record has %lld "
                                 "cross-modality layers (0 to %lld, or -1 to -%lld)", name,
                            o->layer, (long long)X, (long long)X - 1, (long long)X);
    if (o->head >= H)
        return lx_error_set(err, "%s: head %d asked for, but the record has %lld heads (0 to "
                                 "%lld)", name, o->head, (long long)H, (long long)H - 1);
    c->nlayers = (int)X;
    c->layer = (int)layer;
    c->nheads = (int)H;
    c->head = o->head < 0 ? -1 : o->head;
    if (L == 0 || N == 0) return 0;
    float *a = lx_record_get_f32(r, name, NULL, err);
    if (!a) return -1;
    if (!(c->att = malloc((c->ntokens ? c->ntokens : 1) * (c->nboxes ? c->nboxes : 1) *
                          sizeof *c->att))) {
        free(a);
        return lx_error_set(err, "out of memory");
    }
    /* the whole layer is checked, not only the rows shown: a bad map is a bad record */
    const float *base = a + (size_t)layer * (size_t)H * L * N;
    for (size_t i = 0; i < (size_t)H * L * N; i++)
        if (!(base[i] >= 0) || !isfinite(base[i])) {
            size_t h = i / (L * N), q = i / N % L, k = i % N;
            lx_error_set(err, "%s[%lld][%zu][%zu][%zu]: got %g, expected a probability", name,
                         (long long)layer, h, q, k, (double)base[i]);
            free(a);
            return -1;
        }
    int64_t h0 = c->head < 0 ? 0 : c->head, h1 = c->head < 0 ? H : c->head + 1;
    for (size_t t_ = 0; t_ < c->ntokens; t_++)
        for (size_t b = 0; b < c->nboxes; b++) {
            double sum = 0;
            for (int64_t h = h0; h < h1; h++)
                sum += base[((size_t)h * L + row[t_]) * N + col[b]];
            c->att[t_ * c->nboxes + b] = (float)(sum / (double)(h1 - h0));
        }
    free(a);
    return 0;
}

void lx_card_shades(const lx_card *c, size_t t, double *out) {
    if (!c->att || t >= c->ntokens) return;
    const float *w = c->att + t * c->nboxes;
    double lo = INFINITY, hi = 0;
    for (size_t b = 0; b < c->nboxes; b++) {
        if (w[b] < lo) lo = w[b];
        if (w[b] > hi) hi = w[b];
    }
    for (size_t b = 0; b < c->nboxes; b++)
        out[b] = hi > lo ? ((double)w[b] - lo) / (hi - lo) : hi > 0 ? 1 : 0;
}

/* ---- answers and truth -------------------------------------------------------------- */

/* The answers shown: the record's predictions (an answers list that is not the human
 * answers), else its single "answer". */
static int read_picks(lx_card *c, const lx_record *r, const json_t *humans, lx_error *err) {
    const json_t *a = lx_record_json(r, "answers");
    const lx_field *af = lx_record_find(r, "answers");
    if (af && !json_is_array(af->json))
        return lx_error_set(err, "answers: got %s, expected a list",
                            af->json ? "another JSON value" : "an array of numbers");
    if (a && json_array_size(a) && !humans) {
        size_t n = json_array_size(a);
        if (!(c->picks = calloc(n, sizeof *c->picks))) return lx_error_set(err, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(a, i);
            const json_t *s = json_object_get(e, "answer"), *sc = json_object_get(e, "score");
            double v = json_number_value(sc);
            if (!json_is_string(s) || !json_is_number(sc) || !(v >= 0 && v <= 1))
                return lx_error_set(err, "answers[%zu]: expected {\"answer\": a string, "
                                         "\"score\": a number from 0 to 1}", i);
            if (!(c->picks[i].answer = dup_str(json_string_value(s), err))) return -1;
            c->picks[i].score = v;
            c->npicks++;
        }
    }
    int bad = 0;
    const char *one = string_field(r, "answer", &bad, err);
    if (bad) return -1;
    if (one && c->npicks == 0) {
        if (!(c->picks = calloc(1, sizeof *c->picks)) || !(c->picks[0].answer = dup_str(one, err)))
            return c->picks ? -1 : lx_error_set(err, "out of memory");
        c->picks[0].score = -1;
        c->npicks = 1;
    }
    return 0;
}

/* A score for people: "1", "0.3", "0.667". */
static void fmt_score(char *buf, size_t len, double v) {
    snprintf(buf, len, "%.3g", v);
}

static int label_text(lx_strbuf *b, const json_t *label) {
    /* the label's answers, best first (equal scores in the record's order) */
    size_t n = json_object_size(label), used = 0;
    const char *key[MAX_TRUTH];
    double val[MAX_TRUTH];
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)label, k, v) {
        double s = json_number_value(v);
        size_t at = used;
        while (at > 0 && val[at - 1] < s) at--;
        if (at == MAX_TRUTH) continue;
        if (used < MAX_TRUTH) used++;
        memmove(key + at + 1, key + at, (used - 1 - at) * sizeof *key);
        memmove(val + at + 1, val + at, (used - 1 - at) * sizeof *val);
        key[at] = k;
        val[at] = s;
    }
    lx_strbuf_puts(b, "label: ");
    for (size_t i = 0; i < used; i++) {
        char sc[32];
        fmt_score(sc, sizeof sc, val[i]);
        lx_strbuf_puts(b, i ? ", " : "");
        lx_strbuf_puts(b, key[i]);
        lx_strbuf_putc(b, ' ');
        lx_strbuf_puts(b, sc);
    }
    if (n > used) lx_strbuf_puts(b, ", ...");
    if (n == 0) lx_strbuf_puts(b, "(empty)");
    return 0;
}

/* "human answers: yes ×6, no ×3, maybe": each distinct answer with its count, most first. */
static int humans_text(lx_strbuf *b, const json_t *h, lx_error *err) {
    size_t n = json_array_size(h), nd = 0;
    const char **ans = malloc(n * sizeof *ans);
    size_t *cnt = calloc(n, sizeof *cnt);
    if (!ans || !cnt) {
        free(ans);
        free(cnt);
        return lx_error_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(h, i);
        const char *s = json_string_value(json_is_object(e) ? json_object_get(e, "answer") : e);
        size_t j = 0;
        while (j < nd && strcmp(ans[j], s) != 0) j++;
        if (j == nd) ans[nd++] = s;
        cnt[j]++;
    }
    lx_strbuf_puts(b, "human answers: ");
    for (size_t shown = 0; shown < nd && shown < MAX_TRUTH; shown++) {
        size_t best = 0;
        for (size_t j = 1; j < nd; j++)
            if (cnt[j] > cnt[best]) best = j;
        char x[32];
        snprintf(x, sizeof x, " \xc3\x97%zu", cnt[best]);
        lx_strbuf_puts(b, shown ? ", " : "");
        lx_strbuf_puts(b, ans[best]);
        if (cnt[best] > 1) lx_strbuf_puts(b, x);
        cnt[best] = 0;
    }
    if (nd > MAX_TRUTH) lx_strbuf_puts(b, ", ...");
    free(ans);
    free(cnt);
    return 0;
}

static int read_truth(lx_card *c, const lx_record *r, const json_t *label,
                      const json_t *humans, lx_error *err) {
    c->score = -1;
    const char *pred = c->npicks ? c->picks[0].answer : NULL;
    static const char *const given[] = {"vqa_accuracy", "vqa_score"};
    for (size_t i = 0; i < 2 && c->score < 0; i++) {
        const lx_field *f = lx_record_find(r, given[i]);
        if (!f) continue;
        double s = json_number_value(f->json);
        if (!json_is_number(f->json) || !(s >= 0 && s <= 1))
            return lx_error_set(err, "%s: expected a number from 0 to 1", given[i]);
        c->score = s;
    }
    if (c->score < 0 && pred && label && lx_vqa_soft_score(label, pred, &c->score, err) < 0)
        return -1;
    if (c->score < 0 && pred && humans &&
        lx_vqa_human_accuracy(humans, pred, &c->score, err) < 0)
        return -1;
    lx_strbuf b = {0};
    if (label) label_text(&b, label);
    if (humans) {
        if (b.len) lx_strbuf_puts(&b, "; ");
        if (humans_text(&b, humans, err) < 0) {
            lx_strbuf_free(&b);
            return -1;
        }
    }
    if (b.len) {
        lx_strbuf_putc(&b, '\0');
        if (b.oom) {
            lx_strbuf_free(&b);
            return lx_error_set(err, "out of memory");
        }
        c->truth = b.data;
    }
    if (c->score >= 0 && pred)
        c->verdict = c->score >= 0.999 ? LX_VERDICT_RIGHT
                   : c->score > 0     ? LX_VERDICT_PARTLY : LX_VERDICT_WRONG;
    return 0;
}

/* ---- the card ------------------------------------------------------------------------- */

static int read_text(lx_card *c, const lx_record *r, lx_error *err) {
    static const char *const fields[] = {"sent", "text", "question"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields && !c->question; i++) {
        int bad = 0;
        const char *s = string_field(r, fields[i], &bad, err);
        if (bad) return -1;
        if (s && !(c->question = dup_str(s, err))) return -1;
    }
    char qid[256], img[1024];
    int hq = id_text(r, "question_id", qid, sizeof qid, err);
    if (hq < 0) return -1;
    const char *img_field = lx_record_find(r, "img_id") ? "img_id" : "image_id";
    int hi = id_text(r, img_field, img, sizeof img, err);
    if (hi < 0) return -1;
    if (hi && !(c->img_id = dup_str(img, err))) return -1;
    if ((hq || hi) &&
        !(c->caption = dup_printf(err, "%s%s%s%s%s%s", hq ? "question_id " : "", hq ? qid : "",
                                  hq && hi ? " \xc2\xb7 " : "", hi ? img_field : "",
                                  hi ? " " : "", hi ? img : "")))
        return -1;
    int bad = 0;
    const char *image = string_field(r, "image", &bad, err);
    if (bad) return -1;
    if (image && !(c->image = dup_str(image, err))) return -1;
    return 0;
}

int lx_card_read(lx_card *c, const lx_record *r, const lx_card_opts *opts, lx_error *err) {
    lx_card_opts dflt = {.layer = -1, .head = -1};
    const lx_card_opts *o = opts ? opts : &dflt;
    memset(c, 0, sizeof *c);
    c->score = -1;
    c->head = -1;
    char **all = NULL;
    size_t L = 0, N = 0, *row = NULL, *col = NULL;
    unsigned char *keep = NULL;
    const json_t *label = NULL, *humans = NULL;
    int rc = -1;
    if (read_text(c, r, err) < 0 || read_pieces(c, r, o, &all, &L, err) < 0) goto out;
    /* the word pieces shown: attention_mask 1 */
    keep = malloc(L ? L : 1);
    row = malloc((L ? L : 1) * sizeof *row);
    c->tokens = calloc(L ? L : 1, sizeof *c->tokens);
    if (!keep || !row || !c->tokens) {
        lx_error_set(err, "out of memory");
        goto out;
    }
    if (L && read_mask(r, "attention_mask", L, keep, err) < 0) goto out;
    for (size_t i = 0; i < L; i++)
        if (keep[i]) {
            row[c->ntokens] = i;
            c->tokens[c->ntokens++] = all[i];
            all[i] = NULL;
        }
    for (size_t t = 0; t < c->ntokens; t++)
        if (strcmp(c->tokens[t], "[CLS]") == 0) {
            c->cls = t;
            break;
        }
    if (size_field(r, "img_w", &c->width, err) < 0 || size_field(r, "img_h", &c->height, err) < 0)
        goto out;
    if ((c->width > 0) != (c->height > 0)) {
        lx_error_set(err, "%s: missing (img_w and img_h go together)",
                     c->width > 0 ? "img_h" : "img_w");
        goto out;
    }
    if (read_regions(c, r, &N, &col, err) < 0 || read_names(c, r, o, N, col, err) < 0 ||
        read_attention(c, r, o, L, row, N, col, err) < 0 ||
        lx_vqa_record_truth(r, &label, &humans, err) < 0 || read_picks(c, r, humans, err) < 0 || read_truth(c, r, label, humans, err) < 0)
        goto out;
    rc = 0;
out:
    for (size_t i = 0; all && i < L; i++) free(all[i]);
    free(all);
    free(keep);
    free(row);
    free(col);
    if (rc < 0) lx_card_free(c);
    return rc;
}

const char *lx_image_mime(const void *data, size_t len) {
    const unsigned char *p = data;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return "image/jpeg";
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    return NULL;
}
