/*
 * kernels_avx2.c — AVX2 + FMA + F16C versions of the elementwise kernels of lib/kernels.c
 * (GELU, GELU into bf16, masked softmax, bf16 rounding),
 * for CPUs without AVX-512 (Zen 3, most laptops).  Compiled with -mavx2 -mfma -mf16c (see
 * the Makefile) and called only when the isa level is at least LX_ISA_AVX2.
 *
 * They are 8-lane ports of kernels_avx512.c: the same algorithms, and the vector exp,
 * GELU and bf16 rounding shared through math_avx2.h.  AVX2 has no mask registers, so the
 * last, partial vector of a row (left = n - i < 8 values) is read with vmaskmovps (lanes
 * past n read as 0, their memory untouched) and written with vmaskmovps, or, for 16-bit
 * output, through an 8-value buffer of which the first left values are copied out.  Either
 * way a tail value goes through the same vector code as every other value: it gets the
 * same bits whatever its position, and nothing past n is written.  Full vectors use plain
 * loads and stores (masked stores are several times slower on Zen).
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../kernels.h"
#include "math_avx2.h"

/* The lane mask (all ones in a lane that holds a value) of the first min(left, 8) lanes. */
static inline __m256i lanes(size_t left) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - (left < 8 ? left : 8)));
}

/* 8 floats at p of which left (> 0) remain: lanes past them read as 0. */
static inline __m256 load8(const float *p, size_t left) {
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes(left));
}

static inline void store8(float *p, size_t left, __m256 v) {
    if (left >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, lanes(left), v);
}

/* 8 bf16 values to dst, of which left (> 0) remain. */
static inline void store8_u16(uint16_t *dst, size_t left, __m128i h) {
    if (left >= 8) {
        _mm_storeu_si128((__m128i *)dst, h);
    } else {
        uint16_t buf[8];
        _mm_storeu_si128((__m128i *)buf, h);
        memcpy(dst, buf, left * sizeof *dst);
    }
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static inline float hmax8(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

/* GELU: lx_gelu_x8 in math_avx2.h. */
void lx_k_gelu_avx2(float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = load8(x + i, n - i);
        if (b) v = _mm256_add_ps(v, load8(b + i, n - i));
        store8(x + i, n - i, lx_gelu_x8(v));
    }
}

void lx_k_gelu_bf16_avx2(uint16_t *dst, const float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = load8(x + i, n - i);
        if (b) v = _mm256_add_ps(v, load8(b + i, n - i));
        store8_u16(dst + i, n - i, lx_round_bf16_x8(lx_gelu_x8(v)));
    }
}

void lx_k_round_bf16_avx2(uint16_t *dst, const float *src, int n, int npad) {
    for (int i = 0; i < n; i += 8)
        store8_u16(dst + i, (size_t)(n - i), lx_round_bf16_x8(load8(src + i, (size_t)(n - i))));
    if (n < npad) memset(dst + n, 0, (size_t)(npad - n) * sizeof *dst);
}

/* softmax(s * scale + mask) in place, as lx_k_softmax_masked_avx512 computes it (the
 * product and the sum rounded separately, as the portable path rounds them): the row's
 * maximum (the tail's empty lanes taken as -inf), exp(s - max) by lx_exp_neg_x8 (relative
 * error < 2e-7) summed in 8 lanes, then scaled by 1 / sum.  Arguments below -87 give
 * exactly 0, so a masked-out key (mask -3.4e38) gets probability 0, as in the reference. */
void lx_k_softmax_masked_avx2(float *s, const float *mask, float scale, int n) {
    __m256 ninf = _mm256_set1_ps(-INFINITY), mx = ninf, sc = _mm256_set1_ps(scale);
    for (int j = 0; j < n; j += 8) {
        size_t left = (size_t)(n - j);
        __m256 v = _mm256_mul_ps(load8(s + j, left), sc);
        if (mask) v = _mm256_add_ps(v, load8(mask + j, left));
        store8(s + j, left, v);
        if (left < 8) v = _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(lanes(left)));
        mx = _mm256_max_ps(mx, v);
    }
    __m256 m = _mm256_set1_ps(hmax8(mx)), sum = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        size_t left = (size_t)(n - j);
        __m256 y = _mm256_sub_ps(load8(s + j, left), m);
        __m256 keep = _mm256_cmp_ps(y, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
        if (left < 8) keep = _mm256_and_ps(keep, _mm256_castsi256_ps(lanes(left)));
        __m256 e = _mm256_and_ps(keep, lx_exp_neg_x8(y));
        store8(s + j, left, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum8(sum));
    for (int j = 0; j < n; j += 8) {
        size_t left = (size_t)(n - j);
        store8(s + j, left, _mm256_mul_ps(load8(s + j, left), inv));
    }
}
