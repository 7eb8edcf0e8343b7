/*
 * record.c — lx_record: an ordered list of named fields, each a JSON value or a tensor.
 *
 * The fields are an array in the record's order.  Setting a field that exists replaces
 * it where it stands, so a tool that rewrites a field keeps the record's order; a new
 * field goes to the end, after everything passed through.
 *
 * Most records have a few to a few dozen fields and are searched linearly.  A record of
 * more than INDEX_MIN fields (a JSON object of 100 000 keys is valid input) also gets a
 * hash index of its names, kept up to date by the functions that change the record, so
 * that reading or building it stays linear in its size.  Lookups never change the
 * record: readers of one record may share it between threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "internal.h"

#define INDEX_MIN 16

/* Open addressing with linear probing, at most half full.  A slot holds a field's
 * number plus one (0: empty).  The hash is seeded per index (from getrandom, else the
 * clock and an address) so that names chosen to collide cannot make a record quadratic
 * again. */
struct lx_field_index {
    uint64_t seed;
    size_t mask;                  /* slots - 1; slots is a power of two */
    uint32_t *slots;
};

static uint64_t name_hash(uint64_t seed, const char *s) {
    uint64_t h = seed ^ 0xcbf29ce484222325ull; /* FNV-1a from the seed, then a mix */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void index_free(lx_record *r) {
    if (!r->index) return;
    free(r->index->slots);
    free(r->index);
    r->index = NULL;
}

static void index_put(struct lx_field_index *x, const char *name, size_t i) {
    size_t s = (size_t)name_hash(x->seed, name) & x->mask;
    while (x->slots[s]) s = (s + 1) & x->mask;
    x->slots[s] = (uint32_t)(i + 1);
}

/* (Re)build the index over the record's fields, with room for room fields.  Without
 * memory, or beyond what a slot can number, the record goes without one (and is
 * searched linearly: slower, never wrong). */
static void index_build(lx_record *r, size_t room) {
    struct lx_field_index *x = r->index;
    if (room >= UINT32_MAX / 2) {
        index_free(r);
        return;
    }
    size_t slots = 64;
    while (slots < 2 * room) slots *= 2;
    if (!x) {
        if (!(x = calloc(1, sizeof *x))) return;
        if (getrandom(&x->seed, sizeof x->seed, GRND_NONBLOCK) != (ssize_t)sizeof x->seed)
            x->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)x;
        r->index = x;
    }
    free(x->slots);
    if (!(x->slots = calloc(slots, sizeof *x->slots))) {
        index_free(r);
        return;
    }
    x->mask = slots - 1;
    for (size_t i = 0; i < r->nfields; i++) index_put(x, r->fields[i].name, i);
}

/* Field i was appended: index it (building the index when the record grows past
 * INDEX_MIN fields, doubling it when half full). */
static void index_added(lx_record *r, size_t i) {
    if (r->nfields <= INDEX_MIN) return;
    if (!r->index || 2 * r->nfields > r->index->mask + 1) {
        index_build(r, 2 * r->nfields);
        return;
    }
    index_put(r->index, r->fields[i].name, i);
}

void lx_record_init(lx_record *r) { memset(r, 0, sizeof *r); }

static void field_free(lx_field *f) {
    free(f->name);
    if (f->json) json_decref(f->json);
    else lx_tensor_free(&f->tensor);
    memset(f, 0, sizeof *f);
}

void lx_record_clear(lx_record *r) {
    for (size_t i = 0; i < r->nfields; i++) field_free(&r->fields[i]);
    free(r->fields);
    free(r->buf);
    index_free(r);
    lx_record_init(r);
}

lx_field *lx_record_find(const lx_record *r, const char *name) {
    const struct lx_field_index *x = r->index;
    if (x) {
        for (size_t s = (size_t)name_hash(x->seed, name) & x->mask; x->slots[s];
             s = (s + 1) & x->mask) {
            lx_field *f = &r->fields[x->slots[s] - 1];
            if (strcmp(f->name, name) == 0) return f;
        }
        return NULL;
    }
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i].name, name) == 0) return &r->fields[i];
    return NULL;
}

lx_tensor *lx_record_tensor(const lx_record *r, const char *name) {
    lx_field *f = lx_record_find(r, name);
    return f && !f->json ? &f->tensor : NULL;
}

json_t *lx_record_json(const lx_record *r, const char *name) {
    lx_field *f = lx_record_find(r, name);
    return f ? f->json : NULL;
}

/* The slot for name: the existing field (emptied) or a new one at the end. */
static lx_field *slot(lx_record *r, const char *name, lx_error *err) {
    lx_field *f = lx_record_find(r, name);
    if (f) {
        if (f->json) json_decref(f->json);
        else lx_tensor_free(&f->tensor);
        f->json = NULL;
        return f;
    }
    if (r->nfields == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        lx_field *nf = realloc(r->fields, cap * sizeof *nf);
        if (!nf) return lx_error_set(err, "out of memory"), NULL;
        r->fields = nf;
        r->cap = cap;
    }
    f = &r->fields[r->nfields];
    memset(f, 0, sizeof *f);
    if (!(f->name = strdup(name))) return lx_error_set(err, "out of memory"), NULL;
    r->nfields++;
    index_added(r, r->nfields - 1);
    return f;
}

int lx_record_set_tensor(lx_record *r, const char *name, lx_tensor *t, lx_error *err) {
    lx_field *f = slot(r, name, err);
    if (!f) {
        lx_tensor_free(t);
        return -1;
    }
    f->tensor = *t;
    memset(t, 0, sizeof *t);
    return 0;
}

int lx_record_set_json(lx_record *r, const char *name, json_t *v, lx_error *err) {
    if (!v) return lx_error_set(err, "out of memory");
    lx_field *f = slot(r, name, err);
    if (!f) {
        json_decref(v);
        return -1;
    }
    f->json = v;
    return 0;
}

int lx_record_remove(lx_record *r, const char *name) {
    lx_field *f = lx_record_find(r, name);
    if (!f) return 0;
    size_t i = (size_t)(f - r->fields);
    field_free(f);
    memmove(&r->fields[i], &r->fields[i + 1], (r->nfields - i - 1) * sizeof *f);
    r->nfields--;
    /* the fields after it moved down one place: renumber (linear, as the move is) */
    if (r->nfields > INDEX_MIN) index_build(r, r->nfields);
    else index_free(r);
    return 1;
}

int lx_record_own(lx_record *r, lx_error *err) {
    for (size_t i = 0; i < r->nfields; i++) {
        lx_field *f = &r->fields[i];
        if (f->json || f->tensor.owned || !f->tensor.data) continue;
        lx_tensor c;
        if (lx_tensor_copy(&c, &f->tensor, err) < 0) return -1;
        f->tensor = c;
    }
    free(r->buf);
    r->buf = NULL;
    return 0;
}

static int numeric_tensor(const lx_record *r, const char *name, const lx_tensor **t_out,
                          lx_error *err) {
    lx_field *f = lx_record_find(r, name);
    if (!f) return lx_error_set(err, "missing field '%s'", name);
    if (f->json) {
        if (json_is_array(f->json) && json_array_size(f->json) == 0) {
            if (t_out) *t_out = NULL;
            return 1; /* empty */
        }
        return lx_error_set(err, "field '%s' is not a numeric array", name);
    }
    if (t_out) *t_out = &f->tensor;
    return 0;
}

/* The numeric field name as a tensor (NULL for an empty array), its element count, and a
 * fresh buffer of that many elements of size bytes (at least one byte), or NULL. */
static void *numeric_copy(const lx_record *r, const char *name, const lx_tensor **t,
                          const lx_tensor **t_out, int64_t *n, size_t size, lx_error *err) {
    *t = NULL;
    if (numeric_tensor(r, name, t, err) < 0) return NULL;
    if (t_out) *t_out = *t;
    *n = *t ? lx_tensor_nelem(*t) : 0;
    void *out = malloc(*n > 0 ? (size_t)*n * size : 1);
    if (!out) lx_error_set(err, "out of memory");
    return out;
}

float *lx_record_get_f32(const lx_record *r, const char *name, const lx_tensor **t_out,
                         lx_error *err) {
    const lx_tensor *t;
    int64_t n;
    float *out = numeric_copy(r, name, &t, t_out, &n, sizeof *out, err);
    if (out && n > 0) lx_convert_to_f32(out, t->data, t->dtype, (size_t)n);
    return out;
}

int64_t *lx_record_get_i64(const lx_record *r, const char *name, const lx_tensor **t_out,
                           lx_error *err) {
    const lx_tensor *t;
    int64_t n;
    int64_t *out = numeric_copy(r, name, &t, t_out, &n, sizeof *out, err);
    if (!out) return NULL;
    if (n <= 0) return out;
    if (t->dtype == LX_F32 || t->dtype == LX_F16 || t->dtype == LX_BF16) {
        /* ids given as floats: accept only whole numbers */
        float *tmp = lx_record_get_f32(r, name, NULL, err);
        if (!tmp) return free(out), NULL;
        for (int64_t i = 0; i < n; i++)
            if (!(fabsf(tmp[i]) < 9.0e18f) || tmp[i] != truncf(tmp[i])) { /* NaN fails too */
                lx_error_set(err, "field '%s' holds a non-integer value (%g)", name, (double)tmp[i]);
                free(tmp);
                free(out);
                return NULL;
            }
        free(tmp);
    }
    lx_convert_to_i64(out, t->data, t->dtype, (size_t)n);
    return out;
}
