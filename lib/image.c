/*
 * image.c — image files into the pixels OpenCV 4.6's cv2.imread(path, IMREAD_COLOR)
 * gives: the format told apart by its signature, the size checked before anything is
 * decoded, the decoders of image_jpeg.c and image_png.c, then the EXIF orientation
 * applied as OpenCV's loadsave.cpp does.
 *
 * What is OpenCV's here (loadsave.cpp, imread_): the decoder is chosen by the first
 * bytes of the file (findDecoder / checkSignature: "\xFF\xD8\xFF" for JPEG, the 8-byte
 * PNG signature), never by the name; the header's size must be 1..2^20 a side and at
 * most 2^30 pixels (validateInputImageSize); after decoding, ApplyExifOrientation calls
 * ExifTransform, which for orientation 1-8 flips (cv::flip) or transposes and then flips,
 * and ignores every other value.  What is ours: max_pixels, and that a file which is
 * truncated or corrupt is refused instead of decoded partly (see image_jpeg.c).
 *
 * Files are mapped with lx_file_map (opened non-blocking, regular files only), so a FIFO
 * or a device is refused at once, and decoded from memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "image_internal.h"
#include "internal.h"

static const uint8_t JPEG_SIG[3] = {0xFF, 0xD8, 0xFF};
static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

int lx_image_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, const char *fmt,
                        const char *name, lx_error *err) {
    if (w == 0 || h == 0)
        return lx_error_set(err, "%s: corrupt %s: the header declares a %llu x %llu image "
                                 "(width x height)", name, fmt, (unsigned long long)w,
                            (unsigned long long)h);
    if (w > LX_IMAGE_MAX_SIDE || h > LX_IMAGE_MAX_SIDE)
        return lx_error_set(err, "%s: %s too large: %llu x %llu (width x height), more than "
                                 "%llu a side", name, fmt, (unsigned long long)w,
                            (unsigned long long)h, (unsigned long long)LX_IMAGE_MAX_SIDE);
    uint64_t n = w * h;           /* both <= 2^20: no overflow */
    uint64_t limit = LX_IMAGE_MAX_PIXELS;
    if (max_pixels > 0 && max_pixels < limit) limit = max_pixels;
    if (n > limit)
        return lx_error_set(err, "%s: %s too large: %llu x %llu (width x height) is %llu "
                                 "pixels, more than %llu", name, fmt, (unsigned long long)w,
                            (unsigned long long)h, (unsigned long long)n,
                            (unsigned long long)limit);
    if (n > SIZE_MAX / 3)
        return lx_error_set(err, "%s: %s too large: %llu pixels do not fit in memory", name,
                            fmt, (unsigned long long)n);
    return 0;
}

int lx_image_alloc(lx_image *img, int w, int h, const char *name, lx_error *err) {
    size_t n = (size_t)w * (size_t)h * 3;
    img->bgr = malloc(n);
    if (!img->bgr)
        return lx_error_set(err, "%s: out of memory for a %d x %d image", name, w, h);
    img->w = w;
    img->h = h;
    return 0;
}

int lx_image_orient(lx_image *img, int orientation, const char *name, lx_error *err) {
    if (orientation < 2 || orientation > 8) return 0;
    /* The source pixel of output pixel (y, x), for an output of oh x ow, as ExifTransform
     * composes it: 2 flip(1) = mirror left-right, 3 flip(-1) = both, 4 flip(0) = top-
     * bottom; 5 transpose, 6 transpose + flip(1) (90 degrees clockwise), 7 transpose +
     * flip(-1), 8 transpose + flip(0) (90 degrees counter-clockwise). */
    const int h = img->h, w = img->w, t = orientation >= 5;
    const int oh = t ? w : h, ow = t ? h : w;
    uint8_t *out = malloc((size_t)h * (size_t)w * 3);
    if (!out) return lx_error_set(err, "%s: out of memory for a %d x %d image", name, w, h);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sy, sx;
            switch (orientation) {
            case 2: sy = y; sx = w - 1 - x; break;
            case 3: sy = h - 1 - y; sx = w - 1 - x; break;
            case 4: sy = h - 1 - y; sx = x; break;
            case 5: sy = x; sx = y; break;
            case 6: sy = h - 1 - x; sx = y; break;
            case 7: sy = h - 1 - x; sx = w - 1 - y; break;
            default: sy = x; sx = w - 1 - y; break;     /* 8 */
            }
            memcpy(out + ((size_t)y * ow + x) * 3, img->bgr + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(img->bgr);
    img->bgr = out;
    img->h = oh;
    img->w = ow;
    return 0;
}

int lx_image_decode(lx_image *img, const void *data, size_t len, const char *name,
                    uint64_t max_pixels, lx_error *err) {
    const uint8_t *p = data;
    img->h = img->w = 0;
    img->bgr = NULL;
    if (!name) name = "(image)";
    lx_image_job t = {p, len, name, max_pixels, img, err, -1};
    int rc;
    if (len == 0)
        return lx_error_set(err, "%s: not an image: the file is empty", name);
    if (len >= sizeof JPEG_SIG && !memcmp(p, JPEG_SIG, sizeof JPEG_SIG))
        rc = lx_image_decode_jpeg(&t);
    else if (len >= sizeof PNG_SIG && !memcmp(p, PNG_SIG, sizeof PNG_SIG))
        rc = lx_image_decode_png(&t);
    else {
        char hex[3 * 4 + 1] = "";
        for (size_t i = 0, at = 0; i < len && i < 4; i++)
            at += (size_t)snprintf(hex + at, sizeof hex - at, "%s%02x", i ? " " : "", p[i]);
        return lx_error_set(err, "%s: not an image: neither JPEG nor PNG (starts with %s)",
                            name, hex);
    }
    if (rc == 0 && lx_image_orient(img, t.orientation, name, err) < 0) rc = -1;
    if (rc < 0) lx_image_free(img);
    return rc;
}

int lx_image_read(lx_image *img, const char *path, uint64_t max_pixels, lx_error *err) {
    img->h = img->w = 0;
    img->bgr = NULL;
    size_t len = 0;
    /* min 1: an empty file cannot be mapped, and is not an image */
    void *map = lx_file_map(path, 1, "an image", &len, NULL, err);
    if (!map) return -1;
    int rc = lx_image_decode(img, map, len, path, max_pixels, err);
    lx_file_unmap(map, len);
    return rc;
}

void lx_image_free(lx_image *img) {
    if (!img) return;
    free(img->bgr);
    img->bgr = NULL;
    img->h = img->w = 0;
}
