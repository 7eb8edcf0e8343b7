/*
 * quant.c — int8 storage of a model's matrices: the quantization of a weight row.
 *
 * Symmetric and per output row.  Row j of W [out, in] becomes
 *
 *     s[j] = max_k |W[j][k]| / 127          (f32; 0 for a row of zeros)
 *     q[j][k] = round(W[j][k] / s[j])       (to the nearest integer, ties to even)
 *
 * so that |q| <= 127 (never -128: the products' kernels rely on it) and W[j][k] is
 * q[j][k] s[j] within s[j] / 2.  The products quantize their activations at run time,
 * row by row (lib/nn/gemm_i8.c).
 */
#include <math.h>
#include "internal.h"

float lx_quantize_row_i8(const float *x, size_t n, int8_t *q) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!(a <= 3.4028235e38f)) return -1.0f; /* inf or NaN */
        if (a > m) m = a;
    }
    float s = m / 127.0f;
    for (size_t i = 0; i < n; i++) q[i] = s > 0.0f ? (int8_t)lrintf(x[i] / s) : 0;
    return s;
}
