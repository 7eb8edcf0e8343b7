/*
 * Image decoding: the fixture images against the pixels cv2.imread gave when the
 * fixtures were made (bit for bit), images of every PNG colour type and depth and of
 * every JPEG colour space written here with libpng / libjpeg, each EXIF orientation,
 * OpenCV's way of reading a damaged EXIF block, and every kind of bad file.
 *
 * Each expectation says which OpenCV 4.6 behaviour it encodes (grfmt_png.cpp
 * PngDecoder::readData, grfmt_jpeg.cpp JpegDecoder::readHeader / readData, utils.cpp
 * icvCvt_CMYK2BGR_8u_C4C3R, exif.cpp ExifReader, loadsave.cpp ExifTransform).  They were
 * confirmed once against Debian's python3-opencv 4.6.0 on the same libjpeg-turbo and
 * libpng; the test does not need it.
 */
#include <sys/stat.h>
#include "testutil.h"
#include <jpeglib.h>
#include <png.h>
#include <zlib.h>
#include "image_internal.h"

/* ---- helpers ------------------------------------------------------------------------ */

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n ? *n : 1);
    assert_int_equal(fread(p, 1, *n, f), *n);
    fclose(f);
    return p;
}

/* Decode path, which must succeed, as an h x w image. */
static void decode_ok(const char *path, lx_image *img, int h, int w) {
    lx_error err = {0};
    if (lx_image_read(img, path, 0, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(img->h, h);
    assert_int_equal(img->w, w);
}

/* Decoding path must fail with a message naming it and containing what. */
static void decode_fails(const char *path, uint64_t max_pixels, const char *what) {
    lx_image img = {1, 1, (uint8_t *)&img};
    lx_error err = {0};
    assert_int_equal(lx_image_read(&img, path, max_pixels, &err), -1);
    assert_null(img.bgr);
    assert_int_equal(img.h, 0);
    assert_int_equal(img.w, 0);
    if (!strstr(err.msg, path) || !strstr(err.msg, what))
        fail_msg("message \"%s\" should name %s and say \"%s\"", err.msg, path, what);
}

static const uint8_t *px(const lx_image *m, int y, int x) {
    return m->bgr + ((size_t)y * m->w + x) * 3;
}

static void expect_px(const lx_image *m, int y, int x, int b, int g, int r) {
    const uint8_t *p = px(m, y, x);
    if (p[0] != b || p[1] != g || p[2] != r)
        fail_msg("pixel (%d, %d): got BGR %d %d %d, expected %d %d %d", y, x, p[0], p[1], p[2],
                 b, g, r);
}

/* A PNG of colour type `type` and bit depth `depth` from packed rows (rowbytes each). */
typedef struct png_spec {
    int w, h, type, depth, interlace;
    const uint8_t *rows;          /* h rows of rowbytes bytes, PNG byte order */
    size_t rowbytes;
    const png_color *palette;
    int npalette;
    const uint8_t *trans;         /* palette alpha (ntrans entries) */
    int ntrans;
    const png_color_16 *trans_color;   /* grey / RGB tRNS */
    const uint8_t *exif;          /* an eXIf chunk, before the image data */
    size_t nexif;
} png_spec;

static void write_png(const char *path, const png_spec *s) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(p))) fail_msg("libpng failed writing %s", path);
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(p, info, s->palette, s->npalette);
    if (s->trans || s->trans_color)
        png_set_tRNS(p, info, s->trans, s->ntrans, s->trans_color);
    if (s->exif) png_set_eXIf_1(p, info, (png_uint_32)s->nexif, (png_bytep)s->exif);
    png_write_info(p, info);
    png_bytep *rows = malloc((size_t)s->h * sizeof *rows);
    for (int r = 0; r < s->h; r++) rows[r] = (png_bytep)s->rows + (size_t)r * s->rowbytes;
    png_write_image(p, rows);                     /* every Adam7 pass when interlaced */
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    free(rows);
    assert_int_equal(fclose(f), 0);
}

/* A JPEG of w x h samples in colour space in (comps per pixel), stored as jcs (the
 * encoder converts), at quality 100.  adobe: write libjpeg's Adobe marker (its default
 * for CMYK and YCCK).  app1: segments written right after the SOI / JFIF / Adobe ones. */
typedef struct jpeg_spec {
    int w, h, comps;
    J_COLOR_SPACE in, jcs;
    const uint8_t *pixels;
    int adobe;
    const uint8_t *app1[2];
    size_t napp1[2];
} jpeg_spec;

static void write_jpeg(const char *path, const jpeg_spec *s) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)s->w;
    c.image_height = (JDIMENSION)s->h;
    c.input_components = s->comps;
    c.in_color_space = s->in;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, s->jcs);
    jpeg_set_quality(&c, 100, TRUE);
    c.write_Adobe_marker = s->adobe ? TRUE : FALSE;
    jpeg_start_compress(&c, TRUE);
    for (int i = 0; i < 2; i++)
        if (s->app1[i]) jpeg_write_marker(&c, JPEG_APP0 + 1, s->app1[i], (unsigned)s->napp1[i]);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)s->pixels + (size_t)c.next_scanline * s->w * s->comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    assert_int_equal(fclose(f), 0);
}

/* An EXIF APP1 payload ("Exif\0\0" + big-endian TIFF header + one IFD holding only the
 * orientation) into buf; returns its length. */
static size_t exif_app1(uint8_t *buf, int orientation) {
    static const uint8_t head[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0, 0, 0, 8,
                                   0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1};
    memcpy(buf, head, sizeof head);
    uint8_t tail[] = {0, (uint8_t)orientation, 0, 0, 0, 0, 0, 0};
    memcpy(buf + sizeof head, tail, sizeof tail);
    return sizeof head + sizeof tail;
}

/* ---- the fixtures ------------------------------------------------------------------- */

/* img0.png, img1.png (8-bit RGB PNGs) and img2.jpg (4:2:0 YCbCr JPEG) decode to exactly
 * the image_bgr cv2.imread(path, IMREAD_COLOR) gave the fixture generator. */
static void test_fixture_images(void **state) {
    (void)state;
    static const char *imgs[3][2] = {{"img0", "png"}, {"img1", "png"}, {"img2", "jpg"}};
    for (int i = 0; i < 3; i++) {
        char rel[256], path[4096];
        snprintf(rel, sizeof rel, "frcnn/images/%s.%s", imgs[i][0], imgs[i][1]);
        snprintf(path, sizeof path, "%s", fixture(rel));
        snprintf(rel, sizeof rel, "frcnn/expected/frcnn-tiny.%s.safetensors", imgs[i][0]);
        lx_tensor_dict d;
        lx_tensor_dict_init(&d);
        lx_error err = {0};
        if (lx_safetensors_read(&d, fixture(rel), &err) < 0) fail_msg("%s", err.msg);
        const lx_tensor *want = lx_tensor_dict_get(&d, "image_bgr");
        assert_non_null(want);
        assert_int_equal(want->dtype, LX_U8);
        assert_int_equal(want->ndim, 3);
        assert_int_equal(want->shape[2], 3);
        lx_image img;
        decode_ok(path, &img, (int)want->shape[0], (int)want->shape[1]);
        assert_memory_equal(img.bgr, want->data, (size_t)img.h * img.w * 3);
        lx_image_free(&img);

        /* the same bytes through lx_image_decode */
        size_t n;
        uint8_t *bytes = read_bytes(path, &n);
        assert_int_equal(lx_image_decode(&img, bytes, n, "mem", 0, &err), 0);
        assert_memory_equal(img.bgr, want->data, (size_t)img.h * img.w * 3);
        lx_image_free(&img);
        free(bytes);
        lx_tensor_dict_free(&d);
    }
}

/* ---- PNG ---------------------------------------------------------------------------- */

/* Greyscale, greyscale + alpha, RGBA: grey goes to three equal channels
 * (png_set_gray_to_rgb), colour comes out in B, G, R order (png_set_bgr), alpha is
 * dropped (png_set_strip_alpha), never composed: a transparent pixel keeps its colour. */
static void test_png_8bit(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("p8.png"));
    lx_image img;

    const uint8_t grey[2 * 3] = {0, 17, 255, 128, 1, 254};
    write_png(path, &(png_spec){.w = 3, .h = 2, .type = PNG_COLOR_TYPE_GRAY, .depth = 8,
            .rows = grey, .rowbytes = 3});
    decode_ok(path, &img, 2, 3);
    for (int i = 0; i < 6; i++) expect_px(&img, i / 3, i % 3, grey[i], grey[i], grey[i]);
    lx_image_free(&img);

    const uint8_t ga[2 * 2 * 2] = {10, 0, 20, 255, 30, 128, 40, 7};
    write_png(path, &(png_spec){.w = 2, .h = 2, .type = PNG_COLOR_TYPE_GRAY_ALPHA,
            .depth = 8, .rows = ga, .rowbytes = 4});
    decode_ok(path, &img, 2, 2);
    for (int i = 0; i < 4; i++) expect_px(&img, i / 2, i % 2, ga[2 * i], ga[2 * i], ga[2 * i]);
    lx_image_free(&img);

    const uint8_t rgba[2 * 4] = {200, 100, 50, 0, 1, 2, 3, 255};
    write_png(path, &(png_spec){.w = 2, .h = 1, .type = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8,
            .rows = rgba, .rowbytes = 8});
    decode_ok(path, &img, 1, 2);
    expect_px(&img, 0, 0, 50, 100, 200);
    expect_px(&img, 0, 1, 3, 2, 1);
    lx_image_free(&img);

    /* grey with a tRNS colour: PNG_EXPAND_tRNS is never asked for, the key is unused */
    const png_color_16 key = {0, 0, 0, 0, 17};
    write_png(path, &(png_spec){.w = 3, .h = 2, .type = PNG_COLOR_TYPE_GRAY, .depth = 8,
            .rows = grey, .rowbytes = 3, .trans_color = &key});
    decode_ok(path, &img, 2, 3);
    expect_px(&img, 0, 1, 17, 17, 17);
    lx_image_free(&img);
    unlink(path);
}

/* Palette with tRNS: png_set_palette_to_rgb expands the palette (and tRNS to alpha,
 * which png_set_strip_alpha drops): each pixel is its palette colour, whatever its
 * alpha.  Palettes below 8 bits are unpacked by the same call. */
static void test_png_palette(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("pal.png"));
    const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}, {250, 251, 252}};
    const uint8_t alpha[3] = {0, 128, 255};
    const uint8_t idx8[4] = {0, 1, 2, 3};
    lx_image img;
    write_png(path, &(png_spec){.w = 4, .h = 1, .type = PNG_COLOR_TYPE_PALETTE, .depth = 8,
            .rows = idx8, .rowbytes = 4, .palette = pal, .npalette = 4, .trans = alpha,
            .ntrans = 3});
    decode_ok(path, &img, 1, 4);
    for (int x = 0; x < 4; x++) expect_px(&img, 0, x, pal[x].blue, pal[x].green, pal[x].red);
    lx_image_free(&img);

    const uint8_t idx2[1] = {0x1B};               /* 2-bit indices 0, 1, 2, 3 */
    write_png(path, &(png_spec){.w = 4, .h = 1, .type = PNG_COLOR_TYPE_PALETTE, .depth = 2,
            .rows = idx2, .rowbytes = 1, .palette = pal, .npalette = 4, .trans = alpha,
            .ntrans = 3});
    decode_ok(path, &img, 1, 4);
    for (int x = 0; x < 4; x++) expect_px(&img, 0, x, pal[x].blue, pal[x].green, pal[x].red);
    lx_image_free(&img);
    unlink(path);
}

/* 16-bit samples: png_set_strip_16 keeps the high byte (libpng 1.6 png_do_strip_channel
 * / chop: a shift, where png_set_scale_16 would round 0x12FF up to 0x13). */
static void test_png_16bit(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("p16.png"));
    lx_image img;
    const uint8_t rgb[2 * 6] = {0x12, 0xFF, 0xAB, 0x80, 0x00, 0x01,
                                0xFF, 0xFF, 0x7F, 0xFF, 0x01, 0x00};
    write_png(path, &(png_spec){.w = 2, .h = 1, .type = PNG_COLOR_TYPE_RGB, .depth = 16,
            .rows = rgb, .rowbytes = 12});
    decode_ok(path, &img, 1, 2);
    expect_px(&img, 0, 0, 0x00, 0xAB, 0x12);
    expect_px(&img, 0, 1, 0x01, 0x7F, 0xFF);
    lx_image_free(&img);

    const uint8_t grey[2 * 2] = {0xAB, 0xCD, 0x00, 0xFF};
    write_png(path, &(png_spec){.w = 2, .h = 1, .type = PNG_COLOR_TYPE_GRAY, .depth = 16,
            .rows = grey, .rowbytes = 4});
    decode_ok(path, &img, 1, 2);
    expect_px(&img, 0, 0, 0xAB, 0xAB, 0xAB);
    expect_px(&img, 0, 1, 0x00, 0x00, 0x00);
    lx_image_free(&img);

    const uint8_t rgba[8] = {0x10, 0x80, 0x20, 0x80, 0x30, 0x80, 0x00, 0x00};
    write_png(path, &(png_spec){.w = 1, .h = 1, .type = PNG_COLOR_TYPE_RGB_ALPHA,
            .depth = 16, .rows = rgba, .rowbytes = 8});
    decode_ok(path, &img, 1, 1);
    expect_px(&img, 0, 0, 0x30, 0x20, 0x10);
    lx_image_free(&img);
    unlink(path);
}

/* Greyscale of 1, 2 and 4 bits: png_set_expand_gray_1_2_4_to_8 scales a level v of d bits
 * to v * 255 / (2^d - 1) (1 bit: 0, 255; 2 bits: multiples of 0x55; 4: of 0x11). */
static void test_png_low_bit_grey(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("lowbit.png"));
    lx_image img;
    for (int d = 1; d <= 4; d *= 2) {
        int levels = 1 << d, w = 8;               /* one row: levels 0, 1, ... repeated */
        uint8_t row[8] = {0};
        for (int x = 0; x < w; x++) {
            int v = x % levels, bit = x * d;
            row[bit / 8] |= (uint8_t)(v << (8 - d - bit % 8));
        }
        write_png(path, &(png_spec){.w = w, .h = 1, .type = PNG_COLOR_TYPE_GRAY, .depth = d,
                .rows = row, .rowbytes = (size_t)(w * d + 7) / 8});
        decode_ok(path, &img, 1, w);
        for (int x = 0; x < w; x++) {
            int g = (x % levels) * 255 / (levels - 1);
            expect_px(&img, 0, x, g, g, g);
        }
        lx_image_free(&img);
    }
    unlink(path);
}

/* Adam7 interlacing is undone (png_set_interlace_handling): the same pixels as the
 * non-interlaced file, on a size that leaves some passes empty. */
static void test_png_interlaced(void **state) {
    (void)state;
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s", scratch("plain.png"));
    snprintf(b, sizeof b, "%s", scratch("adam7.png"));
    enum { W = 13, H = 5 };
    uint8_t rgb[H * W * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 37 + 11);
    write_png(a, &(png_spec){.w = W, .h = H, .type = PNG_COLOR_TYPE_RGB, .depth = 8,
            .rows = rgb, .rowbytes = W * 3});
    write_png(b, &(png_spec){.w = W, .h = H, .type = PNG_COLOR_TYPE_RGB, .depth = 8,
            .interlace = 1, .rows = rgb, .rowbytes = W * 3});
    lx_image pa, pb;
    decode_ok(a, &pa, H, W);
    decode_ok(b, &pb, H, W);
    assert_memory_equal(pa.bgr, pb.bgr, sizeof rgb);
    for (int i = 0; i < W * H; i++)
        expect_px(&pa, i / W, i % W, rgb[3 * i + 2], rgb[3 * i + 1], rgb[3 * i]);
    lx_image_free(&pa);
    lx_image_free(&pb);
    unlink(a);
    unlink(b);
}

/* ---- JPEG --------------------------------------------------------------------------- */

/* Flat 8 x 8 blocks at quality 100 come back exactly (DC only, quantiser 1), so the
 * expected pixels follow from the samples written. */
enum { JW = 16, JH = 8 };          /* two blocks side by side */

/* A greyscale JPEG: out_color_space JCS_EXT_BGR makes libjpeg repeat the grey in the
 * three channels (OpenCV: num_components != 4 -> colour output). */
static void test_jpeg_grey(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("grey.jpg"));
    uint8_t g[JH * JW];
    for (int i = 0; i < JH * JW; i++) g[i] = (i % JW) < 8 ? 37 : 201;
    write_jpeg(path, &(jpeg_spec){.w = JW, .h = JH, .comps = 1, .in = JCS_GRAYSCALE,
            .jcs = JCS_GRAYSCALE, .pixels = g});
    lx_image img;
    decode_ok(path, &img, JH, JW);
    for (int i = 0; i < JH * JW; i++) expect_px(&img, i / JW, i % JW, g[i], g[i], g[i]);
    lx_image_free(&img);
    unlink(path);
}

/* OpenCV's CMYK -> BGR (icvCvt_CMYK2BGR_8u_C4C3R), which takes the samples as Adobe
 * writes them, inverted (255 = no ink): R = K - ((255 - C) * K >> 8), G from M, B from
 * Y.  So all-255 is white, K = 0 black, and full cyan ink (C = 0, K = 255) gives
 * R = 255 - 254 = 1, not 0. */
static int cmyk_to(int ink, int k) {
    return k - ((255 - ink) * k >> 8);
}

static void test_jpeg_cmyk(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("cmyk.jpg"));
    /* left block and right block: C, M, Y, K (C = M = Y in the YCCK case, whose Y, Cb,
     * Cr round trip is then exact) */
    static const uint8_t plain[2][4] = {{0, 100, 255, 255}, {30, 200, 70, 128}};
    static const uint8_t grey[2][4] = {{90, 90, 90, 255}, {255, 255, 255, 0}};
    static const struct {
        J_COLOR_SPACE jcs;
        int adobe;
        const uint8_t (*v)[4];
    } cases[3] = {
        {JCS_CMYK, 1, plain},     /* CMYK with libjpeg's Adobe marker (transform 0) */
        {JCS_CMYK, 0, plain},     /* CMYK without one: libjpeg assumes CMYK too */
        {JCS_YCCK, 1, grey},      /* Adobe transform 2: libjpeg turns YCCK back to CMYK */
    };
    for (int c = 0; c < 3; c++) {
        uint8_t s[JH * JW * 4];
        for (int i = 0; i < JH * JW; i++) memcpy(s + 4 * i, cases[c].v[(i % JW) >= 8], 4);
        write_jpeg(path, &(jpeg_spec){.w = JW, .h = JH, .comps = 4, .in = JCS_CMYK,
                .jcs = cases[c].jcs, .pixels = s, .adobe = cases[c].adobe});
        lx_image img;
        decode_ok(path, &img, JH, JW);
        for (int i = 0; i < JH * JW; i++) {
            const uint8_t *v = cases[c].v[(i % JW) >= 8];
            expect_px(&img, i / JW, i % JW, cmyk_to(v[2], v[3]), cmyk_to(v[1], v[3]),
                      cmyk_to(v[0], v[3]));
        }
        lx_image_free(&img);
    }
    unlink(path);
}

/* ---- EXIF orientation --------------------------------------------------------------- */

/* The displayed image for each orientation, built from two operations on the stored
 * one, as EXIF defines the values and OpenCV's ExifTransform carries them out
 * (flip / transpose): */
static lx_image rot_cw(const lx_image *s) {       /* rotate 90 degrees clockwise */
    lx_image d = {s->w, s->h, malloc((size_t)s->w * s->h * 3)};
    for (int y = 0; y < d.h; y++)
        for (int x = 0; x < d.w; x++)
            memcpy(d.bgr + ((size_t)y * d.w + x) * 3, px(s, s->h - 1 - x, y), 3);
    return d;
}

static lx_image mirror(const lx_image *s) {        /* left <-> right */
    lx_image d = {s->h, s->w, malloc((size_t)s->w * s->h * 3)};
    for (int y = 0; y < d.h; y++)
        for (int x = 0; x < d.w; x++)
            memcpy(d.bgr + ((size_t)y * d.w + x) * 3, px(s, y, s->w - 1 - x), 3);
    return d;
}

/* The stored image s turned for display: rotate clockwise r quarter turns, then mirror. */
static lx_image displayed(const lx_image *s, int r, int m) {
    lx_image cur = {s->h, s->w, malloc((size_t)s->w * s->h * 3)};
    memcpy(cur.bgr, s->bgr, (size_t)s->w * s->h * 3);
    for (int i = 0; i < r; i++) {
        lx_image n = rot_cw(&cur);
        lx_image_free(&cur);
        cur = n;
    }
    if (m) {
        lx_image n = mirror(&cur);
        lx_image_free(&cur);
        cur = n;
    }
    return cur;
}

static void test_exif_orientations(void **state) {
    (void)state;
    /* orientation -> (clockwise quarter turns, mirror afterwards):
     *   1 top-left: as stored                      ExifTransform: nothing
     *   2 top-right: mirrored                      flip(1)
     *   3 bottom-right: rotated 180                flip(-1)
     *   4 bottom-left: upside down mirror          flip(0)
     *   5 left-top: transposed                     transpose
     *   6 right-top: rotated 90 clockwise          transpose, flip(1)
     *   7 right-bottom: transverse                 transpose, flip(-1)
     *   8 left-bottom: rotated 90 anticlockwise    transpose, flip(0) */
    static const int turns[9][2] = {{0, 0}, {0, 0}, {0, 1}, {2, 0}, {2, 1},
                                    {1, 1}, {1, 0}, {3, 1}, {3, 0}};
    char path[4096], plain_path[4096];
    snprintf(path, sizeof path, "%s", scratch("exif.jpg"));
    snprintf(plain_path, sizeof plain_path, "%s", scratch("noexif.jpg"));
    enum { W = 24, H = 16 };                      /* 3 x 2 flat blocks, each its own grey */
    uint8_t g[W * H];
    for (int i = 0; i < W * H; i++)
        g[i] = (uint8_t)(30 + 40 * ((i % W) / 8) + 100 * (i / W / 8));
    write_jpeg(plain_path, &(jpeg_spec){.w = W, .h = H, .comps = 1, .in = JCS_GRAYSCALE,
            .jcs = JCS_GRAYSCALE, .pixels = g});
    lx_image stored;
    decode_ok(plain_path, &stored, H, W);
    uint8_t app1[64];
    for (int o = 1; o <= 8; o++) {
        size_t n = exif_app1(app1, o);
        write_jpeg(path, &(jpeg_spec){.w = W, .h = H, .comps = 1, .in = JCS_GRAYSCALE,
                .jcs = JCS_GRAYSCALE, .pixels = g, .app1 = {app1}, .napp1 = {n}});
        lx_image img, want = displayed(&stored, turns[o][0], turns[o][1]);
        decode_ok(path, &img, want.h, want.w);
        if (memcmp(img.bgr, want.bgr, (size_t)W * H * 3))
            fail_msg("orientation %d: pixels not where EXIF puts them", o);
        lx_image_free(&img);
        lx_image_free(&want);
    }
    /* values other than 1-8 change nothing (ExifTransform's default case) */
    for (int o = 0; o <= 9; o += 9) {
        size_t n = exif_app1(app1, o);
        write_jpeg(path, &(jpeg_spec){.w = W, .h = H, .comps = 1, .in = JCS_GRAYSCALE,
                .jcs = JCS_GRAYSCALE, .pixels = g, .app1 = {app1}, .napp1 = {n}});
        lx_image img;
        decode_ok(path, &img, H, W);
        assert_memory_equal(img.bgr, stored.bgr, (size_t)W * H * 3);
        lx_image_free(&img);
    }
    /* only the FIRST APP1 segment is read (readHeader stops at it): an XMP segment before
     * the EXIF one hides it */
    static const uint8_t xmp[] = "http://ns.adobe.com/xap/1.0/\0<x/>";
    size_t n = exif_app1(app1, 6);
    write_jpeg(path, &(jpeg_spec){.w = W, .h = H, .comps = 1, .in = JCS_GRAYSCALE,
            .jcs = JCS_GRAYSCALE, .pixels = g, .app1 = {xmp, app1}, .napp1 = {sizeof xmp, n}});
    lx_image img;
    decode_ok(path, &img, H, W);
    lx_image_free(&img);
    /* ... and its first 6 bytes are skipped unread: any identifier works */
    memcpy(app1, "Nope!", 6);
    write_jpeg(path, &(jpeg_spec){.w = W, .h = H, .comps = 1, .in = JCS_GRAYSCALE,
            .jcs = JCS_GRAYSCALE, .pixels = g, .app1 = {app1}, .napp1 = {n}});
    decode_ok(path, &img, W, H);
    lx_image_free(&img);
    lx_image_free(&stored);
    unlink(path);
    unlink(plain_path);
}

/* A PNG's eXIf chunk turns it too (PngDecoder::readData parses it after png_read_end). */
static void test_exif_png(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("exif.png"));
    const uint8_t rgb[2 * 3 * 3] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6};
    uint8_t app1[64];
    size_t n = exif_app1(app1, 6);
    write_png(path, &(png_spec){.w = 3, .h = 2, .type = PNG_COLOR_TYPE_RGB, .depth = 8,
            .rows = rgb, .rowbytes = 9, .exif = app1 + 6, .nexif = n - 6});
    lx_image img;
    decode_ok(path, &img, 3, 2);                  /* 90 degrees clockwise */
    expect_px(&img, 0, 0, 4, 4, 4);
    expect_px(&img, 0, 1, 1, 1, 1);
    expect_px(&img, 2, 0, 6, 6, 6);
    lx_image_free(&img);
    unlink(path);
}

/* A big-endian TIFF block with the given IFD entries (12 bytes each) and count. */
static size_t tiff(uint8_t *buf, const uint8_t (*e)[12], int n, int count) {
    static const uint8_t head[8] = {'M', 'M', 0, 42, 0, 0, 0, 8};
    memcpy(buf, head, 8);
    buf[8] = (uint8_t)(count >> 8);
    buf[9] = (uint8_t)count;
    memcpy(buf + 10, e, (size_t)n * 12);
    memset(buf + 10 + 12 * n, 0, 4);
    return 10 + 12 * (size_t)n + 4;
}

/* OpenCV's ExifReader on damaged blocks: entries are decoded in order and the first read
 * outside the block stops the walk, keeping what came before (parseExif catches
 * ExifParsingError; m_exif keeps the entries already inserted). */
static void test_exif_reader(void **state) {
    (void)state;
    static const uint8_t o6[12] = {0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0};
    static const uint8_t o3[12] = {0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0};
    /* Make (ASCII), 100 bytes at offset 5000: outside the block */
    static const uint8_t bad_make[12] = {0x01, 0x0F, 0, 2, 0, 0, 0, 100, 0, 0, 0x13, 0x88};
    /* XResolution (rational) at offset 9999: outside */
    static const uint8_t bad_xres[12] = {0x01, 0x1A, 0, 5, 0, 0, 0, 1, 0, 0, 0x27, 0x0F};
    /* orientation stored as a LONG: OpenCV reads the first 16 bits of the value (0) */
    static const uint8_t o6_long[12] = {0x01, 0x12, 0, 4, 0, 0, 0, 1, 0, 0, 0, 6};
    uint8_t b[256];
    size_t n;

    n = tiff(b, &o6, 1, 1);
    assert_int_equal(lx_exif_orientation(b, n), 6);
    /* damage after the orientation: still found; before it: not */
    uint8_t two[2][12];
    memcpy(two[0], o6, 12), memcpy(two[1], bad_make, 12);
    n = tiff(b, (const uint8_t(*)[12])two, 2, 2);
    assert_int_equal(lx_exif_orientation(b, n), 6);
    memcpy(two[0], bad_make, 12), memcpy(two[1], o6, 12);
    n = tiff(b, (const uint8_t(*)[12])two, 2, 2);
    assert_int_equal(lx_exif_orientation(b, n), -1);
    memcpy(two[0], bad_xres, 12);
    n = tiff(b, (const uint8_t(*)[12])two, 2, 2);
    assert_int_equal(lx_exif_orientation(b, n), -1);
    /* the first orientation entry wins (std::map::insert keeps the first) */
    memcpy(two[0], o6, 12), memcpy(two[1], o3, 12);
    n = tiff(b, (const uint8_t(*)[12])two, 2, 2);
    assert_int_equal(lx_exif_orientation(b, n), 6);
    /* more entries declared than present: those present count */
    n = tiff(b, &o6, 1, 40);
    assert_int_equal(lx_exif_orientation(b, 10 + 12), 6);
    /* the block ends inside the orientation's value: not found */
    assert_int_equal(lx_exif_orientation(b, 10 + 9), -1);
    assert_int_equal(lx_exif_orientation(b, 10 + 10), 6);
    /* type is ignored, the 16-bit word at +8 is taken */
    n = tiff(b, &o6_long, 1, 1);
    assert_int_equal(lx_exif_orientation(b, n), 0);
    /* byte order: "II" little-endian, anything else big-endian ("MI": getFormat NONE) */
    n = tiff(b, &o6, 1, 1);
    b[0] = 'M', b[1] = 'I';
    assert_int_equal(lx_exif_orientation(b, n), 6);
    b[0] = 'I', b[1] = 'I';
    assert_int_equal(lx_exif_orientation(b, n), -1);   /* 42 read as 0x2A00 */
    /* not 42, an IFD offset outside, an empty or tiny block */
    n = tiff(b, &o6, 1, 1);
    b[3] = 43;
    assert_int_equal(lx_exif_orientation(b, n), -1);
    b[3] = 42, b[7] = 200;
    assert_int_equal(lx_exif_orientation(b, n), -1);
    assert_int_equal(lx_exif_orientation(b, 0), -1);
    assert_int_equal(lx_exif_orientation(b, 3), -1);

    /* random blocks: never a read outside (ASan checks it under make sanitize) */
    uint32_t s = 1;
    for (int i = 0; i < 20000; i++) {
        size_t len = 1 + i % 97;
        uint8_t *r = malloc(len);
        for (size_t k = 0; k < len; k++) {
            s = s * 1103515245u + 12345u;
            r[k] = (uint8_t)(s >> 16);
        }
        if (len > 4) {                            /* mostly a valid header */
            r[0] = r[1] = (i & 1) ? 'I' : 'M';
            r[2] = (i & 1) ? 42 : 0;
            r[3] = (i & 1) ? 0 : 42;
        }
        int o = lx_exif_orientation(r, len);
        assert_true(o >= -1 && o <= 65535);
        free(r);
    }
}

/* A damaged EXIF block does not make the file bad: OpenCV decodes it unturned. */
static void test_exif_damaged_file(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("badexif.jpg"));
    uint8_t g[JH * JW];
    memset(g, 99, sizeof g);
    static const uint8_t app1[] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 42, 0xFF, 0xFF,
                                   0xFF, 0xF0, 0x01, 0x12};
    write_jpeg(path, &(jpeg_spec){.w = JW, .h = JH, .comps = 1, .in = JCS_GRAYSCALE,
            .jcs = JCS_GRAYSCALE, .pixels = g, .app1 = {app1}, .napp1 = {sizeof app1}});
    lx_image img;
    decode_ok(path, &img, JH, JW);
    expect_px(&img, 0, 0, 99, 99, 99);
    lx_image_free(&img);
    unlink(path);
}

/* ---- bad files ---------------------------------------------------------------------- */

/* A PNG chunk (length, type, data, CRC) at p; returns its size. */
static size_t png_chunk(uint8_t *p, const char *type, const uint8_t *data, uint32_t n) {
    p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8),
    p[3] = (uint8_t)n;
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, data, n);
    uint32_t crc = (uint32_t)crc32(0, p + 4, 4 + n);
    p[8 + n] = (uint8_t)(crc >> 24), p[9 + n] = (uint8_t)(crc >> 16),
    p[10 + n] = (uint8_t)(crc >> 8), p[11 + n] = (uint8_t)crc;
    return 12 + n;
}

/* A PNG of just a signature and an IHDR declaring w x h 8-bit RGB: no pixel data. */
static size_t png_header_only(uint8_t *p, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                        (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                        8, 2, 0, 0, 0};
    memcpy(p, sig, 8);
    return 8 + png_chunk(p + 8, "IHDR", ihdr, 13);
}

static void test_bad_files(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("bad"));

    write_bytes(path, "", 0);
    decode_fails(path, 0, "not an image");
    write_bytes(path, "hello, world\n", 13);
    decode_fails(path, 0, "not an image: neither JPEG nor PNG (starts with 68 65 6c 6c)");
    write_bytes(path, "\xFF\xD8", 2);             /* shorter than either signature */
    decode_fails(path, 0, "not an image");

    /* the directory and the FIFO are refused at once (lx_file_map: regular files only;
     * opened non-blocking, so the FIFO with no writer does not hang the test) */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", scratch("dir"));
    assert_int_equal(mkdir(dir, 0700), 0);
    decode_fails(dir, 0, "not a regular file");
    rmdir(dir);
    char fifo[4096];
    snprintf(fifo, sizeof fifo, "%s", scratch("fifo"));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    decode_fails(fifo, 0, "not a regular file");
    unlink(fifo);
    decode_fails("/nonexistent/lx-image.png", 0, "cannot open");

    /* lx_image_decode names what it is given */
    lx_image img;
    lx_error err = {0};
    assert_int_equal(lx_image_decode(&img, "", 0, "mem.jpg", 0, &err), -1);
    assert_non_null(strstr(err.msg, "mem.jpg: not an image"));
    unlink(path);
}

/* A JPEG cut in the middle of its entropy-coded data: libjpeg only warns ("Premature end
 * of JPEG file") and greys the rest, which OpenCV returns; here it is refused. */
static void test_truncated(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("cut.jpg"));
    enum { W = 64, H = 64 };
    uint8_t rgb[W * H * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 2654435761u >> 24);
    write_jpeg(path, &(jpeg_spec){.w = W, .h = H, .comps = 3, .in = JCS_RGB,
            .jcs = JCS_YCbCr, .pixels = rgb});
    size_t n;
    uint8_t *b = read_bytes(path, &n);
    size_t sos = 0;
    for (size_t i = 2; i + 1 < n; i++)
        if (b[i] == 0xFF && b[i + 1] == 0xDA) sos = i;
    assert_true(sos > 0 && n - sos > 200);
    write_bytes(path, b, sos + (n - sos) / 2);
    decode_fails(path, 0, "truncated JPEG");
    /* and one cut inside its header */
    write_bytes(path, b, sos / 2);
    decode_fails(path, 0, "truncated JPEG");
    /* damaged entropy-coded data: refused too (libjpeg warns and goes on) */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    c[sos + (n - sos) / 2] = 0xFF;
    c[sos + (n - sos) / 2 + 1] = 0xD3;            /* a marker (RST3) in the middle */
    write_bytes(path, c, n);
    decode_fails(path, 0, "corrupt JPEG");
    free(c);
    free(b);
    unlink(path);

    /* a PNG cut inside its IDAT chunk: libpng reports a read error */
    snprintf(path, sizeof path, "%s", scratch("cut.png"));
    write_png(path, &(png_spec){.w = W, .h = H, .type = PNG_COLOR_TYPE_RGB, .depth = 8,
            .rows = rgb, .rowbytes = W * 3});
    b = read_bytes(path, &n);
    size_t idat = 0;
    for (size_t i = 8; i + 4 <= n; i++)
        if (!memcmp(b + i, "IDAT", 4)) {
            idat = i;
            break;
        }
    assert_true(idat > 0);
    uint32_t len = (uint32_t)b[idat - 4] << 24 | (uint32_t)b[idat - 3] << 16 |
                   (uint32_t)b[idat - 2] << 8 | b[idat - 1];
    write_bytes(path, b, idat + 4 + len / 2);
    decode_fails(path, 0, "truncated PNG");
    /* and one with a damaged CRC */
    b[idat + 10] ^= 0x55;
    write_bytes(path, b, n);
    decode_fails(path, 0, "corrupt PNG");
    free(b);
    unlink(path);
}

/* Sizes are refused from the header, before any pixel: the files below carry no pixel
 * data at all, so a decoder that went on would fail another way (truncated), and a
 * 100000 x 100000 x 3 buffer (30 GB) would fail with "out of memory". */
static void test_sizes(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("big.png"));
    uint8_t b[64];
    size_t n = png_header_only(b, 100000, 100000);
    write_bytes(path, b, n);
    decode_fails(path, 50000000, "PNG too large: 100000 x 100000");
    decode_fails(path, 0, "too large");           /* over OpenCV's 2^30 pixels anyway */
    n = png_header_only(b, 2000000, 1);           /* over libpng's 10^6 a side */
    write_bytes(path, b, n);
    decode_fails(path, 0, "too large");
    n = png_header_only(b, 0, 5);
    write_bytes(path, b, n);
    decode_fails(path, 0, "0 x 5");
    /* within the limits, max_pixels decides: 100 x 100 against 9999 and 10000 */
    n = png_header_only(b, 100, 100);
    write_bytes(path, b, n);
    decode_fails(path, 9999, "too large");
    decode_fails(path, 10000, "truncated PNG");   /* accepted, then no pixel data */
    unlink(path);

    /* a JPEG whose frame header declares 60000 x 60000 (JPEG sizes stop at 65535) */
    snprintf(path, sizeof path, "%s", scratch("big.jpg"));
    uint8_t g[JH * JW];
    memset(g, 50, sizeof g);
    write_jpeg(path, &(jpeg_spec){.w = JW, .h = JH, .comps = 1, .in = JCS_GRAYSCALE,
            .jcs = JCS_GRAYSCALE, .pixels = g});
    size_t len;
    uint8_t *j = read_bytes(path, &len);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < len; i++)
        if (j[i] == 0xFF && j[i + 1] == 0xC0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    j[sof + 5] = 0xEA, j[sof + 6] = 0x60;         /* height 60000 */
    j[sof + 7] = 0xEA, j[sof + 8] = 0x60;         /* width 60000 */
    write_bytes(path, j, len);
    decode_fails(path, 50000000, "JPEG too large: 60000 x 60000");
    free(j);
    unlink(path);
}

/* Every prefix of a small PNG and JPEG, and every single-byte change of them: -1 with a
 * message or an image, never a crash or a read outside (ASan under make sanitize). */
static void test_damage(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", scratch("dmg.jpg"));
    enum { W = 20, H = 12 };
    uint8_t rgb[W * H * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 7);
    uint8_t app1[64];
    size_t na = exif_app1(app1, 6);
    write_jpeg(path, &(jpeg_spec){.w = W, .h = H, .comps = 3, .in = JCS_RGB,
            .jcs = JCS_YCbCr, .pixels = rgb, .app1 = {app1}, .napp1 = {na}});
    size_t nj;
    uint8_t *jpg = read_bytes(path, &nj);
    unlink(path);
    snprintf(path, sizeof path, "%s", scratch("dmg.png"));
    write_png(path, &(png_spec){.w = W, .h = H, .type = PNG_COLOR_TYPE_RGB, .depth = 8,
            .interlace = 1, .rows = rgb, .rowbytes = W * 3, .exif = app1 + 6,
            .nexif = na - 6});
    size_t np;
    uint8_t *png = read_bytes(path, &np);
    unlink(path);
    const uint8_t *files[2] = {jpg, png};
    size_t lens[2] = {nj, np};
    for (int f = 0; f < 2; f++) {
        for (size_t cut = 0; cut < lens[f]; cut++) {
            lx_image img;
            lx_error err = {0};
            uint8_t *exact = malloc(cut ? cut : 1);   /* exactly cut bytes, for ASan */
            memcpy(exact, files[f], cut);
            assert_int_equal(lx_image_decode(&img, exact, cut, "cut", 0, &err), -1);
            assert_non_null(strstr(err.msg, "cut: "));
            free(exact);
        }
        uint8_t *copy = malloc(lens[f]);
        for (size_t i = 0; i < lens[f]; i += 1 + (f == 0 ? 0 : 2)) {
            memcpy(copy, files[f], lens[f]);
            copy[i] ^= (uint8_t)(0x5A + i);
            lx_image img;
            lx_error err = {0};
            if (lx_image_decode(&img, copy, lens[f], "flip", 0, &err) == 0) {
                assert_true(img.h > 0 && img.w > 0);
                lx_image_free(&img);
            } else {
                assert_null(img.bgr);
                assert_non_null(strstr(err.msg, "flip: "));
            }
        }
        free(copy);
    }
    free(jpg);
    free(png);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_images),
        cmocka_unit_test(test_png_8bit),
        cmocka_unit_test(test_png_palette),
        cmocka_unit_test(test_png_16bit),
        cmocka_unit_test(test_png_low_bit_grey),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_jpeg_grey),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_exif_orientations),
        cmocka_unit_test(test_exif_png),
        cmocka_unit_test(test_exif_reader),
        cmocka_unit_test(test_exif_damaged_file),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
