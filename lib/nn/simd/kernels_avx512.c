/*
 * kernels_avx512.c — AVX-512 versions of the hot elementwise kernels of lib/kernels.c,
 * compiled with -mavx512f/bw/vl/dq (see the Makefile) and called only when
 * lx_k_have_avx512() says the CPU has them.
 *
 * Widening 16-bit weights: bf16 -> f32 is a 16-bit left shift of each value; f16 -> f32
 * is the F16C conversion (vcvtph2ps), exact for every f16 including subnormals.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../kernels.h"
#include "math_avx512.h"


void lx_k_widen_bf16_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
        _mm512_storeu_si512(dst + i, w);
    }
    for (; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}

void lx_k_widen_f16_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm256_maskz_loadu_epi16(k, src + i);
        _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(h));
    }
}

/* softmax(s * scale + mask) in place (the product and the sum rounded separately, as
 * the portable path rounds them): the row's maximum, exp(s - max) by lx_exp_neg_x16
 * (relative error < 2e-7, against expf's 1 ulp) summed in 16 lanes, then scaled by
 * 1 / sum.  Arguments below -87 (where expf is at most 1.6e-38: subnormal or 0) give
 * exactly 0, so a masked-out key (mask -3.4e38) gets probability 0, as in the reference. */
void lx_k_softmax_masked_avx512(float *s, const float *mask, float scale, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY), sc = _mm512_set1_ps(scale);
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lx_lanes16(n - j);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), sc);
        if (mask) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, mask + j));
        _mm512_mask_storeu_ps(s + j, k, v);
        mx = _mm512_mask_max_ps(mx, k, mx, v);
    }
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lx_lanes16(n - j);
        __m512 y = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), m);
        __m512 e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_set1_ps(-87.0f), _CMP_GE_OQ),
                                       lx_exp_neg_x16(y));
        _mm512_mask_storeu_ps(s + j, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    /* a row of NaN (a network that overflowed) sums to 0: it stays NaN, for the output
     * check to find, with no division by zero */
    float total = _mm512_reduce_add_ps(sum);
    __m512 inv = _mm512_set1_ps(total > 0 ? 1.0f / total : __builtin_nanf(""));
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lx_lanes16(n - j);
        _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv));
    }
}

/* GELU: lx_gelu_x16 in lib/simd/math_avx512.h. */
void lx_k_gelu_avx512(float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(x + i, m, lx_gelu_x16(v));
    }
}

void lx_k_gelu_bf16_avx512(uint16_t *dst, const float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        _mm256_mask_storeu_epi16(dst + i, m, lx_round_bf16_x16(lx_gelu_x16(v)));
    }
}

/* Row by row: x <- LayerNorm(x + r + rb) with gamma g and beta b (r, rb may be NULL).  Three
 * passes over a row that stays in L1: sum, sum of squared deviations (two-pass, so no
 * cancellation), normalise.  Partial sums in 16 lanes keep float rounding well below
 * the 1e-6 relative the network needs. */
void lx_k_add_layernorm_avx512(float *x, const float *r, const float *rb, int m, int n, int ld,
                               const float *g, const float *b, float eps) {
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * ld;
        const float *res = r ? r + (size_t)i * ld : NULL;
        __m512 s = _mm512_setzero_ps();
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = lx_lanes16(n - j);
            __m512 v = _mm512_maskz_loadu_ps(k, row + j);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + j));
            if (rb) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, rb + j));
            _mm512_mask_storeu_ps(row + j, k, v);
            s = _mm512_add_ps(s, v);
        }
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)n);
        __m512 q = _mm512_setzero_ps();
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = lx_lanes16(n - j);
            __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, row + j), mean);
            q = _mm512_fmadd_ps(d, d, q);
        }
        float var = _mm512_reduce_add_ps(q) / (float)n;
        __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = lx_lanes16(n - j);
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + j), mean), inv);
            __m512 y = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, g + j), _mm512_maskz_loadu_ps(k, b + j));
            _mm512_mask_storeu_ps(row + j, k, y);
        }
    }
}

/* dst[i] = bf16(src[i]) for i < n, zeros for n <= i < npad. */
void lx_k_round_bf16_avx512(uint16_t *dst, const float *src, int n, int npad) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + i, m, lx_round_bf16_x16(_mm512_maskz_loadu_ps(m, src + i)));
    }
    if (n < npad) memset(dst + n, 0, (size_t)(npad - n) * 2);
}

void lx_k_affine_relu_avx512(float *y, const float *x, const float *scale, const float *shift,
                             const float *res, size_t n, int relu) {
    const __m512 zero = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (scale)
            v = _mm512_add_ps(_mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, scale + i)),
                              _mm512_maskz_loadu_ps(m, shift + i));
        if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + i));
        if (relu) v = _mm512_max_ps(v, zero);
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}
