/*
 * attn_avx2.c — the p v product of one attention head in AVX2 + FMA, for CPUs without
 * AVX-512 (declared in lib/kernels.h; lx_k_attention chooses it).  At 20-36 rows by 64
 * columns OpenBLAS's per-call cost was most of the time.
 *
 * ctx[i][d] = sum_j p[i][j] v[j][d]: for 2 rows of p and 32 columns of v at a time,
 * p[i][j] is broadcast and multiplied into the 4 vectors of v's row j (8 accumulators,
 * 4 v vectors and a broadcast: 13 of the 16 ymm registers).  Each sum runs over j in
 * order, whatever the tile: the same bits for a row alone or with others.  Columns past
 * dh are never read nor written (masked loads and stores for a last block of fewer than
 * 32 columns; plain ones otherwise).
 */
#include <immintrin.h>
#include <stddef.h>
#include "../kernels.h"

/* The lanes of an 8-float vector that hold values when left values remain. */
static inline __m256i lanes8(int left) {
    static const int m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    left = left < 0 ? 0 : left > 8 ? 8 : left;
    return _mm256_loadu_si256((const __m256i *)(m + 8 - left));
}

void lx_k_attn_ctx_avx2(int lq, int lk, int dh, const float *p, size_t ldp, const float *v,
                        size_t ldv, float *ctx, size_t ldc) {
    for (int i0 = 0; i0 < lq; i0 += 2) {
        int two = lq - i0 >= 2;
        const float *p0 = p + (size_t)i0 * ldp, *p1 = two ? p0 + ldp : p0;
        for (int d0 = 0; d0 < dh; d0 += 32) {
            __m256i k0 = lanes8(dh - d0), k1 = lanes8(dh - d0 - 8), k2 = lanes8(dh - d0 - 16),
                    k3 = lanes8(dh - d0 - 24);
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00,
                   a11 = a00, a12 = a00, a13 = a00;
            int full = dh - d0 >= 32; /* plain loads then (masked ones cost more on Zen) */
            for (int j = 0; j < lk; j++) {
                const float *vj = v + (size_t)j * ldv + d0;
                __m256 y0, y1, y2, y3;
                if (full) {
                    y0 = _mm256_loadu_ps(vj), y1 = _mm256_loadu_ps(vj + 8);
                    y2 = _mm256_loadu_ps(vj + 16), y3 = _mm256_loadu_ps(vj + 24);
                } else {
                    y0 = _mm256_maskload_ps(vj, k0), y1 = _mm256_maskload_ps(vj + 8, k1);
                    y2 = _mm256_maskload_ps(vj + 16, k2), y3 = _mm256_maskload_ps(vj + 24, k3);
                }
                __m256 b = _mm256_broadcast_ss(p0 + j);
                a00 = _mm256_fmadd_ps(b, y0, a00), a01 = _mm256_fmadd_ps(b, y1, a01);
                a02 = _mm256_fmadd_ps(b, y2, a02), a03 = _mm256_fmadd_ps(b, y3, a03);
                b = _mm256_broadcast_ss(p1 + j);
                a10 = _mm256_fmadd_ps(b, y0, a10), a11 = _mm256_fmadd_ps(b, y1, a11);
                a12 = _mm256_fmadd_ps(b, y2, a12), a13 = _mm256_fmadd_ps(b, y3, a13);
            }
            float *c0 = ctx + (size_t)i0 * ldc + d0, *c1 = two ? c0 + ldc : c0;
            if (full) {
                _mm256_storeu_ps(c0, a00), _mm256_storeu_ps(c0 + 8, a01);
                _mm256_storeu_ps(c0 + 16, a02), _mm256_storeu_ps(c0 + 24, a03);
                if (two) {
                    _mm256_storeu_ps(c1, a10), _mm256_storeu_ps(c1 + 8, a11);
                    _mm256_storeu_ps(c1 + 16, a12), _mm256_storeu_ps(c1 + 24, a13);
                }
                continue;
            }
            _mm256_maskstore_ps(c0, k0, a00), _mm256_maskstore_ps(c0 + 8, k1, a01);
            _mm256_maskstore_ps(c0 + 16, k2, a02), _mm256_maskstore_ps(c0 + 24, k3, a03);
            if (two) {
                _mm256_maskstore_ps(c1, k0, a10), _mm256_maskstore_ps(c1 + 8, k1, a11);
                _mm256_maskstore_ps(c1 + 16, k2, a12), _mm256_maskstore_ps(c1 + 24, k3, a13);
            }
        }
    }
}
