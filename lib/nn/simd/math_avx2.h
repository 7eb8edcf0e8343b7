/*
 * math_avx2.h — exp, GELU, bf16 rounding and partial-vector loads and stores on 8 floats
 * in AVX2 registers, shared by the kernels of lib/nn/simd/ compiled for AVX2
 * (kernels_avx2.c, gemm_avx2.c), so that a value gets the same bits wherever it is
 * computed.  They are the 8-lane ports of math_avx512.h: the same
 * polynomials and the same integer rounding, so the accuracy claims there hold here.
 * Include only from files compiled with -mavx2 -mfma -mf16c.
 */
#ifndef LX_MATH_AVX2_H
#define LX_MATH_AVX2_H

#include <immintrin.h>
#include <stdint.h>

/* exp(y) for y in [-88, 0]: y = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two so that
 * k ln2 is exact to f32), exp(r) by its degree-6 Taylor polynomial (relative error < 2e-7
 * there), times 2^k built in the exponent.  y below -87 is taken as -87 (the callers
 * that need 0 there mask it); NaN gives exp(-87) too (vmaxps returns its second operand). */
static inline __m256 lx_exp_neg_x8(__m256 y) {
    y = _mm256_max_ps(y, _mm256_set1_ps(-87.0f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(y, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), y);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* GELU(x) = x/2 (1 + erf(x/sqrt2)) = x/2 erfc(-x/sqrt2).  erfc(z) for z >= 0 by the
 * Chebyshev fit of Numerical Recipes (erfc = t exp(-z^2 + P(t)), t = 1/(1 + z/2),
 * relative error < 1.2e-7), and erfc(-z) = 2 - erfc(z): both tails keep their relative
 * accuracy, within about 1e-6 relative of erff's.  t is a true division: AVX2's vrcpps
 * has only 12 bits, so with one Newton step t would be off by up to ~1.5e-7, as much as
 * the fit itself (the AVX-512 version's vrcp14ps and one step reach ~2^-28); vdivps is
 * correctly rounded, and measured 10% faster on Zen 3 than vrcpps with two steps. */
static inline __m256 lx_gelu_x8(__m256 v) {
    static const float c[10] = {-1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f,
                                -0.18628806f, 0.27886807f, -1.13520398f, 1.48851587f,
                                -0.82215223f, 0.17087277f};
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v),
                             _mm256_set1_ps(0.70710678118654752f));
    __m256 d = _mm256_fmadd_ps(z, _mm256_set1_ps(0.5f), _mm256_set1_ps(1.0f));
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), d);
    __m256 p = _mm256_set1_ps(c[9]);
    for (int j = 8; j >= 0; j--) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c[j]));
    /* erfc(z) = t exp(-z^2 + p) */
    __m256 ec = _mm256_mul_ps(t, lx_exp_neg_x8(_mm256_fnmadd_ps(z, z, p)));
    /* x >= 0: erfc(-x/sqrt2) = 2 - ec;  x < 0: erfc(|x|/sqrt2) = ec */
    __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 f = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), ec), ec, neg);
    return _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(0.5f)), f);
}

/* 8 floats to bf16, nearest even, NaN kept quiet (its top half with the quiet bit set) —
 * bit for bit what lx_f32_to_bf16 gives, subnormals included (hence the integer form).
 * The 32-bit sums wrap only for NaN bit patterns, which are replaced. */
static inline __m128i lx_round_bf16_x8(__m256 x) {
    __m256i u = _mm256_castps_si256(x);
    /* |u| > inf as signed 32-bit integers: the sign bit is cleared first */
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                     _mm256_set1_epi32(0x7f800000));
    __m256i r = _mm256_add_epi32(
        u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                            _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1))));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan);
    r = _mm256_srli_epi32(r, 16);
    /* the 8 values (each < 2^16, so no saturation) into 16-bit lanes, in order */
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

/* The lane mask (all ones in a lane that holds a value) of the first min(left, 8) lanes. */
static inline __m256i lx_lanes8(size_t left) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - (left < 8 ? left : 8)));
}

/* 8 floats at p of which left (> 0) remain: lanes past them read as 0. */
static inline __m256 lx_load8(const float *p, size_t left) {
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lx_lanes8(left));
}

static inline void lx_store8(float *p, size_t left, __m256 v) {
    if (left >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, lx_lanes8(left), v);
}

#endif
