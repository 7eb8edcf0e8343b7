/*
 * kernels_avx2.c — AVX2 + FMA + F16C versions of the elementwise kernels of lib/nn/kernels.c
 * (GELU, GELU into bf16, masked softmax, residual + LayerNorm, bf16 rounding, widening)
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
 *
 * Widening 16-bit weights: bf16 -> f32 is a 16-bit left shift of each value; f16 -> f32
 * is the F16C conversion (vcvtph2ps), exact for every f16 including subnormals.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../../bytes.h"
#include "../kernels.h"
#include "math_avx2.h"


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

void lx_k_widen_bf16_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    for (; i < n; i++) { /* the same shift, one value at a time */
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}

void lx_k_widen_f16_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    if (i < n) { /* vcvtph2ps on the tail too (it quiets signalling NaNs; lx_f16_to_f32 does not) */
        uint16_t buf[8] = {0};
        memcpy(buf, src + i, (n - i) * sizeof *src);
        lx_store8(dst + i, n - i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)buf)));
    }
}

/* GELU: lx_gelu_x8 in math_avx2.h. */
void lx_k_gelu_avx2(float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = lx_load8(x + i, n - i);
        if (b) v = _mm256_add_ps(v, lx_load8(b + i, n - i));
        lx_store8(x + i, n - i, lx_gelu_x8(v));
    }
}

void lx_k_gelu_bf16_avx2(uint16_t *dst, const float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = lx_load8(x + i, n - i);
        if (b) v = _mm256_add_ps(v, lx_load8(b + i, n - i));
        store8_u16(dst + i, n - i, lx_round_bf16_x8(lx_gelu_x8(v)));
    }
}

void lx_k_round_bf16_avx2(uint16_t *dst, const float *src, int n, int npad) {
    for (int i = 0; i < n; i += 8)
        store8_u16(dst + i, (size_t)(n - i), lx_round_bf16_x8(lx_load8(src + i, (size_t)(n - i))));
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
        __m256 v = _mm256_mul_ps(lx_load8(s + j, left), sc);
        if (mask) v = _mm256_add_ps(v, lx_load8(mask + j, left));
        lx_store8(s + j, left, v);
        if (left < 8) v = _mm256_blendv_ps(ninf, v, _mm256_castsi256_ps(lx_lanes8(left)));
        mx = _mm256_max_ps(mx, v);
    }
    __m256 m = _mm256_set1_ps(hmax8(mx)), sum = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        size_t left = (size_t)(n - j);
        __m256 y = _mm256_sub_ps(lx_load8(s + j, left), m);
        __m256 keep = _mm256_cmp_ps(y, _mm256_set1_ps(-87.0f), _CMP_GE_OQ);
        if (left < 8) keep = _mm256_and_ps(keep, _mm256_castsi256_ps(lx_lanes8(left)));
        __m256 e = _mm256_and_ps(keep, lx_exp_neg_x8(y));
        lx_store8(s + j, left, e);
        sum = _mm256_add_ps(sum, e);
    }
    /* a row of NaN (a network that overflowed) sums to 0: it stays NaN, for the output
     * check to find, with no division by zero */
    float total = hsum8(sum);
    __m256 inv = _mm256_set1_ps(total > 0 ? 1.0f / total : __builtin_nanf(""));
    for (int j = 0; j < n; j += 8) {
        size_t left = (size_t)(n - j);
        lx_store8(s + j, left, _mm256_mul_ps(lx_load8(s + j, left), inv));
    }
}

/* One step of LayerNorm's first pass: v = x + r + rb on 8 values (left > 0 of them real,
 * the rest 0), written back to x. */
static inline __m256 add_row8(float *x, const float *r, const float *rb, size_t left) {
    __m256 v = lx_load8(x, left);
    if (r) v = _mm256_add_ps(v, lx_load8(r, left));
    if (rb) v = _mm256_add_ps(v, lx_load8(rb, left));
    lx_store8(x, left, v);
    return v;
}

/* 8 values of a row less its mean, 0 in the lanes past the row's end. */
static inline __m256 dev8(const float *x, size_t left, __m256 mean) {
    __m256 d = _mm256_sub_ps(lx_load8(x, left), mean);
    return left >= 8 ? d : _mm256_and_ps(d, _mm256_castsi256_ps(lx_lanes8(left)));
}

/* Row by row: x <- LayerNorm(x + r + rb) with gamma g and beta b (r, rb may be NULL), the
 * passes of lx_k_add_layernorm_avx512: sum, sum of squared deviations (two-pass, so no
 * cancellation), normalise, over a row that stays in L1.  The sums go into two 8-lane
 * accumulators, alternate vectors: 16 partial sums as in the AVX-512 kernel's 16 lanes,
 * so float rounding stays as far below the 1e-6 relative the network needs (next to the
 * portable kernel's double sums), and two adds are in flight. */
void lx_k_add_layernorm_avx2(float *x, const float *r, const float *rb, int m, int n, int ld,
                             const float *g, const float *b, float eps) {
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * ld;
        const float *res = r ? r + (size_t)i * ld : NULL;
        __m256 s0 = _mm256_setzero_ps(), s1 = s0;
        for (int j = 0; j < n; j += 16) {
            s0 = _mm256_add_ps(s0, add_row8(row + j, res ? res + j : NULL, rb ? rb + j : NULL,
                                            (size_t)(n - j)));
            if (j + 8 < n)
                s1 = _mm256_add_ps(s1, add_row8(row + j + 8, res ? res + j + 8 : NULL,
                                                rb ? rb + j + 8 : NULL, (size_t)(n - j - 8)));
        }
        __m256 mean = _mm256_set1_ps(hsum8(_mm256_add_ps(s0, s1)) / (float)n);
        __m256 q0 = _mm256_setzero_ps(), q1 = q0;
        for (int j = 0; j < n; j += 16) {
            __m256 d = dev8(row + j, (size_t)(n - j), mean);
            q0 = _mm256_fmadd_ps(d, d, q0);
            if (j + 8 < n) {
                d = dev8(row + j + 8, (size_t)(n - j - 8), mean);
                q1 = _mm256_fmadd_ps(d, d, q1);
            }
        }
        float var = hsum8(_mm256_add_ps(q0, q1)) / (float)n;
        __m256 inv = _mm256_set1_ps(1.0f / sqrtf(var + eps));
        for (int j = 0; j < n; j += 8) {
            size_t left = (size_t)(n - j);
            __m256 d = _mm256_mul_ps(_mm256_sub_ps(lx_load8(row + j, left), mean), inv);
            lx_store8(row + j, left, _mm256_fmadd_ps(d, lx_load8(g + j, left), lx_load8(b + j, left)));
        }
    }
}

/* dst[i] = src[i] rounded to bf16 (math_avx2.h's rounding, bit for bit lx_f32_to_bf16)
 * and widened back: lx_bf16_to_f32(lx_f32_to_bf16(src[i])). */
void lx_k_round_f32_avx2(float *dst, const float *src, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = lx_round_bf16_x8(_mm256_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    for (; i < n; i++) dst[i] = lx_bf16_to_f32(lx_f32_to_bf16(src[i]));
}

void lx_k_affine_relu_avx2(float *y, const float *x, const float *scale, const float *shift,
                           const float *res, size_t n, int relu) {
    const __m256 zero = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 8) {
        size_t left = n - i;
        __m256 v = lx_load8(x + i, left);
        if (scale)
            v = _mm256_add_ps(_mm256_mul_ps(v, lx_load8(scale + i, left)), lx_load8(shift + i, left));
        if (res) v = _mm256_add_ps(v, lx_load8(res + i, left));
        if (relu) v = _mm256_max_ps(v, zero);
        lx_store8(y + i, left, v);
    }
}
