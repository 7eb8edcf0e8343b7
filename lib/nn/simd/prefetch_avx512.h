/*
 * prefetch_avx512.h — the W prefetching the AVX-512 tile kernels share (gemm_avx512.c
 * for f32 and 16-bit weights, gemm_i8_avx512.c for int8): in a kernel whose W rows are
 * w0..w3, with PF (prefetching on), pfc (lines until this tile's next one), pf (the
 * distance to the next tile's rows) and o (the tile's output: pf_period, far).
 */
#ifndef LX_PREFETCH_AVX512_H
#define LX_PREFETCH_AVX512_H

#include <immintrin.h>

/* Called once per cache line of each W row; pfc counts down to this tile's lines.  The
 * hint is NTA: these lines are used by this pass over the A tiles and never again.
 * Prefetches into L1 wait for L1's few miss buffers, which cap what one core streams
 * from memory; the same lines fetched W_FAR_TILES tiles earlier into L2 (T1) are
 * waiting there by then. */
#define PREFETCH_W(kk)                                                                    \
    do {                                                                                  \
        if (PF && pfc-- == 0) {                                                           \
            pfc = o->pf_period - 1;                                                       \
            _mm_prefetch((const char *)(w0 + (kk) + pf), _MM_HINT_NTA);                   \
            _mm_prefetch((const char *)(w1 + (kk) + pf), _MM_HINT_NTA);                   \
            _mm_prefetch((const char *)(w2 + (kk) + pf), _MM_HINT_NTA);                   \
            _mm_prefetch((const char *)(w3 + (kk) + pf), _MM_HINT_NTA);                   \
            if (o->far) {                                                                 \
                _mm_prefetch((const char *)(w0 + (kk) + o->far), _MM_HINT_T1);            \
                _mm_prefetch((const char *)(w1 + (kk) + o->far), _MM_HINT_T1);            \
                _mm_prefetch((const char *)(w2 + (kk) + o->far), _MM_HINT_T1);            \
                _mm_prefetch((const char *)(w3 + (kk) + o->far), _MM_HINT_T1);            \
            }                                                                             \
        }                                                                                 \
    } while (0)

#endif
