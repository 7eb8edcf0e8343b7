/*
 * mktsv — write a synthetic bottom-up-attention feature TSV, for tests and benchmarks.
 *
 *   mktsv [-n IMAGES] [-b BOXES] [-d DIM] [-l 10|6] [-s SEED] [--bad KIND:I] > out.tsv
 *
 * Deterministic for a seed.  Ids are COCO-like strings (10-field layout) or the integers
 * 0..n-1 (6-field layout).  Features are non-negative with many zeros, like the pooled
 * ReLU outputs of Faster R-CNN; boxes lie inside the image, some exactly on its border.
 * --bad KIND:I spoils image I: box (a box past the right edge), nan (a NaN feature),
 * inf (an infinite box coordinate), numboxes (num_boxes one too many), base64 (a '!'
 * in the features), fields (a field missing).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "internal.h"

static uint64_t rng;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float unif(void) { return (float)(next() & 0xffffff) / 16777216.0f; }

static char *b64buf;
static size_t b64cap;
static void put_b64(const void *p, size_t n, int bang) {
    size_t need = lx_base64_encoded_len(n);
    if (need > b64cap) {
        b64cap = need;
        b64buf = realloc(b64buf, b64cap);
        if (!b64buf) exit(1);
    }
    size_t k = lx_base64_encode(b64buf, p, n);
    if (bang && k) b64buf[0] = '!';
    fwrite(b64buf, 1, k, stdout);
}

int main(int argc, char **argv) {
    long n = 10, nb = 36, dim = 2048, layout = 10, bad_at = -1;
    unsigned long seed = 1;
    const char *bad = NULL;
    static const struct option opts[] = {
        {"bad", required_argument, 0, 'B'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "n:b:d:l:s:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': n = atol(optarg); break;
        case 'b': nb = atol(optarg); break;
        case 'd': dim = atol(optarg); break;
        case 'l': layout = atol(optarg); break;
        case 's': seed = strtoul(optarg, NULL, 10); break;
        case 'B': {
            static char kind[32];
            const char *colon = strchr(optarg, ':');
            if (!colon || colon - optarg >= 31) goto usage;
            memcpy(kind, optarg, (size_t)(colon - optarg));
            bad = kind;
            bad_at = atol(colon + 1);
            break;
        }
        default: goto usage;
        }
    }
    if (n < 0 || nb < 1 || dim < 1 || (layout != 10 && layout != 6)) goto usage;
    rng = 0x9e3779b97f4a7c15ull ^ (seed * 0x100000001b3ull);
    float *feat = malloc((size_t)(nb * dim) * 4), *box = malloc((size_t)nb * 16);
    float *oc = malloc((size_t)nb * 4), *ac = malloc((size_t)nb * 4);
    int64_t *oid = malloc((size_t)nb * 8), *aid = malloc((size_t)nb * 8);
    if (!feat || !box || !oc || !ac || !oid || !aid) return 1;
    for (long i = 0; i < n; i++) {
        int spoil = bad_at == i;
        long w = 300 + (long)(next() % 400), h = 300 + (long)(next() % 400), k = nb;
        for (long j = 0; j < k; j++) {
            float x1 = unif() * (float)w, x2 = unif() * (float)w;
            float y1 = unif() * (float)h, y2 = unif() * (float)h;
            if (x1 > x2) { float t = x1; x1 = x2; x2 = t; }
            if (y1 > y2) { float t = y1; y1 = y2; y2 = t; }
            if (j == 0) x1 = 0, y1 = 0;                 /* on the border: allowed */
            if (j == 1) x2 = (float)w, y2 = (float)h;
            box[4 * j] = x1, box[4 * j + 1] = y1, box[4 * j + 2] = x2, box[4 * j + 3] = y2;
            oid[j] = next() % 1600, aid[j] = next() % 400;
            oc[j] = unif(), ac[j] = unif();
        }
        for (long j = 0; j < k * dim; j++) {
            uint32_t r = next();
            feat[j] = (r & 3) ? 0.0f : (float)(r >> 8 & 0xffff) / 4096.0f;
        }
        if (spoil && strcmp(bad, "box") == 0) box[4 * (k - 1) + 2] = (float)w + 0.5f;
        if (spoil && strcmp(bad, "nan") == 0) feat[dim + 3] = NAN;
        if (spoil && strcmp(bad, "inf") == 0) box[1] = INFINITY;
        long nbw = spoil && strcmp(bad, "numboxes") == 0 ? k + 1 : k;
        if (layout == 10) {
            printf("COCO_val2014_%012ld\t%ld\t%ld\t", i, h, w);
            put_b64(oid, (size_t)k * 8, 0), putchar('\t');
            put_b64(oc, (size_t)k * 4, 0), putchar('\t');
            put_b64(aid, (size_t)k * 8, 0), putchar('\t');
            put_b64(ac, (size_t)k * 4, 0), putchar('\t');
            printf("%ld\t", nbw);
        } else {
            printf("%ld\t%ld\t%ld\t%ld\t", i, w, h, nbw);
        }
        if (!(spoil && strcmp(bad, "fields") == 0)) put_b64(box, (size_t)k * 16, 0), putchar('\t');
        put_b64(feat, (size_t)(k * dim) * 4, spoil && strcmp(bad, "base64") == 0);
        putchar('\n');
    }
    free(feat);
    free(box);
    free(oc);
    free(ac);
    free(oid);
    free(aid);
    return fflush(stdout) == 0 ? 0 : 1;
usage:
    fprintf(stderr, "usage: mktsv [-n IMAGES] [-b BOXES] [-d DIM] [-l 10|6] [-s SEED] "
                    "[--bad box|nan|inf|numboxes|base64|fields:I]\n");
    return 2;
}
