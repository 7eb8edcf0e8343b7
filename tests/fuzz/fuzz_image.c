/*
 * fuzz_image — the image decoders (lib/image.c, image_jpeg.c, image_png.c over
 * libjpeg-turbo and libpng, and image_exif.c for the orientation): the input as an
 * image file through lx_image_decode, at most 2^18 pixels (a larger header is refused
 * before any pixel is decoded, as lx-detect --max-pixels does).
 *
 * A PNG's chunks carry CRC-32s that nearly every mutation breaks, and libpng rightly
 * stops there: so that the fuzzer gets past them, the CRC of each chunk that lies whole
 * inside the input is set right before decoding.
 */
#include <zlib.h>
#include "fuzz.h"
#include "lx.h"

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fix_png_crcs(uint8_t *p, size_t size) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 8 || memcmp(p, sig, 8)) return;
    size_t at = 8;
    while (size - at >= 12) {
        uint32_t len = be32(p + at);
        if (len > size - at - 12) return;
        uint32_t c = (uint32_t)crc32(crc32(0, NULL, 0), p + at + 4, len + 4);
        uint8_t *q = p + at + 8 + len;
        q[0] = (uint8_t)(c >> 24), q[1] = (uint8_t)(c >> 16), q[2] = (uint8_t)(c >> 8),
        q[3] = (uint8_t)c;
        at += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) abort();
    if (size) memcpy(p, data, size);
    fix_png_crcs(p, size);
    lx_image img;
    lx_error err = {0};
    if (lx_image_decode(&img, p, size, "fuzz", (uint64_t)1 << 18, &err) == 0) {
        if (img.w < 1 || img.h < 1 || (uint64_t)img.w * (uint64_t)img.h > (uint64_t)1 << 18 ||
            !img.bgr)
            abort();
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < (size_t)img.w * (size_t)img.h * 3; i++) sink ^= img.bgr[i];
        (void)sink;
    } else if (!err.msg[0] || img.bgr) {
        abort();
    }
    lx_image_free(&img);
    free(p);
    return 0;
}
