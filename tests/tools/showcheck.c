/*
 * showcheck — hold lx-show's page against the records it was made from, for the shell
 * tests.  The weights and shades are computed here from each record's
 * cross_encoder_attentions, independently of the library's card code.
 *
 *   showcheck [--layer K] [--head H] PAGE RECORDS
 *       Every card of PAGE (found by its data-rec, the record's number in RECORDS):
 *       each word piece's data-w holds the mean over the heads (or head H) of layer K
 *       (default -1, the last) for its row and every region, within 1e-6 (relative);
 *       the boxes' fill-opacity are the default word piece's shades, (w - min) / (max -
 *       min), within 1e-6.  Prints "N cards, M weights checked".
 *   showcheck --dom DOM --card C --token T [--layer K] [--head H] RECORDS
 *       Card C (from 0, in page order) of a page as a browser left it after hovering
 *       word piece T: its fill-opacity are T's shades within 1e-6, and differ from the
 *       default word piece's by more than 1e-3 in some region.
 *   showcheck --png A [B]
 *       Prints "W H TINTED DISTINCT" for the screenshot A (pixels tinted by the boxes'
 *       orange, distinct colours), and with B "DIFFERING": pixels that differ.
 *
 * Rows and regions with a mask entry of 0 (attention_mask, visual_attention_mask) are
 * left out, as the page leaves them out.  Exit 0 when everything holds, 1 with the
 * first difference on stderr, 2 on a usage error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lx.h"

static void die(const char *fmt, const char *a, const char *b) {
    fputs("showcheck: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s%s", path, "");
    size_t n = 0, cap = 1 << 16;
    char *s = malloc(cap);
    for (size_t got; s && (got = fread(s + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) s = realloc(s, cap *= 2);
    }
    if (!s) die("out of memory reading %s%s", path, "");
    s[n] = '\0';
    fclose(f);
    return s;
}

/* ---- the expected weights -------------------------------------------------------------- */

typedef struct expect {
    size_t L, N;                  /* word pieces and regions shown */
    double *w;                    /* [L, N] */
} expect;

/* The weights the page should hold for record r. */
static void expected(const lx_record *r, long layer, long head, expect *e) {
    lx_error err = {0};
    const lx_tensor *t;
    float *a = lx_record_get_f32(r, "cross_encoder_attentions", &t, &err);
    if (!a) die("record: %s%s", err.msg, "");
    if (t->ndim != 4) die("cross_encoder_attentions: not 4-d%s%s", "", "");
    size_t X = (size_t)t->shape[0], H = (size_t)t->shape[1], L = (size_t)t->shape[2],
           N = (size_t)t->shape[3];
    size_t l = layer < 0 ? X - (size_t)-layer : (size_t)layer;
    const lx_tensor *am = lx_record_tensor(r, "attention_mask");
    const lx_tensor *vm = lx_record_tensor(r, "visual_attention_mask");
    int64_t *amv = am ? lx_record_get_i64(r, "attention_mask", NULL, &err) : NULL;
    int64_t *vmv = vm ? lx_record_get_i64(r, "visual_attention_mask", NULL, &err) : NULL;
    e->w = malloc(L * N * sizeof *e->w);
    e->L = e->N = 0;
    for (size_t q = 0; q < L; q++) {
        if (amv && !amv[q]) continue;
        size_t n = 0;
        for (size_t k = 0; k < N; k++) {
            if (vmv && !vmv[k]) continue;
            double sum = 0;
            size_t h0 = head < 0 ? 0 : (size_t)head, h1 = head < 0 ? H : (size_t)head + 1;
            for (size_t h = h0; h < h1; h++) sum += a[((l * H + h) * L + q) * N + k];
            e->w[e->L * N + n++] = (float)(sum / (double)(h1 - h0));
        }
        e->N = n;
        e->L++;
    }
    /* compact the rows to N shown columns */
    for (size_t q = 0; q < e->L; q++) memmove(e->w + q * e->N, e->w + q * N, e->N * sizeof *e->w);
    free(a);
    free(amv);
    free(vmv);
}

static void shades(const double *w, size_t n, double *out) {
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] < lo) lo = w[i];
        if (w[i] > hi) hi = w[i];
    }
    for (size_t i = 0; i < n; i++) out[i] = hi > lo ? (w[i] - lo) / (hi - lo) : hi > 0 ? 1 : 0;
}

/* ---- the page ---------------------------------------------------------------------------- */

typedef struct card {
    unsigned long long rec;
    size_t ntok, cls;
    double *w;                    /* [ntok, nbox] from data-w (NULL entries: no data-w) */
    size_t nbox;
    double *opacity;              /* [nbox] the shade rects' fill-opacity */
} card;

/* The value of attribute name="..." in the tag starting at p (up to its '>'), or NULL. */
static char *attr(const char *p, const char *name) {
    const char *end = strchr(p, '>');
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *a = strstr(p, key);
    if (!a || (end && a > end)) return NULL;
    a += strlen(key);
    const char *q = strchr(a, '"');
    return q ? strndup(a, (size_t)(q - a)) : NULL;
}

/* The cards of a page, in order. */
static card *parse_cards(const char *page, size_t *n) {
    size_t cap = 16;
    card *cs = calloc(cap, sizeof *cs);
    *n = 0;
    for (const char *p = strstr(page, "<article "); p; p = strstr(p + 1, "<article ")) {
        const char *end = strstr(p, "</article>");
        if (!end) die("an <article> without its end%s%s", "", "");
        if (*n == cap) cs = realloc(cs, (cap *= 2) * sizeof *cs);
        card *c = &cs[(*n)++];
        memset(c, 0, sizeof *c);
        char *rec = attr(p, "data-rec");
        if (!rec) die("a card without data-rec%s%s", "", "");
        c->rec = strtoull(rec, NULL, 10);
        free(rec);
        /* the shade rects */
        const char *g = strstr(p, "<g class=\"shade\">");
        const char *ge = g ? strstr(g, "</g>") : NULL;
        if (g && ge && g < end) {
            size_t oc = 0;
            for (const char *r = strstr(g, "<rect "); r && r < ge; r = strstr(r + 1, "<rect ")) {
                char *v = attr(r, "fill-opacity");
                if (!v) die("a shade rect without fill-opacity%s%s", "", "");
                c->opacity = realloc(c->opacity, ++oc * sizeof *c->opacity);
                c->opacity[oc - 1] = strtod(v, NULL);
                free(v);
            }
            c->nbox = oc;
        }
        /* the word pieces */
        c->cls = (size_t)-1;
        for (const char *t = strstr(p, "<span class=\"tok"); t && t < end;
             t = strstr(t + 1, "<span class=\"tok")) {
            char *cl = attr(t, "class"), *w = attr(t, "data-w");
            if (cl && strstr(cl, "cls")) c->cls = c->ntok;
            c->w = realloc(c->w, (c->ntok + 1) * (c->nbox ? c->nbox : 1) * sizeof *c->w);
            size_t k = 0;
            for (char *s = w, *e; s && *s && k < c->nbox; s = e, k++) {
                c->w[c->ntok * c->nbox + k] = strtod(s, &e);
                if (e == s) break;
            }
            if (w && k != c->nbox) die("a data-w without one weight per box: %s%s", w, "");
            if (!w) die("a word piece without data-w: %s%s", t, "");
            c->ntok++;
            free(cl);
            free(w);
        }
    }
    return cs;
}

static void free_cards(card *cs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(cs[i].w);
        free(cs[i].opacity);
    }
    free(cs);
}

static int close_rel(double got, double want, double tol) {
    return fabs(got - want) <= tol * fmax(1, fabs(want));
}

/* Record rec (1-based) of the stream at path. */
static void read_record(const char *path, unsigned long long rec, lx_record *r) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s%s", path, "");
    lx_error err = {0};
    lx_reader *rd = lx_reader_open(f, path, &err);
    if (!rd) die("%s%s", err.msg, "");
    lx_record_init(r);
    for (unsigned long long i = 0; i < rec; i++)
        if (lx_reader_next(rd, r, &err) <= 0) die("%s: no record %s", path, "with that number");
    lx_reader_close(rd);
    fclose(f);
}

static int check_cards(const card *cs, size_t n, const char *recs, long layer, long head,
                       size_t *nw);

static int check_page(const char *page_path, const char *recs, long layer, long head) {
    char *page = slurp(page_path);
    size_t n, nw = 0;
    card *cs = parse_cards(page, &n);
    free(page);
    if (n == 0) die("%s: no cards%s", page_path, "");
    int rc = check_cards(cs, n, recs, layer, head, &nw);
    if (rc == 0) printf("%zu cards, %zu weights checked\n", n, nw);
    free_cards(cs, n);
    return rc;
}

/* Every card against its record: the weights of every word piece, the shades shown. */
static int check_cards(const card *cs, size_t n, const char *recs, long layer, long head,
                       size_t *nw) {
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const card *c = &cs[i];
        lx_record r;
        read_record(recs, c->rec, &r);
        expect e;
        expected(&r, layer, head, &e);
        lx_record_clear(&r);
        if (e.L != c->ntok || e.N != c->nbox) {
            fprintf(stderr, "showcheck: record %llu: the page shows %zu word pieces and %zu "
                            "boxes, the record has %zu and %zu\n", c->rec, c->ntok, c->nbox,
                    e.L, e.N);
            rc = 1;
        }
        for (size_t t = 0; rc == 0 && t < e.L; t++)
            for (size_t b = 0; rc == 0 && b < e.N; b++, (*nw)++)
                if (!close_rel(c->w[t * e.N + b], e.w[t * e.N + b], 1e-6)) {
                    fprintf(stderr, "showcheck: record %llu, word piece %zu, region %zu: the "
                                    "page says %.9g, the record %.9g\n", c->rec, t, b,
                            c->w[t * e.N + b], e.w[t * e.N + b]);
                    rc = 1;
                }
        double *want = malloc((e.N ? e.N : 1) * sizeof *want);
        if (rc == 0) shades(e.w + c->cls * e.N, e.N, want);
        for (size_t b = 0; rc == 0 && b < e.N; b++)
            if (!(fabs(c->opacity[b] - want[b]) <= 1e-6)) {
                fprintf(stderr, "showcheck: record %llu, region %zu: fill-opacity %.9g, the "
                                "record's shade for word piece %zu is %.9g\n", c->rec, b,
                        c->opacity[b], c->cls, want[b]);
                rc = 1;
            }
        free(want);
        free(e.w);
    }
    return rc;
}

static int check_dom(const char *dom_path, const char *recs, size_t ci, size_t tok, long layer,
                     long head) {
    char *page = slurp(dom_path);
    size_t n;
    card *cs = parse_cards(page, &n);
    free(page);
    if (ci >= n) die("%s: no such card%s", dom_path, "");
    const card *c = &cs[ci];
    lx_record r;
    read_record(recs, c->rec, &r);
    expect e;
    expected(&r, layer, head, &e);
    lx_record_clear(&r);
    if (tok >= e.L || c->nbox != e.N) die("the card does not match its record%s%s", "", "");
    double *want = malloc((e.N ? e.N : 1) * sizeof *want);
    double *dflt = malloc((e.N ? e.N : 1) * sizeof *dflt);
    shades(e.w + tok * e.N, e.N, want);
    shades(e.w + c->cls * e.N, e.N, dflt);
    double moved = 0;
    int rc = 0;
    for (size_t b = 0; rc == 0 && b < e.N; b++) {
        if (!(fabs(c->opacity[b] - want[b]) <= 1e-6)) {
            fprintf(stderr, "showcheck: record %llu, region %zu: after the hover fill-opacity "
                            "is %.9g, word piece %zu's shade is %.9g\n", c->rec, b,
                    c->opacity[b], tok, want[b]);
            rc = 1;
        }
        moved = fmax(moved, fabs(want[b] - dflt[b]));
    }
    if (rc == 0 && !(moved > 1e-3)) {
        fprintf(stderr, "showcheck: word piece %zu shades the boxes as the default one does "
                        "(largest change %g): the hover shows nothing\n", tok, moved);
        rc = 1;
    }
    if (rc == 0)
        printf("card %zu (record %llu): word piece %zu's shades, %zu boxes, largest change "
               "%.3f\n", ci, c->rec, tok, e.N, moved);
    free(want);
    free(dflt);
    free(e.w);
    free_cards(cs, n);
    return rc;
}

/* ---- screenshots ------------------------------------------------------------------------- */

static int png_stats(const char *a, const char *b) {
    lx_image x = {0}, y = {0};
    lx_error err = {0};
    if (lx_image_read(&x, a, 0, &err) < 0 || (b && lx_image_read(&y, b, 0, &err) < 0))
        die("%s%s", err.msg, "");
    size_t n = (size_t)x.w * (size_t)x.h, tinted = 0, distinct = 0, differ = 0;
    unsigned char *seen = calloc(1 << 21, 1); /* 2^24 colours, one bit each */
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = x.bgr + 3 * i;
        int B = p[0], G = p[1], R = p[2];
        if (R - B > 90 && R - G > 40) tinted++;
        uint32_t key = (uint32_t)R << 16 | (uint32_t)G << 8 | (uint32_t)B;
        if (!(seen[key >> 3] & (1u << (key & 7)))) {
            seen[key >> 3] |= (unsigned char)(1u << (key & 7));
            distinct++;
        }
        if (b && y.w == x.w && y.h == x.h && memcmp(p, y.bgr + 3 * i, 3) != 0) differ++;
    }
    printf("%d %d %zu %zu", x.w, x.h, tinted, distinct);
    if (b) printf(" %zu", (y.w == x.w && y.h == x.h) ? differ : n);
    putchar('\n');
    free(seen);
    lx_image_free(&x);
    lx_image_free(&y);
    return 0;
}

int main(int argc, char **argv) {
    long layer = -1, head = -1, ci = -1, tok = -1;
    const char *dom = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--png") == 0)
            return i + 1 < argc ? png_stats(argv[i + 1], i + 2 < argc ? argv[i + 2] : NULL) : 2;
        if (i + 1 >= argc) break;
        const char *v = argv[++i];
        if (strcmp(argv[i - 1], "--layer") == 0) layer = strtol(v, NULL, 10);
        else if (strcmp(argv[i - 1], "--head") == 0) head = strtol(v, NULL, 10);
        else if (strcmp(argv[i - 1], "--dom") == 0) dom = v;
        else if (strcmp(argv[i - 1], "--card") == 0) ci = strtol(v, NULL, 10);
        else if (strcmp(argv[i - 1], "--token") == 0) tok = strtol(v, NULL, 10);
        else break;
    }
    if (dom && i + 1 == argc && ci >= 0 && tok >= 0)
        return check_dom(dom, argv[i], (size_t)ci, (size_t)tok, layer, head);
    if (!dom && i + 2 == argc) return check_page(argv[i], argv[i + 1], layer, head);
    fprintf(stderr, "usage: showcheck [--layer K] [--head H] PAGE RECORDS\n"
                    "       showcheck --dom DOM --card C --token T [--layer K] [--head H] RECORDS\n"
                    "       showcheck --png A [B]\n");
    return 2;
}
