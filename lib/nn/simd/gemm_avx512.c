/*
 * gemm_avx512.c — AVX-512 microkernels for C (+)= A W^T + bias with 16-bit and f32
 * weights, and attention's p v (declared in lib/nn/gemm.h; gemm.c chooses them at run
 * time).  Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma;
 * nothing here runs unless the caller's lx_cpu says the CPU has those instructions.
 *
 * Layout.  Both A [M, K] and W [N, K] are read along K (W as PyTorch stores it, so the
 * mapped weights are used in place, never repacked).  A tile is 4 rows of A x 4 rows of
 * W: 16 zmm accumulators each holding 16 partial dot products, K stepped by one vector
 * (32 bf16 pairs for vdpbf16ps, 16 f32 for the FMA kernels), then the 16 accumulators are
 * reduced together by a shuffle tree (45 instructions rather than 16 separate horizontal
 * sums) into one vector whose lane 4*i + j is C[i][j].
 *
 * For LX_GEMM_BF16 with many rows (M >= LX_GEMM_PACK_MIN_M) a second kernel repacks W
 * in pairs and broadcasts A instead (see "many rows" below): no reductions at all.
 *
 * Loop order (GotoBLAS-like, sized for Zen 4/5 and recent Intel: 32-48 KB L1, 1-2 MB L2):
 * a panel of W rows (W_PANEL_BYTES, kept in L2) outermost; then blocks of A rows
 * (A_BLOCK_BYTES, in L2); then groups of 4-row W tiles (W_GROUP_BYTES), read from L2 once
 * per A block and kept in L1 while every 4-row A tile of the block passes, each A tile
 * against the whole group in turn (so it is read once per group, not once per W tile:
 * at batch 1, A's misses to L2 were what held the weight stream back) and the A tiles
 * forward for one group, backward for the next; a long K (3072) is cut into blocks so
 * that a tile's 4 rows of W and of A fit in L1 together (16 KB each).  With M = 20..36
 * the whole
 * of A is one block: every weight streams from memory once (prefetched one group ahead,
 * the A tiles of the current one taking turns; see drive), so batch 1 runs as fast as
 * the weights arrive or the dot products issue, whichever is slower.  Edge tiles (fewer
 * than 4 rows of A or W left) repeat the last valid row and discard the extra sums; the
 * K tail uses masked loads, so nothing is read past a row.
 */
#include <immintrin.h>
#include <string.h>
#include "../gemm.h"
#include "math_avx512.h"
#include "prefetch_avx512.h"

/* Bytes of A rows per block and of W rows per panel, both kept in a 1 MB L2 (A blocks
 * small enough for L1 gain nothing: the W tile stays in L1 across the A tiles). */
#define A_BLOCK_BYTES (256u * 1024u)
#define W_PANEL_BYTES (256u * 1024u)
/* How many 4-row W tiles ahead the far prefetch into L2 runs (see PREFETCH_W) */
#define W_FAR_TILES 4
/* Bytes of W (4-row tiles, one K block) an A tile meets in turn before the next A tile:
 * 2 tiles of f32 or 4 of bf16 at K = 768, small enough to leave room in L1 for the A
 * tile and the next group's prefetch (docs/performance.md has the sizes measured). */
#define W_GROUP_BYTES (24u * 1024u)
#define W_GROUP_MAX 8

/* v[4*j + i] holds the partial sums of C[i][j]; returns lane 4*i + j = sum of v[4*j+i].
 * The loops are unrolled by pragma: at -O2 gcc kept v, x and y as arrays on the stack,
 * so every tile ended by spilling its 16 accumulators and running the tree through
 * store-to-load forwarding; unrolled, all stays in registers (the same bits). */
static inline __m512 reduce16(const __m512 *v) {
    __m512 x[8], y[4], z[2];
    /* lanes of 128 bits: x[p] = [v2p.L0+L2, v2p.L1+L3, v2p+1.L0+L2, v2p+1.L1+L3] */
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++)
        x[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xee));
    /* y[q] 128-bit lane l: 4 partial sums of v[4q + l] */
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        y[q] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * q], x[2 * q + 1], 0x88),
                             _mm512_shuffle_f32x4(x[2 * q], x[2 * q + 1], 0xdd));
    /* z[r] lane l: 2 partials of v[8r + l], then 2 of v[8r + 4 + l] */
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++)
        z[r] = _mm512_add_ps(_mm512_shuffle_ps(y[2 * r], y[2 * r + 1], 0x44),
                             _mm512_shuffle_ps(y[2 * r], y[2 * r + 1], 0xee));
    /* lane l, element s: the sum of v[4s + l] */
    return _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88),
                         _mm512_shuffle_ps(z[0], z[1], 0xdd));
}

/* Write the mr x nr corner of a reduced tile into C: row i is 128-bit lane i of r, plus
 * bias, plus the old C when accumulating (masked, so nothing past column nr is touched). */
static inline void store_tile(__m512 r, int mr, int nr, const float *bias, float *c,
                              size_t ldc, int accumulate) {
    __mmask8 m = (__mmask8)((1u << nr) - 1);
    __m128 b = bias ? _mm_maskz_loadu_ps(m, bias) : _mm_setzero_ps();
    __m128 row[4] = {_mm512_castps512_ps128(r), _mm512_extractf32x4_ps(r, 1),
                     _mm512_extractf32x4_ps(r, 2), _mm512_extractf32x4_ps(r, 3)};
#pragma GCC unroll 4
    for (int i = 0; i < mr; i++) {
        float *ci = c + (size_t)i * ldc;
        __m128 v = _mm_add_ps(row[i], b);
        if (accumulate) v = _mm_add_ps(_mm_maskz_loadu_ps(m, ci), v);
        _mm_mask_storeu_ps(ci, m, v);
    }
}

/* Rows of row_bytes each that fit in bytes, a multiple of 4 and at least 4. */
static int rows_in(size_t bytes, size_t row_bytes) {
    size_t r = bytes / (row_bytes ? row_bytes : 1);
    r &= ~(size_t)3;
    if (r < 4) r = 4;
    if (r > (1u << 30)) r = 1u << 30;
    return (int)r;
}

/* A tile kernel: the 16 partial-sum vectors of A rows a[0..3] (f32 or bf16, as the kernel
 * expects) against W rows w[0..3], K values; pf != 0: prefetch W pf elements ahead, the
 * cache lines pf_phase, pf_phase + pf_period, ... of each row (see drive). */
/* Where a tile's mr x nr corner of C goes (see store_tile), and its share of the
 * prefetching. */
typedef struct tile_out {
    float *c;
    size_t ldc;
    const float *bias;
    int mr, nr, accumulate;
    int pf_phase, pf_period;
    size_t far;                   /* W elements to the far prefetch (W_FAR_TILES), or 0 */
} tile_out;
typedef void (*tile_fn)(const void *const a[4], const uint16_t *const w[4], int k, size_t pf,
                        const tile_out *o);

/* The blocked loops around a tile kernel (see the top of the file); tile_pf is the same
 * kernel prefetching the next W tile.  The A tiles against one W tile share that
 * prefetching evenly: with P of them, tile t fetches cache lines t, t + P, ... of each
 * next W row, so the lines are requested at an even pace through the whole W tile.
 * (The first A tile fetching all of them queues more misses than the core tracks: that
 * tile stalls, and the memory stream then idles.)  a has rows of a_row_bytes apart and
 * elements of a_elem_bytes. */
static void drive(tile_fn tile_pf, tile_fn tile, int m, int n, int k, const char *a,
                  size_t a_row_bytes, size_t a_elem_bytes, const char *w, size_t ldw,
                  size_t w_elem_bytes, const float *bias, float *c, size_t ldc,
                  int accumulate) {
    int mb = rows_in(A_BLOCK_BYTES, (size_t)k * a_elem_bytes);
    int nb = rows_in(W_PANEL_BYTES, (size_t)k * w_elem_bytes);
    /* K in blocks (multiples of 32) whose 4-row pieces of A and of W fit in L1 together:
     * 16 KB each, 1024 f32 or 2048 bf16 values */
    size_t eb = a_elem_bytes > w_elem_bytes ? a_elem_bytes : w_elem_bytes;
    int kmax = (int)(16384 / (4 * eb)), nkb = (k + kmax - 1) / kmax;
    /* W tiles per group: as many of one K block's 4-row tiles as W_GROUP_BYTES holds */
    size_t tile_bytes = 4 * (size_t)(nkb ? (k + nkb - 1) / nkb : 1) * w_elem_bytes;
    size_t gb = W_GROUP_BYTES / tile_bytes;
    int G = gb < 1 ? 1 : gb > W_GROUP_MAX ? W_GROUP_MAX : (int)gb;
    for (int n0 = 0; n0 < n; n0 += nb) {
        int n1 = n - n0 < nb ? n : n0 + nb;
        for (int m0 = 0; m0 < m; m0 += mb) {
            int m1 = m - m0 < mb ? m : m0 + mb;
            for (int j0 = n0; j0 < n1; j0 += 4 * G) {
                int ng = (n1 - j0 + 3) / 4 < G ? (n1 - j0 + 3) / 4 : G;
                for (int kb = 0; kb < nkb; kb++) {
                    int p0 = (int)((long long)k * kb / nkb) & ~31;
                    int p1 = kb + 1 == nkb ? k : (int)((long long)k * (kb + 1) / nkb) & ~31;
                    const uint16_t *wr[W_GROUP_MAX][4];
                    int nr[W_GROUP_MAX], next[W_GROUP_MAX];
                    size_t pfd[W_GROUP_MAX], far[W_GROUP_MAX];
                    for (int g = 0; g < ng; g++) {
                        int jg = j0 + 4 * g;
                        nr[g] = n1 - jg < 4 ? n1 - jg : 4;
                        for (int j = 0; j < 4; j++) {
                            size_t row = (size_t)(jg + (j < nr[g] ? j : nr[g] - 1));
                            wr[g][j] = (const uint16_t *)(w + (row * ldw + (size_t)p0) *
                                                                  w_elem_bytes);
                        }
                        /* what to fetch while the A tiles use this piece of W (in W
                         * elements from it): the next block of the same rows, or the
                         * same tile of the next group's first */
                        pfd[g] = kb + 1 < nkb ? (size_t)(p1 - p0)
                                              : 4 * (size_t)G * ldw - (size_t)p0;
                        next[g] = kb + 1 < nkb || jg + 4 * G + 4 <= n;
                        /* and into L2, the same piece of the rows W_FAR_TILES tiles on */
                        far[g] = jg + 4 * W_FAR_TILES + 4 <= n ? 4 * W_FAR_TILES * ldw : 0;
                    }
                    /* the A tiles forward for one group, backward for the next: the
                     * tiles used last are still in L1 when the next group starts */
                    int ntile = (m1 - m0 + 3) / 4, back = ((j0 - n0) / (4 * G)) & 1;
                    for (int it = 0; it < ntile; it++) {
                        int i0 = m0 + 4 * (back ? ntile - 1 - it : it);
                        int mr = m1 - i0 < 4 ? m1 - i0 : 4;
                        const void *ar[4];
                        for (int i = 0; i < 4; i++)
                            ar[i] = a + (size_t)(i0 + (i < mr ? i : mr - 1)) * a_row_bytes +
                                    (size_t)p0 * a_elem_bytes;
                        for (int g = 0; g < ng; g++) {
                            int jg = j0 + 4 * g;
                            /* later blocks add onto C */
                            tile_out o = {c + (size_t)i0 * ldc + jg, ldc,
                                          bias && !kb ? bias + jg : NULL, mr, nr[g],
                                          kb ? 1 : accumulate, (i0 - m0) / 4, ntile, far[g]};
                            if (next[g]) tile_pf(ar, wr[g], p1 - p0, pfd[g], &o);
                            else tile(ar, wr[g], p1 - p0, 0, &o);
                        }
                    }
                }
            }
        }
    }
}

/* ---- bf16 x bf16 -> f32 with vdpbf16ps ---------------------------------- */

/* Sixteen named accumulators: c<i><j> holds the partial sums of C[i][j] (named, not an
 * array, so that gcc keeps all of them in registers). */
#define ACC_DECL                                                                          \
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00,        \
           c11 = c00, c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00,   \
           c30 = c00, c31 = c00, c32 = c00, c33 = c00
/* Reduce the sixteen accumulators (v[4 j + i] = C[i][j], the order reduce16 expects) and
 * store the tile, inside the tile kernel: the sums go from registers to the shuffle tree
 * without a round trip through memory. */
#define TILE_STORE(o)                                                                     \
    do {                                                                                  \
        const __m512 v_[16] = {c00, c10, c20, c30, c01, c11, c21, c31,                    \
                               c02, c12, c22, c32, c03, c13, c23, c33};                   \
        store_tile(reduce16(v_), (o)->mr, (o)->nr, (o)->bias, (o)->c, (o)->ldc,           \
                   (o)->accumulate);                                                      \
    } while (0)
/* the four products of A rows x0..x3 with one W row y into column J */
#define ACC_COL(OP, J, y)                                                                 \
    (c0##J = OP(c0##J, x0, y), c1##J = OP(c1##J, x1, y), c2##J = OP(c2##J, x2, y),       \
     c3##J = OP(c3##J, x3, y))

/* A 4x4 tile kernel: a[i] rows of A (elements TA), w[j] rows of W (elements TW); K in
 * steps of S values (STEP(kk, mask) adds their products into the sixteen accumulators),
 * the tail under a mask of type MASK, so nothing is read past a row; then the store.
 * PF and wf16 are constants in each instance (TILE_INSTANCE): prefetch W rows pf
 * elements ahead, and whether 16-bit W is f16. */
#define TILE_KERNEL(name, TA, TW, S, MASK, STEP)                                          \
    static inline __attribute__((always_inline)) void name(                               \
        const void *const a[4], const uint16_t *const w[4], int k, const int wf16,        \
        const int PF, size_t pf, const tile_out *o) {                                     \
        ACC_DECL;                                                                         \
        const TA *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];                          \
        const TW *w0 = (const TW *)w[0], *w1 = (const TW *)w[1], *w2 = (const TW *)w[2],  \
                 *w3 = (const TW *)w[3];                                                  \
        int kk = 0, pfc = o->pf_phase;                                                    \
        (void)wf16;                                                                       \
        for (; kk + (S) <= k; kk += (S)) STEP(kk, (MASK)~(MASK)0);                        \
        if (kk < k) STEP(kk, (MASK)((1u << (k - kk)) - 1));                               \
        TILE_STORE(o);                                                                    \
    }
/* Not inlined, so each gets its own register allocation; with and without the prefetch
 * (the last W tiles of a product have no next tile to fetch). */
#define TILE_INSTANCE(name, kernel, wf16, pf_on)                                          \
    __attribute__((noinline)) static void name(const void *const a[4],                   \
                                               const uint16_t *const w[4], int k,        \
                                               size_t pf, const tile_out *o) {           \
        kernel(a, w, k, wf16, pf_on, pf, o);                                              \
    }

#define DP(acc, x, y) _mm512_dpbf16_ps(acc, x, y)
/* 32 values of K: A rows are zero padded, W rows are read under mask m (a W row may end
 * a mapping: nothing past it is read) */
#define DP_STEP(kk, m)                                                                    \
    do {                                                                                  \
        PREFETCH_W(kk);                                                                   \
        __m512bh x0 = (__m512bh)_mm512_loadu_si512(a0 + (kk));                            \
        __m512bh x1 = (__m512bh)_mm512_loadu_si512(a1 + (kk));                            \
        __m512bh x2 = (__m512bh)_mm512_loadu_si512(a2 + (kk));                            \
        __m512bh x3 = (__m512bh)_mm512_loadu_si512(a3 + (kk));                            \
        __m512bh y = (__m512bh)_mm512_maskz_loadu_epi16(m, w0 + (kk));                    \
        ACC_COL(DP, 0, y);                                                                \
        y = (__m512bh)_mm512_maskz_loadu_epi16(m, w1 + (kk));                             \
        ACC_COL(DP, 1, y);                                                                \
        y = (__m512bh)_mm512_maskz_loadu_epi16(m, w2 + (kk));                             \
        ACC_COL(DP, 2, y);                                                                \
        y = (__m512bh)_mm512_maskz_loadu_epi16(m, w3 + (kk));                             \
        ACC_COL(DP, 3, y);                                                                \
    } while (0)

TILE_KERNEL(tile_dp, uint16_t, uint16_t, 32, __mmask32, DP_STEP)
TILE_INSTANCE(tile_dp_pf, tile_dp, 0, 1)
TILE_INSTANCE(tile_dp_nopf, tile_dp, 0, 0)

void lx_gemm_bf16dp_avx512(int m, int n, int k, const uint16_t *ab, size_t ldab,
                           const uint16_t *w, size_t ldw, const float *bias,
                           float *c, size_t ldc, int accumulate) {
    drive(tile_dp_pf, tile_dp_nopf, m, n, k, (const char *)ab, ldab * 2, 2, (const char *)w,
          ldw, 2, bias, c, ldc, accumulate);
}

/* ---- many rows: W packed in pairs, A broadcast (no reductions) ------------
 *
 * For M >= LX_GEMM_PACK_MIN_M the weights of the range are first repacked (a cost of N K
 * against M N K products) so that one zmm holds, for 16 output columns, the pair of
 * weights (W[j][2p], W[j][2p+1]): vdpbf16ps against the broadcast pair (A[i][2p],
 * A[i][2p+1]) then adds two products into each column's own lane, and a tile of 8 rows x
 * 32 columns is 16 accumulators that need no horizontal sum at the end.  Layout of a
 * 32-column panel: for each pair p, 64 values: columns 0..15 then 16..31, two each. */

/* Pack W rows [j0, j0 + 32) (rows >= n and the odd K tail are zeros) into panel: the
 * pair p of 16 rows is one 32-bit gather (row offsets in bytes, scale 1). */
static void pack_panel(uint16_t *panel, const uint16_t *w, size_t ldw, int j0, int n, int k) {
    int kp = (k + 1) / 2;
    for (int h = 0; h < 2; h++) {
        int jb = j0 + 16 * h, rows = n - jb < 0 ? 0 : n - jb < 16 ? n - jb : 16;
        __mmask16 valid = (__mmask16)((1u << rows) - 1);
        __m512i off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                           11, 12, 13, 14, 15),
                                         _mm512_set1_epi32((int)(ldw * 2)));
        const char *base = (const char *)(w + (size_t)(rows ? jb : 0) * ldw);
        uint16_t *dst = panel + h * 32;
        for (int p = 0; p < k / 2; p++) {
            if (!(p & 15)) /* each row's cache line two ahead (the gathers move 64 bytes
                            * along 16 rows every 16 pairs: too many streams for the
                            * hardware prefetcher) */
                for (int l = 0; l < rows; l++)
                    _mm_prefetch(base + (size_t)l * ldw * 2 + (size_t)(p + 32) * 4, _MM_HINT_T0);
            __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), valid, off,
                                                    base + (size_t)p * 4, 1);
            _mm512_storeu_si512(dst + (size_t)p * 64, v);
        }
        if (k & 1) { /* the last pair: W[j][k - 1] and a zero */
            uint16_t *d = dst + (size_t)(kp - 1) * 64;
            for (int l = 0; l < 16; l++) {
                d[2 * l] = l < rows ? w[(size_t)(jb + l) * ldw + k - 1] : 0;
                d[2 * l + 1] = 0;
            }
        }
    }
}

#define BC(r, p) ((__m512bh)_mm512_set1_epi32((int)(r)[p]))
#define ROW2(i)                                                                           \
    do {                                                                                  \
        __m512bh b = BC(a##i, p);                                                         \
        d##i##0 = _mm512_dpbf16_ps(d##i##0, y0, b);                                       \
        d##i##1 = _mm512_dpbf16_ps(d##i##1, y1, b);                                       \
    } while (0)

/* 8 rows (pairs of bf16 read as uint32) x one 32-column panel, kp pairs. */
__attribute__((noinline)) static void tile_packed(const uint32_t *const a[8],
                                                  const uint16_t *panel, int kp,
                                                  __m512 acc[16]) {
    __m512 d00 = _mm512_setzero_ps(), d01 = d00, d10 = d00, d11 = d00, d20 = d00, d21 = d00,
           d30 = d00, d31 = d00, d40 = d00, d41 = d00, d50 = d00, d51 = d00, d60 = d00,
           d61 = d00, d70 = d00, d71 = d00;
    const uint32_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5],
                   *a6 = a[6], *a7 = a[7];
    for (int p = 0; p < kp; p++) {
        __m512bh y0 = (__m512bh)_mm512_loadu_si512(panel + (size_t)p * 64);
        __m512bh y1 = (__m512bh)_mm512_loadu_si512(panel + (size_t)p * 64 + 32);
        ROW2(0); ROW2(1); ROW2(2); ROW2(3); ROW2(4); ROW2(5); ROW2(6); ROW2(7);
    }
    acc[0] = d00, acc[1] = d01, acc[2] = d10, acc[3] = d11, acc[4] = d20, acc[5] = d21;
    acc[6] = d30, acc[7] = d31, acc[8] = d40, acc[9] = d41, acc[10] = d50, acc[11] = d51;
    acc[12] = d60, acc[13] = d61, acc[14] = d70, acc[15] = d71;
}

size_t lx_gemm_pack_bytes(int n, int k) {
    return (size_t)((n + 31) / 32) * 32 * (size_t)((k + 1) / 2) * 2 * 2;
}

/* The packed product; cb != NULL: the GELU epilogue into bf16 (op.cb) instead of C. */
static void packed_product(int m, int n, int k, const uint16_t *ab, size_t ldab,
                           const uint16_t *w, size_t ldw, const float *bias, float *c,
                           size_t ldc, int accumulate, uint16_t *cb, size_t ldcb,
                           uint16_t *packed) {
    int kp = (k + 1) / 2, npan = (n + 31) / 32;
    size_t pan = (size_t)kp * 64;
    for (int q = 0; q < npan; q++) pack_panel(packed + q * pan, w, ldw, q * 32, n, k);
    int mb = rows_in(A_BLOCK_BYTES, ldab * 2);
    for (int m0 = 0; m0 < m; m0 += mb) {
        int m1 = m - m0 < mb ? m : m0 + mb;
        for (int q = 0; q < npan; q++) {
            int j0 = q * 32, nr = n - j0 < 32 ? n - j0 : 32;
            __mmask16 k0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
            __mmask16 k1 =
                (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
            __m512 b0 = bias ? _mm512_maskz_loadu_ps(k0, bias + j0) : _mm512_setzero_ps();
            __m512 b1 = bias ? _mm512_maskz_loadu_ps(k1, bias + j0 + 16) : _mm512_setzero_ps();
            for (int i0 = m0; i0 < m1; i0 += 8) {
                int mr = m1 - i0 < 8 ? m1 - i0 : 8;
                const uint32_t *ar[8];
                for (int i = 0; i < 8; i++) {
                    size_t row = (size_t)(i0 + (i < mr ? i : mr - 1));
                    ar[i] = (const uint32_t *)(ab + row * ldab);
                }
                __m512 acc[16];
                tile_packed(ar, packed + q * pan, kp, acc);
                for (int i = 0; i < mr; i++) {
                    __m512 v0 = _mm512_add_ps(acc[2 * i], b0);
                    __m512 v1 = _mm512_add_ps(acc[2 * i + 1], b1);
                    if (cb) {
                        uint16_t *o = cb + (size_t)(i0 + i) * ldcb + j0;
                        _mm256_mask_storeu_epi16(o, k0, lx_round_bf16_x16(lx_gelu_x16(v0)));
                        _mm256_mask_storeu_epi16(o + 16, k1, lx_round_bf16_x16(lx_gelu_x16(v1)));
                        continue;
                    }
                    float *ci = c + (size_t)(i0 + i) * ldc + j0;
                    if (accumulate) {
                        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(k0, ci), v0);
                        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(k1, ci + 16), v1);
                    }
                    _mm512_mask_storeu_ps(ci, k0, v0);
                    _mm512_mask_storeu_ps(ci + 16, k1, v1);
                }
            }
        }
    }
}

void lx_gemm_bf16packed_avx512(int m, int n, int k, const uint16_t *ab, size_t ldab,
                               const uint16_t *w, size_t ldw, const float *bias, float *c,
                               size_t ldc, int accumulate, uint16_t *packed) {
    packed_product(m, n, k, ab, ldab, w, ldw, bias, c, ldc, accumulate, NULL, 0, packed);
}

void lx_gemm_bf16packed_gelu_avx512(int m, int n, int k, const uint16_t *ab, size_t ldab,
                                    const uint16_t *w, size_t ldw, const float *bias,
                                    uint16_t *cb, size_t ldcb, uint16_t *packed) {
    packed_product(m, n, k, ab, ldab, w, ldw, bias, NULL, 0, 0, cb, ldcb, packed);
}

/* ---- f32 A x (bf16 or f16 widened) W with f32 FMA ----------------------- */

static inline __m512 widen(__m256i x, int wf16) {
    return wf16 ? _mm512_cvtph_ps(x)
                : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(x), 16));
}

#define FMA(acc, x, y) _mm512_fmadd_ps(x, y, acc)
/* 16 values of K under mask m (all ones but at the tail); prefetch every other step, as
 * a cache line holds 32 W values */
#define FMA_STEP(kk, m)                                                                   \
    do {                                                                                  \
        if (!((kk) & 31)) PREFETCH_W(kk);                                               \
        __m512 x0 = _mm512_maskz_loadu_ps(m, a0 + (kk));                                  \
        __m512 x1 = _mm512_maskz_loadu_ps(m, a1 + (kk));                                  \
        __m512 x2 = _mm512_maskz_loadu_ps(m, a2 + (kk));                                  \
        __m512 x3 = _mm512_maskz_loadu_ps(m, a3 + (kk));                                  \
        __m512 y = widen(_mm256_maskz_loadu_epi16(m, w0 + (kk)), wf16);                   \
        ACC_COL(FMA, 0, y);                                                               \
        y = widen(_mm256_maskz_loadu_epi16(m, w1 + (kk)), wf16);                          \
        ACC_COL(FMA, 1, y);                                                               \
        y = widen(_mm256_maskz_loadu_epi16(m, w2 + (kk)), wf16);                          \
        ACC_COL(FMA, 2, y);                                                               \
        y = widen(_mm256_maskz_loadu_epi16(m, w3 + (kk)), wf16);                          \
        ACC_COL(FMA, 3, y);                                                               \
    } while (0)

/* f32 A rows and 16-bit W rows widened to f32 (wf16: f16, else bf16) */
TILE_KERNEL(tile_fma, float, uint16_t, 16, __mmask16, FMA_STEP)
TILE_INSTANCE(tile_fma_bf16_pf, tile_fma, 0, 1)
TILE_INSTANCE(tile_fma_bf16_nopf, tile_fma, 0, 0)
TILE_INSTANCE(tile_fma_f16_pf, tile_fma, 1, 1)
TILE_INSTANCE(tile_fma_f16_nopf, tile_fma, 1, 0)

void lx_gemm_w16f32_avx512(int m, int n, int k, const float *a, size_t lda,
                           const uint16_t *w, size_t ldw, int wf16, const float *bias,
                           float *c, size_t ldc, int accumulate) {
    drive(wf16 ? tile_fma_f16_pf : tile_fma_bf16_pf,
          wf16 ? tile_fma_f16_nopf : tile_fma_bf16_nopf, m, n, k, (const char *)a, lda * 4, 4,
          (const char *)w, ldw, 2, bias, c, ldc, accumulate);
}

/* ---- f32 A x f32 W (the f32 network's products with few rows) -------------- */

/* 16 values of K under mask m; a cache line holds 16 f32 weights: prefetch every step */
#define F32_STEP(kk, m)                                                                   \
    do {                                                                                  \
        PREFETCH_W(kk);                                                                   \
        __m512 x0 = _mm512_maskz_loadu_ps(m, a0 + (kk));                                  \
        __m512 x1 = _mm512_maskz_loadu_ps(m, a1 + (kk));                                  \
        __m512 x2 = _mm512_maskz_loadu_ps(m, a2 + (kk));                                  \
        __m512 x3 = _mm512_maskz_loadu_ps(m, a3 + (kk));                                  \
        __m512 y = _mm512_maskz_loadu_ps(m, w0 + (kk));                                   \
        ACC_COL(FMA, 0, y);                                                               \
        y = _mm512_maskz_loadu_ps(m, w1 + (kk));                                          \
        ACC_COL(FMA, 1, y);                                                               \
        y = _mm512_maskz_loadu_ps(m, w2 + (kk));                                          \
        ACC_COL(FMA, 2, y);                                                               \
        y = _mm512_maskz_loadu_ps(m, w3 + (kk));                                          \
        ACC_COL(FMA, 3, y);                                                               \
    } while (0)

/* f32 A rows and f32 W rows (passed through drive's uint16_t pointers; pf counts f32
 * elements) */
TILE_KERNEL(tile_f32, float, float, 16, __mmask16, F32_STEP)
TILE_INSTANCE(tile_f32_pf, tile_f32, 0, 1)
TILE_INSTANCE(tile_f32_nopf, tile_f32, 0, 0)

void lx_gemm_f32_avx512(int m, int n, int k, const float *a, size_t lda, const float *w,
                        size_t ldw, const float *bias, float *c, size_t ldc, int accumulate) {
    drive(tile_f32_pf, tile_f32_nopf, m, n, k, (const char *)a, lda * 4, 4, (const char *)w,
          ldw, 4, bias, c, ldc, accumulate);
}

/* ---- f32 A x f32 W, many rows: W packed, A broadcast ----------------------- */

/* For the f32 network's products with many rows (where cblas_sgemm packed both operands
 * on every call, A once per thread, and zeroed or pre-filled C in a pass of its own):
 * 32-column panels of W laid out along K ([p][32] f32), 8 rows of A broadcast one value
 * at a time from their rows as they are, 16 accumulators, bias (and the old C) loaded
 * into the accumulators before the first K block.  K is taken in blocks of at most
 * F32_KC values and the columns in chunks of F32_NC, so that one chunk's packed block
 * (F32_NC x F32_KC f32, 384 KB) stays in L2 while the 8-row tiles of each A block
 * (F32_MB rows) pass over its four panels; C is read and written once per K block (once
 * for K <= 768: faster than 256-value blocks, which kept a panel in L1 but went over C
 * three times).  Each C[i][j] is bias[j] (plus the old C) and then the
 * products in order of k, whatever the range or the threads. */
#define F32_KC 768
#define F32_NC 128
#define F32_MB 128

size_t lx_gemm_f32pack_bytes(void) {
    return (size_t)F32_NC * F32_KC * 4;
}

/* t[e] <- column e of the 16 x 16 block whose rows are r[0..15] (in place). */
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) { /* per 128-bit lane: r_i[0] r_i+1[0] r_i[1] r_i+1[1] */
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 4; g++) { /* r[4 g + e], lane L: rows 4g..4g+3 of column 4 L + e */
        r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
        r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
    for (int e = 0; e < 4; e++) { /* 128-bit lanes: a 4 x 4 transpose over the groups */
        __m512 v0 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0x44);
        __m512 v1 = _mm512_shuffle_f32x4(r[e], r[4 + e], 0xee);
        __m512 v2 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0x44);
        __m512 v3 = _mm512_shuffle_f32x4(r[8 + e], r[12 + e], 0xee);
        t[e] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        t[4 + e] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
        t[8 + e] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        t[12 + e] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

/* Pack W rows [j0, j0 + nc) (nc <= what the rows hold), K values [p0, p0 + kc), into
 * panels of 32 rows: panel q at dst + q * kc * 32, value p of row 32 q + l at p * 32 + l;
 * rows past nc are zeros.  16 rows x 16 values at a time, transposed in registers. */
static void pack_f32(float *dst, const float *w, size_t ldw, int j0, int nc, int p0, int kc) {
    for (int h = 0; h < (nc + 31) / 32 * 2; h++) {
        int rows = nc - 16 * h < 0 ? 0 : nc - 16 * h < 16 ? nc - 16 * h : 16;
        const float *base = w + (size_t)(j0 + 16 * h) * ldw + p0;
        float *d = dst + (size_t)(h / 2) * kc * 32 + (h & 1) * 16;
        for (int p = 0; p < kc; p += 16) {
            __mmask16 km = kc - p >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (kc - p)) - 1);
            __m512 r[16];
            for (int l = 0; l < 16; l++) {
                if (l < rows) {
                    /* the line two ahead: 16 row streams are more than the hardware
                     * prefetcher follows */
                    _mm_prefetch((const char *)(base + (size_t)l * ldw + p + 32), _MM_HINT_T0);
                    r[l] = _mm512_maskz_loadu_ps(km, base + (size_t)l * ldw + p);
                } else {
                    r[l] = _mm512_setzero_ps();
                }
            }
            transpose16(r);
            int pn = kc - p < 16 ? kc - p : 16;
            for (int e = 0; e < pn; e++) _mm512_store_ps(d + (size_t)(p + e) * 32, r[e]);
        }
    }
}

#define ROWF(i)                                                                           \
    do {                                                                                  \
        __m512 b = _mm512_set1_ps(a##i[p]);                                               \
        d##i##0 = _mm512_fmadd_ps(y0, b, d##i##0);                                        \
        d##i##1 = _mm512_fmadd_ps(y1, b, d##i##1);                                        \
    } while (0)

/* 8 rows x one 32-column panel, kc values of K, onto the sums in acc (acc[2 i + h]: row
 * i, columns 16 h ..). */
__attribute__((noinline)) static void tile_f32packed(const float *const a[8],
                                                     const float *panel, int kc,
                                                     __m512 acc[16]) {
    __m512 d00 = acc[0], d01 = acc[1], d10 = acc[2], d11 = acc[3], d20 = acc[4],
           d21 = acc[5], d30 = acc[6], d31 = acc[7], d40 = acc[8], d41 = acc[9],
           d50 = acc[10], d51 = acc[11], d60 = acc[12], d61 = acc[13], d70 = acc[14],
           d71 = acc[15];
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5],
                *a6 = a[6], *a7 = a[7];
    for (int p = 0; p < kc; p++) {
        __m512 y0 = _mm512_load_ps(panel + (size_t)p * 32);
        __m512 y1 = _mm512_load_ps(panel + (size_t)p * 32 + 16);
        ROWF(0); ROWF(1); ROWF(2); ROWF(3); ROWF(4); ROWF(5); ROWF(6); ROWF(7);
    }
    acc[0] = d00, acc[1] = d01, acc[2] = d10, acc[3] = d11, acc[4] = d20, acc[5] = d21;
    acc[6] = d30, acc[7] = d31, acc[8] = d40, acc[9] = d41, acc[10] = d50, acc[11] = d51;
    acc[12] = d60, acc[13] = d61, acc[14] = d70, acc[15] = d71;
}

void lx_gemm_f32packed_avx512(int m, int n, int k, const float *a, size_t lda, const float *w,
                              size_t ldw, const float *bias, float *c, size_t ldc,
                              int accumulate, int gelu, float *packed) {
    int nkb = (k + F32_KC - 1) / F32_KC;
    for (int j0 = 0; j0 < n; j0 += F32_NC) {
        int nc = n - j0 < F32_NC ? n - j0 : F32_NC, npan = (nc + 31) / 32;
        for (int kb = 0; kb < nkb; kb++) {
            int p0 = (int)((long long)k * kb / nkb), kc = (int)((long long)k * (kb + 1) / nkb) - p0;
            pack_f32(packed, w, ldw, j0, nc, p0, kc);
            for (int m0 = 0; m0 < m; m0 += F32_MB) {
                int m1 = m - m0 < F32_MB ? m : m0 + F32_MB;
                for (int q = 0; q < npan; q++) {
                    int jq = j0 + 32 * q, nr = n - jq < 32 ? n - jq : 32;
                    __mmask16 k0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
                    __mmask16 k1 =
                        (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
                    __m512 b0 = _mm512_setzero_ps(), b1 = b0;
                    if (kb == 0 && bias) {
                        b0 = _mm512_maskz_loadu_ps(k0, bias + jq);
                        b1 = _mm512_maskz_loadu_ps(k1, bias + jq + 16);
                    }
                    for (int i0 = m0; i0 < m1; i0 += 8) {
                        int mr = m1 - i0 < 8 ? m1 - i0 : 8;
                        const float *ar[8];
                        __m512 acc[16];
                        for (int i = 0; i < 8; i++) {
                            ar[i] = a + (size_t)(i0 + (i < mr ? i : mr - 1)) * lda + p0;
                            const float *ci = c + (size_t)(i0 + (i < mr ? i : mr - 1)) * ldc + jq;
                            if (kb == 0 && !accumulate) {
                                acc[2 * i] = b0, acc[2 * i + 1] = b1;
                            } else {
                                acc[2 * i] = _mm512_add_ps(b0, _mm512_maskz_loadu_ps(k0, ci));
                                acc[2 * i + 1] = _mm512_add_ps(b1, _mm512_maskz_loadu_ps(k1, ci + 16));
                            }
                        }
                        /* the next tile's lines of C, to be written (and read) when
                         * its turn comes: without this the stores wait on memory */
                        for (int i = i0 + 8; i < i0 + 16 && i < m1; i++) {
                            char *cn = (char *)(c + (size_t)i * ldc + jq);
                            _mm_prefetch(cn, _MM_HINT_ET0);
                            _mm_prefetch(cn + 64, _MM_HINT_ET0);
                        }
                        tile_f32packed(ar, packed + (size_t)q * kc * 32, kc, acc);
                        if (gelu && kb + 1 == nkb)
                            for (int i = 0; i < 2 * mr; i++) acc[i] = lx_gelu_x16(acc[i]);
                        for (int i = 0; i < mr; i++) {
                            float *ci = c + (size_t)(i0 + i) * ldc + jq;
                            _mm512_mask_storeu_ps(ci, k0, acc[2 * i]);
                            _mm512_mask_storeu_ps(ci + 16, k1, acc[2 * i + 1]);
                        }
                    }
                }
            }
        }
    }
}

/* ctx[i][0..dh) = sum_j p[i][j] v[j][0..dh) for i < lq: 4 rows of p x 64 columns of v per
 * step, 16 named accumulators (so that gcc keeps them in registers): each v row is loaded
 * once per 4 rows and each p value broadcast, summed in the order j = 0, 1, ....  Rows
 * past lq repeat the last row and are not stored; columns past dh are masked. */
#define CTX_ROW(i)                                                                        \
    do {                                                                                  \
        __m512 b_ = _mm512_set1_ps(p##i[j]);                                              \
        a##i##0 = _mm512_fmadd_ps(b_, y0, a##i##0);                                       \
        a##i##1 = _mm512_fmadd_ps(b_, y1, a##i##1);                                       \
        a##i##2 = _mm512_fmadd_ps(b_, y2, a##i##2);                                       \
        a##i##3 = _mm512_fmadd_ps(b_, y3, a##i##3);                                       \
    } while (0)
#define CTX_STORE(i)                                                                      \
    do {                                                                                  \
        if (i < mr) {                                                                     \
            float *c_ = ctx + (size_t)(i0 + i) * ldc + d0;                                \
            _mm512_mask_storeu_ps(c_, k0, a##i##0);                                       \
            _mm512_mask_storeu_ps(c_ + 16, k1, a##i##1);                                  \
            _mm512_mask_storeu_ps(c_ + 32, k2, a##i##2);                                  \
            _mm512_mask_storeu_ps(c_ + 48, k3, a##i##3);                                  \
        }                                                                                 \
    } while (0)

void lx_gemm_pv_avx512(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                       size_t ldv, float *ctx, size_t ldc) {
    for (int i0 = 0; i0 < lq; i0 += 4) {
        int mr = lq - i0 < 4 ? lq - i0 : 4;
        const float *p0 = p + (size_t)i0 * ldp, *p1 = mr > 1 ? p0 + ldp : p0,
                    *p2 = mr > 2 ? p1 + ldp : p1, *p3 = mr > 3 ? p2 + ldp : p2;
        for (int d0 = 0; d0 < dh; d0 += 64) {
            __mmask16 k0 = lx_lanes16(dh - d0), k1 = lx_lanes16(dh - d0 - 16), k2 = lx_lanes16(dh - d0 - 32),
                      k3 = lx_lanes16(dh - d0 - 48);
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00,
                   a11 = a00, a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00,
                   a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int j = 0; j < lk; j++) {
                const float *vj = v + (size_t)j * ldv + d0;
                __m512 y0 = _mm512_maskz_loadu_ps(k0, vj), y1 = _mm512_maskz_loadu_ps(k1, vj + 16),
                       y2 = _mm512_maskz_loadu_ps(k2, vj + 32),
                       y3 = _mm512_maskz_loadu_ps(k3, vj + 48);
                CTX_ROW(0);
                CTX_ROW(1);
                CTX_ROW(2);
                CTX_ROW(3);
            }
            CTX_STORE(0);
            CTX_STORE(1);
            CTX_STORE(2);
            CTX_STORE(3);
        }
    }
}
