/*
 * kernels.h — the small pure kernels under the LXMERT network (lib/kernels.c): linear
 * layers over cblas_sgemm (f32 or bf16 weights), LayerNorm, exact GELU,
 * masked softmax.  Private to liblx: lib/net.c is the only caller.
 *
 * Every matrix is row-major.  A linear layer follows PyTorch's nn.Linear: the weight is
 * [out, in] and y = x W^T + b.
 */
#ifndef LX_KERNELS_H
#define LX_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "gemm.h"

/* The isa arguments below are LX_ISA_* levels (lib/gemm.h). */

/* A linear layer: weight [out, in] and bias [out].  The weight is f32 (w) or 16-bit
 * (w16, f16 or bf16 as the file stores it, widened to f32 block by block as it is used,
 * so that memory holds and streams half the bytes); b may be NULL. */
typedef struct lx_lin {
    const float *w;               /* [out, in] f32, or NULL */
    const uint16_t *w16;          /* [out, in] f16/bf16 when w is NULL */
    int bf16;                     /* w16 holds bf16 (else f16) */
    const float *b;               /* [out] or NULL */
    int out, in;
} lx_lin;

/* LayerNorm parameters: gamma and beta [n]. */
typedef struct lx_ln {
    const float *g, *b;
    int n;
} lx_ln;

/* Columns [n0, n1) of y[m, out] = x[m, in] W^T + b for an f32 layer (l->w); ldx / ldy
 * are the row strides of x and y.  With isa >= LX_ISA_AVX512: for up to LX_K_F32_FEW_ROWS
 * rows lx_gemm_f32_avx512 (lib/gemm.h: streams W once, prefetched, where OpenBLAS would
 * pack all of it for little arithmetic); for more, lx_gemm_f32packed_avx512 with pack
 * (lx_gemm_f32pack_bytes(), 64-byte aligned) as its working memory.  With isa ==
 * LX_ISA_AVX2: lx_gemm_f32_avx2 for up to LX_K_F32_FEW_ROWS rows.  cblas_sgemm otherwise
 * (or with pack NULL).  gelu != 0: y = GELU(x W^T + b), as lx_k_gelu computes
 * it (in the packed kernel's registers; over the columns just written elsewhere).  (16-bit
 * layers go through lx_gemm, lib/gemm.h.) */
#define LX_K_F32_FEW_ROWS 64
void lx_k_linear_f32(const lx_lin *l, const float *x, int ldx, int m, float *y, int ldy,
                     int n0, int n1, int gelu, int isa, float *pack);

/* x[m, n] <- LayerNorm(x + r + rb) row by row (r [m, n] and the row bias rb [n] may be
 * NULL), with rows of stride ld; isa selects the vector version.  rb is the bias of
 * the product that made x, added here rather than in a pass of its own. */
void lx_k_add_layernorm(float *x, const float *r, const float *rb, int m, int n, int ld,
                        const lx_ln *ln, float eps, int isa);
/* y[m, n] <- LayerNorm(x) into a separate destination (strides ldx, ldy). */
void lx_k_layernorm(float *y, int ldy, const float *x, int ldx, int m, int n,
                    const lx_ln *ln, float eps);
/* x <- GELU(x + b) elementwise over n values (b [n] may be NULL), the exact form
 * x/2 (1 + erf(x / sqrt 2)); isa selects the vector version (within ~1e-6 relative,
 * see lib/simd/math_avx512.h and math_avx2.h). */
void lx_k_gelu(float *x, const float *b, size_t n, int isa);
/* dst[i] <- bf16(GELU(x[i] + b[i])) (rounded as lx_f32_to_bf16 rounds): for a product
 * with bf16 weights next, which takes its A in bf16 (lib/gemm.h, lx_gemm_op.ab) — half
 * the bytes written, and no separate rounding pass over the f32 values. */
void lx_k_gelu_bf16(uint16_t *dst, const float *x, const float *b, size_t n, int isa);
/* One row of attention scores: s[k] <- s[k] * scale + mask[k] (mask may be NULL), then
 * softmax; isa selects the vector version (exp within 2e-7 relative; exp of arguments
 * below -87 is 0). */
void lx_k_softmax_masked(float *s, const float *mask, float scale, int n, int isa);
/* One head of scaled dot-product attention: p[lq, lk] <- softmax(q k^T * scale + mask)
 * (rows of p lk apart; mask [lk] or NULL), then ctx[lq, dh] = p v.  q, k and v are rows of
 * dh values ld apart (the fused Q/K/V buffer), ctx rows ldc apart.  Portable: two
 * cblas_sgemm calls around the softmax.  isa >= LX_ISA_AVX2: the same three steps without
 * OpenBLAS (whose per-call cost dominated at these sizes, 20-36 rows by 64): q k^T by the
 * f32 tile kernel of lib/gemm.h, p v by lx_k_attn_ctx_avx512 or _avx2. */
void lx_k_attention(const float *q, const float *k, const float *v, size_t ld, int lq, int lk,
                    int dh, float scale, const float *mask, float *p, float *ctx, size_t ldc,
                    int isa);

/* dst[i] <- bf16(src[i]) for i < n (rounded as lx_f32_to_bf16 rounds), zeros for
 * n <= i < npad: the rows lx_gemm takes as A already rounded (lx_gemm_op.ab). */
void lx_k_round_bf16(uint16_t *dst, const float *src, int n, int npad, int isa);
/* Widen n bf16 / f16 values to f32 (exact), vectorised as isa allows. */
void lx_k_widen(float *dst, const uint16_t *src, size_t n, int bf16, int isa);
/* 1 when the CPU has AVX-512 F/BW/VL/DQ (the lib/simd/ *_avx512.c kernels may run). */
int lx_k_have_avx512(void);
/* The highest LX_ISA_* level this CPU runs (what lx_gemm_caps_detect finds). */
int lx_k_isa_best(void);

/* lib/simd/kernels_avx512.c */
void lx_k_widen_bf16_avx512(float *dst, const uint16_t *src, size_t n);
void lx_k_widen_f16_avx512(float *dst, const uint16_t *src, size_t n);
void lx_k_gelu_avx512(float *x, const float *b, size_t n);
void lx_k_gelu_bf16_avx512(uint16_t *dst, const float *x, const float *b, size_t n);
void lx_k_softmax_masked_avx512(float *s, const float *mask, float scale, int n);
void lx_k_attn_ctx_avx512(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                          size_t ldv, float *ctx, size_t ldc);
void lx_k_add_layernorm_avx512(float *x, const float *r, const float *rb, int m, int n, int ld,
                               const float *g, const float *b, float eps);

/* lib/simd/kernels_avx2.c: the same kernels on 8 lanes (AVX2 + FMA + F16C) */
void lx_k_widen_bf16_avx2(float *dst, const uint16_t *src, size_t n);
void lx_k_widen_f16_avx2(float *dst, const uint16_t *src, size_t n);
void lx_k_gelu_avx2(float *x, const float *b, size_t n);
void lx_k_gelu_bf16_avx2(uint16_t *dst, const float *x, const float *b, size_t n);
void lx_k_round_bf16_avx2(uint16_t *dst, const float *src, int n, int npad);
void lx_k_softmax_masked_avx2(float *s, const float *mask, float scale, int n);
void lx_k_attn_ctx_avx2(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                        size_t ldv, float *ctx, size_t ldc);
void lx_k_add_layernorm_avx2(float *x, const float *r, const float *rb, int m, int n, int ld,
                             const float *g, const float *b, float eps);

#endif
