/*
 * image_png.c — PNG files through libpng, with the transformations OpenCV 4.6's
 * PngDecoder::readData (modules/imgcodecs/src/grfmt_png.cpp) asks for when imread wants
 * 8-bit BGR (IMREAD_COLOR), in its order, so libpng makes the same pixels:
 *   - 16-bit samples: png_set_strip_16, which in libpng 1.6 keeps the high byte (a
 *     shift, not png_set_scale_16's rounding);
 *   - png_set_strip_alpha (the output has fewer than 4 channels): alpha is dropped, not
 *     composed over a background;
 *   - palette: png_set_palette_to_rgb, which also expands tRNS to alpha, dropped again by
 *     the line above;
 *   - greyscale below 8 bits: png_set_expand_gray_1_2_4_to_8 (a grey tRNS stays unused);
 *   - colour types with colour: png_set_bgr; greyscale: png_set_gray_to_rgb;
 *   - png_set_interlace_handling, png_read_update_info, png_read_image, png_read_end.
 * No gamma, sRGB or ICC handling (OpenCV asks for none).  The EXIF orientation comes
 * from the eXIf chunk, before or after the image data, which OpenCV reads after
 * png_read_end (info first, then end info) and parses as a JPEG's.
 *
 * libpng's errors longjmp back here (OpenCV's do too: imread then returns nothing);
 * its default warning handler would print, so warnings (ancillary chunks it drops, such
 * as a bad iCCP) are ignored quietly, as OpenCV goes on after them.  The file is read
 * from memory; running out of it is reported as truncation.  The width and height are
 * checked from the IHDR chunk before libpng starts, against OpenCV's limits, libpng's own
 * (10^6 a side) and max_pixels.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <zlib.h>
#include "image_internal.h"

typedef struct png_job {
    lx_image_job *t;              /* the file, the image, the error */
    png_structp png;
    png_infop info, end;
    size_t pos;
    png_bytep *rows;
    int truncated;                /* 1: libpng asked for bytes past the end */
    int refused;                  /* 1: our own check failed and err is set */
    char msg[256];                /* libpng's message for the failure */
} png_job;

static void on_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->t->len - j->pos) {
        j->truncated = 1;
        png_error(png, "the file ends early");
    }
    memcpy(out, j->t->data + j->pos, n);
    j->pos += n;
}

static int refuse(png_job *j) {
    j->refused = 1;
    return -1;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The size an intact IHDR chunk declares, checked before libpng reads anything (a
 * damaged one is left to libpng to report). */
static int check_ihdr(png_job *j) {
    const uint8_t *c = j->t->data + 8;
    if (j->t->len < 8 + 25 || be32(c) != 13 || memcmp(c + 4, "IHDR", 4) ||
        crc32(0, c + 4, 17) != be32(c + 21))
        return 0;
    uint32_t w = be32(c + 8), h = be32(c + 12);
    uint32_t wmax = png_get_user_width_max(j->png), hmax = png_get_user_height_max(j->png);
    if (w > wmax || h > hmax)
        return lx_error_set(j->t->err, "%s: PNG too large: %u x %u (width x height), more than "
                                    "libpng's limit of %u x %u", j->t->name, (unsigned)w,
                            (unsigned)h, (unsigned)wmax, (unsigned)hmax);
    return lx_image_check_size(w, h, j->t->max_pixels, "PNG", j->t->name, j->t->err);
}

/* Everything that can longjmp, in a function whose only live local is j. */
static int run(png_job *j) {
    png_structp png = j->png;
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_read_fn(png, j, on_read);
    png_read_info(png, j->info);
    png_uint_32 w, h;
    int depth, type;
    png_get_IHDR(png, j->info, &w, &h, &depth, &type, NULL, NULL, NULL);
    if (lx_image_check_size(w, h, j->t->max_pixels, "PNG", j->t->name, j->t->err) < 0)
        return refuse(j);

    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((type & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (type & PNG_COLOR_MASK_COLOR) png_set_bgr(png);
    else png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, j->info);
    if (png_get_rowbytes(png, j->info) != (size_t)w * 3 ||
        png_get_channels(png, j->info) != 3 || png_get_bit_depth(png, j->info) != 8) {
        lx_error_set(j->t->err, "%s: unexpected PNG output: %u channels of %u bits in rows of "
                             "%zu bytes", j->t->name, png_get_channels(png, j->info),
                     png_get_bit_depth(png, j->info), (size_t)png_get_rowbytes(png, j->info));
        return refuse(j);
    }

    if (lx_image_alloc(j->t->img, (int)w, (int)h, j->t->name, j->t->err) < 0) return refuse(j);
    if (!(j->rows = malloc((size_t)h * sizeof *j->rows))) {
        lx_error_set(j->t->err, "%s: out of memory for %u row pointers", j->t->name,
                     (unsigned)h);
        return refuse(j);
    }
    for (png_uint_32 y = 0; y < h; y++) j->rows[y] = j->t->img->bgr + (size_t)y * w * 3;
    png_read_image(png, j->rows);
    png_read_end(png, j->end);

    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (png_get_valid(png, j->info, PNG_INFO_eXIf))
        png_get_eXIf_1(png, j->info, &n, &exif);
    else if (png_get_valid(png, j->end, PNG_INFO_eXIf))
        png_get_eXIf_1(png, j->end, &n, &exif);
    if (exif && n > 0) j->t->orientation = lx_exif_orientation(exif, n);
    return 0;
}

int lx_image_decode_png(lx_image_job *t) {
    png_job *j = calloc(1, sizeof *j);
    if (!j) return lx_error_set(t->err, "%s: out of memory", t->name);
    j->t = t;
    int rc = -1;
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, on_error, on_warning);
    if (j->png) j->info = png_create_info_struct(j->png);
    if (j->info) j->end = png_create_info_struct(j->png);
    if (!j->end)
        lx_error_set(t->err, "%s: out of memory", t->name);
    else if (check_ihdr(j) == 0 && (rc = run(j)) < 0 && !j->refused) {
        if (j->truncated)
            lx_error_set(t->err, "%s: truncated PNG (the file ends inside its data)", t->name);
        else
            lx_error_set(t->err, "%s: corrupt PNG: %s", t->name, j->msg);
    }
    png_destroy_read_struct(j->png ? &j->png : NULL, j->info ? &j->info : NULL,
                            j->end ? &j->end : NULL);
    free(j->rows);
    free(j);
    if (rc < 0) lx_image_free(t->img);
    return rc;
}
