/*
 * gemm_avx2.c — AVX2 + FMA (+ F16C) kernels for C (+)= A W^T + bias with few rows of A,
 * for CPUs without AVX-512 (Zen 2/3, Intel before Ice Lake).  Declared in lib/gemm.h;
 * lib/gemm.c and lib/kernels.c choose them at run time (lx_gemm_caps.avx2).  Compiled
 * with -mavx2 -mfma -mf16c; nothing here runs unless the caps say so.
 *
 * Why: with 20-36 rows (one record) OpenBLAS packs all of W for little arithmetic on
 * it, so a third of a batch-1 run was sgemm's copy routine; and 16-bit weights went
 * through f32 tiles widened in memory.  These kernels read W where it lies (the mapped
 * file), widening bf16 (a shift) or f16 (vcvtph2ps) in registers, so each weight
 * streams from memory once per product, at half the bytes for 16-bit weights.
 *
 * Layout.  A [M, K] (f32) and W [N, K] are both read along K.  A tile is 4 rows of A x
 * 3 rows of W: 12 ymm accumulators of 8 partial dot products each, plus 3 for the W
 * rows and 1 for the A row being used: all 16 registers.  Per 8 values of K that is 7
 * loads for 12 FMAs.  At the end each A row's three accumulators are summed by a
 * horizontal-add tree into C[i][j0..j0+2].
 *
 * Loops (sized for a 32 KB L1 and a 512 KB L2): panels of W rows (W_PANEL_BYTES, kept
 * in L2) outermost, then blocks of A rows (A_BLOCK_BYTES, in L2), then 3-row W tiles;
 * K is cut into pieces (K_PIECE values) so that a W tile's piece stays in L1 while every
 * 4-row A tile of the block passes over it.  With one record the whole of A is one
 * block (up to 36 rows of 768, or 20 of 3072 per block), so every weight comes from
 * memory once.
 *
 * Each C[i][j] is summed in an order fixed by K alone (8 lanes per piece, the pieces in
 * order, then the lanes): a result does not depend on the other rows, the columns of
 * the range, or the threads.  Edge tiles repeat the last valid row and drop the extra
 * sums; a K tail of fewer than 8 values is copied into zero-padded registers, so
 * nothing is read past a row (a W row may end a mapping).
 */
#include <immintrin.h>
#include <string.h>
#include "gemm.h"

#define A_BLOCK_BYTES (320u * 1024u)
#define W_PANEL_BYTES (128u * 1024u)
#define K_PIECE 512

enum { W_F32 = 0, W_BF16 = 1, W_F16 = 2 };

/* 8 weights from row w at element kk, widened to f32. */
static inline __attribute__((always_inline)) __m256 load_w(const void *w, int kk, const int wt) {
    if (wt == W_F32) return _mm256_loadu_ps((const float *)w + kk);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + kk));
    if (wt == W_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* [sum a, sum b, sum c, sum c]: the three dot products of one A row. */
static inline __m128 reduce3(__m256 a, __m256 b, __m256 c) {
    __m256 ab = _mm256_hadd_ps(a, b), cc = _mm256_hadd_ps(c, c);
    __m256 s = _mm256_hadd_ps(ab, cc);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Where a tile's mr x nr corner goes, and its share of the prefetching: the W lines
 * pf elements on from its rows (0: none), lines pf_phase, pf_phase + pf_period, ... */
typedef struct tile_out {
    float *c;
    size_t ldc;
    const float *bias;            /* NULL: none (or not this piece of K) */
    int mr, nr, accumulate;
    size_t pf;
    int pf_phase, pf_period;
} tile_out;

/* Row i of a tile into C: its sums r, plus bias, plus the old C when accumulating. */
static inline void store_row(__m128 r, const tile_out *o, int i) {
    static const int lanes[8] = {-1, -1, -1, 0, 0, 0, 0, 0};
    __m128i m = _mm_loadu_si128((const __m128i *)(lanes + 3 - o->nr));
    float *ci = o->c + (size_t)i * o->ldc;
    if (o->bias) r = _mm_add_ps(r, _mm_maskload_ps(o->bias, m));
    if (o->accumulate) r = _mm_add_ps(r, _mm_maskload_ps(ci, m));
    _mm_maskstore_ps(ci, m, r);
}

/* One step of 8 values of K: the three W vectors against each of the four A rows. */
#define STEP(x0, x1, x2, x3, y0, y1, y2)                                                  \
    do {                                                                                  \
        __m256 x_ = (x0);                                                                 \
        c00 = _mm256_fmadd_ps(x_, y0, c00), c01 = _mm256_fmadd_ps(x_, y1, c01);          \
        c02 = _mm256_fmadd_ps(x_, y2, c02);                                               \
        x_ = (x1);                                                                        \
        c10 = _mm256_fmadd_ps(x_, y0, c10), c11 = _mm256_fmadd_ps(x_, y1, c11);          \
        c12 = _mm256_fmadd_ps(x_, y2, c12);                                               \
        x_ = (x2);                                                                        \
        c20 = _mm256_fmadd_ps(x_, y0, c20), c21 = _mm256_fmadd_ps(x_, y1, c21);          \
        c22 = _mm256_fmadd_ps(x_, y2, c22);                                               \
        x_ = (x3);                                                                        \
        c30 = _mm256_fmadd_ps(x_, y0, c30), c31 = _mm256_fmadd_ps(x_, y1, c31);          \
        c32 = _mm256_fmadd_ps(x_, y2, c32);                                               \
    } while (0)

/* One 4 x 3 tile over k values: a[i] rows of f32 A, w[j] rows of W (type wt); the
 * accumulators are named, not an array, so that they stay in registers. */
static inline __attribute__((always_inline)) void tile43(const float *const a[4],
                                                         const void *const w[3], int k,
                                                         const int wt, const tile_out *o) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
           c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const void *w0 = w[0], *w1 = w[1], *w2 = w[2];
    int kk = 0;
    /* a cache line holds 16 f32 or 32 16-bit weights: every 2 or 4 steps */
    const int per_line = wt == W_F32 ? 2 : 4;
    const size_t eb = wt == W_F32 ? 4 : 2;
    int pfc = o->pf ? o->pf_phase * per_line : -1;
    for (; kk + 8 <= k; kk += 8) {
        if (pfc-- == 0) {
            pfc = o->pf_period * per_line - 1;
            _mm_prefetch((const char *)w0 + ((size_t)kk + o->pf) * eb, _MM_HINT_T0);
            _mm_prefetch((const char *)w1 + ((size_t)kk + o->pf) * eb, _MM_HINT_T0);
            _mm_prefetch((const char *)w2 + ((size_t)kk + o->pf) * eb, _MM_HINT_T0);
        }
        __m256 y0 = load_w(w0, kk, wt), y1 = load_w(w1, kk, wt), y2 = load_w(w2, kk, wt);
        STEP(_mm256_loadu_ps(a0 + kk), _mm256_loadu_ps(a1 + kk), _mm256_loadu_ps(a2 + kk),
             _mm256_loadu_ps(a3 + kk), y0, y1, y2);
    }
    if (kk < k) { /* the tail, zero padded: zeros add nothing to the sums */
        int t = k - kk;
        float ta[4][8] = {{0}};
        _Alignas(32) unsigned char tw[3][32] = {{0}};
        for (int i = 0; i < 4; i++) memcpy(ta[i], a[i] + kk, (size_t)t * 4);
        for (int j = 0; j < 3; j++) memcpy(tw[j], (const char *)w[j] + (size_t)kk * eb, (size_t)t * eb);
        __m256 y0 = load_w(tw[0], 0, wt), y1 = load_w(tw[1], 0, wt), y2 = load_w(tw[2], 0, wt);
        STEP(_mm256_loadu_ps(ta[0]), _mm256_loadu_ps(ta[1]), _mm256_loadu_ps(ta[2]),
             _mm256_loadu_ps(ta[3]), y0, y1, y2);
    }
    __m128 r0 = reduce3(c00, c01, c02), r1 = reduce3(c10, c11, c12);
    __m128 r2 = reduce3(c20, c21, c22), r3 = reduce3(c30, c31, c32);
    store_row(r0, o, 0);
    if (o->mr > 1) store_row(r1, o, 1);
    if (o->mr > 2) store_row(r2, o, 2);
    if (o->mr > 3) store_row(r3, o, 3);
}

typedef void (*tile_fn)(const float *const a[4], const void *const w[3], int k,
                        const tile_out *o);

/* Not inlined: one register allocation per weight type. */
__attribute__((noinline)) static void tile_f32(const float *const a[4], const void *const w[3],
                                               int k, const tile_out *o) {
    tile43(a, w, k, W_F32, o);
}

__attribute__((noinline)) static void tile_bf16(const float *const a[4],
                                                const void *const w[3], int k,
                                                const tile_out *o) {
    tile43(a, w, k, W_BF16, o);
}

__attribute__((noinline)) static void tile_f16(const float *const a[4], const void *const w[3],
                                               int k, const tile_out *o) {
    tile43(a, w, k, W_F16, o);
}

/* Rows of row_bytes that fit in bytes: a multiple of mult, at least mult. */
static int rows_fit(size_t bytes, size_t row_bytes, int mult) {
    size_t r = bytes / (row_bytes ? row_bytes : 1);
    r -= r % (size_t)mult;
    if (r < (size_t)mult) r = (size_t)mult;
    if (r > (1u << 30)) r = 1u << 30;
    return (int)r;
}

/* The loops of the top of the file around tile, for W of web bytes an element. */
static void drive(tile_fn tile, int m, int n, int k, const float *a, size_t lda,
                  const char *w, size_t ldw, size_t web, const float *bias, float *c,
                  size_t ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
    /* A blocks of even size (a multiple of 4 rows), so that a 36-row A that just misses
     * the budget splits 20 + 16, not 32 + 4 */
    int nblk = (int)(((size_t)m * k * 4 + A_BLOCK_BYTES - 1) / A_BLOCK_BYTES);
    if (nblk < 1) nblk = 1;
    int mb = (m + nblk - 1) / nblk;
    mb = (mb + 3) & ~3;
    int nb = rows_fit(W_PANEL_BYTES, (size_t)k * web, 3);
    int nkb = (k + K_PIECE - 1) / K_PIECE;
    for (int n0 = 0; n0 < n; n0 += nb) {
        int n1 = n - n0 < nb ? n : n0 + nb;
        for (int m0 = 0; m0 < m; m0 += mb) {
            int m1 = m - m0 < mb ? m : m0 + mb;
            for (int j0 = n0; j0 < n1; j0 += 3) {
                int nr = n1 - j0 < 3 ? n1 - j0 : 3;
                for (int kb = 0; kb < nkb; kb++) {
                    int p0 = kb * K_PIECE, p1 = p0 + K_PIECE < k ? p0 + K_PIECE : k;
                    const void *wr[3];
                    for (int j = 0; j < 3; j++)
                        wr[j] = w + ((size_t)(j0 + (j < nr ? j : nr - 1)) * ldw + (size_t)p0) * web;
                    /* while the A tiles use this piece of W, fetch the next (in elements
                     * from it): the next piece of the same rows, or the next tile's
                     * first; the A tiles take turns, a line each (one tile asking for
                     * all of them queues more misses than the core tracks) */
                    size_t pf = kb + 1 < nkb ? (size_t)(p1 - p0)
                              : j0 + 6 <= n ? 3 * ldw - (size_t)p0 : 0;
                    int ntiles = (m1 - m0 + 3) / 4;
                    for (int i0 = m0; i0 < m1; i0 += 4) {
                        int mr = m1 - i0 < 4 ? m1 - i0 : 4;
                        const float *ar[4];
                        for (int i = 0; i < 4; i++)
                            ar[i] = a + (size_t)(i0 + (i < mr ? i : mr - 1)) * lda + p0;
                        /* the bias with the first piece; later pieces add onto C */
                        tile_out o = {c + (size_t)i0 * ldc + j0, ldc,
                                      bias && !kb ? bias + j0 : NULL, mr, nr,
                                      kb ? 1 : accumulate, pf, (i0 - m0) / 4, ntiles};
                        tile(ar, wr, p1 - p0, &o);
                    }
                }
            }
        }
    }
}

void lx_gemm_f32_avx2(int m, int n, int k, const float *a, size_t lda, const float *w,
                      size_t ldw, const float *bias, float *c, size_t ldc, int accumulate) {
    drive(tile_f32, m, n, k, a, lda, (const char *)w, ldw, 4, bias, c, ldc, accumulate);
}

void lx_gemm_w16f32_avx2(int m, int n, int k, const float *a, size_t lda, const uint16_t *w,
                         size_t ldw, int wf16, const float *bias, float *c, size_t ldc,
                         int accumulate) {
    drive(wf16 ? tile_f16 : tile_bf16, m, n, k, a, lda, (const char *)w, ldw, 2, bias, c, ldc,
          accumulate);
}

/* dst[i] = src[i] rounded to bf16 (nearest even) and widened back, as lib/gemm.c's
 * round_bf16 does it, bit for bit (a NaN: its quiet form, low bits kept). */
void lx_gemm_round_f32_avx2(float *dst, const float *src, int n) {
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i half = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u), quiet = _mm256_set1_epi32(0x400000);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(half, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        r = _mm256_blendv_epi8(_mm256_and_si256(r, hi), _mm256_or_si256(u, quiet), nan);
        _mm256_storeu_si256((__m256i *)(dst + i), r);
    }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x400000u;
        else u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
        memcpy(dst + i, &u, 4);
    }
}
