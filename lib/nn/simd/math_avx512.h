/*
 * math_avx512.h — exp, GELU, bf16 rounding and lane masks on 16 floats in AVX-512
 * registers, shared by the kernels of lib/nn/simd/ (softmax, GELU and rounding passes in
 * kernels_avx512.c, the GELU epilogue of the packed bf16 product in gemm_avx512.c), so
 * that a value gets the same bits wherever it is computed.  Include only from files
 * compiled with the AVX-512 flags.
 */
#ifndef LX_MATH_AVX512_H
#define LX_MATH_AVX512_H

#include <immintrin.h>

/* exp(y) for y in [-88, 0]: y = k ln2 + r with |r| <= ln2 / 2, exp(r) by its degree-6
 * Taylor polynomial (relative error < 2e-7 there), times 2^k built in the exponent. */
static inline __m512 lx_exp_neg_x16(__m512 y) {
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

/* GELU(x) = x/2 (1 + erf(x/sqrt2)) = x/2 erfc(-x/sqrt2).  erfc(z) for z >= 0 by the
 * Chebyshev fit of Numerical Recipes (erfc = t exp(-z^2 + P(t)), t = 1/(1 + z/2),
 * relative error < 1.2e-7), and erfc(-z) = 2 - erfc(z): so both tails keep their
 * relative accuracy and the result is within about 1e-6 relative of erff's. */
static inline __m512 lx_gelu_x16(__m512 v) {
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f,
                                -0.18628806f, 0.27886807f, -1.13520398f, 1.48851587f,
                                -0.82215223f, 0.17087277f};
    __m512 z = _mm512_mul_ps(_mm512_abs_ps(v), _mm512_set1_ps(0.70710678118654752f));
    /* t = 1 / d by vrcp14ps and one Newton step (relative error ~2^-28, well below the
     * fit's 1.2e-7; a division here was a third of the kernel's time) */
    __m512 d = _mm512_fmadd_ps(z, _mm512_set1_ps(0.5f), _mm512_set1_ps(1.0f));
    __m512 t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, _mm512_set1_ps(2.0f)));
    __m512 p = _mm512_set1_ps(c[9]);
    for (int j = 8; j >= 0; j--) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[j]));
    /* erfc(z) = t exp(-z^2 + p) */
    __m512 ec = _mm512_mul_ps(t, lx_exp_neg_x16(_mm512_fmadd_ps(_mm512_sub_ps(_mm512_setzero_ps(), z), z, p)));
    /* x >= 0: erfc(-x/sqrt2) = 2 - ec;  x < 0: erfc(|x|/sqrt2) = ec */
    __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 f = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), ec), ec);
    return _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.5f)), f);
}

/* Nearest even, NaN kept quiet — bit for bit what lx_f32_to_bf16 gives (vcvtneps2bf16
 * would flush subnormals, so the integer form is used). */
static inline __m256i lx_round_bf16_x16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    __m512i r = _mm512_add_epi32(
        u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                            _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

/* The lanes of a 16-float vector that hold values when left values remain (left may be
 * negative: none). */
static inline __mmask16 lx_lanes16(int left) {
    return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

#endif
