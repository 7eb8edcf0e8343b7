/*
 * image_jpeg.c — JPEG files through libjpeg(-turbo), set up as OpenCV 4.6's JpegDecoder
 * (modules/imgcodecs/src/grfmt_jpeg.cpp) sets it up for IMREAD_COLOR, so the pixels are
 * the ones cv2.imread gives.
 *
 * What OpenCV does, and so this file:
 *   - readHeader: jpeg_save_markers(APP1, 0xffff), jpeg_read_header; the EXIF block is
 *     the FIRST APP1 segment, whatever its identifier (an XMP segment first hides a
 *     later EXIF one), from its 7th byte on (the 6 bytes "Exif\0\0" are skipped
 *     unchecked), and only when the segment is longer than 6 bytes;
 *   - readData: libjpeg's defaults otherwise (JDCT_ISLOW, fancy upsampling, block
 *     smoothing: OpenCV sets none of them; scale 1/1); out_color_space JCS_EXT_BGR
 *     (or JCS_RGB then swapped: the same pixels) for every image that does not have 4
 *     components, which makes libjpeg expand greyscale to three equal channels; for 4
 *     components (CMYK, or YCCK when an Adobe marker says so) out_color_space JCS_CMYK
 *     and OpenCV's own icvCvt_CMYK2BGR_8u_C4C3R (utils.cpp), which takes the samples as
 *     Adobe writes them (inverted: 255 = no ink):
 *         B = K - ((255 - Y) * K >> 8),  G = ... M ...,  R = K - ((255 - C) * K >> 8).
 *
 * What differs, on purpose: libjpeg's default error_exit calls exit(), so errors longjmp
 * back here (as OpenCV's do) and become an lx_error.  And libjpeg only warns when data is
 * missing or damaged and goes on with made-up data: a file that ends early ("Premature
 * end of JPEG file") is finished with a fake EOI and its missing rows come out grey,
 * which cv2.imread returns as an image.  Here that warning, and every warning that means
 * damaged entropy-coded data, refuses the file; only warnings about metadata that does
 * not change a pixel (junk bytes between segments, an unknown Adobe transform code or
 * JFIF revision) are let through.  A progressive file may have at most LX_JPEG_MAX_SCANS
 * scans, a bound on the time a crafted file can take (legitimate files have about ten).
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include "image_internal.h"

#define LX_JPEG_MAX_SCANS 1000

typedef struct jpeg_fail {
    struct jpeg_error_mgr pub;    /* first: libjpeg knows only this part */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];    /* libjpeg's message for the failure */
    int code;                     /* its J_MESSAGE_CODE */
} jpeg_fail;

typedef struct jpeg_job {
    lx_image_job *t;              /* the file, the image, the error */
    struct jpeg_decompress_struct cinfo;
    jpeg_fail fail;
    struct jpeg_progress_mgr progress;
    uint8_t *cmyk;                /* one row of C, M, Y, K samples, for 4-component files */
    int refused;                  /* 1: our own check failed and err is set */
} jpeg_job;

static void fail_now(j_common_ptr c) {
    jpeg_fail *f = (jpeg_fail *)c->err;
    f->code = f->pub.msg_code;
    (*f->pub.format_message)(c, f->msg);
    longjmp(f->jb, 1);
}

/* Warnings that leave every pixel as the file has it. */
static int benign(int code) {
    return code == JWRN_EXTRANEOUS_DATA || code == JWRN_ADOBE_XFORM ||
           code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC;
}

static void on_message(j_common_ptr c, int level) {
    /* level -1 is a warning; higher levels are trace messages, never shown */
    if (level < 0 && !benign(c->err->msg_code)) fail_now(c);
}

static void on_output(j_common_ptr c) {
    (void)c;                      /* the library never prints */
}

static void on_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > LX_JPEG_MAX_SCANS) {
        jpeg_fail *f = (jpeg_fail *)c->err;
        f->code = -1;
        snprintf(f->msg, sizeof f->msg, "more than %d scans", LX_JPEG_MAX_SCANS);
        longjmp(f->jb, 1);
    }
}

/* The EXIF orientation as OpenCV's JpegDecoder::readHeader finds it (see the top). */
static int exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1) continue;
        if (m->data_length <= 6) return -1;
        return lx_exif_orientation(m->data + 6, m->data_length - 6);
    }
    return -1;
}

static int refuse(jpeg_job *j) {
    j->refused = 1;
    return -1;
}

/* Everything that can longjmp, in a function whose only live local is j. */
static int run(jpeg_job *j) {
    struct jpeg_decompress_struct *ci = &j->cinfo;
    if (setjmp(j->fail.jb)) return -1;
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, j->t->data, (unsigned long)j->t->len);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(ci, TRUE);
    j->t->orientation = exif_orientation(ci);
    if (lx_image_check_size(ci->image_width, ci->image_height, j->t->max_pixels, "JPEG",
                            j->t->name, j->t->err) < 0)
        return refuse(j);

    int four = ci->num_components == 4;
    ci->out_color_space = four ? JCS_CMYK : JCS_EXT_BGR;
    j->progress.progress_monitor = on_progress;
    ci->progress = &j->progress;
    jpeg_start_decompress(ci);
    int w = (int)ci->output_width, h = (int)ci->output_height;
    if (ci->output_width != ci->image_width || ci->output_height != ci->image_height ||
        ci->output_components != (four ? 4 : 3)) {
        lx_error_set(j->t->err, "%s: unexpected JPEG output: %d x %d x %d for a %u x %u "
                             "image", j->t->name, w, h, ci->output_components,
                     (unsigned)ci->image_width, (unsigned)ci->image_height);
        return refuse(j);
    }
    if (lx_image_alloc(j->t->img, w, h, j->t->name, j->t->err) < 0) return refuse(j);
    if (four && !(j->cmyk = malloc((size_t)w * 4))) {
        lx_error_set(j->t->err, "%s: out of memory for a %d-pixel CMYK row", j->t->name, w);
        return refuse(j);
    }
    while (ci->output_scanline < ci->output_height) {
        uint8_t *out = j->t->img->bgr + (size_t)ci->output_scanline * w * 3;
        JSAMPROW row = four ? j->cmyk : out;
        if (jpeg_read_scanlines(ci, &row, 1) != 1) {   /* only a suspending source */
            lx_error_set(j->t->err, "%s: truncated JPEG", j->t->name);
            return refuse(j);
        }
        for (int x = 0; four && x < w; x++) {
            const uint8_t *s = j->cmyk + 4 * x;
            int k = s[3];
            out[3 * x + 0] = (uint8_t)(k - ((255 - s[2]) * k >> 8));
            out[3 * x + 1] = (uint8_t)(k - ((255 - s[1]) * k >> 8));
            out[3 * x + 2] = (uint8_t)(k - ((255 - s[0]) * k >> 8));
        }
    }
    jpeg_finish_decompress(ci);
    return 0;
}

int lx_image_decode_jpeg(lx_image_job *t) {
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return lx_error_set(t->err, "%s: out of memory", t->name);
    j->t = t;
    j->cinfo.err = jpeg_std_error(&j->fail.pub);
    j->fail.pub.error_exit = fail_now;
    j->fail.pub.emit_message = on_message;
    j->fail.pub.output_message = on_output;
    int rc = run(j);
    if (rc < 0 && !j->refused) {
        char *m = j->fail.msg;
        static const char corrupt[] = "Corrupt JPEG data: ";
        if (!strncmp(m, corrupt, sizeof corrupt - 1)) m += sizeof corrupt - 1;
        if (isupper((unsigned char)m[0]) && islower((unsigned char)m[1]))
            m[0] = (char)tolower((unsigned char)m[0]);
        if (j->fail.code == JWRN_JPEG_EOF)
            lx_error_set(t->err, "%s: truncated JPEG (%s)", t->name, m);
        else
            lx_error_set(t->err, "%s: corrupt JPEG: %s", t->name, m);
    }
    jpeg_destroy_decompress(&j->cinfo);
    free(j->cmyk);
    free(j);
    if (rc < 0) lx_image_free(t->img);
    return rc;
}
