/*
 * kernels_avx2.c — AVX2 + FMA + F16C versions of the elementwise kernels of lib/kernels.c
 * (GELU, GELU into bf16, bf16 rounding),
 * for CPUs without AVX-512 (Zen 3, most laptops).  Compiled with -mavx2 -mfma -mf16c (see
 * the Makefile) and called only when the isa level is at least LX_ISA_AVX2.
 *
 * They are 8-lane ports of kernels_avx512.c: the same algorithms, and the vector exp,
 * GELU and bf16 rounding shared through math_avx2.h.  AVX2 has no mask registers, so the
 * last, partial vector of a row (left = n - i < 8 values) is read with vmaskmovps (lanes
 * past n read as 0, their memory untouched) and written with vmaskmovps, or, for 16-bit
 * output, through an 8-value buffer of which the first left values are copied out.  Either
 * way a tail value goes through the same vector code as every other value: it gets the
 * same bits whatever its position, and nothing past n is written.  Full vectors use plain
 * loads and stores (masked stores are several times slower on Zen).
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "../kernels.h"
#include "math_avx2.h"

/* The lane mask (all ones in a lane that holds a value) of the first min(left, 8) lanes. */
static inline __m256i lanes(size_t left) {
    static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(m + 8 - (left < 8 ? left : 8)));
}

/* 8 floats at p of which left (> 0) remain: lanes past them read as 0. */
static inline __m256 load8(const float *p, size_t left) {
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes(left));
}

static inline void store8(float *p, size_t left, __m256 v) {
    if (left >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, lanes(left), v);
}

/* 8 bf16 values to dst, of which left (> 0) remain. */
static inline void store8_u16(uint16_t *dst, size_t left, __m128i h) {
    if (left >= 8) {
        _mm_storeu_si128((__m128i *)dst, h);
    } else {
        uint16_t buf[8];
        _mm_storeu_si128((__m128i *)buf, h);
        memcpy(dst, buf, left * sizeof *dst);
    }
}

/* GELU: lx_gelu_x8 in math_avx2.h. */
void lx_k_gelu_avx2(float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = load8(x + i, n - i);
        if (b) v = _mm256_add_ps(v, load8(b + i, n - i));
        store8(x + i, n - i, lx_gelu_x8(v));
    }
}

void lx_k_gelu_bf16_avx2(uint16_t *dst, const float *x, const float *b, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        __m256 v = load8(x + i, n - i);
        if (b) v = _mm256_add_ps(v, load8(b + i, n - i));
        store8_u16(dst + i, n - i, lx_round_bf16_x8(lx_gelu_x8(v)));
    }
}

void lx_k_round_bf16_avx2(uint16_t *dst, const float *src, int n, int npad) {
    for (int i = 0; i < n; i += 8)
        store8_u16(dst + i, (size_t)(n - i), lx_round_bf16_x8(load8(src + i, (size_t)(n - i))));
    if (n < npad) memset(dst + n, 0, (size_t)(npad - n) * sizeof *dst);
}
