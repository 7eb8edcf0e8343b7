/*
 * json_codec.c — records as JSON text.
 *
 * Writing: compact JSON, fields in record order.  Floats use the shortest decimal that
 * reads back to the same float32 (tensors) or double (other JSON reals), always with a
 * '.' or an exponent so a tensor of zeros stays a float tensor when read again.
 *
 * Reading: jansson parses the object (keeping key order); then every value that is a
 * rectangular nested array of numbers becomes a tensor — i64 if every number was an
 * integer literal, else f32 (each double rounded once to float).  Everything else stays
 * a jansson value and is written back as it came.  A number beyond f32's range (it would
 * become infinite) makes the record bad, as does an integer beyond int64's, which
 * jansson refuses; numbers too small for f32 round to the nearest float (0 below it).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

int lx_strbuf_reserve(lx_strbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra < b->len) return b->oom = 1, -1;
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        if (cap > SIZE_MAX / 2) return b->oom = 1, -1;
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) return b->oom = 1, -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

void lx_strbuf_append(lx_strbuf *b, const void *p, size_t n) {
    if (lx_strbuf_reserve(b, n) < 0) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void lx_strbuf_free(lx_strbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Make sure the text has a '.' or an exponent (or is inf/nan): "1" -> "1.0". */
static int ensure_real(char *buf, int n) {
    for (int i = 0; i < n; i++)
        if (buf[i] == '.' || buf[i] == 'e' || buf[i] == 'n' || buf[i] == 'i') return n;
    buf[n++] = '.';
    buf[n++] = '0';
    buf[n] = 0;
    return n;
}

int lx_format_float(char *buf, float f) {
    /* Whole numbers below 2^24 (zeros dominate ReLU features) print as themselves.  The
     * range is tested first: casting a float outside int32's range (or NaN) to int32 is
     * undefined behaviour. */
    if (f > -16777216.0f && f < 16777216.0f && f == (float)(int32_t)f) {
        if (f == 0.0f) return (int)strlen(strcpy(buf, signbit(f) ? "-0.0" : "0.0"));
        int n = snprintf(buf, 32, "%d", (int)f);
        return ensure_real(buf, n);
    }
    /* Otherwise the smallest precision that round-trips.  Round-tripping is monotonic in
     * the number of digits and 9 always suffices; most values need 8 or 9, so try 8
     * first, then search 1..7 only when 8 already works. */
    char tmp[32];
    int n = snprintf(buf, 32, "%.8g", (double)f);
    if (strtof(buf, NULL) != f) {
        n = snprintf(buf, 32, "%.9g", (double)f);
        return ensure_real(buf, n);
    }
    int lo = 1, hi = 8; /* hi round-trips, and buf holds it */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int m = snprintf(tmp, sizeof tmp, "%.*g", mid, (double)f);
        if (strtof(tmp, NULL) == f) {
            hi = mid;
            memcpy(buf, tmp, (size_t)m + 1);
            n = m;
        } else {
            lo = mid + 1;
        }
    }
    return ensure_real(buf, n);
}

static int format_double(char *buf, double d) {
    int p = 15, n = 0;
    for (; p <= 17; p++) {
        n = snprintf(buf, 40, "%.*g", p, d);
        if (strtod(buf, NULL) == d) break;
    }
    return ensure_real(buf, n);
}

void lx_json_append_string(lx_strbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    lx_strbuf_reserve(b, n + 2);
    lx_strbuf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        lx_strbuf_append(b, s + run, i - run);
        run = i + 1;
        char e[7] = {'\\', 0};
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\t': e[1] = 't'; break;
        case '\r': e[1] = 'r'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        default:
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            lx_strbuf_append(b, e, 6);
            continue;
        }
        lx_strbuf_append(b, e, 2);
    }
    lx_strbuf_append(b, s + run, n - run);
    lx_strbuf_putc(b, '"');
}

int lx_json_append(lx_strbuf *b, const json_t *v, lx_error *err) {
    char num[48];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        lx_strbuf_putc(b, '{');
        json_object_foreach((json_t *)v, k, x) {
            if (!first) lx_strbuf_putc(b, ',');
            first = 0;
            lx_json_append_string(b, k, strlen(k));
            lx_strbuf_putc(b, ':');
            if (lx_json_append(b, x, err) < 0) return -1;
        }
        lx_strbuf_putc(b, '}');
        return 0;
    }
    case JSON_ARRAY: {
        lx_strbuf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) lx_strbuf_putc(b, ',');
            if (lx_json_append(b, json_array_get(v, i), err) < 0) return -1;
        }
        lx_strbuf_putc(b, ']');
        return 0;
    }
    case JSON_STRING:
        lx_json_append_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        lx_strbuf_append(b, num, (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                                  json_integer_value(v)));
        return 0;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d)) return lx_error_set(err, "%g, which JSON cannot hold", d);
        lx_strbuf_append(b, num, (size_t)format_double(num, d));
        return 0;
    }
    case JSON_TRUE: lx_strbuf_puts(b, "true"); return 0;
    case JSON_FALSE: lx_strbuf_puts(b, "false"); return 0;
    case JSON_NULL: lx_strbuf_puts(b, "null"); return 0;
    }
    return 0;
}

/* Decimal text of v (ids dominate token streams: snprintf is a measurable cost). */
static int format_int(char *buf, int64_t v) {
    char tmp[24];
    int n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do tmp[n++] = (char)('0' + u % 10); while (u /= 10);
    if (v < 0) buf[len++] = '-';
    while (n) buf[len++] = tmp[--n];
    buf[len] = 0;
    return len;
}

/* Write elements [*idx, ...) of dimension dim as nested arrays. */
static int append_dim(lx_strbuf *b, const lx_tensor *t, int dim, size_t *idx, lx_error *err) {
    char num[48];
    lx_strbuf_putc(b, '[');
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        if (i) lx_strbuf_putc(b, ',');
        if (dim + 1 < t->ndim) {
            if (append_dim(b, t, dim + 1, idx, err) < 0) return -1;
            continue;
        }
        size_t k = (*idx)++;
        int n;
        switch (t->dtype) {
        case LX_F32: case LX_F16: case LX_BF16: {
            float f;
            lx_convert_to_f32(&f, (const char *)t->data + k * lx_dtype_size(t->dtype), t->dtype, 1);
            if (!isfinite(f)) {
                char at[8 * 24];
                return lx_error_set(err, "element %s is %g, which JSON cannot hold (binary "
                                         "frames can: -f bin)",
                                    lx_tensor_index_str(t, k, at, sizeof at),
                                    isnan(f) ? NAN : (double)f);
            }
            n = lx_format_float(num, f);
            break;
        }
        case LX_I32: n = format_int(num, ((const int32_t *)t->data)[k]); break;
        case LX_I64: n = format_int(num, ((const int64_t *)t->data)[k]); break;
        case LX_U8: n = format_int(num, ((const uint8_t *)t->data)[k]); break;
        case LX_I8: n = format_int(num, ((const int8_t *)t->data)[k]); break;
        default: return lx_error_set(err, "unknown dtype");
        }
        lx_strbuf_append(b, num, (size_t)n);
    }
    lx_strbuf_putc(b, ']');
    return 0;
}

int lx_json_append_tensor(lx_strbuf *b, const lx_tensor *t, lx_error *err) {
    char num[48];
    size_t idx = 0;
    if (t->ndim == 0) { /* a scalar tensor is written as a bare number */
        lx_tensor one = *t;
        one.ndim = 1;
        one.shape[0] = 1;
        lx_strbuf tmp = {0};
        int rc = append_dim(&tmp, &one, 0, &idx, err);
        if (rc == 0) lx_strbuf_append(b, tmp.data + 1, tmp.len - 2);
        lx_strbuf_free(&tmp);
        (void)num;
        return rc;
    }
    return append_dim(b, t, 0, &idx, err);
}

/* Find the shape of a rectangular numeric array; *is_real set if any leaf is a real.
 * Returns 1 if v is such an array, 0 if not. */
static int probe_shape(const json_t *v, int dim, int64_t *shape, int *ndim, int *is_real) {
    if (!json_is_array(v)) return 0;
    size_t n = json_array_size(v);
    if (n == 0) return 0;
    if (dim >= LX_MAX_DIMS) return 0;
    if (dim >= *ndim) {
        /* first visit of this depth: fix its extent and find the depth below */
        shape[dim] = (int64_t)n;
        json_t *first = json_array_get(v, 0);
        if (json_is_array(first)) {
            *ndim = dim + 1;
            if (!probe_shape(first, dim + 1, shape, ndim, is_real)) return 0;
        } else if (json_is_number(first)) {
            *ndim = dim + 1;
        } else {
            return 0;
        }
    }
    if ((int64_t)n != shape[dim]) return 0;
    int leaf = dim + 1 == *ndim;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (leaf) {
            if (json_is_real(x)) *is_real = 1;
            else if (!json_is_integer(x)) return 0;
        } else if (!probe_shape(x, dim + 1, shape, ndim, is_real)) {
            return 0;
        }
    }
    return 1;
}

/* The numbers of v into t from element *k on.  Returns 0, or -1 with *k at a number f32
 * cannot hold (*big gets it). */
static int fill(const json_t *v, int dim, int ndim, lx_tensor *t, size_t *k, double *big) {
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        if (dim + 1 < ndim) {
            if (fill(x, dim + 1, ndim, t, k, big) < 0) return -1;
        } else if (t->dtype == LX_F32) {
            /* jansson's reals are finite: an infinite float is one beyond f32's range */
            double d = json_is_real(x) ? json_real_value(x) : (double)json_integer_value(x);
            float f = (float)d;
            if (isinf(f)) return *big = d, -1;
            ((float *)t->data)[(*k)++] = f;
        } else {
            ((int64_t *)t->data)[(*k)++] = json_integer_value(x);
        }
    }
    return 0;
}

int lx_json_to_tensor(const json_t *v, const char *name, lx_tensor *t, lx_error *err) {
    int64_t shape[LX_MAX_DIMS];
    int ndim = 0, is_real = 0;
    if (!probe_shape(v, 0, shape, &ndim, &is_real)) return 0;
    if (lx_tensor_alloc(t, is_real ? LX_F32 : LX_I64, ndim, shape, err) < 0)
        return lx_error_prefix(err, "%s", name);
    size_t k = 0;
    double big;
    if (fill(v, 0, ndim, t, &k, &big) < 0) {
        char at[8 * 24], got[40], max[32];
        format_double(got, big);
        lx_format_float(max, lx_dtype_max(LX_F32));
        lx_error_set(err, "%s%s: got %s, outside f32's range (-%s to %s)", name,
                     lx_tensor_index_str(t, k, at, sizeof at), got, max, max);
        lx_tensor_free(t);
        return -1;
    }
    return 1;
}

int lx_record_from_json(lx_record *r, const char *text, size_t len, lx_error *err) {
    json_error_t je;
    lx_record_clear(r);
    json_t *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!obj && lx_json_oom(&je))
        return lx_error_set(err, "out of memory parsing a %zu-byte JSON record", len);
    if (!obj) return lx_error_set(err, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return lx_error_set(err, "a record must be a JSON object");
    }
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        lx_tensor t;
        int rc = lx_json_to_tensor(v, k, &t, err);
        if (rc < 0) goto fail;
        if (rc == 1) {
            if (lx_record_set_tensor(r, k, &t, err) < 0) goto fail;
        } else if (lx_record_set_json(r, k, json_incref(v), err) < 0) {
            goto fail;
        }
    }
    json_decref(obj);
    return 0;
fail:
    json_decref(obj);
    lx_record_clear(r);
    return -1;
}

int lx_json_append_record(lx_strbuf *b, const lx_record *r, int tensors_as_null,
                          lx_error *err) {
    lx_strbuf_putc(b, '{');
    for (size_t i = 0; i < r->nfields; i++) {
        const lx_field *f = &r->fields[i];
        if (i) lx_strbuf_putc(b, ',');
        lx_json_append_string(b, f->name, strlen(f->name));
        lx_strbuf_putc(b, ':');
        int rc = f->json ? lx_json_append(b, f->json, err)
               : tensors_as_null ? (lx_strbuf_puts(b, "null"), 0)
                                 : lx_json_append_tensor(b, &f->tensor, err);
        if (rc < 0) return lx_error_prefix(err, "field '%s'", f->name);
    }
    lx_strbuf_putc(b, '}');
    return 0;
}

int lx_record_to_json(const lx_record *r, char **out, size_t *len, lx_error *err) {
    lx_strbuf b = {0};
    if (lx_json_append_record(&b, r, 0, err) < 0) {
        lx_strbuf_free(&b);
        return -1;
    }
    lx_strbuf_putc(&b, '\n');
    lx_strbuf_putc(&b, '\0'); /* a C string too; not counted in *len */
    b.len--;
    if (b.oom) {
        lx_strbuf_free(&b);
        return lx_error_set(err, "out of memory");
    }
    *out = b.data;
    *len = b.len;
    return 0;
}
