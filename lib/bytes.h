/*
 * bytes.h — the library's one copy of two bit-level encodings (private to liblx):
 * little-endian integers in file formats (.lxm, frames, safetensors, zip, pickle, the
 * feature index) and the 16-bit floats (f16, bf16) of tensors.  static inline: they sit
 * in inner loops (the portable product path widens weights element by element).
 */
#ifndef LX_BYTES_H
#define LX_BYTES_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- little-endian integers ---------------------------------------------------- */

/* The n-byte (n <= 8) little-endian unsigned integer at p. */
static inline uint64_t lx_rd_le(const void *p, int n) {
    const unsigned char *b = p;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}
static inline uint16_t lx_rd_u16(const void *p) { return (uint16_t)lx_rd_le(p, 2); }
static inline uint32_t lx_rd_u32(const void *p) { return (uint32_t)lx_rd_le(p, 4); }
static inline uint64_t lx_rd_u64(const void *p) { return lx_rd_le(p, 8); }

/* v as n little-endian bytes at p. */
static inline void lx_wr_le(void *p, uint64_t v, int n) {
    unsigned char *b = p;
    for (int i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static inline void lx_wr_u32(void *p, uint32_t v) { lx_wr_le(p, v, 4); }
static inline void lx_wr_u64(void *p, uint64_t v) { lx_wr_le(p, v, 8); }

/* ---- 16-bit floats --------------------------------------------------------------- */
/* Round to nearest even, as PyTorch's conversions do, so that f32 -> bf16 -> f32
 * reproduces what torch.Tensor.to(torch.bfloat16) gives; widening is exact (f16
 * subnormals, infinities and NaNs included). */

static inline uint32_t lx_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float lx_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float lx_bf16_to_f32(uint16_t h) { return lx_bits_f32((uint32_t)h << 16); }

/* NaN stays a quiet NaN. */
static inline uint16_t lx_f32_to_bf16(float f) {
    uint32_t u = lx_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float lx_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return lx_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return lx_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Values from 65520 on become infinity; NaN stays NaN. */
static inline uint16_t lx_f32_to_f16(float f) {
    uint32_t u = lx_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;            /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;           /* rounds to inf (>= 65520) */
    if (a < 0x38800000u) {                                 /* below the normal range */
        /* the f16 subnormal unit is 2^-24: round(value / 2^-24) (an exact scale), ties to
         * even in the default rounding mode */
        return sign | (uint16_t)nearbyintf(lx_bits_f32(a) * 16777216.0f);
    }
    uint32_t exp = (a >> 23) - 112u, man = a & 0x7fffffu;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return sign | (uint16_t)h;
}

#endif
