/*
 * gemm_i8_avx2.c — int8 products on AVX2 (gemm.h, "int8 weights"): A quantized by rows,
 * and C (+)= dequantized (qa w8^T) + bias for CPUs without AVX512_VNNI.  Compiled with
 * -mavx2 -mfma -mf16c; nothing here runs unless the caller's lx_cpu says so.
 *
 * The products.  AVX2's byte multiply, vpmaddubsw, takes unsigned times signed bytes and
 * adds pairs into int16 with saturation: 255 * 127 * 2 overflows int16.  So the bytes of
 * A (unsigned) and of W (signed) are widened to int16 (vpmovzxbw, vpmovsxbw, 16 at a
 * time) and multiplied with vpmaddwd, which adds pairs into int32: |pair| <= 2 * 255 *
 * 127, exact, and so is the int32 sum over K (gemm.h bounds K).  The zero points come
 * off in the epilogue, with W's row sums (gemm.h).
 *
 * Layout.  A tile is 2 rows of A x 6 rows of W: 12 ymm accumulators of 8 int32 partial
 * sums, the 2 widened A vectors and the widened W vector: 15 of the 16 registers.  Per 16
 * values of K: 8 widening loads and 12 vpmaddwd + vpaddd.  At the end each A row's six
 * accumulators are added across by a vphaddd tree and the twelve sums scaled one at a
 * time, as the portable kernel does (the same f32 operations, the same bits).  A's rows
 * are zero padded to a multiple of 64 bytes; W's last piece (under 16 values) is copied
 * into zeroed registers, so nothing is read past a W row.
 *
 * Loops: panels of W rows (kept in L2), blocks of A rows, 6-row W tiles, every 2-row A
 * tile of the block over each W tile while the next W tile is prefetched, the A tiles
 * taking turns a cache line each (as gemm_avx2.c).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>
#include "../gemm.h"

#define A_BLOCK_BYTES (128u * 1024u)
#define W_PANEL_BYTES (192u * 1024u)
#define TW 6                      /* W rows per tile */

/* ---- A by rows ------------------------------------------------------------------ */

/* The largest and the smallest of the eight lanes. */
static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

static inline float hmin8(__m256 v) {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

void lx_qrows_fill_avx2(const float *a, size_t lda, int k, const lx_qrows *qa, int i0,
                        int i1) {
    const __m256 big = _mm256_set1_ps(3.4028235e38f);
    const __m256 nosign = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int i = i0; i < i1; i++) {
        const float *x = a + (size_t)i * lda;
        uint8_t *q = qa->q + (size_t)i * qa->ld;
        __m256 mn = _mm256_setzero_ps(), mx = mn;
        int bad = 0, kk = 0;
        for (; kk + 8 <= k; kk += 8) {
            __m256 v = _mm256_loadu_ps(x + kk);
            bad |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(v, nosign), big, _CMP_NLE_UQ));
            mn = _mm256_min_ps(mn, v);
            mx = _mm256_max_ps(mx, v);
        }
        float lo = hmin8(mn), hi = hmax8(mx);
        for (; kk < k; kk++) {
            if (!(fabsf(x[kk]) <= 3.4028235e38f)) bad = 1;
            else if (x[kk] > hi) hi = x[kk];
            else if (x[kk] < lo) lo = x[kk];
        }
        float inv;
        int32_t zp;
        qa->scale[i] = lx_qrow_scale(lo, hi, !bad, &inv, &zp);
        qa->zero[i] = zp;
        memset(q, 0, qa->ld);
        if (inv == 0.0f) continue;
        __m256 f = _mm256_set1_ps(inv);
        __m256i z = _mm256_set1_epi32(zp);
        for (kk = 0; kk + 32 <= k; kk += 32) {
            /* x * inv converted to nearest even (the portable lrintf), + zero; the packs
             * saturate: to int16, then to 0..255 */
#define QV(o) _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + kk + (o)), f)), z)
            __m256i v0 = QV(0), v1 = QV(8), v2 = QV(16), v3 = QV(24);
#undef QV
            /* packs work within 128-bit lanes: the bytes come out as 4-value groups
             * v0 v1 v2 v3 (low halves), then the high halves; the permute restores the
             * order */
            __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(v0, v1),
                                            _mm256_packs_epi32(v2, v3));
            _mm256_storeu_si256((__m256i *)(q + kk), _mm256_permutevar8x32_epi32(b, order));
        }
        for (; kk < k; kk++) q[kk] = lx_qrow_value(x[kk], inv, zp);
    }
}

void lx_i8_row_sums_avx2(const int8_t *w8, int n, int k, size_t ldw, int32_t *ws8) {
    const __m256i flip = _mm256_set1_epi8((char)0x80), zero = _mm256_setzero_si256();
    for (int j = 0; j < n; j++) {
        const int8_t *y = w8 + (size_t)j * ldw;
        /* the bytes made unsigned (+ 128) and summed by vpsadbw into 64-bit lanes */
        __m256i s = zero;
        int kk = 0;
        for (; kk + 32 <= k; kk += 32) {
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(y + kk)), flip);
            s = _mm256_add_epi64(s, _mm256_sad_epu8(v, zero));
        }
        long long t = _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) +
                      _mm256_extract_epi64(s, 2) + _mm256_extract_epi64(s, 3) - 128LL * kk;
        for (; kk < k; kk++) t += y[kk];
        ws8[j] = (int32_t)t;
    }
}

/* ---- the tiles ------------------------------------------------------------------ */

/* [sum a, sum b, sum c, sum d] of four vectors' lanes, and [sum e, sum f, ., .]. */
static inline __m128i reduce4i(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

static inline __m128i reduce2i(__m256i e, __m256i f) {
    __m256i h = _mm256_hadd_epi32(e, f);
    __m256i s = _mm256_hadd_epi32(h, h);
    return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

/* Where a tile's mr x nr corner goes, how it is scaled, and its share of the prefetching
 * (lines pf_phase, pf_phase + pf_period, ... of the rows pf[j], or none). */
typedef struct tile_out {
    float *c;
    size_t ldc;
    const float *bias, *ws, *sa;  /* bias and ws at the tile's first column, sa at its row */
    const int32_t *ws8, *za;      /* as ws and sa */
    int mr, nr, accumulate;
    const int8_t *pf[TW];
    int pf_phase, pf_period;
} tile_out;

/* Row i's six sums into C, one element at a time as the portable kernel computes it. */
static inline void store_row(__m128i lo, __m128i hi, const tile_out *o, int i) {
    int32_t acc[8];
    _mm_storeu_si128((__m128i *)acc, lo);
    _mm_storeu_si128((__m128i *)(acc + 4), hi);
    float *ci = o->c + (size_t)i * o->ldc;
    for (int j = 0; j < o->nr; j++) {
        float v = (float)(acc[j] - o->za[i] * o->ws8[j]) * (o->sa[i] * o->ws[j]);
        if (o->bias) v = v + o->bias[j];
        ci[j] = o->accumulate ? ci[j] + v : v;
    }
}

/* widened 16 bytes at p: A's unsigned, W's signed */
#define WIDE_A(p) _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p)))
#define WIDE(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p)))
/* keep the widened W vector in a register (rather than widening it again per use) */
#define IN_REG(v) __asm__("" : "+x"(v))
#define COL(j, Y)                                                                         \
    do {                                                                                  \
        __m256i y_ = Y(j);                                                                \
        IN_REG(y_);                                                                       \
        c0##j = _mm256_add_epi32(c0##j, _mm256_madd_epi16(x0_, y_));                      \
        c1##j = _mm256_add_epi32(c1##j, _mm256_madd_epi16(x1_, y_));                      \
    } while (0)
#define STEP(X0, X1, Y)                                                                   \
    do {                                                                                  \
        __m256i x0_ = (X0), x1_ = (X1);                                                   \
        COL(0, Y); COL(1, Y); COL(2, Y); COL(3, Y); COL(4, Y); COL(5, Y);                 \
    } while (0)

/* One 2 x 6 tile over k values: a[i] rows of quantized A (zero padded to a multiple of
 * 64), w[j] rows of W. */
__attribute__((noinline)) static void tile26(const uint8_t *const a[2],
                                             const int8_t *const w[TW], int k,
                                             const tile_out *o) {
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c04 = c00,
            c05 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    const uint8_t *a0 = a[0], *a1 = a[1];
    const int8_t *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3], *w4 = w[4], *w5 = w[5];
    /* a cache line of the prefetched rows every 4 steps of 16 bytes */
    int pfc = o->pf[0] ? o->pf_phase * 4 : -1, kk = 0;
#define YW(j) WIDE(w##j + kk)
    for (; kk + 16 <= k; kk += 16) {
        if (pfc-- == 0) {
            pfc = o->pf_period * 4 - 1;
            for (int j = 0; j < TW; j++) _mm_prefetch((const char *)(o->pf[j] + kk), _MM_HINT_T0);
        }
        STEP(WIDE_A(a0 + kk), WIDE_A(a1 + kk), YW);
    }
#undef YW
    if (kk < k) { /* the tail: W copied into zeros (A's padding is zeros already) */
        int8_t tw[TW][16] = {{0}};
        for (int j = 0; j < TW; j++) memcpy(tw[j], w[j] + kk, (size_t)(k - kk));
#define YT(j) WIDE(tw[j])
        STEP(WIDE_A(a0 + kk), WIDE_A(a1 + kk), YT);
#undef YT
    }
    store_row(reduce4i(c00, c01, c02, c03), reduce2i(c04, c05), o, 0);
    if (o->mr > 1) store_row(reduce4i(c10, c11, c12, c13), reduce2i(c14, c15), o, 1);
}

/* Rows of row_bytes that fit in bytes: a multiple of mult, at least mult. */
static int rows_fit(size_t bytes, size_t row_bytes, int mult) {
    size_t r = bytes / (row_bytes ? row_bytes : 1);
    r -= r % (size_t)mult;
    if (r < (size_t)mult) r = (size_t)mult;
    if (r > (1u << 30)) r = 1u << 30;
    return (int)r;
}

void lx_gemm_i8_avx2(int m, int n, int k, const uint8_t *qa, size_t ldq, const float *sa,
                     const int32_t *za, const int8_t *w, size_t ldw, const float *ws,
                     const int32_t *ws8, const float *bias, float *c, size_t ldc,
                     int accumulate) {
    if (m <= 0 || n <= 0) return;
    int mb = rows_fit(A_BLOCK_BYTES, ldq, 2), nb = rows_fit(W_PANEL_BYTES, (size_t)k, TW);
    for (int n0 = 0; n0 < n; n0 += nb) {
        int n1 = n - n0 < nb ? n : n0 + nb;
        for (int m0 = 0; m0 < m; m0 += mb) {
            int m1 = m - m0 < mb ? m : m0 + mb;
            for (int j0 = n0; j0 < n1; j0 += TW) {
                int nr = n1 - j0 < TW ? n1 - j0 : TW;
                const int8_t *wr[TW];
                tile_out o = {.ldc = ldc, .ws = ws + j0, .ws8 = ws8 + j0,
                              .bias = bias ? bias + j0 : NULL,
                              .nr = nr, .accumulate = accumulate,
                              .pf_period = (m1 - m0 + 1) / 2};
                for (int j = 0; j < TW; j++) {
                    wr[j] = w + (size_t)(j0 + (j < nr ? j : nr - 1)) * ldw;
                    /* the next tile's rows while the A tiles use this one */
                    o.pf[j] = j0 + 2 * TW <= n ? wr[j] + TW * ldw : NULL;
                }
                for (int i0 = m0; i0 < m1; i0 += 2) {
                    const uint8_t *ar[2] = {qa + (size_t)i0 * ldq,
                                           qa + (size_t)(i0 + (m1 - i0 > 1)) * ldq};
                    o.c = c + (size_t)i0 * ldc + j0;
                    o.sa = sa + i0;
                    o.za = za + i0;
                    o.mr = m1 - i0 < 2 ? 1 : 2;
                    o.pf_phase = (i0 - m0) / 2;
                    tile26(ar, wr, k, &o);
                }
            }
        }
    }
}
