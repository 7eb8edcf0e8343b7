/*
 * image_internal.h — what the files of the image decoder share (private: the unit tests
 * include it to test the EXIF reader on its own).  image.c tells the formats apart,
 * checks sizes and applies the orientation; image_jpeg.c and image_png.c decode;
 * image_exif.c reads the orientation out of an EXIF block.
 */
#ifndef LX_IMAGE_INTERNAL_H
#define LX_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "lx.h"

/* OpenCV's own limits (loadsave.cpp, validateInputImageSize: CV_IO_MAX_IMAGE_WIDTH,
 * _HEIGHT and _PIXELS), which imread applies whatever the caller asks. */
#define LX_IMAGE_MAX_SIDE ((uint64_t)1 << 20)
#define LX_IMAGE_MAX_PIXELS ((uint64_t)1 << 30)

/* ---- image.c --------------------------------------------------------------------- */

/* Check a header's w x h of format fmt ("JPEG", "PNG") before anything is decoded: not
 * zero, within OpenCV's limits and within max_pixels (> 0), and w * h * 3 bytes
 * addressable.  Returns 0, or -1 with "NAME: ..." in err. */
int lx_image_check_size(uint64_t w, uint64_t h, uint64_t max_pixels, const char *fmt,
                        const char *name, lx_error *err);
/* Allocate img->bgr for w x h (checked by lx_image_check_size) and set img->w, img->h.
 * Returns 0 or -1. */
int lx_image_alloc(lx_image *img, int w, int h, const char *name, lx_error *err);
/* Rotate / flip img in place as OpenCV's ExifTransform does for orientation 1-8 (other
 * values: unchanged).  Returns 0 or -1 (out of memory). */
int lx_image_orient(lx_image *img, int orientation, const char *name, lx_error *err);

/* ---- image_jpeg.c, image_png.c --------------------------------------------------- */

/* A decoder's task: the whole file data[0, len), its name for messages, the pixel limit,
 * the image to fill, the error; the decoder sets orientation (the EXIF value, -1: none). */
typedef struct lx_image_job {
    const uint8_t *data;
    size_t len;
    const char *name;
    uint64_t max_pixels;
    lx_image *img;
    lx_error *err;
    int orientation;
} lx_image_job;

/* Decode a JPEG / PNG file into t->img as OpenCV's imread does before it applies the
 * orientation.  Returns 0, or -1 with the image empty and "NAME: ..." in t->err. */
int lx_image_decode_jpeg(lx_image_job *t);
int lx_image_decode_png(lx_image_job *t);

/* ---- image_exif.c ---------------------------------------------------------------- */

/* The orientation tag (0x0112) of an EXIF block (a TIFF header and its first IFD:
 * "II"/"MM", 42, the IFD's offset...) read exactly as OpenCV 4.6's ExifReader reads it:
 * its 16-bit value (whatever the entry's type), or -1 when OpenCV would find none —
 * including when its reading stops at a damaged entry before the orientation.  Never
 * reads outside d[0..n). */
int lx_exif_orientation(const uint8_t *d, size_t n);

#endif
