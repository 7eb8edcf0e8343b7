/*
 * kernels.h — the element-wise kernels under the networks (lib/nn/kernels.c): LayerNorm,
 * exact GELU, masked softmax, bf16 rounding and widening of 16-bit values.  No state, no
 * allocation.  Private to liblx.  (Matrix products, attention's included, are in gemm.h.)
 *
 * Each takes the lx_isa level the network detected (cpu.h) and runs its vector version
 * for that level (lib/nn/simd/kernels_avx512.c, kernels_avx2.c) or plain C.  A value
 * gets the same bits from every kernel of one level that computes it (the vector exp,
 * GELU and rounding live once per level in simd/math_*.h).
 */
#ifndef LX_NN_KERNELS_H
#define LX_NN_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "cpu.h"

/* x[m, n] <- LayerNorm(x + r + rb) row by row with gamma g and beta b [n] (r [m, n] and
 * the row bias rb [n] may be NULL), rows ld apart.  rb is the bias of the product that
 * made x, added here rather than in a pass of its own.  Mean and biased variance over
 * the row as PyTorch computes them (in double on the portable path, two-pass vector sums
 * otherwise). */
void lx_k_add_layernorm(float *x, const float *r, const float *rb, int m, int n, int ld,
                        const float *g, const float *b, float eps, lx_isa isa);
/* x <- GELU(x + b) over n values (b [n] may be NULL), the exact form
 * x/2 (1 + erf(x / sqrt 2)) (vector versions within ~1e-6 relative, see
 * simd/math_avx512.h and math_avx2.h). */
void lx_k_gelu(float *x, const float *b, size_t n, lx_isa isa);
/* dst[i] <- bf16(GELU(x[i] + b[i])) (rounded as lx_f32_to_bf16 rounds): for a product with
 * bf16 weights next, which takes its A in bf16 (gemm.h, lx_gemm_op.ab). */
void lx_k_gelu_bf16(uint16_t *dst, const float *x, const float *b, size_t n, lx_isa isa);
/* One row of attention scores: s[k] <- s[k] * scale + mask[k] (mask may be NULL), then
 * softmax (exp within 2e-7 relative; exp of arguments below -87 is 0). */
void lx_k_softmax_masked(float *s, const float *mask, float scale, int n, lx_isa isa);
/* dst[i] <- bf16(src[i]) for i < n (rounded as lx_f32_to_bf16 rounds), zeros for
 * n <= i < npad: the rows lx_gemm takes as A already rounded (lx_gemm_op.ab). */
void lx_k_round_bf16(uint16_t *dst, const float *src, int n, int npad, lx_isa isa);
/* dst[i] <- src[i] rounded to bf16 and widened back to f32 (A for bf16 weights on the
 * product paths that compute in f32). */
void lx_k_round_f32(float *dst, const float *src, int n, lx_isa isa);
/* Widen n bf16 / f16 values to f32 (exact). */
void lx_k_widen(float *dst, const uint16_t *src, size_t n, int bf16, lx_isa isa);
/* y[i] <- x[i] * scale[i] + shift[i] (when scale is not NULL), + res[i] (when res is not
 * NULL), then max(0, .) when relu: a convolution's BatchNorm, residual and ReLU.  The
 * product and the sum are rounded separately (no FMA), the same bits on every level.
 * y may be x or res. */
void lx_k_affine_relu(float *y, const float *x, const float *scale, const float *shift,
                      const float *res, size_t n, int relu, lx_isa isa);

/* simd/kernels_avx512.c */
void lx_k_widen_bf16_avx512(float *dst, const uint16_t *src, size_t n);
void lx_k_widen_f16_avx512(float *dst, const uint16_t *src, size_t n);
void lx_k_gelu_avx512(float *x, const float *b, size_t n);
void lx_k_gelu_bf16_avx512(uint16_t *dst, const float *x, const float *b, size_t n);
void lx_k_round_bf16_avx512(uint16_t *dst, const float *src, int n, int npad);
void lx_k_softmax_masked_avx512(float *s, const float *mask, float scale, int n);
void lx_k_affine_relu_avx512(float *y, const float *x, const float *scale, const float *shift,
                             const float *res, size_t n, int relu);
void lx_k_add_layernorm_avx512(float *x, const float *r, const float *rb, int m, int n, int ld,
                               const float *g, const float *b, float eps);

/* simd/kernels_avx2.c: the same kernels on 8 lanes (AVX2 + FMA + F16C) */
void lx_k_widen_bf16_avx2(float *dst, const uint16_t *src, size_t n);
void lx_k_widen_f16_avx2(float *dst, const uint16_t *src, size_t n);
void lx_k_gelu_avx2(float *x, const float *b, size_t n);
void lx_k_gelu_bf16_avx2(uint16_t *dst, const float *x, const float *b, size_t n);
void lx_k_round_bf16_avx2(uint16_t *dst, const float *src, int n, int npad);
void lx_k_round_f32_avx2(float *dst, const float *src, int n);
void lx_k_softmax_masked_avx2(float *s, const float *mask, float scale, int n);
void lx_k_affine_relu_avx2(float *y, const float *x, const float *scale, const float *shift,
                           const float *res, size_t n, int relu);
void lx_k_add_layernorm_avx2(float *x, const float *r, const float *rb, int m, int n, int ld,
                             const float *g, const float *b, float eps);

#endif
