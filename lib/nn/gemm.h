/*
 * gemm.h — the matrix products under the networks (lib/nn/gemm.c, simd/gemm_avx512.c,
 * simd/gemm_avx2.c; int8: gemm_i8.c, simd/gemm_i8_*.c): Linear layers with f32, 16-bit
 * or int8 weights, and one head of attention.  Private to liblx: the networks'
 * operations (net_ops.c) are the callers.
 *
 * The one operation is a Linear layer with the weight stored as PyTorch stores it:
 *
 *     C[m][n] (+)= sum_k A[m][k] * W[n][k]  (+ bias[n])
 *
 *     A     f32  [M, K]  row stride lda (>= K)
 *     W     bf16 or f16 (uint16_t), or int8 with row scales, [N, K]  row stride ldw (>= K)
 *     bias  f32  [N] or NULL
 *     C     f32  [M, N]  row stride ldc (>= N); "=" or "+=" (accumulate)
 *
 * Three kinds of 16-bit weights (and int8, LX_GEMM_I8, in its section below):
 *   LX_GEMM_BF16        bf16 W; A is rounded to bf16 (nearest even) once per call and the
 *                       products are accumulated in f32 — the CPU's bf16 dot product
 *                       (AVX512_BF16 vdpbf16ps) where present.  Error per element at most
 *                       about 2^-8 * sum_k |A W| (the rounding of A) on every path;
 *                       vdpbf16ps also reads subnormal bf16 values (below 1.2e-38) as 0.
 *   LX_GEMM_BF16_EXACT  bf16 W widened to f32 (exact: a shift), A used as is, f32 FMA:
 *                       the same as cblas_sgemm on the widened weights up to summation
 *                       order.  For the places where accuracy matters.
 *   LX_GEMM_F16         f16 W widened to f32 (vcvtph2ps / F16C, exact), f32 FMA.
 *
 * 16-bit and int8 weights go through lx_gemm; f32 weights through lx_gemm_f32_cols
 * (below).
 *
 * Paths for 16-bit weights, chosen at run time from the lx_cpu (cpu.h) the caller detects
 * once:
 *   avx512  (isa LX_ISA_AVX512; cpu.bf16dp for LX_GEMM_BF16's vdpbf16ps): register-
 *           blocked microkernels (4 rows of A x 4 rows of W, 16 zmm accumulators, dot
 *           products along K) that read W straight from the (mapped) file, each weight
 *           once per block of A rows: at M = 20..36 the weights stream once (batch 1).
 *           BF16 without AVX512_BF16 but with AVX-512F uses the exact kernel on the
 *           rounded A (same products as the portable path).  For LX_GEMM_BF16 with
 *           M >= LX_GEMM_PACK_MIN_M (128) rows, W is first repacked in pairs (N K values
 *           per call) for a kernel that broadcasts A and needs no horizontal sums (8 rows
 *           x 32 columns per tile; faster there).  Each element of C is summed in
 *           an order fixed by K and by which side of 128 rows M is: a row's result does
 *           not depend on the other rows, the column range or the threads, and batches on
 *           the same side of 128 rows give the same bits.
 *   avx2    (isa LX_ISA_AVX2; M < LX_GEMM_PACK_MIN_M): 2 rows of A x 6
 *           rows of W, 12 ymm accumulators, W read in place (16-bit W widened a tile
 *           at a time into L1), A in f32 (for LX_GEMM_BF16 rounded to bf16 and widened
 *           back first: the same products as the portable path).  Each element of C is
 *           summed in an order fixed by K: independent of the rows, range and threads.
 *   portable  (always correct): blocks of W rows widened to f32 into a scratch tile (and
 *           A rounded to bf16 for LX_GEMM_BF16), then cblas_sgemm on the tile.  Also
 *           taken on AVX-512 machines for LX_GEMM_BF16_EXACT and LX_GEMM_F16 with
 *           M >= LX_GEMM_PACK_MIN_M rows, where OpenBLAS beats the f32-FMA kernels, and
 *           on AVX2 machines for M >= LX_GEMM_PACK_MIN_M.
 *
 * Threads.  lx_gemm_range does the columns [n0, n1) of C on the calling thread: the
 * caller can spread ranges over its own workers (each with its own scratch; ranges that
 * do not overlap write disjoint columns of C).  lx_gemm splits N over the threads of an
 * lx_pool (lib/pool.h: persistent workers, woken in microseconds; the caller's thread
 * takes part; the network can run its own loops on the same pool) as column ranges of a
 * multiple of 32 that the threads take from a shared counter, so a thread slowed by a
 * busy machine does less rather than holding the others back.  With LX_GEMM_BF16, A is
 * first rounded to bf16 once (into s[0].abuf: by all threads for M >= LX_GEMM_PACK_MIN_M
 * rows, by the caller for fewer) rather than once per range (widened back to f32 there
 * on the paths that compute in f32).  The sgemm route leaves the threading to OpenBLAS
 * when OpenBLAS has threads of its own (openblas_get_num_threads() > 1), and splits
 * over the pool when it has one (lx_net sets that); when several of your threads call
 * lx_gemm_range where it applies, set openblas_set_num_threads(1) first.
 *
 * No global state: the lx_cpu is a value computed by the caller; scratch memory is an
 * lx_gemm_scratch owned by the caller (init / free), grown on demand and reused, so a
 * steady-state forward pass allocates nothing.
 *
 * Example (one linear layer, bf16 weights, both cores):
 *
 *     lx_cpu cpu;
 *     lx_cpu_detect(&cpu, LX_ISA_BEST);                                // once
 *     lx_pool pool;
 *     if (lx_pool_init(&pool, 2, &err) < 0) ...                      // once
 *     lx_gemm_scratch s[2];
 *     lx_gemm_scratch_init(&s[0]); lx_gemm_scratch_init(&s[1]);
 *     lx_gemm_op op = {.kind = LX_GEMM_BF16, .m = 36, .n = 2304, .k = 768,
 *                      .a = x, .lda = 768, .w = wqkv, .ldw = 768, .bias = bqkv,
 *                      .c = y, .ldc = 2304, .accumulate = 0};
 *     if (lx_gemm(&cpu, &op, &pool, s, &err) < 0) ...                // per product
 *     lx_gemm_scratch_free(&s[0]); lx_gemm_scratch_free(&s[1]);
 *     lx_pool_free(&pool);
 */
#ifndef LX_GEMM_H
#define LX_GEMM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "cpu.h"
#include "pool.h"

/* Row stride, in floats, for a working matrix of n f32 per row that a kernel reads as A:
 * n, but 16 more when n is a multiple of 1024 (3072, the feed-forward's intermediate).
 * Rows a multiple of 4 KiB apart map to the same sets of the L1, so the rows a tile reads
 * together evict each other (the AVX2 kernel on Zen 3 gains from the padding; AVX-512
 * is indifferent). */
static inline size_t lx_gemm_pad_ld(size_t n) {
    return n % 1024 ? n : n + 16;
}
typedef enum lx_gemm_kind {
    LX_GEMM_BF16 = 0,             /* bf16 W, A rounded to bf16, f32 accumulation */
    LX_GEMM_BF16_EXACT,           /* bf16 W widened, f32 A, f32 FMA */
    LX_GEMM_F16,                  /* f16 W widened, f32 A, f32 FMA */
    LX_GEMM_I8,                   /* int8 W with row scales, A quantized to int8 per row,
                                   * int32 sums (below: "int8 weights") */
    LX_GEMM_KIND_COUNT
} lx_gemm_kind;

/* One product.  Sizes are ints (LXMERT's largest is 30522 x 768); strides in elements. */
typedef struct lx_gemm_op {
    lx_gemm_kind kind;
    int m, n, k;                  /* C is [m, n]; the shared dimension is k; any may be 0 */
    const float *a;               /* [m, k], row stride lda */
    size_t lda;
    const uint16_t *w;            /* [n, k] bf16 or f16 bits, row stride ldw */
    size_t ldw;
    const float *bias;            /* [n] or NULL */
    float *c;                     /* [m, n], row stride ldc */
    size_t ldc;
    int accumulate;               /* 0: C = A W^T + bias;  1: C += A W^T + bias */
    /* Optional, LX_GEMM_BF16 only: A already rounded to bf16 (as lx_f32_to_bf16 rounds),
     * rows ldab apart (a multiple of 32, >= k; values from k to the next multiple of 32
     * zero).  Then a is not read (may be NULL) and no rounding is done: for a producer
     * that writes its output in bf16 anyway (lx_k_gelu_bf16).  Paths without vdpbf16ps
     * widen it back, exactly. */
    const uint16_t *ab;
    size_t ldab;
    /* Optional: the output as the next layer wants it after GELU, cb[i][j] =
     * bf16(GELU(C[i][j])) with lx_k_gelu_bf16's GELU and rounding (its form for
     * cpu->isa), rows ldcb apart; accumulate must be 0.  The packed bf16 kernel applies
     * it to its tiles in registers and never writes c; the other paths write C into c
     * first (c is then scratch: its contents are undefined afterwards).  Columns past n
     * are not written. */
    uint16_t *cb;
    size_t ldcb;
    /* LX_GEMM_I8 only (then w is not read): the int8 weights [n, k], rows ldw apart,
     * their row scales [n] (lx_quantize_row_i8: W[j][k] ~ w8[j][k] * wscale[j]) and row
     * sums */
    const int8_t *w8;
    const float *wscale;
    const int32_t *wsum;          /* [n] the sums of w8's rows (lx_i8_row_sums) */
} lx_gemm_op;

/* Per-thread working memory (A rounded to bf16, widened weight tiles).  Init to empty,
 * grown by the calls that need it, released by _free. */
typedef struct lx_gemm_scratch {
    void *buf;                    /* 64-byte aligned, owned */
    size_t cap;                   /* bytes */
    void *abuf;                   /* s[0]'s only: A rounded to bf16 once for all threads */
    size_t acap;
} lx_gemm_scratch;

void lx_gemm_scratch_init(lx_gemm_scratch *s);
void lx_gemm_scratch_free(lx_gemm_scratch *s);

/* Columns [n0, n1) of C (0 <= n0 <= n1 <= op->n) on the calling thread.  Returns 0, or -1
 * with err set for an invalid op (bad kind, negative size, stride smaller than the row,
 * NULL matrix with a non-zero size, bad range) or when scratch cannot grow. */
int lx_gemm_range(const lx_cpu *cpu, const lx_gemm_op *op, int n0, int n1,
                  lx_gemm_scratch *s, lx_error *err);

/* The whole product, N split into ranges of a multiple of 32 columns (two per thread with
 * many rows, four with few, one on the sgemm route, where each call packs all of A) that
 * the pool's threads take in turn, the calling thread included (pool NULL: all on the
 * calling thread); s points to lx_pool_size(pool) scratches, s[t] used by thread t.
 * Small products use fewer threads; the sgemm (portable) route runs on the calling thread
 * only when OpenBLAS runs threads of its own.  Returns 0 or -1 with err set. */
int lx_gemm(const lx_cpu *cpu, const lx_gemm_op *op, lx_pool *pool,
            lx_gemm_scratch *s, lx_error *err);

/* ---- f32 weights ----
 * Columns [n0, n1) of C[m, n] = A[m, k] W^T + bias (bias [n] may be NULL; gelu != 0:
 * C = GELU(A W^T + bias) as lx_k_gelu computes it), W f32 [n, k] with rows k apart, on
 * the calling thread (the network spreads column ranges over its pool).  isa >=
 * LX_ISA_AVX512: for up to LX_GEMM_F32_FEW_ROWS rows lx_gemm_f32_avx512 (streams W once,
 * prefetched, where OpenBLAS would pack all of it for little arithmetic); for more,
 * lx_gemm_f32packed_avx512 with pack (lx_gemm_f32pack_bytes(), 64-byte aligned) as its
 * working memory, GELU in registers.  isa == LX_ISA_AVX2: lx_gemm_f32_avx2 for up to
 * LX_GEMM_F32_FEW_ROWS rows.  cblas_sgemm otherwise (or with pack NULL). */
#define LX_GEMM_F32_FEW_ROWS 64
void lx_gemm_f32_cols(lx_isa isa, int m, int n, int k, const float *a, size_t lda,
                      const float *w, const float *bias, float *c, size_t ldc, int n0, int n1,
                      int gelu, float *pack);
/* The same with the few-row kernels whatever m is (AVX-512, AVX2; cblas_sgemm on the
 * portable path): a row's result then depends on that row alone, not on how many rows
 * the product has.  For the f32 products whose outputs an int8 product quantizes next,
 * where a last-bit difference can become a whole quantization step (ops.h, lx_lin). */
void lx_gemm_f32_cols_rowwise(lx_isa isa, int m, int n, int k, const float *a, size_t lda,
                              const float *w, const float *bias, float *c, size_t ldc, int n0,
                              int n1, int gelu);

/* ---- int8 weights (LX_GEMM_I8; lib/nn/gemm_i8.c, simd/gemm_i8_avx512.c, _avx2.c) ----
 * Dynamic quantization: W is int8 with a scale per output row (as lx-convert --dtype int8
 * stores it, symmetric: |w8| <= 127), and each row i of A is quantized when the product
 * runs, to unsigned bytes with a zero point, over the row's range widened to hold 0
 * (lo = min(0, min_k A[i][k]), hi = max(0, max_k A[i][k]); lx_qrow_scale):
 *
 *     sa[i] = (hi - lo) / 255     r = 255 / (hi - lo)     za[i] = round(-lo r)
 *     qa[i][k] = min(255, max(0, round(A[i][k] r) + za[i]))
 *
 * (hi - lo, r, sa and za in double, rounded once; A r in f32; round to nearest even;
 * A[i][k] ~ (qa[i][k] - za[i]) sa[i], and 0 is exactly za[i].  A row of zeros, or one
 * whose range is so small that r overflows, becomes zeros with sa = 0; a row holding a
 * value that is not finite becomes zeros with sa = NaN, so its outputs are NaN).  Then,
 * with ws8[j] = sum_k w8[j][k] (lx_i8_row_sums, once when the weights are bound) and the
 * sums exact in int32 (|k| <= LX_GEMM_I8_MAX_K),
 *
 *     acc = sum_k qa[i][k] w8[j][k] - za[i] ws8[j]     (= sum_k (qa - za) w8)
 *     C[i][j] (+)= (float)acc * (sa[i] * wscale[j]) + bias[j]
 *
 * in that order of f32 operations, no FMA.  Every path computes the same integers and
 * the same f32 operations, so all paths give the same bits whatever the rows, ranges or
 * threads (test_gemm checks the vector paths against the portable one bit for bit).  The
 * error against the product of the unquantized A and W is the two roundings: each term
 * is within sa |W| / 2 + |A| ws / 2 + sa ws / 4 of A W (half a step of the row's scale
 * times the weight, and the other way round), summed over K with signs that mostly
 * cancel (test_gemm checks the worst case).
 *
 * Why a zero point: a symmetric scale (largest magnitude / 127) spends half its steps on
 * values a row does not have when the row is one-sided, as GELU's outputs, which the
 * feed-forward's second product takes, nearly are; over the range itself every row gets
 * all 256 steps.  The price is W's row sums, one int32 per output, computed at load.
 *
 * Paths (path_of in gemm.c):
 *   avx512 + VNNI (cpu.vnni): vpdpbusd multiplies unsigned by signed bytes, four
 *           products a lane into int32: qa's bytes by w8's as they are.  No pair
 *           saturates (vpdpbusd has no intermediate 16-bit step), and |sum qa w8| <=
 *           255 * 127 * 65536 < 2^31.  Tiles of 4 rows of A x 4 rows of W along K (64
 *           bytes a step), as the bf16 kernel, W read in place.
 *   avx2    (also AVX-512 without VNNI): vpmovzxbw and vpmovsxbw widen 16 bytes of A and
 *           of W to int16 and vpmaddwd multiplies them in pairs into int32: exact
 *           (|pair| <= 2 * 255 * 127), unlike vpmaddubsw, whose int16 pair sums
 *           saturate.  Tiles of 2 rows of A x 6 rows of W.
 *   portable  int32 loops.
 * A's quantized rows are zero padded to lx_qrows_ld(k) bytes (a multiple of 64), so the
 * vector kernels read whole vectors of A; W's K tail is read under a mask (AVX-512) or
 * copied to zero-padded registers (AVX2), never past a row.
 *
 * lx_gemm quantizes A once per call for all its threads (into s[0].abuf; by all threads
 * when there are LX_GEMM_PACK_MIN_M rows or more), lx_gemm_range per range. */
#define LX_GEMM_I8_MAX_K 65536

/* A quantized by rows: q [m][ld] (ld = lx_qrows_ld(k), zero past k), each row's scale
 * and zero point. */
typedef struct lx_qrows {
    uint8_t *q;
    size_t ld;
    float *scale;                 /* [m] */
    int32_t *zero;                /* [m] */
} lx_qrows;

size_t lx_qrows_ld(int k);
/* Bytes for m rows of k (64-byte aligned pieces), and the rows laid out in buf. */
size_t lx_qrows_bytes(int m, int k);
void lx_qrows_at(lx_qrows *qa, void *buf, int m, int k);
/* Quantize rows [i0, i1) of A [m, k] (rows lda apart) into qa with the isa's kernel (the
 * same bits on every level). */
void lx_qrows_fill(lx_isa isa, const float *a, size_t lda, int k, const lx_qrows *qa, int i0,
                   int i1);
/* One row's quantization from its smallest and largest values (finite: every value of
 * the row is finite): returns sa and sets *inv, the factor before rounding (0: the row is
 * quantized as zeros), and *zero, the zero point. */
static inline float lx_qrow_scale(float mn, float mx, int finite, float *inv, int32_t *zero) {
    *inv = 0.0f;
    *zero = 0;
    if (!finite) return __builtin_nanf("");
    double lo = mn < 0.0f ? mn : 0.0, hi = mx > 0.0f ? mx : 0.0, range = hi - lo;
    if (!(range > 0.0)) return 0.0f;            /* a row of zeros */
    double r = 255.0 / range;
    if (!(r <= 3.4028235e38)) return 0.0f;      /* a range so small that 255 / it overflows */
    *inv = (float)r;
    double z = nearbyint(-lo * (double)*inv);
    *zero = z < 0.0 ? 0 : z > 255.0 ? 255 : (int32_t)z;
    return (float)(range / 255.0);
}
/* The quantized value of x: round(x inv) + zero, within 0..255 (as every level computes
 * it; x inv in f32, rounded to nearest even). */
static inline uint8_t lx_qrow_value(float x, float inv, int32_t zero) {
    long v = lrintf(x * inv) + zero;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}
/* ws8[j] = sum_k w8[j][k] for the n rows of w8 (k values, rows ldw apart): the row sums
 * an LX_GEMM_I8 op takes (exact in int32 for k <= LX_GEMM_I8_MAX_K). */
void lx_i8_row_sums(lx_isa isa, const int8_t *w8, int n, int k, size_t ldw, int32_t *ws8);
void lx_i8_row_sums_avx512(const int8_t *w8, int n, int k, size_t ldw, int32_t *ws8);
void lx_i8_row_sums_avx2(const int8_t *w8, int n, int k, size_t ldw, int32_t *ws8);
/* Columns [n0, n1) of the LX_GEMM_I8 op on A quantized in qa (the path's kernel). */
void lx_gemm_i8_range(const lx_cpu *cpu, const lx_gemm_op *op, const lx_qrows *qa, int n0,
                      int n1);
/* The kernels: C[i][j] (+)= (float)acc * (sa[i] * ws[j]) + bias[j] for i < m, j < n, qa
 * rows ldq apart (zero padded to a multiple of 64), w rows ldw apart. */
void lx_gemm_i8_vnni_avx512(int m, int n, int k, const uint8_t *qa, size_t ldq,
                            const float *sa, const int32_t *za, const int8_t *w, size_t ldw,
                            const float *ws, const int32_t *ws8, const float *bias, float *c,
                            size_t ldc, int accumulate);
void lx_gemm_i8_avx2(int m, int n, int k, const uint8_t *qa, size_t ldq, const float *sa,
                     const int32_t *za, const int8_t *w, size_t ldw, const float *ws,
                     const int32_t *ws8, const float *bias, float *c, size_t ldc,
                     int accumulate);
void lx_qrows_fill_avx512(const float *a, size_t lda, int k, const lx_qrows *qa, int i0, int i1);
void lx_qrows_fill_avx2(const float *a, size_t lda, int k, const lx_qrows *qa, int i0, int i1);

/* ---- attention ----
 * One head of scaled dot-product attention: p[lq, lk] <- softmax(q k^T * scale + mask)
 * (rows of p lk apart; mask [lk] or NULL), then ctx[lq, dh] = p v.  q, k and v are rows of
 * dh values ld apart (the fused Q/K/V buffer), ctx rows ldc apart.  Portable: two
 * cblas_sgemm calls around the softmax.  isa >= LX_ISA_AVX2: the same three steps without
 * OpenBLAS (whose per-call cost dominated at these sizes, 20-36 rows by 64): q k^T by the
 * f32 tile kernels above, p v by lx_gemm_pv_avx512 or _avx2. */
void lx_gemm_attention(lx_isa isa, const float *q, const float *k, const float *v, size_t ld,
                       int lq, int lk, int dh, float scale, const float *mask, float *p,
                       float *ctx, size_t ldc);

/* ---- internal: the AVX-512 kernels (lib/simd/gemm_avx512.c) ----
 * Each computes C[i][j] (+)= sum_k A[i][k] W[j][k] + bias[j] for i < m, j < n, where the
 * pointers are already offset to the range.  ab is A rounded to bf16, rows of stride
 * ldab (a multiple of 32, zero padded past k). */
void lx_gemm_bf16dp_avx512(int m, int n, int k, const uint16_t *ab, size_t ldab,
                           const uint16_t *w, size_t ldw, const float *bias,
                           float *c, size_t ldc, int accumulate);
/* The same with W repacked (into packed, lx_gemm_pack_bytes(n, k) bytes, 64-aligned)
 * for many rows of A: no horizontal sums.  Used for m >= LX_GEMM_PACK_MIN_M. */
#define LX_GEMM_PACK_MIN_M 128
size_t lx_gemm_pack_bytes(int n, int k);
void lx_gemm_bf16packed_avx512(int m, int n, int k, const uint16_t *ab, size_t ldab,
                               const uint16_t *w, size_t ldw, const float *bias, float *c,
                               size_t ldc, int accumulate, uint16_t *packed);
/* The same with op.cb's epilogue: cb = bf16(GELU(A W^T + bias)), c not written. */
void lx_gemm_bf16packed_gelu_avx512(int m, int n, int k, const uint16_t *ab, size_t ldab,
                                    const uint16_t *w, size_t ldw, const float *bias,
                                    uint16_t *cb, size_t ldcb, uint16_t *packed);
/* wf16 = 0: bf16 weights; 1: f16 weights.  A in f32. */
void lx_gemm_w16f32_avx512(int m, int n, int k, const float *a, size_t lda,
                           const uint16_t *w, size_t ldw, int wf16, const float *bias,
                           float *c, size_t ldc, int accumulate);
/* f32 W (the f32 network's products with few rows, where OpenBLAS would pack all of W
 * for little arithmetic on it): the same tiles, loops and prefetching. */
void lx_gemm_f32_avx512(int m, int n, int k, const float *a, size_t lda, const float *w,
                        size_t ldw, const float *bias, float *c, size_t ldc, int accumulate);
/* f32 W with many rows: W packed in chunks into packed (lx_gemm_f32pack_bytes(), 64-byte
 * aligned), A broadcast; bias and accumulation in the accumulators (no pass over C of its
 * own).  Each C[i][j] is summed in order of k: independent of the other rows and columns.
 * gelu != 0: C = GELU(the sum) (lx_k_gelu's AVX-512 GELU, in registers). */
size_t lx_gemm_f32pack_bytes(void);
void lx_gemm_f32packed_avx512(int m, int n, int k, const float *a, size_t lda, const float *w,
                              size_t ldw, const float *bias, float *c, size_t ldc,
                              int accumulate, int gelu, float *packed);
/* ---- internal: the AVX2 kernels (lib/simd/gemm_avx2.c), for few rows of A ----
 * C[i][j] (+)= sum_k A[i][k] W[j][k] + bias[j], A in f32, W read in place: f32, or 16-bit
 * widened in registers (wf16 = 0: bf16, 1: f16).  Each C[i][j] is summed in an order
 * fixed by k alone.  Used below LX_GEMM_PACK_MIN_M rows (16-bit W) and up to
 * LX_GEMM_F32_FEW_ROWS (f32 W) on CPUs without AVX-512. */
void lx_gemm_f32_avx2(int m, int n, int k, const float *a, size_t lda, const float *w,
                      size_t ldw, const float *bias, float *c, size_t ldc, int accumulate);
void lx_gemm_w16f32_avx2(int m, int n, int k, const float *a, size_t lda, const uint16_t *w,
                         size_t ldw, int wf16, const float *bias, float *c, size_t ldc,
                         int accumulate);

/* ctx[lq, dh] = p[lq, lk] v[lk, dh] (rows ldp, ldv, ldc apart): attention's second product,
 * summed over j in order for every element. */
void lx_gemm_pv_avx512(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                       size_t ldv, float *ctx, size_t ldc);
void lx_gemm_pv_avx2(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                     size_t ldv, float *ctx, size_t ldc);

#endif
