/*
 * tensor.c — lx_tensor: a dtype, a shape and data that the tensor owns or only views.
 *
 * Owned data is 64-byte aligned so that AVX-512 kernels and binary frames can use it in
 * place.  Conversions to and from the 16-bit floats are bytes.h's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bytes.h"
#include "internal.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[LX_DTYPE_COUNT] = {
    [LX_F32] = {"f32", 4}, [LX_F16] = {"f16", 2}, [LX_BF16] = {"bf16", 2},
    [LX_I32] = {"i32", 4}, [LX_I64] = {"i64", 8}, [LX_U8] = {"u8", 1},
    [LX_I8] = {"i8", 1},
};

size_t lx_dtype_size(lx_dtype t) {
    return (unsigned)t < LX_DTYPE_COUNT ? dtypes[t].size : 0;
}

const char *lx_dtype_name(lx_dtype t) {
    return (unsigned)t < LX_DTYPE_COUNT ? dtypes[t].name : "?";
}

int lx_dtype_parse(const char *name, lx_dtype *out) {
    static const struct {
        const char *s;
        lx_dtype t;
    } alias[] = {
        {"f32", LX_F32},  {"F32", LX_F32},   {"float32", LX_F32}, {"f16", LX_F16},
        {"F16", LX_F16},  {"float16", LX_F16}, {"bf16", LX_BF16}, {"BF16", LX_BF16},
        {"bfloat16", LX_BF16}, {"i32", LX_I32}, {"I32", LX_I32}, {"int32", LX_I32},
        {"i64", LX_I64},  {"I64", LX_I64},   {"int64", LX_I64},   {"u8", LX_U8},
        {"U8", LX_U8},    {"uint8", LX_U8},     {"i8", LX_I8},       {"I8", LX_I8},
        {"int8", LX_I8},
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strcmp(name, alias[i].s) == 0) {
            *out = alias[i].t;
            return 0;
        }
    return -1;
}

int64_t lx_tensor_nelem(const lx_tensor *t) {
    if (t->ndim < 0 || t->ndim > LX_MAX_DIMS) return -1;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0) return -1;
        if (t->shape[i] && n > INT64_MAX / t->shape[i]) return -1;
        n *= t->shape[i];
    }
    return n;
}

int64_t lx_tensor_nbytes(const lx_tensor *t) {
    int64_t n = lx_tensor_nelem(t);
    size_t sz = lx_dtype_size(t->dtype);
    if (n < 0 || sz == 0 || n > INT64_MAX / (int64_t)sz) return -1;
    return n * (int64_t)sz;
}

void *lx_aligned_alloc(size_t n) {
    size_t r = (n + 63) & ~(size_t)63;
    if (r < n) return NULL;
    return aligned_alloc(64, r ? r : 64);
}

int lx_tensor_alloc(lx_tensor *t, lx_dtype dtype, int ndim, const int64_t *shape,
                    lx_error *err) {
    lx_tensor n = {.dtype = dtype, .ndim = ndim};
    if (ndim < 0 || ndim > LX_MAX_DIMS)
        return lx_error_set(err, "tensor of %d dimensions (at most %d)", ndim, LX_MAX_DIMS);
    for (int i = 0; i < ndim; i++) n.shape[i] = shape[i];
    int64_t bytes = lx_tensor_nbytes(&n);
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX / 2)
        return lx_error_set(err, "tensor shape is too large");
    n.data = lx_aligned_alloc((size_t)bytes);
    if (!n.data) return lx_error_set(err, "out of memory for a %lld-byte tensor", (long long)bytes);
    memset(n.data, 0, (size_t)bytes);
    n.owned = 1;
    *t = n;
    return 0;
}

void lx_tensor_free(lx_tensor *t) {
    if (t->owned) free(t->data);
    memset(t, 0, sizeof *t);
}

int lx_tensor_copy(lx_tensor *dst, const lx_tensor *src, lx_error *err) {
    lx_tensor n;
    if (lx_tensor_alloc(&n, src->dtype, src->ndim, src->shape, err) < 0) return -1;
    memcpy(n.data, src->data, (size_t)lx_tensor_nbytes(src));
    *dst = n;
    return 0;
}

const char *lx_tensor_shape_str(const lx_tensor *t, char *buf, size_t len) {
    size_t o = 0;
    o += snprintf(buf + o, len - o, "[");
    for (int i = 0; i < t->ndim && o < len; i++)
        o += snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

double lx_tensor_elem(const lx_tensor *t, size_t i) {
    switch (t->dtype) {
    case LX_F32: return ((const float *)t->data)[i];
    case LX_F16: return lx_f16_to_f32(((const uint16_t *)t->data)[i]);
    case LX_BF16: return lx_bf16_to_f32(((const uint16_t *)t->data)[i]);
    case LX_I32: return ((const int32_t *)t->data)[i];
    case LX_I64: return (double)((const int64_t *)t->data)[i];
    case LX_U8: return ((const uint8_t *)t->data)[i];
    case LX_I8: return ((const int8_t *)t->data)[i];
    default: return NAN;
    }
}

void lx_convert_to_f32(float *dst, const void *src, lx_dtype dtype, size_t n) {
    switch (dtype) {
    case LX_F32: memmove(dst, src, n * 4); break;
    case LX_F16: for (size_t i = 0; i < n; i++) dst[i] = lx_f16_to_f32(((const uint16_t *)src)[i]); break;
    case LX_BF16: for (size_t i = 0; i < n; i++) dst[i] = lx_bf16_to_f32(((const uint16_t *)src)[i]); break;
    case LX_I32: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int32_t *)src)[i]; break;
    case LX_I64: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int64_t *)src)[i]; break;
    case LX_U8: for (size_t i = 0; i < n; i++) dst[i] = (float)((const uint8_t *)src)[i]; break;
    case LX_I8: for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i]; break;
    default: break;
    }
}

/* A float as an i64, truncated; NaN and values outside the i64 range (whose cast C
 * leaves undefined) become INT64_MIN. */
static int64_t float_to_i64(float f) {
    /* -2^63 is exact in float; 2^63 is the first value above the range */
    return f >= -9223372036854775808.0f && f < 9223372036854775808.0f ? (int64_t)f : INT64_MIN;
}

void lx_convert_to_i64(int64_t *dst, const void *src, lx_dtype dtype, size_t n) {
    switch (dtype) {
    case LX_F32: for (size_t i = 0; i < n; i++) dst[i] = float_to_i64(((const float *)src)[i]); break;
    case LX_F16: for (size_t i = 0; i < n; i++) dst[i] = float_to_i64(lx_f16_to_f32(((const uint16_t *)src)[i])); break;
    case LX_BF16: for (size_t i = 0; i < n; i++) dst[i] = float_to_i64(lx_bf16_to_f32(((const uint16_t *)src)[i])); break;
    case LX_I32: for (size_t i = 0; i < n; i++) dst[i] = ((const int32_t *)src)[i]; break;
    case LX_I64: memmove(dst, src, n * 8); break;
    case LX_U8: for (size_t i = 0; i < n; i++) dst[i] = ((const uint8_t *)src)[i]; break;
    case LX_I8: for (size_t i = 0; i < n; i++) dst[i] = ((const int8_t *)src)[i]; break;
    default: break;
    }
}

void lx_convert_from_f32(void *dst, lx_dtype dtype, const float *src, size_t n) {
    switch (dtype) {
    case LX_F32: memmove(dst, src, n * 4); break;
    case LX_F16: for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = lx_f32_to_f16(src[i]); break;
    case LX_BF16: for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = lx_f32_to_bf16(src[i]); break;
    default: break;
    }
}

/* ---- values a dtype cannot hold ---------------------------------------------------- */

/* The bits of |f|.  Ordered as the values are: every finite value's bits are below
 * infinity's (0x7f800000), and NaN's are above. */
static inline uint32_t abs_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u & 0x7fffffffu;
}

/* The first i in v[0..n) with abs_bits(v[i]) >= lim, or n.  Blocks of 64 are reduced
 * with an unsigned max (vectorised: one compare per block, not one branch per value). */
static size_t first_at_least(const float *v, size_t n, uint32_t lim) {
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t mx = 0;
        for (size_t j = 0; j < 64; j++) {
            uint32_t u = abs_bits(v[i + j]);
            mx = u > mx ? u : mx;
        }
        if (mx >= lim) break;
    }
    for (; i < n; i++)
        if (abs_bits(v[i]) >= lim) return i;
    return n;
}

size_t lx_f32_first_nonfinite(const float *v, size_t n) {
    return first_at_least(v, n, 0x7f800000u);
}

const char *lx_tensor_index_str(const lx_tensor *t, uint64_t i, char *buf, size_t len) {
    uint64_t idx[LX_MAX_DIMS] = {0};
    int nd = t->ndim > 0 && t->ndim <= LX_MAX_DIMS ? t->ndim : 1;
    for (int d = nd - 1; d >= 0; d--) {
        uint64_t s = t->ndim > 0 && t->shape[d] > 0 ? (uint64_t)t->shape[d] : 1;
        idx[d] = d ? i % s : i;
        i /= s;
    }
    size_t o = 0;
    buf[0] = '\0';
    for (int d = 0; d < nd && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "[%llu]", (unsigned long long)idx[d]);
    return buf;
}

float lx_dtype_max(lx_dtype t) {
    switch (t) {
    case LX_F32: return lx_bits_f32(0x7f7fffffu);
    case LX_F16: return 65504.0f;
    case LX_BF16: return lx_bits_f32(0x7f7f0000u);
    default: return 0;
    }
}

/* The bits of |x| from which an f32 x rounds to infinity in dtype t (bytes.h's
 * conversions round to nearest, ties to even): f16 from 65520, bf16 from 0x7f7f8000
 * (3.3961e38), f32 never (infinity itself). */
static uint32_t overflow_bits(lx_dtype t) {
    return t == LX_F16 ? 0x477ff000u : t == LX_BF16 ? 0x7f7f8000u : 0x7f800000u;
}

/* Add the unfit values of v[0..n) (flat indices base..) to u. */
static void unfit_f32(const float *v, size_t n, uint64_t base, uint32_t lim, lx_unfit *u) {
    for (size_t i = 0; (i += first_at_least(v + i, n - i, lim)) < n; i++) {
        if (abs_bits(v[i]) >= 0x7f800000u) {
            if (!u->nonfinite++) {
                u->first_nonfinite = (int64_t)(base + i);
                u->nonfinite_value = v[i];
            }
        } else if (!u->overflow++) {
            u->first_overflow = (int64_t)(base + i);
            u->overflow_value = v[i];
        }
    }
}

uint64_t lx_tensor_unfit(const lx_tensor *t, lx_dtype to, lx_unfit *u) {
    *u = (lx_unfit){0, 0, -1, -1, 0, 0};
    int64_t ne = lx_tensor_nelem(t);
    if (ne <= 0 || (t->dtype != LX_F32 && t->dtype != LX_F16 && t->dtype != LX_BF16))
        return 0;
    uint32_t lim = overflow_bits(to);
    size_t n = (size_t)ne;
    if (t->dtype == LX_F32) {
        unfit_f32(t->data, n, 0, lim, u);
    } else { /* 16-bit: widened a piece at a time */
        float buf[4096];
        for (size_t i = 0; i < n; i += 4096) {
            size_t k = n - i < 4096 ? n - i : 4096;
            lx_convert_to_f32(buf, (const uint16_t *)t->data + i, t->dtype, k);
            unfit_f32(buf, k, i, lim, u);
        }
    }
    return u->nonfinite + u->overflow;
}
