/*
 * kernels_avx512.c — AVX-512 versions of the hot elementwise kernels of lib/kernels.c,
 * compiled with -mavx512f/bw/vl/dq (see the Makefile) and called only when
 * lx_k_have_avx512() says the CPU has them.
 *
 * Widening 16-bit weights: bf16 -> f32 is a 16-bit left shift of each value; f16 -> f32
 * is the F16C conversion (vcvtph2ps), exact for every f16 including subnormals.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include "../kernels.h"

void lx_k_widen_bf16_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
        _mm512_storeu_si512(dst + i, w);
    }
    for (; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}

void lx_k_widen_f16_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m256i h = _mm256_maskz_loadu_epi16(k, src + i);
        _mm512_mask_storeu_ps(dst + i, k, _mm512_cvtph_ps(h));
    }
}
