/*
 * fuzz_base64 — the base64 decoder (lib/base64.c, with its AVX2 path for long input):
 * held against a plain decoder written here, on whether the input is accepted and on
 * the bytes it gives; what it gives must encode and decode back to the same bytes, and
 * must not fit in one byte less.
 */
#include "fuzz.h"
#include "internal.h"

static int value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* RFC 4648 without line breaks: a multiple of 4 characters, '=' only as the last one or
 * two.  Returns the byte count or -1. */
static long plain_decode(const uint8_t *s, size_t n, uint8_t *out) {
    if (n % 4) return -1;
    size_t pad = 0;
    while (pad < n && s[n - 1 - pad] == '=') pad++;
    if (pad > 2) return -1;
    size_t k = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n - pad; i++) {
        int v = value(s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[k++] = (uint8_t)(acc >> 16);
            out[k++] = (uint8_t)(acc >> 8);
            out[k++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (pad == 2) out[k++] = (uint8_t)(acc >> 4);
    if (pad == 1) {
        out[k++] = (uint8_t)(acc >> 10);
        out[k++] = (uint8_t)(acc >> 2);
    }
    return (long)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *want = malloc(size + 1), *got = malloc(size + 1);
    if (!want || !got) abort();
    long nw = plain_decode(data, size, want);
    lx_error err = {0};
    int64_t ng = lx_base64_decode(got, size, (const char *)data, size, &err);
    if ((ng < 0) != (nw < 0) || (ng >= 0 && (ng != nw || memcmp(got, want, (size_t)nw)))) {
        fprintf(stderr, "fuzz_base64: the decoder gives %lld (%s), a plain decoder %ld\n",
                (long long)ng, err.msg, nw);
        abort();
    }
    if (ng < 0 && !err.msg[0]) abort();
    if (ng > 0) {
        /* one byte less room is refused, never overrun */
        uint8_t *small = malloc((size_t)ng);
        if (!small) abort();
        if (lx_base64_decode(small, (size_t)ng - 1, (const char *)data, size, &err) >= 0)
            abort();
        free(small);
        /* encode and decode again: the same bytes */
        size_t elen = lx_base64_encoded_len((size_t)ng);
        char *enc = malloc(elen);
        uint8_t *again = malloc((size_t)ng);
        if (!enc || !again) abort();
        if (lx_base64_encode(enc, got, (size_t)ng) != elen) abort();
        if (lx_base64_decode(again, (size_t)ng, enc, elen, &err) != ng ||
            memcmp(again, got, (size_t)ng))
            abort();
        free(enc);
        free(again);
    }
    free(want);
    free(got);
    return 0;
}
