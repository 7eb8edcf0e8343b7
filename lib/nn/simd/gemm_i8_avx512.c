/*
 * gemm_i8_avx512.c — int8 products on AVX-512 (gemm.h, "int8 weights"): A quantized by
 * rows (AVX-512F/BW), and C (+)= dequantized (qa w8^T) + bias with AVX512_VNNI's
 * vpdpbusd.  Compiled with the AVX-512 flags; the VNNI functions carry their own target
 * attribute and run only where lx_cpu.vnni says so.
 *
 * Layout.  As the bf16 few-row kernel (gemm_avx512.c): A [M, ldq] and W [N, K] both read
 * along K, W in place from the mapped file; a tile is 4 rows of A x 4 rows of W, 16 zmm
 * accumulators of 16 int32 partial sums, K stepped by 64 bytes (one cache line of each
 * W row), then the accumulators reduced by a shuffle tree into one vector whose lane
 * 4 i + j is the tile's (i, j) sum.
 *
 * vpdpbusd takes unsigned bytes times signed bytes: A's quantized bytes (unsigned, with
 * a zero point) times W's as they are.  The zero points come off after the reduction
 * (za[i] times W's row sums, gemm.h).  A's rows are zero padded to a multiple of 64
 * bytes; W's last piece is loaded under a mask.
 *
 * Loops: panels of W rows (kept in L2) outermost, then blocks of A rows, then groups of
 * 4-row W tiles (24 KB) that every 4-row A tile of the block passes over in turn, the A
 * tiles forward for one group and backward for the next; the A tiles share the prefetch
 * of the next group's lines into L1 (and, 4 tiles ahead, into L2) as the bf16 kernel's
 * do.  K is never cut: an int32 sum must see the whole row before it is scaled (4 rows
 * of 3072 bytes is 12 KB).
 */
#include <immintrin.h>
#include <string.h>
#include "../gemm.h"
#include "prefetch_avx512.h"

#define A_BLOCK_BYTES (256u * 1024u)
#define W_PANEL_BYTES (256u * 1024u)
#define W_FAR_TILES 4
#define W_GROUP_BYTES (24u * 1024u)
#define W_GROUP_MAX 8

/* ---- A by rows ------------------------------------------------------------------ */

void lx_qrows_fill_avx512(const float *a, size_t lda, int k, const lx_qrows *qa, int i0,
                          int i1) {
    const __m512 big = _mm512_set1_ps(3.4028235e38f);
    for (int i = i0; i < i1; i++) {
        const float *x = a + (size_t)i * lda;
        uint8_t *q = qa->q + (size_t)i * qa->ld;
        __m512 mn = _mm512_setzero_ps(), mx = mn;
        __mmask16 bad = 0;
        for (int kk = 0; kk < k; kk += 16) {
            __mmask16 m = k - kk >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - kk)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(m, x + kk);
            bad |= _mm512_cmp_ps_mask(_mm512_abs_ps(v), big, _CMP_NLE_UQ); /* NaN or inf */
            mn = _mm512_min_ps(mn, v);
            mx = _mm512_max_ps(mx, v);
        }
        float inv;
        qa->scale[i] = lx_qrow_scale(_mm512_reduce_min_ps(mn), _mm512_reduce_max_ps(mx), !bad,
                                     &inv, &qa->zero[i]);
        memset(q, 0, qa->ld);
        if (inv == 0.0f) continue;
        __m512 f = _mm512_set1_ps(inv);
        __m512i z = _mm512_set1_epi32(qa->zero[i]), zero = _mm512_setzero_si512();
        for (int kk = 0; kk < k; kk += 16) {
            __mmask16 m = k - kk >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - kk)) - 1);
            /* the multiply as the portable path's x * inv, the conversion to nearest even
             * as its lrintf, then + zero clamped to 0..255 (the narrowing saturates at 255) */
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + kk), f));
            v = _mm512_max_epi32(_mm512_add_epi32(v, z), zero);
            _mm_mask_storeu_epi8(q + kk, m, _mm512_cvtusepi32_epi8(v));
        }
    }
}

void lx_i8_row_sums_avx512(const int8_t *w8, int n, int k, size_t ldw, int32_t *ws8) {
    const __m512i flip = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    for (int j = 0; j < n; j++) {
        const int8_t *y = w8 + (size_t)j * ldw;
        /* the bytes made unsigned (+ 128) and summed by vpsadbw into 64-bit lanes; the
         * 128 each added, masked-off ones included, comes off at the end */
        __m512i s = zero;
        int kk = 0;
        for (; kk < k; kk += 64) {
            __mmask64 m = k - kk >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (k - kk)) - 1;
            __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, y + kk), flip);
            s = _mm512_add_epi64(s, _mm512_sad_epu8(v, zero));
        }
        ws8[j] = (int32_t)(_mm512_reduce_add_epi64(s) - 128 * (long long)kk);
    }
}

/* ---- the VNNI tiles --------------------------------------------------------------- */

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

/* v[4 j + i] holds the partial sums of (i, j); returns lane 4 i + j = the sum of v[4 j + i]
 * (gemm_avx512.c's reduce16 on int32 lanes: the shuffles move bits, the adds are exact). */
static inline VNNI __m512i reduce16i(const __m512i *v) {
#define SH4(a, b, imm) _mm512_shuffle_i32x4(a, b, imm)
#define SHP(a, b, imm)                                                                    \
    _mm512_castps_si512(_mm512_shuffle_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), imm))
    __m512i x[8], y[4], z[2];
#pragma GCC unroll 8
    for (int p = 0; p < 8; p++)
        x[p] = _mm512_add_epi32(SH4(v[2 * p], v[2 * p + 1], 0x44), SH4(v[2 * p], v[2 * p + 1], 0xee));
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        y[q] = _mm512_add_epi32(SH4(x[2 * q], x[2 * q + 1], 0x88), SH4(x[2 * q], x[2 * q + 1], 0xdd));
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++)
        z[r] = _mm512_add_epi32(SHP(y[2 * r], y[2 * r + 1], 0x44), SHP(y[2 * r], y[2 * r + 1], 0xee));
    return _mm512_add_epi32(SHP(z[0], z[1], 0x88), SHP(z[0], z[1], 0xdd));
#undef SH4
#undef SHP
}

/* Where a tile's mr x nr corner goes and how it is scaled; its share of the prefetching
 * (lines pf_phase, pf_phase + pf_period, ... of each W row, pf bytes on; far: the same
 * into L2 W_FAR_TILES tiles on, or 0). */
typedef struct tile_out {
    float *c;
    size_t ldc;
    const float *bias, *ws;       /* at the tile's first column */
    const int *rows;              /* [4] the A rows (the last repeated past mr) */
    const float *sa;
    const int32_t *za, *ws8;      /* za by row, ws8 at the tile's first column */
    int mr, nr, accumulate;
    int pf_phase, pf_period;
    size_t far;
} tile_out;

/* The tile's sums r (lane 4 i + j, the zero points not yet taken off) into C. */
static inline VNNI void store_tile(__m512i r, const tile_out *o) {
    const int *ro = o->rows;
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512i za = _mm512_permutexvar_epi32(
        spread, _mm512_castsi128_si512(_mm_setr_epi32(o->za[ro[0]], o->za[ro[1]],
                                                      o->za[ro[2]], o->za[ro[3]])));
    __m512 sa = _mm512_permutexvar_ps(
        spread, _mm512_castps128_ps512(_mm_setr_ps(o->sa[ro[0]], o->sa[ro[1]], o->sa[ro[2]],
                                                   o->sa[ro[3]])));
    __mmask8 m = (__mmask8)((1u << o->nr) - 1);
    __m512 ws = _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(m, o->ws));
    __m512i ws8 = _mm512_broadcast_i32x4(_mm_maskz_loadu_epi32(m, o->ws8));
    r = _mm512_sub_epi32(r, _mm512_mullo_epi32(za, ws8));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(r), _mm512_mul_ps(sa, ws));
    if (o->bias) v = _mm512_add_ps(v, _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(m, o->bias)));
    __m128 row[4] = {_mm512_castps512_ps128(v), _mm512_extractf32x4_ps(v, 1),
                     _mm512_extractf32x4_ps(v, 2), _mm512_extractf32x4_ps(v, 3)};
#pragma GCC unroll 4
    for (int i = 0; i < o->mr; i++) {
        float *ci = o->c + (size_t)i * o->ldc;
        __m128 x = row[i];
        if (o->accumulate) x = _mm_add_ps(_mm_maskz_loadu_ps(m, ci), x);
        _mm_mask_storeu_ps(ci, m, x);
    }
}

#define ACC_DECL                                                                          \
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00,    \
            c11 = c00, c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00,  \
            c30 = c00, c31 = c00, c32 = c00, c33 = c00
#define ACC_COL(J, y)                                                                     \
    (c0##J = _mm512_dpbusd_epi32(c0##J, x0, y), c1##J = _mm512_dpbusd_epi32(c1##J, x1, y), \
     c2##J = _mm512_dpbusd_epi32(c2##J, x2, y), c3##J = _mm512_dpbusd_epi32(c3##J, x3, y))
/* 64 bytes of K: A rows (unsigned) whole (zero padded), W rows under mask m */
#define STEP(kk, m)                                                                       \
    do {                                                                                  \
        PREFETCH_W(kk);                                                                   \
        __m512i x0 = _mm512_loadu_si512(a0 + (kk)), x1 = _mm512_loadu_si512(a1 + (kk));   \
        __m512i x2 = _mm512_loadu_si512(a2 + (kk)), x3 = _mm512_loadu_si512(a3 + (kk));   \
        __m512i y = _mm512_maskz_loadu_epi8(m, w0 + (kk));                                \
        ACC_COL(0, y);                                                                    \
        y = _mm512_maskz_loadu_epi8(m, w1 + (kk));                                        \
        ACC_COL(1, y);                                                                    \
        y = _mm512_maskz_loadu_epi8(m, w2 + (kk));                                        \
        ACC_COL(2, y);                                                                    \
        y = _mm512_maskz_loadu_epi8(m, w3 + (kk));                                        \
        ACC_COL(3, y);                                                                    \
    } while (0)

static inline __attribute__((always_inline)) VNNI void tile(const uint8_t *const a[4],
                                                            const int8_t *const w[4], int k,
                                                            const int PF, size_t pf,
                                                            const tile_out *o) {
    ACC_DECL;
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const int8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    int kk = 0, pfc = o->pf_phase;
    for (; kk + 64 <= k; kk += 64) STEP(kk, ~(__mmask64)0);
    if (kk < k) STEP(kk, ((__mmask64)1 << (k - kk)) - 1);
    const __m512i v[16] = {c00, c10, c20, c30, c01, c11, c21, c31,
                           c02, c12, c22, c32, c03, c13, c23, c33};
    store_tile(reduce16i(v), o);
}

typedef void (*tile_fn)(const uint8_t *const a[4], const int8_t *const w[4], int k, size_t pf,
                        const tile_out *o);
__attribute__((noinline)) static VNNI void tile_pf(const uint8_t *const a[4],
                                                   const int8_t *const w[4], int k, size_t pf,
                                                   const tile_out *o) {
    tile(a, w, k, 1, pf, o);
}
__attribute__((noinline)) static VNNI void tile_nopf(const uint8_t *const a[4],
                                                     const int8_t *const w[4], int k,
                                                     size_t pf, const tile_out *o) {
    tile(a, w, k, 0, pf, o);
}

/* Rows of row_bytes each that fit in bytes, a multiple of 4 and at least 4. */
static int rows_in(size_t bytes, size_t row_bytes) {
    size_t r = bytes / (row_bytes ? row_bytes : 1);
    r &= ~(size_t)3;
    if (r < 4) r = 4;
    if (r > (1u << 30)) r = 1u << 30;
    return (int)r;
}

VNNI void lx_gemm_i8_vnni_avx512(int m, int n, int k, const uint8_t *qa, size_t ldq,
                                 const float *sa, const int32_t *za, const int8_t *w,
                                 size_t ldw, const float *ws, const int32_t *ws8,
                                 const float *bias, float *c, size_t ldc, int accumulate) {
    int mb = rows_in(A_BLOCK_BYTES, ldq), nb = rows_in(W_PANEL_BYTES, (size_t)k);
    size_t gb = W_GROUP_BYTES / (4 * (size_t)(k ? k : 1));
    int G = gb < 1 ? 1 : gb > W_GROUP_MAX ? W_GROUP_MAX : (int)gb;
    for (int n0 = 0; n0 < n; n0 += nb) {
        int n1 = n - n0 < nb ? n : n0 + nb;
        for (int m0 = 0; m0 < m; m0 += mb) {
            int m1 = m - m0 < mb ? m : m0 + mb;
            for (int j0 = n0; j0 < n1; j0 += 4 * G) {
                int ng = (n1 - j0 + 3) / 4 < G ? (n1 - j0 + 3) / 4 : G;
                const int8_t *wr[W_GROUP_MAX][4];
                int nr[W_GROUP_MAX], next[W_GROUP_MAX];
                size_t far[W_GROUP_MAX];
                for (int g = 0; g < ng; g++) {
                    int jg = j0 + 4 * g;
                    nr[g] = n1 - jg < 4 ? n1 - jg : 4;
                    for (int j = 0; j < 4; j++)
                        wr[g][j] = w + (size_t)(jg + (j < nr[g] ? j : nr[g] - 1)) * ldw;
                    /* the same tile of the next group, and 4 tiles on into L2 */
                    next[g] = jg + 4 * G + 4 <= n;
                    far[g] = jg + 4 * W_FAR_TILES + 4 <= n ? 4 * W_FAR_TILES * ldw : 0;
                }
                int ntile = (m1 - m0 + 3) / 4, back = ((j0 - n0) / (4 * G)) & 1;
                for (int it = 0; it < ntile; it++) {
                    int i0 = m0 + 4 * (back ? ntile - 1 - it : it);
                    int mr = m1 - i0 < 4 ? m1 - i0 : 4;
                    const uint8_t *ar[4];
                    int rows[4];
                    for (int i = 0; i < 4; i++) {
                        rows[i] = i0 + (i < mr ? i : mr - 1);
                        ar[i] = qa + (size_t)rows[i] * ldq;
                    }
                    for (int g = 0; g < ng; g++) {
                        int jg = j0 + 4 * g;
                        tile_out o = {c + (size_t)i0 * ldc + jg, ldc, bias ? bias + jg : NULL,
                                      ws + jg, rows, sa, za, ws8 + jg, mr, nr[g], accumulate,
                                      (i0 - m0) / 4, ntile, far[g]};
                        (next[g] ? tile_pf : tile_nopf)(ar, wr[g], k, 4 * (size_t)G * ldw, &o);
                    }
                }
            }
        }
    }
}
