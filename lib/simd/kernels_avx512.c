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

/* exp(y) for y in [-88, 0]: y = k ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-6
 * Taylor polynomial (relative error < 2e-7 there), times 2^k built in the exponent. */
static inline __m512 exp_neg(__m512 y) {
    y = _mm512_max_ps(y, _mm512_set1_ps(-87.0f));
    __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(y, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), y);
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

/* softmax(s + mask) in place: the row's maximum, exp(s - max) by exp_neg (relative error
 * < 2e-7, against expf's 1 ulp) summed in 16 lanes, then scaled by 1 / sum.  Arguments
 * below -87 (where expf is at most 1.6e-38: subnormal or 0) give exactly 0, so a
 * masked-out key (mask -3.4e38) gets probability 0, as in the reference. */
void lx_k_softmax_masked_avx512(float *s, const float *mask, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(k, s + j);
        if (mask) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, mask + j));
            _mm512_mask_storeu_ps(s + j, k, v);
        }
        mx = _mm512_mask_max_ps(mx, k, mx, v);
    }
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 y = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), m);
        __m512 e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_set1_ps(-87.0f), _CMP_GE_OQ),
                                       exp_neg(y));
        _mm512_mask_storeu_ps(s + j, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(s + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), inv));
    }
}

/* GELU(x) = x/2 (1 + erf(x/sqrt2)) = x/2 erfc(-x/sqrt2).  erfc(z) for z >= 0 by the
 * Chebyshev fit of Numerical Recipes (erfc = t exp(-z^2 + P(t)), t = 1/(1 + z/2),
 * relative error < 1.2e-7), and erfc(-z) = 2 - erfc(z): so both tails keep their
 * relative accuracy and the result is within about 1e-6 relative of erff's. */
void lx_k_gelu_avx512(float *x, const float *b, size_t n) {
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f,
                                -0.18628806f, 0.27886807f, -1.13520398f, 1.48851587f,
                                -0.82215223f, 0.17087277f};
    size_t i = 0;
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        __m512 z = _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(0.70710678118654752f));
        /* t = 1 / d by vrcp14ps and one Newton step (relative error ~2^-28, well below
         * the fit's 1.2e-7; a division here was a third of the kernel's time) */
        __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f));
        __m512 t = _mm512_rcp14_ps(d);
        t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
        __m512 p = _mm512_set1_ps(c[9]);
        for (int j = 8; j >= 0; j--) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[j]));
        /* erfc(z) = t exp(-z^2 + p) */
        __m512 ec = _mm512_mul_ps(t, exp_neg(_mm512_fmadd_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z, p)));
        /* x >= 0: erfc(-x/sqrt2) = 2 - ec;  x < 0: erfc(|x|/sqrt2) = ec */
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 f = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), ec), ec);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.5f)), f));
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
            __mmask16 k = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(k, row + j);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + j));
            if (rb) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, rb + j));
            _mm512_mask_storeu_ps(row + j, k, v);
            s = _mm512_add_ps(s, v);
        }
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)n);
        __m512 q = _mm512_setzero_ps();
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
            __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, row + j), mean);
            q = _mm512_fmadd_ps(d, d, q);
        }
        float var = _mm512_reduce_add_ps(q) / (float)n;
        __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = n - j >= 16 ? 0xffff : (__mmask16)((1u << (n - j)) - 1);
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + j), mean), inv);
            __m512 y = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, g + j), _mm512_maskz_loadu_ps(k, b + j));
            _mm512_mask_storeu_ps(row + j, k, y);
        }
    }
}
