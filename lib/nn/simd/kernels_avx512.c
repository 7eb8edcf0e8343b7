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
#include "bf16_avx512.h"
#include "math_avx512.h"

/* The lanes of a 16-float vector that hold values when left values remain (left may be
 * negative: none). */
static inline __mmask16 lanes(int left) {
    return left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
}

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
        __mmask16 k = lanes(n - j);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, s + j), sc);
        if (mask) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, mask + j));
        _mm512_mask_storeu_ps(s + j, k, v);
        mx = _mm512_mask_max_ps(mx, k, mx, v);
    }
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lanes(n - j);
        __m512 y = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), m);
        __m512 e = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_set1_ps(-87.0f), _CMP_GE_OQ),
                                       lx_exp_neg_x16(y));
        _mm512_mask_storeu_ps(s + j, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int j = 0; j < n; j += 16) {
        __mmask16 k = lanes(n - j);
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
            __mmask16 k = lanes(n - j);
            __m512 v = _mm512_maskz_loadu_ps(k, row + j);
            if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, res + j));
            if (rb) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, rb + j));
            _mm512_mask_storeu_ps(row + j, k, v);
            s = _mm512_add_ps(s, v);
        }
        __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)n);
        __m512 q = _mm512_setzero_ps();
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = lanes(n - j);
            __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, row + j), mean);
            q = _mm512_fmadd_ps(d, d, q);
        }
        float var = _mm512_reduce_add_ps(q) / (float)n;
        __m512 inv = _mm512_set1_ps(1.0f / sqrtf(var + eps));
        for (int j = 0; j < n; j += 16) {
            __mmask16 k = lanes(n - j);
            __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + j), mean), inv);
            __m512 y = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(k, g + j), _mm512_maskz_loadu_ps(k, b + j));
            _mm512_mask_storeu_ps(row + j, k, y);
        }
    }
}

/* ctx[i][0..dh) = sum_j p[i][j] v[j][0..dh) for i < lq: 4 rows of p x 64 columns of v per
 * step, 16 named accumulators (so that gcc keeps them in registers): each v row is loaded
 * once per 4 rows and each p value broadcast, summed in the order j = 0, 1, ....  Rows
 * past lq repeat the last row and are not stored; columns past dh are masked. */
#define CTX_ROW(i)                                                                        \
    do {                                                                                  \
        __m512 b_ = _mm512_set1_ps(p##i[j]);                                              \
        a##i##0 = _mm512_fmadd_ps(b_, y0, a##i##0);                                       \
        a##i##1 = _mm512_fmadd_ps(b_, y1, a##i##1);                                       \
        a##i##2 = _mm512_fmadd_ps(b_, y2, a##i##2);                                       \
        a##i##3 = _mm512_fmadd_ps(b_, y3, a##i##3);                                       \
    } while (0)
#define CTX_STORE(i)                                                                      \
    do {                                                                                  \
        if (i < mr) {                                                                     \
            float *c_ = ctx + (size_t)(i0 + i) * ldc + d0;                                \
            _mm512_mask_storeu_ps(c_, k0, a##i##0);                                       \
            _mm512_mask_storeu_ps(c_ + 16, k1, a##i##1);                                  \
            _mm512_mask_storeu_ps(c_ + 32, k2, a##i##2);                                  \
            _mm512_mask_storeu_ps(c_ + 48, k3, a##i##3);                                  \
        }                                                                                 \
    } while (0)

void lx_k_attn_ctx_avx512(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                          size_t ldv, float *ctx, size_t ldc) {
    for (int i0 = 0; i0 < lq; i0 += 4) {
        int mr = lq - i0 < 4 ? lq - i0 : 4;
        const float *p0 = p + (size_t)i0 * ldp, *p1 = mr > 1 ? p0 + ldp : p0,
                    *p2 = mr > 2 ? p1 + ldp : p1, *p3 = mr > 3 ? p2 + ldp : p2;
        for (int d0 = 0; d0 < dh; d0 += 64) {
            __mmask16 k0 = lanes(dh - d0), k1 = lanes(dh - d0 - 16), k2 = lanes(dh - d0 - 32),
                      k3 = lanes(dh - d0 - 48);
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00,
                   a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00,
                   a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int j = 0; j < lk; j++) {
                const float *vj = v + (size_t)j * ldv + d0;
                __m512 y0 = _mm512_maskz_loadu_ps(k0, vj), y1 = _mm512_maskz_loadu_ps(k1, vj + 16),
                       y2 = _mm512_maskz_loadu_ps(k2, vj + 32),
                       y3 = _mm512_maskz_loadu_ps(k3, vj + 48);
                CTX_ROW(0);
                CTX_ROW(1);
                CTX_ROW(2);
                CTX_ROW(3);
            }
            CTX_STORE(0);
            CTX_STORE(1);
            CTX_STORE(2);
            CTX_STORE(3);
        }
    }
}
