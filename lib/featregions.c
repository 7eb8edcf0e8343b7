/*
 * featregions.c — one image's regions (lx_regions): checks, and the conversions to and
 * from records.
 *
 * lx_regions_attach writes what LXMERT's data loader hands the model: the features as
 * they are and the boxes divided by the image size in float32, the same operation
 * numpy performs on `boxes[:, (0, 2)] /= img_w` for a float32 array and an int, so that
 * visual_pos matches the original to the last bit.  Bad values are errors, never
 * clamped: a box outside the image usually means the width and height were swapped.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <string.h>
#include "internal.h"

void lx_regions_init(lx_regions *g) { memset(g, 0, sizeof *g); }

void lx_regions_free(lx_regions *g) {
    free(g->img_id);
    free(g->boxes);
    free(g->features);
    free(g->objects_id);
    free(g->objects_conf);
    free(g->attrs_id);
    free(g->attrs_conf);
    lx_regions_init(g);
}

static int is_finite(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (u & 0x7f800000u) != 0x7f800000u;
}

/* Index of the first non-finite value of v[0, n), or -1.  A value is not finite when
 * its exponent bits are all ones.  The features are most of the data lx-embed-vis
 * touches, so the first pass looks at four values per instruction (SSE2, which every
 * x86-64 has) with no early exit; only a hit pays for the scalar search. */
static int64_t first_nonfinite(const float *v, int64_t n) {
    int64_t i = 0;
    int hit = 0;
#ifdef __SSE2__
    const __m128i mask = _mm_set1_epi32(0x7f800000);
    __m128i a = _mm_setzero_si128(), b = _mm_setzero_si128();
    for (; i + 8 <= n; i += 8) {
        __m128i x = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(v + i)), mask);
        __m128i y = _mm_and_si128(_mm_loadu_si128((const __m128i *)(const void *)(v + i + 4)),
                                  mask);
        a = _mm_or_si128(a, _mm_cmpeq_epi32(x, mask));
        b = _mm_or_si128(b, _mm_cmpeq_epi32(y, mask));
    }
    hit = _mm_movemask_epi8(_mm_or_si128(a, b)) != 0;
#endif
    for (; i < n && !hit; i++) hit = !is_finite(v[i]);
    if (!hit) return -1;
    for (i = 0; i < n; i++)
        if (!is_finite(v[i])) return i;
    return -1;
}

int lx_regions_check(const lx_regions *g, lx_error *err) {
    int64_t n = g->num_boxes, d = g->feat_dim, i;
    if (g->img_h < 1 || g->img_w < 1)
        return lx_error_set(err, "image size %lld x %lld (w x h), expected positive integers",
                            (long long)g->img_w, (long long)g->img_h);
    if (n < 1) return lx_error_set(err, "num_boxes %lld, expected at least 1", (long long)n);
    if (d < 1) return lx_error_set(err, "feature size %lld, expected at least 1", (long long)d);
    if ((i = first_nonfinite(g->boxes, 4 * n)) >= 0)
        return lx_error_set(err, "boxes: region %lld: %g is not a finite number",
                            (long long)(i / 4), (double)g->boxes[i]);
    if ((i = first_nonfinite(g->features, n * d)) >= 0)
        return lx_error_set(err, "features: region %lld, value %lld: %g is not a finite "
                                 "number", (long long)(i / d), (long long)(i % d),
                            (double)g->features[i]);
    if (g->has_objects) {
        if ((i = first_nonfinite(g->objects_conf, n)) >= 0)
            return lx_error_set(err, "objects_conf: region %lld: %g is not a finite number",
                                (long long)i, (double)g->objects_conf[i]);
        if ((i = first_nonfinite(g->attrs_conf, n)) >= 0)
            return lx_error_set(err, "attrs_conf: region %lld: %g is not a finite number",
                                (long long)i, (double)g->attrs_conf[i]);
    }
    /* Compare in double: the size converted to float could round for huge images. */
    double w = (double)g->img_w, h = (double)g->img_h;
    for (i = 0; i < n; i++) {
        const float *b = g->boxes + 4 * i;
        double x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
        if (x1 < 0 || x2 > w || y1 < 0 || y2 > h)
            return lx_error_set(err, "boxes: region %lld: (%g, %g, %g, %g) is outside the "
                                     "%lld x %lld (w x h) image", (long long)i, x1, y1, x2,
                                y2, (long long)g->img_w, (long long)g->img_h);
        if (x1 > x2 || y1 > y2)
            return lx_error_set(err, "boxes: region %lld: (%g, %g, %g, %g), expected "
                                     "x1 <= x2 and y1 <= y2", (long long)i, x1, y1, x2, y2);
    }
    return 0;
}

void lx_regions_normalize(float *pos, const float *boxes, int64_t n, int64_t img_w,
                          int64_t img_h) {
    /* numpy converts the Python int to the array's dtype, then divides in float32. */
    const float w = (float)img_w, h = (float)img_h;
    for (int64_t i = 0; i < n; i++) {
        pos[4 * i + 0] = boxes[4 * i + 0] / w;
        pos[4 * i + 1] = boxes[4 * i + 1] / h;
        pos[4 * i + 2] = boxes[4 * i + 2] / w;
        pos[4 * i + 3] = boxes[4 * i + 3] / h;
    }
}

int lx_regions_key(const json_t *v, char *buf, size_t len, lx_error *err) {
    if (json_is_integer(v)) {
        int n = snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        if (n < 0 || (size_t)n >= len) return lx_error_set(err, "image id is too long");
        return n;
    }
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (n == 0) return lx_error_set(err, "an empty image id");
        if (memchr(s, '\0', n)) return lx_error_set(err, "a NUL character in the image id");
        if (n >= len)
            return lx_error_set(err, "image id of %zu bytes, expected at most %zu", n, len - 1);
        memcpy(buf, s, n + 1);
        return (int)n;
    }
    static const char *names[] = {"an object", "an array", "a string", "an integer",
                                  "a real number", "true", "false", "null"};
    int t = v ? (int)json_typeof(v) : 7;
    return lx_error_set(err, "image id is %s, expected a string or an integer",
                        t >= 0 && t < 8 ? names[t] : "?");
}

/* ---- records ------------------------------------------------------------------- */

/* An owned tensor of the given shape, not zero-filled (it is written at once). */
static int new_tensor(lx_tensor *t, lx_dtype dt, int ndim, int64_t d0, int64_t d1,
                      lx_error *err) {
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    int64_t bytes = lx_tensor_nbytes(t);
    if (bytes < 0) return lx_error_set(err, "tensor shape is too large");
    t->data = lx_aligned_alloc((size_t)bytes);
    if (!t->data) return lx_error_set(err, "out of memory for a %lld-byte tensor", (long long)bytes);
    t->owned = 1;
    return 0;
}

/* Set field name to a copy of src: rows x cols (cols 0: a vector of rows). */
static int put(lx_record *r, const char *name, lx_dtype dt, const void *src, int64_t rows,
               int64_t cols, lx_error *err) {
    lx_tensor t;
    if (new_tensor(&t, dt, cols ? 2 : 1, rows, cols, err) < 0) return -1;
    memcpy(t.data, src, (size_t)lx_tensor_nbytes(&t));
    int rc = lx_record_set_tensor(r, name, &t, err);
    lx_tensor_free(&t);            /* a no-op when the record took it */
    return rc;
}

static int64_t keep(const lx_regions *g, int64_t max_boxes) {
    return max_boxes > 0 && max_boxes < g->num_boxes ? max_boxes : g->num_boxes;
}

/* The detector's per-region labels: objects_id, objects_conf, attrs_id, attrs_conf. */
static int put_objects(lx_record *r, const lx_regions *g, int64_t n, lx_error *err) {
    if (put(r, "objects_id", LX_I64, g->objects_id, n, 0, err) < 0 ||
        put(r, "objects_conf", LX_F32, g->objects_conf, n, 0, err) < 0 ||
        put(r, "attrs_id", LX_I64, g->attrs_id, n, 0, err) < 0 ||
        put(r, "attrs_conf", LX_F32, g->attrs_conf, n, 0, err) < 0)
        return -1;
    return 0;
}

int lx_regions_attach(const lx_regions *g, lx_record *r, int64_t max_boxes, int objects,
                      lx_error *err) {
    int64_t n = keep(g, max_boxes);
    if (objects && !g->has_objects)
        return lx_error_set(err, "image %s has no objects_id/attrs_id (6-field layout)",
                            g->img_id);
    if (put(r, "visual_feats", LX_F32, g->features, n, g->feat_dim, err) < 0) return -1;
    lx_tensor t;
    if (new_tensor(&t, LX_F32, 2, n, 4, err) < 0) return -1;
    lx_regions_normalize(t.data, g->boxes, n, g->img_w, g->img_h);
    int rc = lx_record_set_tensor(r, "visual_pos", &t, err);
    lx_tensor_free(&t);
    if (rc < 0) return -1;
    return objects ? put_objects(r, g, n, err) : 0;
}

int lx_regions_to_record(const lx_regions *g, lx_record *r, int64_t max_boxes,
                         lx_error *err) {
    int64_t n = keep(g, max_boxes);
    json_t *id = g->id_is_int ? json_integer(strtoll(g->img_id, NULL, 10))
                              : json_string(g->img_id);
    if (!id) return lx_error_set(err, "image id %s is not valid UTF-8", g->img_id);
    if (lx_record_set_json(r, "img_id", id, err) < 0 ||
        lx_record_set_json(r, "img_h", json_integer(g->img_h), err) < 0 ||
        lx_record_set_json(r, "img_w", json_integer(g->img_w), err) < 0 ||
        put(r, "boxes", LX_F32, g->boxes, n, 4, err) < 0 ||
        put(r, "features", LX_F32, g->features, n, g->feat_dim, err) < 0)
        return -1;
    return g->has_objects ? put_objects(r, g, n, err) : 0;
}

/* Grow *p to n bytes (cap in bytes). */
static int reserve(void **p, size_t *cap, size_t n, lx_error *err) {
    if (n <= *cap && *p) return 0;
    void *np = realloc(*p, n ? n : 1);
    if (!np) return lx_error_set(err, "out of memory for %zu bytes", n);
    *p = np;
    *cap = n;
    return 0;
}

/* A JSON integer field > 0. */
static int get_size(const lx_record *r, const char *name, int64_t *out, lx_error *err) {
    json_t *v = lx_record_json(r, name);
    if (!v) {
        lx_tensor *t = lx_record_tensor(r, name);
        if (t && t->ndim == 0 && lx_tensor_nelem(t) == 1) {
            lx_convert_to_i64(out, t->data, t->dtype, 1);
            return 0;
        }
        return lx_error_set(err, "no %s field, expected an integer", name);
    }
    if (!json_is_integer(v))
        return lx_error_set(err, "%s: expected an integer", name);
    *out = json_integer_value(v);
    return 0;
}

/* Copy a numeric tensor field into *p as f32 or i64, checking its shape is [n] or
 * [n, cols]; n < 0: any n, returned in *rows. */
static int get_array(const lx_record *r, const char *name, lx_dtype want, int64_t *rows,
                     int64_t cols, void **p, size_t *cap, lx_error *err) {
    lx_tensor *t = lx_record_tensor(r, name);
    if (!t) return lx_error_set(err, "no %s tensor field", name);
    char sh[96];
    int ndim = cols ? 2 : 1;
    int ok = t->ndim == ndim && (*rows < 0 || t->shape[0] == *rows) &&
             (cols <= 0 || t->shape[1] == cols) && t->shape[0] >= 1;
    if (ok && cols < 0) ok = t->shape[1] >= 1;
    if (!ok) {
        char exp[64];
        if (cols) snprintf(exp, sizeof exp, "[%s, %s]", *rows < 0 ? "N" : "num_boxes",
                           cols < 0 ? "D" : "4");
        else snprintf(exp, sizeof exp, "[num_boxes]");
        if (*rows >= 0) return lx_error_set(err, "%s: got %s, expected %s with num_boxes %lld",
                                            name, lx_tensor_shape_str(t, sh, sizeof sh), exp,
                                            (long long)*rows);
        return lx_error_set(err, "%s: got %s, expected %s", name,
                            lx_tensor_shape_str(t, sh, sizeof sh), exp);
    }
    if (t->dtype == LX_U8) return lx_error_set(err, "%s: got u8 values, expected numbers", name);
    int64_t ne = lx_tensor_nelem(t);
    /* ids given as floats: whole numbers in range only (1e30 or 2.5 is no class id) */
    if (want == LX_I64 && (t->dtype == LX_F32 || t->dtype == LX_F16 || t->dtype == LX_BF16))
        for (int64_t i = 0; i < ne; i++) {
            float v;
            lx_convert_to_f32(&v, (const char *)t->data + (size_t)i * lx_dtype_size(t->dtype),
                              t->dtype, 1);
            if (!(fabsf(v) < 9.0e18f) || v != truncf(v)) /* NaN fails too */
                return lx_error_set(err, "%s[%lld]: got %g, expected an integer", name,
                                    (long long)i, (double)v);
        }
    if (reserve(p, cap, (size_t)ne * lx_dtype_size(want), err) < 0) return -1;
    if (want == LX_F32) lx_convert_to_f32(*p, t->data, t->dtype, (size_t)ne);
    else lx_convert_to_i64(*p, t->data, t->dtype, (size_t)ne);
    *rows = t->shape[0];
    return 0;
}

int lx_regions_from_record(lx_regions *g, const lx_record *r, lx_error *err) {
    json_t *id = lx_record_json(r, "img_id");
    if (!id) return lx_error_set(err, "no img_id field");
    char key[1024];
    int kn = lx_regions_key(id, key, sizeof key, err);
    if (kn < 0) return -1;
    if (reserve((void **)&g->img_id, &g->cap[0], (size_t)kn + 1, err) < 0) return -1;
    memcpy(g->img_id, key, (size_t)kn + 1);
    g->id_is_int = json_is_integer(id);
    if (get_size(r, "img_h", &g->img_h, err) < 0 || get_size(r, "img_w", &g->img_w, err) < 0)
        return -1;
    int64_t n = -1, nf;
    if (get_array(r, "boxes", LX_F32, &n, 4, (void **)&g->boxes, &g->cap[1], err) < 0)
        return -1;
    g->num_boxes = n;
    nf = n;
    lx_tensor *ft = lx_record_tensor(r, "features");
    if (get_array(r, "features", LX_F32, &nf, -1, (void **)&g->features, &g->cap[2], err) < 0)
        return -1;
    g->feat_dim = ft->shape[1];
    json_t *nb = lx_record_json(r, "num_boxes");
    if (nb && (!json_is_integer(nb) || json_integer_value(nb) != n))
        return lx_error_set(err, "num_boxes disagrees with boxes [%lld, 4]", (long long)n);
    static const char *names[4] = {"objects_id", "objects_conf", "attrs_id", "attrs_conf"};
    static const lx_dtype dt[4] = {LX_I64, LX_F32, LX_I64, LX_F32};
    void **arr[4] = {(void **)&g->objects_id, (void **)&g->objects_conf,
                     (void **)&g->attrs_id, (void **)&g->attrs_conf};
    int present = 0;
    for (int i = 0; i < 4; i++) present += lx_record_find(r, names[i]) != NULL;
    if (present != 0 && present != 4)
        return lx_error_set(err, "%d of objects_id, objects_conf, attrs_id, attrs_conf, "
                                 "expected all four or none", present);
    g->has_objects = present == 4;
    for (int i = 0; g->has_objects && i < 4; i++) {
        int64_t rows = n;
        if (get_array(r, names[i], dt[i], &rows, 0, arr[i], &g->cap[3 + i], err) < 0)
            return -1;
    }
    return lx_regions_check(g, err);
}

int lx_regions_set_id(lx_regions *g, const char *id, int is_int, lx_error *err) {
    size_t n = strlen(id) + 1;
    if (reserve((void **)&g->img_id, &g->cap[0], n, err) < 0) return -1;
    memcpy(g->img_id, id, n);
    g->id_is_int = is_int;
    return 0;
}

int lx_regions_reserve(lx_regions *g, int64_t n, int64_t dim, int objects, lx_error *err) {
    size_t bytes[6] = {(size_t)n * 16, (size_t)(n * dim) * 4, (size_t)n * 8, (size_t)n * 4,
                       (size_t)n * 8, (size_t)n * 4};
    void **d[6] = {(void **)&g->boxes, (void **)&g->features, (void **)&g->objects_id,
                   (void **)&g->objects_conf, (void **)&g->attrs_id, (void **)&g->attrs_conf};
    for (int i = 0; i < (objects ? 6 : 2); i++)
        if (reserve(d[i], &g->cap[1 + i], bytes[i], err) < 0) return -1;
    g->num_boxes = n;
    g->feat_dim = dim;
    g->has_objects = objects;
    return 0;
}

int lx_regions_copy(lx_regions *dst, const lx_regions *src, lx_error *err) {
    int64_t n = src->num_boxes;
    size_t idn = strlen(src->img_id) + 1;
    if (reserve((void **)&dst->img_id, &dst->cap[0], idn, err) < 0 ||
        lx_regions_reserve(dst, n, src->feat_dim, src->has_objects, err) < 0)
        return -1;
    memcpy(dst->img_id, src->img_id, idn);
    memcpy(dst->boxes, src->boxes, (size_t)n * 16);
    memcpy(dst->features, src->features, (size_t)(n * src->feat_dim) * 4);
    if (src->has_objects) {
        memcpy(dst->objects_id, src->objects_id, (size_t)n * 8);
        memcpy(dst->objects_conf, src->objects_conf, (size_t)n * 4);
        memcpy(dst->attrs_id, src->attrs_id, (size_t)n * 8);
        memcpy(dst->attrs_conf, src->attrs_conf, (size_t)n * 4);
    }
    dst->id_is_int = src->id_is_int;
    dst->img_h = src->img_h;
    dst->img_w = src->img_w;
    return 0;
}
