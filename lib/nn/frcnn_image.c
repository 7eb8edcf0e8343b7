/*
 * frcnn_image.c — the detector's input (frcnn.h): processing_image.py's Preprocess for
 * one image, ResizeShortestEdge then (x - pixel_mean) / pixel_std.
 *
 * The resize is torch 1.13's bilinear interpolation (align_corners=False, no antialias)
 * as its channels-last CPU kernel computes it, to the last bit: per output axis a source
 * coordinate in double from a float32 scale, float32 weights, and each output pixel the
 * double sum of its four weighted inputs rounded once.  Computing the coordinate in
 * float, or summing in float, moves about a third of the pixels by an ulp or two.
 */
#include <math.h>
#include <stdlib.h>
#include "frcnn.h"

void lx_frcnn_resized_size(int H, int W, int min_size, int max_size, int *h, int *w) {
    double s = min_size * 1.0 / (H < W ? H : W), nh, nw;
    if (H < W) {
        nh = min_size;
        nw = s * W;
    } else {
        nh = s * H;
        nw = min_size;
    }
    double longer = nh > nw ? nh : nw;
    if (longer > max_size) {
        double r = max_size * 1.0 / longer;
        nh *= r;
        nw *= r;
    }
    *h = (int)(nh + 0.5);
    *w = (int)(nw + 0.5);
}

/* One output axis: for output i, the two source indices and their weights. */
typedef struct axis {
    int *i0, *i1;
    float *l0, *l1;
} axis;

static void axis_weights(int in, int out, axis *a) {
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        if (in == out) {
            a->i0[d] = a->i1[d] = d;
            a->l0[d] = 1.0f;
            a->l1[d] = 0.0f;
            continue;
        }
        double src = (double)scale * (d + 0.5) - 0.5;
        if (src < 0) src = 0;
        int i0 = (int)src;
        a->i0[d] = i0;
        a->i1[d] = i0 + (i0 < in - 1 ? 1 : 0);
        a->l1[d] = (float)(src - i0);
        a->l0[d] = (float)(1.0 - (double)a->l1[d]);
    }
}

typedef struct resize_ctx {
    const uint8_t *px;
    int W, rgb, w;
    axis ax, ay;
    float *out;
} resize_ctx;

static void resize_rows(lx_rt *rt, void *ctx, size_t y0, size_t y1, int t) {
    const resize_ctx *c = ctx;
    for (size_t y = y0; y < y1; y++) {
        const uint8_t *r0 = c->px + (size_t)c->ay.i0[y] * c->W * 3;
        const uint8_t *r1 = c->px + (size_t)c->ay.i1[y] * c->W * 3;
        float lh0 = c->ay.l0[y], lh1 = c->ay.l1[y];
        float *o = c->out + y * (size_t)c->w * 3;
        for (int x = 0; x < c->w; x++, o += 3) {
            int x0 = 3 * c->ax.i0[x], x1 = 3 * c->ax.i1[x];
            float w00 = lh0 * c->ax.l0[x], w01 = lh0 * c->ax.l1[x];
            float w10 = lh1 * c->ax.l0[x], w11 = lh1 * c->ax.l1[x];
            for (int ch = 0; ch < 3; ch++) {
                int s = c->rgb ? 2 - ch : ch;
                o[ch] = (float)((double)r0[x0 + s] * w00 + (double)r0[x1 + s] * w01 +
                                (double)r1[x0 + s] * w10 + (double)r1[x1 + s] * w11);
            }
        }
    }
}

int lx_frcnn_resize(lx_rt *rt, const uint8_t *px, int H, int W, int rgb, int h, int w,
                    float *out, lx_error *err) {
    /* the two axes' tables in one block: indices, then weights */
    void *mem = malloc((size_t)(h + w) * 2 * (sizeof(int) + sizeof(float)));
    if (!mem) return lx_error_set(err, "out of memory (resize tables)");
    int *iv = mem;
    float *fv = (float *)(iv + 2 * (h + w));
    resize_ctx c = {px, W, rgb, w,
                    {iv, iv + w, fv, fv + w},
                    {iv + 2 * w, iv + 2 * w + h, fv + 2 * w, fv + 2 * w + h}, out};
    axis_weights(W, w, &c.ax);
    axis_weights(H, h, &c.ay);
    lx_rt_for(rt, (size_t)h, 40.0 * w, resize_rows, &c, 4);
    free(mem);
    return 0;
}

void lx_frcnn_normalize(float *out, size_t n, const double mean[3], const double std[3]) {
    float m[3] = {(float)mean[0], (float)mean[1], (float)mean[2]};
    float s[3] = {(float)std[0], (float)std[1], (float)std[2]};
    for (size_t i = 0; i < n; i++, out += 3)
        for (int ch = 0; ch < 3; ch++) out[ch] = (out[ch] - m[ch]) / s[ch];
}
