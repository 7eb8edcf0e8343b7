/*
 * kernels.c — the element-wise kernels of the networks (kernels.h): LayerNorm, exact GELU,
 * masked softmax, bf16 rounding and widening.  Each public function picks its version
 * for the isa level: simd/kernels_avx512.c, simd/kernels_avx2.c, or the portable C
 * below.
 *
 * LayerNorm follows PyTorch: mean and biased variance over the row, computed here in
 * double so that the result does not depend on the row length's rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../bytes.h"
#include "kernels.h"

/* ---- portable versions ------------------------------------------------------------ */

static void widen(float *dst, const uint16_t *src, size_t n, int bf16) {
    for (size_t i = 0; i < n; i++)
        dst[i] = bf16 ? lx_bf16_to_f32(src[i]) : lx_f16_to_f32(src[i]);
}

static void ln_row(float *y, const float *r, const float *rb, int n, const float *g,
                   const float *b, float eps) {
    double sum = 0;
    for (int j = 0; j < n; j++) {
        float v = r ? y[j] + r[j] : y[j];
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

static void add_layernorm(float *x, const float *r, const float *rb, int m, int n, int ld,
                          const float *g, const float *b, float eps) {
    for (int i = 0; i < m; i++)
        ln_row(x + (size_t)i * ld, r ? r + (size_t)i * ld : NULL, rb, n, g, b, eps);
}

/* GELU(x) = x/2 (1 + erf(x / sqrt 2)), as PyTorch computes it. */
static float gelu1(float v) {
    return 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2));
}

static void gelu(float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = gelu1(b ? x[i] + b[i] : x[i]);
}

static void gelu_bf16(uint16_t *dst, const float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = lx_f32_to_bf16(gelu1(b ? x[i] + b[i] : x[i]));
}

static void round_bf16(uint16_t *dst, const float *src, int n, int npad) {
    for (int i = 0; i < n; i++) dst[i] = lx_f32_to_bf16(src[i]);
    for (int i = n; i < npad; i++) dst[i] = 0;
}

static void round_f32(float *dst, const float *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = lx_bf16_to_f32(lx_f32_to_bf16(src[i]));
}

static void softmax_masked(float *s, const float *mask, float scale, int n) {
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

static void affine_relu(float *y, const float *x, const float *scale, const float *shift,
                        const float *res, size_t n, int relu) {
    for (size_t i = 0; i < n; i++) {
        float v = scale ? x[i] * scale[i] + shift[i] : x[i];
        if (res) v += res[i];
        y[i] = relu && !(v > 0.0f) ? 0.0f : v;
    }
}

/* ---- dispatch by level -------------------------------------------------------------- */

void lx_k_affine_relu(float *y, const float *x, const float *scale, const float *shift,
                      const float *res, size_t n, int relu, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) lx_k_affine_relu_avx512(y, x, scale, shift, res, n, relu);
    else if (isa >= LX_ISA_AVX2) lx_k_affine_relu_avx2(y, x, scale, shift, res, n, relu);
    else affine_relu(y, x, scale, shift, res, n, relu);
}

void lx_k_widen(float *dst, const uint16_t *src, size_t n, int bf16, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) (bf16 ? lx_k_widen_bf16_avx512 : lx_k_widen_f16_avx512)(dst, src, n);
    else if (isa >= LX_ISA_AVX2) (bf16 ? lx_k_widen_bf16_avx2 : lx_k_widen_f16_avx2)(dst, src, n);
    else widen(dst, src, n, bf16);
}

void lx_k_add_layernorm(float *x, const float *r, const float *rb, int m, int n, int ld,
                        const float *g, const float *b, float eps, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) lx_k_add_layernorm_avx512(x, r, rb, m, n, ld, g, b, eps);
    else if (isa >= LX_ISA_AVX2) lx_k_add_layernorm_avx2(x, r, rb, m, n, ld, g, b, eps);
    else add_layernorm(x, r, rb, m, n, ld, g, b, eps);
}

void lx_k_gelu(float *x, const float *b, size_t n, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) lx_k_gelu_avx512(x, b, n);
    else if (isa >= LX_ISA_AVX2) lx_k_gelu_avx2(x, b, n);
    else gelu(x, b, n);
}

void lx_k_gelu_bf16(uint16_t *dst, const float *x, const float *b, size_t n, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) lx_k_gelu_bf16_avx512(dst, x, b, n);
    else if (isa >= LX_ISA_AVX2) lx_k_gelu_bf16_avx2(dst, x, b, n);
    else gelu_bf16(dst, x, b, n);
}

void lx_k_round_bf16(uint16_t *dst, const float *src, int n, int npad, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) lx_k_round_bf16_avx512(dst, src, n, npad);
    else if (isa >= LX_ISA_AVX2) lx_k_round_bf16_avx2(dst, src, n, npad);
    else round_bf16(dst, src, n, npad);
}

void lx_k_round_f32(float *dst, const float *src, int n, lx_isa isa) {
    if (isa >= LX_ISA_AVX2) lx_k_round_f32_avx2(dst, src, n);
    else round_f32(dst, src, n);
}

void lx_k_softmax_masked(float *s, const float *mask, float scale, int n, lx_isa isa) {
    if (isa >= LX_ISA_AVX512) lx_k_softmax_masked_avx512(s, mask, scale, n);
    else if (isa >= LX_ISA_AVX2) lx_k_softmax_masked_avx2(s, mask, scale, n);
    else softmax_masked(s, mask, scale, n);
}
