/*
 * kernels.c — the pure numeric kernels of the network: nn.Linear over BLAS, LayerNorm,
 * exact GELU and masked softmax.  No state, no allocation except the bf16 scratch a
 * caller hands in.
 *
 * Matrix products with f32 weights are done a range of output columns at a time (so that
 * the network can spread one product over its threads): by lib/simd/gemm_avx512.c's f32
 * kernels on AVX-512, by gemm_avx2.c's for few rows on AVX2, by BLAS's cblas_sgemm
 * elsewhere; 16-bit weights go to lx_gemm (lib/gemm.h).
 *
 * LayerNorm follows PyTorch: mean and biased variance over the row, computed here in
 * double so that the result does not depend on the row length's rounding.
 *
 * The elementwise kernels (GELU, softmax, LayerNorm, bf16 rounding, widening) have vector
 * versions for each LX_ISA_* level: lib/simd/kernels_avx512.c and kernels_avx2.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "gemm.h"
#include "kernels.h"
#include "lx.h"

void lx_k_linear_f32(const lx_lin *l, const float *x, int ldx, int m, float *y, int ldy,
                     int n0, int n1, int gelu, int isa, float *pack) {
    if (m <= 0 || n1 <= n0) return;
    const float *w = l->w + (size_t)n0 * l->in, *b = l->b ? l->b + n0 : NULL;
    if (isa >= LX_ISA_AVX512 && m <= LX_K_F32_FEW_ROWS) {
        /* Few rows: OpenBLAS would copy (pack) all of W for little arithmetic on it. */
        lx_gemm_f32_avx512(m, n1 - n0, l->in, x, (size_t)ldx, w, (size_t)l->in, b, y + n0,
                           (size_t)ldy, 0);
    } else if (isa >= LX_ISA_AVX2 && isa < LX_ISA_AVX512 && m <= LX_K_F32_FEW_ROWS) {
        /* the same on AVX2 (OpenBLAS's copy of W was a third of a batch-1 run) */
        lx_gemm_f32_avx2(m, n1 - n0, l->in, x, (size_t)ldx, w, (size_t)l->in, b, y + n0,
                         (size_t)ldy, 0);
    } else if (isa >= LX_ISA_AVX512 && pack) {
        /* Many rows: OpenBLAS would pack A again in every thread, and set C in a pass of
         * its own (zeros, or the bias copied in first). */
        lx_gemm_f32packed_avx512(m, n1 - n0, l->in, x, (size_t)ldx, w, (size_t)l->in, b,
                                 y + n0, (size_t)ldy, 0, gelu, pack);
        return;
    } else {
        /* the bias goes into y first and the product is accumulated onto it (beta = 1) */
        if (b)
            for (int i = 0; i < m; i++)
                memcpy(y + (size_t)i * ldy + n0, b, (size_t)(n1 - n0) * sizeof *y);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n1 - n0, l->in, 1.0f, x, ldx,
                    w, l->in, b ? 1.0f : 0.0f, y + n0, ldy);
    }
    if (gelu)
        for (int i = 0; i < m; i++) lx_k_gelu(y + (size_t)i * ldy + n0, NULL, (size_t)(n1 - n0), isa);
}

void lx_k_widen(float *dst, const uint16_t *src, size_t n, int bf16, int isa) {
    if (isa >= LX_ISA_AVX512) {
        if (bf16) lx_k_widen_bf16_avx512(dst, src, n);
        else lx_k_widen_f16_avx512(dst, src, n);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        if (bf16) lx_k_widen_bf16_avx2(dst, src, n);
        else lx_k_widen_f16_avx2(dst, src, n);
        return;
    }
    if (bf16)
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)src[i] << 16;
            memcpy(dst + i, &u, 4);
        }
    else
        for (size_t i = 0; i < n; i++) dst[i] = lx_f16_to_f32(src[i]);
}

static void ln_row(float *y, const float *x, const float *r, const float *rb, int n,
                   const lx_ln *ln, float eps) {
    double sum = 0;
    for (int j = 0; j < n; j++) {
        float v = r ? x[j] + r[j] : x[j];
        if (rb) v += rb[j];
        y[j] = v;
        sum += v;
    }
    double mean = sum / n, var = 0;
    for (int j = 0; j < n; j++) {
        double d = y[j] - mean;
        var += d * d;
    }
    var /= n;
    float inv = (float)(1.0 / sqrt(var + eps)), mu = (float)mean;
    for (int j = 0; j < n; j++) y[j] = (y[j] - mu) * inv * ln->g[j] + ln->b[j];
}

void lx_k_add_layernorm(float *x, const float *r, const float *rb, int m, int n, int ld,
                        const lx_ln *ln, float eps, int isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_k_add_layernorm_avx512(x, r, rb, m, n, ld, ln->g, ln->b, eps);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_add_layernorm_avx2(x, r, rb, m, n, ld, ln->g, ln->b, eps);
        return;
    }
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * ld;
        ln_row(row, row, r ? r + (size_t)i * ld : NULL, rb, n, ln, eps);
    }
}

void lx_k_layernorm(float *y, int ldy, const float *x, int ldx, int m, int n,
                    const lx_ln *ln, float eps) {
    for (int i = 0; i < m; i++) ln_row(y + (size_t)i * ldy, x + (size_t)i * ldx, NULL, NULL, n, ln, eps);
}

void lx_k_gelu(float *x, const float *b, size_t n, int isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_k_gelu_avx512(x, b, n);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_gelu_avx2(x, b, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = b ? x[i] + b[i] : x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2));
    }
}

void lx_k_round_bf16(uint16_t *dst, const float *src, int n, int npad, int isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_gemm_round_bf16_avx512(dst, src, n, npad);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_round_bf16_avx2(dst, src, n, npad);
        return;
    }
    for (int i = 0; i < n; i++) dst[i] = lx_f32_to_bf16(src[i]);
    for (int i = n; i < npad; i++) dst[i] = 0;
}

void lx_k_gelu_bf16(uint16_t *dst, const float *x, const float *b, size_t n, int isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_k_gelu_bf16_avx512(dst, x, b, n);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_gelu_bf16_avx2(dst, x, b, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = b ? x[i] + b[i] : x[i];
        dst[i] = lx_f32_to_bf16(0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2)));
    }
}

void lx_k_softmax_masked(float *s, const float *mask, float scale, int n, int isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_k_softmax_masked_avx512(s, mask, scale, n);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_softmax_masked_avx2(s, mask, scale, n);
        return;
    }
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        s[j] *= scale;
        if (mask) s[j] += mask[j];
        mx = s[j] > mx ? s[j] : mx;
    }
    float sum = 0;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) s[j] *= inv;
}

void lx_k_attention(const float *q, const float *k, const float *v, size_t ld, int lq, int lk,
                    int dh, float scale, const float *mask, float *p, float *ctx, size_t ldc,
                    int isa) {
    if (lq <= 0) return;
    if (isa >= LX_ISA_AVX512)
        lx_gemm_f32_avx512(lq, lk, dh, q, ld, k, ld, NULL, p, (size_t)lk, 0);
    else if (isa >= LX_ISA_AVX2)
        lx_gemm_f32_avx2(lq, lk, dh, q, ld, k, ld, NULL, p, (size_t)lk, 0);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, lq, lk, dh, 1.0f, q, (int)ld, k,
                    (int)ld, 0.0f, p, lk);
    for (int a = 0; a < lq; a++) lx_k_softmax_masked(p + (size_t)a * lk, mask, scale, lk, isa);
    if (isa >= LX_ISA_AVX512)
        lx_k_attn_ctx_avx512(lq, lk, dh, p, (size_t)lk, v, ld, ctx, ldc);
    else if (isa >= LX_ISA_AVX2)
        lx_k_attn_ctx_avx2(lq, lk, dh, p, (size_t)lk, v, ld, ctx, ldc);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, lq, dh, lk, 1.0f, p, lk, v,
                    (int)ld, 0.0f, ctx, (int)ldc);
}

int lx_k_have_avx512(void) {
    return lx_k_isa_best() >= LX_ISA_AVX512;
}

int lx_k_isa_best(void) {
    lx_gemm_caps caps;
    lx_gemm_caps_detect(&caps, 0);
    return lx_gemm_caps_isa(&caps);
}
