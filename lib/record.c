/*
 * record.c — lx_record: an ordered list of named fields, each a JSON value or a tensor.
 *
 * Records are small (a few to a few dozen fields), so lookups are linear.  Setting a
 * field that exists replaces it where it stands, so a tool that rewrites a field keeps
 * the record's order; a new field goes to the end, after everything passed through.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

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
    lx_record_init(r);
}

lx_field *lx_record_find(const lx_record *r, const char *name) {
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
