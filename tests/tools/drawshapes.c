/*
 * drawshapes — write a PNG picture of a few simple shapes, for the demo and the tests
 * (images of the project's own, any size, with no files to ship).
 *
 *   drawshapes [-W WIDTH] [-H HEIGHT] [-n SHAPES] [-s SEED] FILE.png
 *
 * The picture: a sky-to-ground gradient, then SHAPES filled rectangles, discs and
 * triangles of random colours, sizes and places (xorshift from SEED, so a seed always
 * draws the same picture).  8-bit RGB, written with libpng.  Defaults: 320 x 240, 4
 * shapes, seed 1.  Any size from 1 x 1 up works (a 1 x 1 picture is one pixel of sky).
 */
#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 1;

static uint64_t next(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

/* Uniform in [0, n). */
static int below(int n) { return n > 0 ? (int)(next() % (uint64_t)n) : 0; }

typedef struct picture {
    int w, h;
    uint8_t *rgb;                 /* [h, w, 3] */
} picture;

static void put(picture *p, int x, int y, const uint8_t c[3]) {
    if (x >= 0 && y >= 0 && x < p->w && y < p->h) memcpy(p->rgb + 3 * ((size_t)y * p->w + x), c, 3);
}

/* Sky above two thirds of the height, ground below, each a gentle gradient. */
static void background(picture *p) {
    for (int y = 0; y < p->h; y++) {
        int ground = 3 * y >= 2 * p->h, t = p->h > 1 ? 255 * y / (p->h - 1) : 0;
        uint8_t c[3] = {(uint8_t)(ground ? 90 + t / 8 : 120 + t / 4),
                        (uint8_t)(ground ? 140 - t / 8 : 170 + t / 6),
                        (uint8_t)(ground ? 60 : 235)};
        for (int x = 0; x < p->w; x++) put(p, x, y, c);
    }
}

static void rectangle(picture *p, int x0, int y0, int x1, int y1, const uint8_t c[3]) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) put(p, x, y, c);
}

static void disc(picture *p, int cx, int cy, int r, const uint8_t c[3]) {
    for (int y = cy - r; y <= cy + r; y++)
        for (int x = cx - r; x <= cx + r; x++)
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) put(p, x, y, c);
}

/* An upright triangle: apex (cx, y0), base from x0 to x1 at y1. */
static void triangle(picture *p, int cx, int y0, int x0, int x1, int y1, const uint8_t c[3]) {
    for (int y = y0; y <= y1; y++) {
        double f = y1 > y0 ? (double)(y - y0) / (y1 - y0) : 1;
        int a = cx + (int)((x0 - cx) * f), b = cx + (int)((x1 - cx) * f);
        for (int x = a; x <= b; x++) put(p, x, y, c);
    }
}

static void shapes(picture *p, int n) {
    static const uint8_t palette[][3] = {{220, 40, 40},  {40, 90, 220},  {245, 200, 30},
                                         {250, 250, 250}, {30, 30, 30},  {240, 130, 20},
                                         {130, 60, 170},  {120, 80, 40}, {40, 170, 80}};
    int m = p->w < p->h ? p->w : p->h;
    for (int i = 0; i < n; i++) {
        const uint8_t *c = palette[below((int)(sizeof palette / sizeof *palette))];
        int s = m / 8 + below(m / 3 + 1), x = below(p->w), y = below(p->h);
        switch (below(3)) {
        case 0: rectangle(p, x - s / 2, y - s / 3, x + s / 2, y + s / 3, c); break;
        case 1: disc(p, x, y, s / 2, c); break;
        default: triangle(p, x, y - s / 2, x - s / 2, x + s / 2, y + s / 2, c); break;
        }
    }
}

static int write_png(const picture *p, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "drawshapes: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "drawshapes: %s: libpng failed\n", path);
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return 1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)p->w, (png_uint_32)p->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < p->h; y++) png_write_row(png, p->rgb + 3 * (size_t)y * p->w);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) {
        fprintf(stderr, "drawshapes: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static int number(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "drawshapes: %s: got '%s', expected %ld to %ld\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    long w = 320, h = 240, n = 4, seed = 1;
    int c;
    while ((c = getopt(argc, argv, "W:H:n:s:")) != -1) {
        int bad = 0;
        switch (c) {
        case 'W': bad = number("-W", optarg, 1, 1 << 14, &w); break;
        case 'H': bad = number("-H", optarg, 1, 1 << 14, &h); break;
        case 'n': bad = number("-n", optarg, 0, 1000, &n); break;
        case 's': bad = number("-s", optarg, 0, 0x7fffffff, &seed); break;
        default: bad = -1;
        }
        if (bad) {
            fprintf(stderr, "usage: drawshapes [-W WIDTH] [-H HEIGHT] [-n SHAPES] [-s SEED] FILE.png\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: drawshapes [-W WIDTH] [-H HEIGHT] [-n SHAPES] [-s SEED] FILE.png\n");
        return 2;
    }
    rng = ((uint64_t)seed * 0x9E3779B97F4A7C15ull) | 1;
    for (int i = 0; i < 4; i++) next();
    picture p = {(int)w, (int)h, malloc((size_t)w * (size_t)h * 3)};
    if (!p.rgb) {
        fprintf(stderr, "drawshapes: out of memory\n");
        return 1;
    }
    background(&p);
    shapes(&p, (int)n);
    int rc = write_png(&p, argv[optind]);
    free(p.rgb);
    return rc;
}
