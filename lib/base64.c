/*
 * base64.c — RFC 4648 base64 (standard alphabet, '=' padding) for the feature TSVs.
 *
 * The TSV arrays are megabytes per image, so decoding is the hot loop of lx-embed-vis:
 * a 256-entry table maps each character to its 6 bits or to 0xff for "not in the
 * alphabet"; four characters are looked up at a time and OR-ed together so that one
 * test per quantum catches every bad character.  Decoding is strict (no whitespace, no
 * missing padding): a broken array is an error, never quietly shortened.
 *
 * On x86-64 CPUs with AVX2 (checked at run time) 32 characters are decoded per step, the
 * vector method Mula and Lemire describe: the high and low nibble of each character
 * index two 16-entry tables whose AND is non-zero exactly for characters outside the
 * alphabet; a third table indexed by the high nibble (with '/' moved to its own entry)
 * gives the offset from ASCII to the 6-bit value; two multiply-adds pack four 6-bit
 * values into three bytes.  The scalar loop finishes the tail and the padding, and on a
 * bad character it re-scans to name its position, so both paths give the same results
 * and messages.
 */
#include <string.h>
#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

static const char enc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* dec[c]: the 6-bit value of character c, 0xff if c is not in the alphabet (cast: clang
 * checks every arm of the conditional against unsigned char, the untaken ones too).  Built at
 * compile time so that the library keeps no mutable state. */
#define B64_ROW(c) ((unsigned char)((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' :            \
                                    (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 :       \
                                    (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 :       \
                                    (c) == '+' ? 62 : (c) == '/' ? 63 : 0xff))
#define B4(c) B64_ROW(c), B64_ROW(c + 1), B64_ROW(c + 2), B64_ROW(c + 3)
#define B16(c) B4(c), B4(c + 4), B4(c + 8), B4(c + 12)
static const unsigned char dec[256] = {
    B16(0), B16(16), B16(32), B16(48), B16(64), B16(80), B16(96), B16(112),
    B16(128), B16(144), B16(160), B16(176), B16(192), B16(208), B16(224), B16(240),
};

size_t lx_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

size_t lx_base64_encode(char *dst, const void *src, size_t n) {
    const unsigned char *s = src;
    char *d = dst;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = enc[v >> 18];
        *d++ = enc[(v >> 12) & 63];
        *d++ = enc[(v >> 6) & 63];
        *d++ = enc[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
        *d++ = enc[v >> 18];
        *d++ = enc[(v >> 12) & 63];
        *d++ = i + 1 < n ? enc[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    return (size_t)(d - dst);
}

/* The position and a printable form of the first bad character in src[from, n). */
static int64_t bad_char(const char *src, size_t n, size_t from, lx_error *err) {
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (dec[c] != 0xff) continue;
        if (c == '=')
            return lx_error_set(err, "bad base64: '=' at character %zu of %zu, expected "
                                     "padding only at the end", i + 1, n);
        if (c >= 0x20 && c < 0x7f)
            return lx_error_set(err, "bad base64: '%c' at character %zu of %zu", c, i + 1, n);
        return lx_error_set(err, "bad base64: byte 0x%02x at character %zu of %zu", c, i + 1, n);
    }
    return lx_error_set(err, "bad base64 at character %zu of %zu", from + 1, n);
}

#ifdef HAVE_AVX2_PATH
/* Decode whole 32-character blocks of src[0, n) into dst while 32 bytes can be stored
 * (24 are kept).  Returns the characters consumed (a multiple of 32); stops early, at
 * the start of its block, on a character outside the alphabet. */
__attribute__((target("avx2"))) static size_t decode_avx2(unsigned char *dst, size_t cap,
                                                          const unsigned char *src,
                                                          size_t n) {
    /* invalid = lut_lo[c & 15] & lut_hi[c >> 4]; one bit per group of high nibbles */
    const __m256i lut_lo = _mm256_setr_epi8(
        0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x15, 0x17, 0x17,
        0x17, 0x15, 0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x15,
        0x17, 0x17, 0x17, 0x15);
    const __m256i lut_hi = _mm256_setr_epi8(
        0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
        0x01, 0x01, 0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10, 0x01, 0x01, 0x01, 0x01,
        0x01, 0x01, 0x01, 0x01);
    /* value = c + roll[hi + (c == '/' ? -1 : 0)]: '/' +16, '+' +19, digits +4,
     * upper case -65, lower case -71 */
    const __m256i lut_roll = _mm256_setr_epi8(
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nib = _mm256_set1_epi8(0x0f), slash = _mm256_set1_epi8('/');
    /* bytes 2, 1, 0 of each 32-bit lane, big end first; 12 bytes per 128-bit half */
    const __m256i pack = _mm256_setr_epi8(
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,
        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
    size_t i = 0, o = 0;
    for (; i + 32 <= n && o + 32 <= cap; i += 32, o += 24) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i hi = _mm256_and_si256(_mm256_srli_epi32(c, 4), nib);
        __m256i lo = _mm256_and_si256(c, nib);
        __m256i bad = _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo),
                                       _mm256_shuffle_epi8(lut_hi, hi));
        if (!_mm256_testz_si256(bad, bad)) break;
        __m256i roll = _mm256_shuffle_epi8(lut_roll,
                                           _mm256_add_epi8(_mm256_cmpeq_epi8(c, slash), hi));
        __m256i v = _mm256_add_epi8(c, roll);                     /* 6-bit values */
        /* [a b c d] -> a<<6|b, c<<6|d (16-bit) -> a<<18|b<<12|c<<6|d (32-bit) */
        v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
        v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
        v = _mm256_shuffle_epi8(v, pack);
        v = _mm256_permutevar8x32_epi32(v, join);
        _mm256_storeu_si256((__m256i *)(void *)(dst + o), v);
    }
    return i;
}
#endif

int64_t lx_base64_decode(void *dst, size_t cap, const char *src, size_t n, lx_error *err) {
    if (n % 4)
        return lx_error_set(err, "bad base64: %zu characters, expected a multiple of 4", n);
    if (n == 0) return 0;
    size_t pad = src[n - 1] == '=' ? (src[n - 2] == '=' ? 2 : 1) : 0;
    size_t out = n / 4 * 3 - pad;
    if (out > cap)
        return lx_error_set(err, "base64 of %zu bytes does not fit in %zu", out, cap);
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = dst;
    size_t full = pad ? n - 4 : n;     /* the quanta without padding */
    size_t i = 0;
#ifdef HAVE_AVX2_PATH
    if (full >= 64 && __builtin_cpu_supports("avx2")) {
        i = decode_avx2(d, cap, s, full);
        d += i / 4 * 3;
    }
#endif
    /* Eight characters (six bytes) per step: one branch for eight lookups. */
    for (; i + 8 <= full; i += 8) {
        uint32_t a = dec[s[i]], b = dec[s[i + 1]], c = dec[s[i + 2]], e = dec[s[i + 3]];
        uint32_t f = dec[s[i + 4]], g = dec[s[i + 5]], h = dec[s[i + 6]], k = dec[s[i + 7]];
        if ((a | b | c | e | f | g | h | k) & 0x80) return bad_char(src, n, i, err);
        uint32_t v = a << 18 | b << 12 | c << 6 | e;
        uint32_t w = f << 18 | g << 12 | h << 6 | k;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d[2] = (unsigned char)v;
        d[3] = (unsigned char)(w >> 16);
        d[4] = (unsigned char)(w >> 8);
        d[5] = (unsigned char)w;
        d += 6;
    }
    for (; i < full; i += 4) {
        uint32_t a = dec[s[i]], b = dec[s[i + 1]], c = dec[s[i + 2]], e = dec[s[i + 3]];
        if ((a | b | c | e) & 0x80) return bad_char(src, n, i, err);
        uint32_t v = a << 18 | b << 12 | c << 6 | e;
        d[0] = (unsigned char)(v >> 16);
        d[1] = (unsigned char)(v >> 8);
        d[2] = (unsigned char)v;
        d += 3;
    }
    if (pad) {
        uint32_t a = dec[s[i]], b = dec[s[i + 1]];
        uint32_t c = pad == 2 ? 0 : dec[s[i + 2]];
        if ((a | b | c) & 0x80) return bad_char(src, n - pad, i, err);
        uint32_t v = a << 18 | b << 12 | c << 6;
        *d++ = (unsigned char)(v >> 16);
        if (pad == 1) *d++ = (unsigned char)(v >> 8);
    }
    return (int64_t)out;
}
