/*
 * gemm_i8.c — products with int8 weights (LX_GEMM_I8, gemm.h "int8 weights"): the
 * quantization of A by rows, the portable kernel, and the choice between it and the
 * vector kernels of simd/gemm_i8_avx512.c and simd/gemm_i8_avx2.c.  lx_gemm and
 * lx_gemm_range (gemm.c) check the op, split it over threads and call lx_gemm_i8_range.
 *
 * The portable kernel is the definition the others are tested against: plain int32 dot
 * products and the epilogue's f32 operations one at a time, as gemm.h writes them.
 */
#include <math.h>
#include <string.h>
#include "gemm.h"

size_t lx_qrows_ld(int k) {
    size_t ld = ((size_t)k + 63) & ~(size_t)63;
    return ld ? ld : 64;
}

static size_t up64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

size_t lx_qrows_bytes(int m, int k) {
    return up64((size_t)m * lx_qrows_ld(k)) + 2 * up64((size_t)m * 4);
}

void lx_qrows_at(lx_qrows *qa, void *buf, int m, int k) {
    char *b = buf;
    qa->ld = lx_qrows_ld(k);
    qa->q = (uint8_t *)b;
    b += up64((size_t)m * qa->ld);
    qa->scale = (float *)b;
    b += up64((size_t)m * 4);
    qa->zero = (int32_t *)b;
}

/* The portable quantization: the same smallest and largest values, the same products
 * x * inv and the same rounding (lrintf: to nearest even, as the vector conversions) as
 * the vector ones. */
static void fill_portable(const float *a, size_t lda, int k, const lx_qrows *qa, int i0,
                          int i1) {
    for (int i = i0; i < i1; i++) {
        const float *x = a + (size_t)i * lda;
        uint8_t *q = qa->q + (size_t)i * qa->ld;
        float mn = 0.0f, mx = 0.0f, inv;
        int finite = 1;
        for (int kk = 0; kk < k; kk++) {
            if (!(fabsf(x[kk]) <= 3.4028235e38f)) finite = 0;
            else if (x[kk] > mx) mx = x[kk];
            else if (x[kk] < mn) mn = x[kk];
        }
        qa->scale[i] = lx_qrow_scale(mn, mx, finite, &inv, &qa->zero[i]);
        memset(q, 0, qa->ld);
        if (inv != 0.0f)
            for (int kk = 0; kk < k; kk++) q[kk] = lx_qrow_value(x[kk], inv, qa->zero[i]);
    }
}

void lx_qrows_fill(lx_isa isa, const float *a, size_t lda, int k, const lx_qrows *qa, int i0,
                   int i1) {
    if (isa >= LX_ISA_AVX512) lx_qrows_fill_avx512(a, lda, k, qa, i0, i1);
    else if (isa >= LX_ISA_AVX2) lx_qrows_fill_avx2(a, lda, k, qa, i0, i1);
    else fill_portable(a, lda, k, qa, i0, i1);
}

/* C[i][j] (+)= (float)acc * (sa[i] * ws[j]) + bias[j], one element at a time. */
static void kernel_portable(int m, int n, int k, const lx_qrows *qa, const int8_t *w,
                            size_t ldw, const float *ws, const int32_t *ws8,
                            const float *bias, float *c, size_t ldc, int accumulate) {
    for (int i = 0; i < m; i++) {
        const uint8_t *x = qa->q + (size_t)i * qa->ld;
        float *ci = c + (size_t)i * ldc;
        for (int j = 0; j < n; j++) {
            const int8_t *y = w + (size_t)j * ldw;
            int32_t acc = 0;
            for (int kk = 0; kk < k; kk++) acc += (int32_t)x[kk] * y[kk];
            acc -= qa->zero[i] * ws8[j];
            float v = (float)acc * (qa->scale[i] * ws[j]);
            if (bias) v = v + bias[j];
            ci[j] = accumulate ? ci[j] + v : v;
        }
    }
}

void lx_i8_row_sums(lx_isa isa, const int8_t *w8, int n, int k, size_t ldw, int32_t *ws8) {
    if (isa >= LX_ISA_AVX512) {
        lx_i8_row_sums_avx512(w8, n, k, ldw, ws8);
    } else if (isa >= LX_ISA_AVX2) {
        lx_i8_row_sums_avx2(w8, n, k, ldw, ws8);
    } else {
        for (int j = 0; j < n; j++) {
            const int8_t *y = w8 + (size_t)j * ldw;
            int32_t s = 0;
            for (int kk = 0; kk < k; kk++) s += y[kk];
            ws8[j] = s;
        }
    }
}

void lx_gemm_i8_range(const lx_cpu *cpu, const lx_gemm_op *op, const lx_qrows *qa, int n0,
                      int n1) {
    int n = n1 - n0;
    const int8_t *w = op->w8 + (size_t)n0 * op->ldw;
    const float *ws = op->wscale + n0, *bias = op->bias ? op->bias + n0 : NULL;
    const int32_t *ws8 = op->wsum + n0;
    float *c = op->c + n0;
    if (n <= 0 || op->m <= 0) return;
    if (cpu && cpu->isa >= LX_ISA_AVX512 && cpu->vnni)
        lx_gemm_i8_vnni_avx512(op->m, n, op->k, qa->q, qa->ld, qa->scale, qa->zero, w, op->ldw,
                               ws, ws8, bias, c, op->ldc, op->accumulate);
    else if (cpu && cpu->isa >= LX_ISA_AVX2)
        lx_gemm_i8_avx2(op->m, n, op->k, qa->q, qa->ld, qa->scale, qa->zero, w, op->ldw, ws,
                        ws8, bias, c, op->ldc, op->accumulate);
    else
        kernel_portable(op->m, n, op->k, qa, w, op->ldw, ws, ws8, bias, c, op->ldc,
                        op->accumulate);
}
