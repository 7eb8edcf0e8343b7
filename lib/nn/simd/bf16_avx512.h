/*
 * bf16_avx512.h — rounding 16 floats to bf16 in AVX-512 registers, shared by the kernels
 * of lib/simd/ that write bf16 (the rounding of A in gemm_avx512.c, GELU's bf16 output in
 * kernels_avx512.c), so that every writer rounds the same way.  Include only from files
 * compiled with the AVX-512 flags.
 */
#ifndef LX_BF16_AVX512_H
#define LX_BF16_AVX512_H

#include <immintrin.h>

/* Nearest even, NaN kept quiet — bit for bit what lx_f32_to_bf16 gives (vcvtneps2bf16
 * would flush subnormals, so the integer form is used). */
static inline __m256i lx_round_bf16_x16(__m512 x) {
    __m512i u = _mm512_castps_si512(x);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    __m512i r = _mm512_add_epi32(
        u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                            _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1))));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
    return _mm512_cvtepi32_epi16(_mm512_srli_epi32(r, 16));
}

#endif
