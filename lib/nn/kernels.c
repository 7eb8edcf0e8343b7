/*
 * kernels.c — the element-wise kernels of the networks (kernels.h): LayerNorm, exact GELU,
 * masked softmax, bf16 rounding and widening.  Each dispatches on the isa level to its
 * vector version (simd/kernels_avx512.c, kernels_avx2.c) or runs the plain C here.
 *
 * LayerNorm follows PyTorch: mean and biased variance over the row, computed here in
 * double so that the result does not depend on the row length's rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../bytes.h"
#include "kernels.h"

void lx_k_widen(float *dst, const uint16_t *src, size_t n, int bf16, lx_isa isa) {
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
                   const float *g, const float *b, float eps) {
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
    for (int j = 0; j < n; j++) y[j] = (y[j] - mu) * inv * g[j] + b[j];
}

void lx_k_add_layernorm(float *x, const float *r, const float *rb, int m, int n, int ld,
                        const float *g, const float *b, float eps, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_k_add_layernorm_avx512(x, r, rb, m, n, ld, g, b, eps);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_add_layernorm_avx2(x, r, rb, m, n, ld, g, b, eps);
        return;
    }
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * ld;
        ln_row(row, row, r ? r + (size_t)i * ld : NULL, rb, n, g, b, eps);
    }
}

void lx_k_gelu(float *x, const float *b, size_t n, lx_isa isa) {
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

void lx_k_round_bf16(uint16_t *dst, const float *src, int n, int npad, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) {
        lx_k_round_bf16_avx512(dst, src, n, npad);
        return;
    } else if (isa >= LX_ISA_AVX2) {
        lx_k_round_bf16_avx2(dst, src, n, npad);
        return;
    }
    for (int i = 0; i < n; i++) dst[i] = lx_f32_to_bf16(src[i]);
    for (int i = n; i < npad; i++) dst[i] = 0;
}

void lx_k_round_f32(float *dst, const float *src, int n, lx_isa isa) {
    if (isa >= LX_ISA_AVX2) {
        lx_k_round_f32_avx2(dst, src, n);
        return;
    }
    for (int i = 0; i < n; i++) dst[i] = lx_bf16_to_f32(lx_f32_to_bf16(src[i]));
}

void lx_k_gelu_bf16(uint16_t *dst, const float *x, const float *b, size_t n, lx_isa isa) {
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

void lx_k_softmax_masked(float *s, const float *mask, float scale, int n, lx_isa isa) {
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
