/*
 * gemm_avx2.c — AVX2 + FMA (+ F16C) kernels for C (+)= A W^T + bias with few rows of A,
 * for CPUs without AVX-512 (Zen 2/3, Intel before Ice Lake).  Declared in lib/nn/gemm.h;
 * lib/gemm.c and lib/kernels.c choose them at run time (lx_gemm_caps.avx2).  Compiled
 * with -mavx2 -mfma -mf16c; nothing here runs unless the caps say so.
 *
 * Why: with 20-36 rows (one record) OpenBLAS packs all of W for little arithmetic on
 * it, so a third of a batch-1 run was sgemm's copy routine; and 16-bit weights went
 * through 4 MB f32 tiles widened in memory.  These kernels read W where it lies (the
 * mapped file), so each weight streams from memory once per product, at half the bytes
 * for 16-bit weights.
 *
 * Layout.  A [M, K] (f32) and W [N, K] are both read along K.  A tile is 2 rows of A x
 * 6 rows of W: 12 ymm accumulators of 8 partial dot products each, the 2 A vectors and
 * the W vector in use: 15 of the 16 registers.  Per 8 values of K that is 8 loads for
 * 12 FMAs.  The shape is for Zen 2/3's L1 (32 KB) and L2 bandwidth: A (36 rows of 768
 * f32 = 110 KB) cannot stay in L1, so it streams from L2 once per W tile, and a tile
 * that needs fewer A vectors per FMA goes further (4 x 3 reads A twice as often and
 * is slower).  At the end each A row's six
 * accumulators are summed by a horizontal-add tree into C[i][j0..j0+5].
 *
 * 16-bit weights are widened once per W tile into an f32 buffer in L1 (a shift for
 * bf16, vcvtph2ps for f16), which every A tile then reads: the widening costs once per
 * tile rather than once per A tile.
 *
 * Loops (for a 32-48 KB L1 and a 512 KB-1 MB L2): panels of W rows (W_PANEL_BYTES, kept
 * in L2) outermost, then blocks of A rows (A_BLOCK_BYTES, in L2), then 6-row W tiles;
 * K is cut into pieces (K_PIECE values) so that a W tile's piece stays in L1 while every
 * 2-row A tile of the block passes over it.  With one record the whole of A is one block
 * (36 rows of 768, or 20 of 3072), so every weight comes from memory once; the A tiles
 * take turns prefetching the next W tile, a cache line each.
 *
 * Each C[i][j] is summed in an order fixed by K alone (8 lanes per piece, the pieces in
 * order, then the lanes): a result does not depend on the other rows, the columns of
 * the range, or the threads.  Edge tiles repeat the last valid row and drop the extra
 * sums; a K tail of fewer than 8 values is copied into zero-padded registers, so
 * nothing is read past a row (a W row may end a mapping).
 */
#include <immintrin.h>
#include <string.h>
#include "../gemm.h"
#include "../kernels.h"
#include "math_avx2.h"

#define A_BLOCK_BYTES (256u * 1024u)
#define W_PANEL_BYTES (192u * 1024u)
#define K_PIECE 768
#define TW 6                      /* W rows per tile */

/* [sum a, sum b, sum c, sum d] of four vectors, and [sum e, sum f, ., .] of two. */
static inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

static inline __m128 reduce2(__m256 e, __m256 f) {
    __m256 h = _mm256_hadd_ps(e, f);
    __m256 s = _mm256_hadd_ps(h, h);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Where a tile's mr x nr corner goes, and its share of the prefetching: lines
 * pf_phase, pf_phase + pf_period, ... of the next W tile's rows pf[j] (NULL: none), whose
 * elements are pf_eb bytes. */
typedef struct tile_out {
    float *c;
    size_t ldc;
    const float *bias;            /* NULL: none (or not this piece of K) */
    int mr, nr, accumulate;
    const char *pf[TW];
    int pf_eb, pf_phase, pf_period;
} tile_out;

/* Row i of a tile into C: its six sums (lo: columns 0-3, hi: 4-5), plus bias, plus the
 * old C when accumulating.  Plain stores for a whole row (AMD's masked stores are slow). */
static inline void store_row(__m128 lo, __m128 hi, const tile_out *o, int i) {
    float *ci = o->c + (size_t)i * o->ldc;
    if (o->nr == TW) {
        if (o->bias) {
            lo = _mm_add_ps(lo, _mm_loadu_ps(o->bias));
            hi = _mm_add_ps(hi, _mm_castsi128_ps(_mm_loadu_si64(o->bias + 4)));
        }
        if (o->accumulate) {
            lo = _mm_add_ps(lo, _mm_loadu_ps(ci));
            hi = _mm_add_ps(hi, _mm_castsi128_ps(_mm_loadu_si64(ci + 4)));
        }
        _mm_storeu_ps(ci, lo);
        _mm_storeu_si64(ci + 4, _mm_castps_si128(hi)); /* two floats, unaligned */
        return;
    }
    float v[8];
    _mm_storeu_ps(v, lo);
    _mm_storeu_ps(v + 4, hi);
    for (int j = 0; j < o->nr; j++) /* the same additions, in the same order */
        ci[j] = o->accumulate ? (o->bias ? v[j] + o->bias[j] : v[j]) + ci[j]
                              : o->bias ? v[j] + o->bias[j] : v[j];
}

/* v stays in a register: gcc would otherwise fold each W load into both FMAs that use
 * it as a memory operand, and two loads of every W vector (14 loads for 12 FMAs rather
 * than 8) make the loop load bound on Zen 3. */
#define IN_REG(v) __asm__("" : "+x"(v))

/* W row j's vector against the two A rows (a0_, a1_ of STEP). */
#define COL(j, Y)                                                                         \
    do {                                                                                  \
        __m256 y_ = Y(j);                                                                 \
        IN_REG(y_);                                                                       \
        c0##j = _mm256_fmadd_ps(a0_, y_, c0##j), c1##j = _mm256_fmadd_ps(a1_, y_, c1##j); \
    } while (0)

/* One step of 8 values of K: each of the six W vectors against the two A rows. */
#define STEP(x0, x1, Y)                                                                   \
    do {                                                                                  \
        __m256 a0_ = (x0), a1_ = (x1);                                                    \
        COL(0, Y); COL(1, Y); COL(2, Y); COL(3, Y); COL(4, Y); COL(5, Y);                 \
    } while (0)

/* One 2 x 6 tile over k values: a[i] rows of f32 A, w[j] rows of f32 W.  The
 * accumulators are named, not an array, so that they stay in registers. */
__attribute__((noinline)) static void tile26(const float *const a[2], const float *const w[TW],
                                             int k, const tile_out *o) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00,
           c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    const float *a0 = a[0], *a1 = a[1];
    const float *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *w4 = w[4], *w5 = w[5];
    /* a new cache line of the prefetched rows every 64 / (8 pf_eb) steps */
    int every = o->pf[0] ? 64 / (8 * o->pf_eb) : 0;
    int pfc = every ? o->pf_phase * every : -1, kk = 0;
#define YW(j) _mm256_loadu_ps(w##j + kk)
    for (; kk + 8 <= k; kk += 8) {
        if (pfc-- == 0) {
            pfc = o->pf_period * every - 1;
            size_t off = (size_t)kk * (size_t)o->pf_eb;
            for (int j = 0; j < TW; j++) _mm_prefetch(o->pf[j] + off, _MM_HINT_T0);
        }
        STEP(_mm256_loadu_ps(a0 + kk), _mm256_loadu_ps(a1 + kk), YW);
    }
#undef YW
    if (kk < k) { /* the tail, zero padded: zeros add nothing to the sums */
        size_t t = (size_t)(k - kk) * 4;
        float ta[2][8] = {{0}}, tw[TW][8] = {{0}};
        memcpy(ta[0], a0 + kk, t), memcpy(ta[1], a1 + kk, t);
        for (int j = 0; j < TW; j++) memcpy(tw[j], w[j] + kk, t);
#define YT(j) _mm256_loadu_ps(tw[j])
        STEP(_mm256_loadu_ps(ta[0]), _mm256_loadu_ps(ta[1]), YT);
#undef YT
    }
    store_row(reduce4(c00, c01, c02, c03), reduce2(c04, c05), o, 0);
    if (o->mr > 1) store_row(reduce4(c10, c11, c12, c13), reduce2(c14, c15), o, 1);
}

/* Rows of row_bytes that fit in bytes: a multiple of mult, at least mult. */
static int rows_fit(size_t bytes, size_t row_bytes, int mult) {
    size_t r = bytes / (row_bytes ? row_bytes : 1);
    r -= r % (size_t)mult;
    if (r < (size_t)mult) r = (size_t)mult;
    if (r > (1u << 30)) r = 1u << 30;
    return (int)r;
}

enum { W_F32 = 0, W_BF16 = 1, W_F16 = 2 };

/* The loops of the top of the file, for W of type wt (rows ldw elements apart). */
static void drive(int m, int n, int k, const float *a, size_t lda, const char *w, size_t ldw,
                  int wt, const float *bias, float *c, size_t ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
    size_t web = wt == W_F32 ? 4 : 2;
    /* A blocks of even size (a multiple of 2 rows), so that an A that just misses the
     * budget splits in halves rather than leaving a sliver */
    int nblk = (int)(((size_t)m * k * 4 + A_BLOCK_BYTES - 1) / A_BLOCK_BYTES);
    if (nblk < 1) nblk = 1;
    int mb = (m + nblk - 1) / nblk;
    mb = (mb + 1) & ~1;
    int nb = rows_fit(W_PANEL_BYTES, (size_t)k * web, TW);
    int nkb = k > 0 ? (k + K_PIECE - 1) / K_PIECE : 1;
    _Alignas(32) float wide[TW][K_PIECE]; /* a 16-bit W tile's piece, widened */
    for (int n0 = 0; n0 < n; n0 += nb) {
        int n1 = n - n0 < nb ? n : n0 + nb;
        for (int m0 = 0; m0 < m; m0 += mb) {
            int m1 = m - m0 < mb ? m : m0 + mb;
            for (int j0 = n0; j0 < n1; j0 += TW) {
                int nr = n1 - j0 < TW ? n1 - j0 : TW;
                for (int kb = 0; kb < nkb; kb++) {
                    int p0 = kb * K_PIECE, p1 = p0 + K_PIECE < k ? p0 + K_PIECE : k;
                    const char *src[TW];
                    const float *wr[TW];
                    for (int j = 0; j < TW; j++) {
                        src[j] = w + ((size_t)(j0 + (j < nr ? j : nr - 1)) * ldw + (size_t)p0) * web;
                        if (wt == W_F32) {
                            wr[j] = (const float *)src[j];
                        } else {
                            if (j < nr && wt == W_BF16)
                                lx_k_widen_bf16_avx2(wide[j], (const uint16_t *)src[j],
                                                     (size_t)(p1 - p0));
                            else if (j < nr)
                                lx_k_widen_f16_avx2(wide[j], (const uint16_t *)src[j],
                                                    (size_t)(p1 - p0));
                            wr[j] = wide[j < nr ? j : nr - 1];
                        }
                    }
                    /* while the A tiles use this piece of W, fetch the next: the next
                     * piece of the same rows, or the next tile's first (in elements from
                     * this one); the A tiles take turns, a line each (one tile asking
                     * for all of them queues more misses than the core tracks) */
                    size_t pfd = kb + 1 < nkb ? (size_t)(p1 - p0)
                               : j0 + 2 * TW <= n ? TW * ldw - (size_t)p0 : 0;
                    tile_out o = {.ldc = ldc, .nr = nr, .pf_eb = (int)web,
                                  .pf_period = (m1 - m0 + 1) / 2};
                    for (int j = 0; j < TW; j++) o.pf[j] = pfd ? src[j] + pfd * web : NULL;
                    for (int i0 = m0; i0 < m1; i0 += 2) {
                        const float *ar[2] = {a + (size_t)i0 * lda + p0,
                                              a + (size_t)(i0 + (m1 - i0 > 1)) * lda + p0};
                        o.c = c + (size_t)i0 * ldc + j0;
                        /* the bias with the first piece; later pieces add onto C */
                        o.bias = bias && !kb ? bias + j0 : NULL;
                        o.mr = m1 - i0 < 2 ? 1 : 2;
                        o.accumulate = kb ? 1 : accumulate;
                        o.pf_phase = (i0 - m0) / 2;
                        tile26(ar, wr, p1 - p0, &o);
                    }
                }
            }
        }
    }
}

void lx_gemm_f32_avx2(int m, int n, int k, const float *a, size_t lda, const float *w,
                      size_t ldw, const float *bias, float *c, size_t ldc, int accumulate) {
    drive(m, n, k, a, lda, (const char *)w, ldw, W_F32, bias, c, ldc, accumulate);
}

void lx_gemm_w16f32_avx2(int m, int n, int k, const float *a, size_t lda, const uint16_t *w,
                         size_t ldw, int wf16, const float *bias, float *c, size_t ldc,
                         int accumulate) {
    drive(m, n, k, a, lda, (const char *)w, ldw, wf16 ? W_F16 : W_BF16, bias, c, ldc,
          accumulate);
}

/* ctx[lq, dh] = p v for one attention head (at 20-36 rows by 64, OpenBLAS's per-call cost
 * was most of the time): for 2 rows of p and 32 columns of v at a time, p[i][j] is
 * broadcast and multiplied into the 4 vectors of v's row j (8 accumulators, 4 v vectors
 * and a broadcast: 13 of the 16 registers).  Each sum runs over j in order, whatever the
 * tile: the same bits for a row alone or with others.  Columns past dh are neither read
 * nor written (load8 / store8). */
void lx_gemm_pv_avx2(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                     size_t ldv, float *ctx, size_t ldc) {
    for (int i0 = 0; i0 < lq; i0 += 2) {
        int two = lq - i0 >= 2;
        const float *p0 = p + (size_t)i0 * ldp, *p1 = two ? p0 + ldp : p0;
        for (int d0 = 0; d0 < dh; d0 += 32) {
            /* values left in each of the block's 4 vectors (0: none) */
            size_t l[4];
            for (int q = 0; q < 4; q++) l[q] = dh - d0 - 8 * q > 0 ? (size_t)(dh - d0 - 8 * q) : 0;
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00,
                   a11 = a00, a12 = a00, a13 = a00;
            for (int j = 0; j < lk; j++) {
                const float *vj = v + (size_t)j * ldv + d0;
                __m256 y0 = lx_load8(vj, l[0]), y1 = lx_load8(vj + 8, l[1]), y2 = lx_load8(vj + 16, l[2]),
                       y3 = lx_load8(vj + 24, l[3]);
                __m256 b = _mm256_broadcast_ss(p0 + j);
                a00 = _mm256_fmadd_ps(b, y0, a00), a01 = _mm256_fmadd_ps(b, y1, a01);
                a02 = _mm256_fmadd_ps(b, y2, a02), a03 = _mm256_fmadd_ps(b, y3, a03);
                b = _mm256_broadcast_ss(p1 + j);
                a10 = _mm256_fmadd_ps(b, y0, a10), a11 = _mm256_fmadd_ps(b, y1, a11);
                a12 = _mm256_fmadd_ps(b, y2, a12), a13 = _mm256_fmadd_ps(b, y3, a13);
            }
            float *c0 = ctx + (size_t)i0 * ldc + d0;
            lx_store8(c0, l[0], a00), lx_store8(c0 + 8, l[1], a01);
            lx_store8(c0 + 16, l[2], a02), lx_store8(c0 + 24, l[3], a03);
            if (two) {
                float *c1 = c0 + ldc;
                lx_store8(c1, l[0], a10), lx_store8(c1 + 8, l[1], a11);
                lx_store8(c1 + 16, l[2], a12), lx_store8(c1 + 24, l[3], a13);
            }
        }
    }
}
