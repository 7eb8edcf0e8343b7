/*
 * kernels.c — the pure numeric kernels of the network: nn.Linear over BLAS, LayerNorm,
 * exact GELU and masked softmax.  No state, no allocation except the bf16 scratch a
 * caller hands in.
 *
 * Matrix products always go to BLAS's cblas_sgemm.  16-bit weights (f16, bf16) stay
 * 16-bit in memory and are widened block by block (64 rows, which stay in L2) just
 * before their product: the arithmetic is f32 on exactly the stored values, so the
 * results are the f32 network's on those weights, while memory holds and streams half
 * the bytes.  The
 * bias is written into y first and the product accumulated onto it (beta = 1), which
 * saves a second pass over y.
 *
 * LayerNorm follows PyTorch: mean and biased variance over the row, computed here in
 * double so that the result does not depend on the row length's rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "kernels.h"
#include "lx.h"

static void fill_bias(const lx_lin *l, int m, float *y, int ldy) {
    for (int i = 0; i < m; i++) {
        float *row = y + (size_t)i * ldy;
        if (l->b) memcpy(row, l->b, (size_t)l->out * sizeof *row);
        else memset(row, 0, (size_t)l->out * sizeof *row);
    }
}

int lx_k_linear(const lx_lin *l, const float *x, int ldx, int m, float *y, int ldy,
                lx_kscratch *s) {
    if (m <= 0) return 0;
    fill_bias(l, m, y, ldy);
    if (l->w || !l->w16) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, l->out, l->in, 1.0f, x, ldx,
                    l->w, l->in, 1.0f, y, ldy);
        return 0;
    }
    /* bf16 weights: widen blocks of KB weight rows to f32 and multiply each block with
     * sgemm.  The weights are read as bf16 (half the memory traffic of f32) and the
     * arithmetic is f32, so the result is the f32 network's on the same weights. */
    enum { KB = 64 };
    size_t need = (size_t)KB * (size_t)l->in;
    if (need > s->cap) {
        float *nb = lx_aligned_alloc(need * sizeof *nb);
        if (!nb) return -1;
        free(s->wf);
        s->wf = nb;
        s->cap = need;
    }
    for (int j0 = 0; j0 < l->out; j0 += KB) {
        int nb = l->out - j0 < KB ? l->out - j0 : KB;
        lx_k_widen(s->wf, l->w16 + (size_t)j0 * l->in, (size_t)nb * l->in, l->bf16, s->avx512);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nb, l->in, 1.0f, x, ldx,
                    s->wf, l->in, 1.0f, y + j0, ldy);
    }
    return 0;
}

void lx_k_widen(float *dst, const uint16_t *src, size_t n, int bf16, int avx512) {
    if (avx512) {
        if (bf16) lx_k_widen_bf16_avx512(dst, src, n);
        else lx_k_widen_f16_avx512(dst, src, n);
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

static void ln_row(float *y, const float *x, const float *r, int n, const lx_ln *ln, float eps) {
    double sum = 0;
    for (int j = 0; j < n; j++) {
        float v = r ? x[j] + r[j] : x[j];
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

void lx_k_add_layernorm(float *x, const float *r, int m, int n, int ld, const lx_ln *ln,
                        float eps) {
    for (int i = 0; i < m; i++) {
        float *row = x + (size_t)i * ld;
        ln_row(row, row, r ? r + (size_t)i * ld : NULL, n, ln, eps);
    }
}

void lx_k_layernorm(float *y, int ldy, const float *x, int ldx, int m, int n,
                    const lx_ln *ln, float eps) {
    for (int i = 0; i < m; i++) ln_row(y + (size_t)i * ldy, x + (size_t)i * ldx, NULL, n, ln, eps);
}

void lx_k_gelu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

void lx_k_softmax_masked(float *s, const float *mask, int n) {
    float mx = -INFINITY;
    if (mask)
        for (int j = 0; j < n; j++) s[j] += mask[j];
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0;
    for (int j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) s[j] *= inv;
}

int lx_k_have_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}
