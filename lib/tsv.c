/*
 * tsv.c — bottom-up-attention TSV files: a line reader that never holds more than one
 * line (one image) plus one read buffer, the parser of one line of either layout into
 * an lx_regions, and the writer of LXMERT's layout (what lx-detect --tsv writes).
 *
 * The files are tens of GB with lines of about a megabyte (36 regions x 2048 floats in
 * base64), so the reader reads fixed-size chunks with read(2) and assembles a line that
 * spans chunks by moving its start to the front of the buffer and growing the buffer
 * only when one line is longer than it.  Random access (lx_tsv_read_at) is one pread
 * into a second buffer, so sequential and random reads do not disturb each other.
 *
 * Layouts (told apart by the field count):
 *   10: img_id img_h img_w objects_id objects_conf attrs_id attrs_conf num_boxes boxes features
 *    6: image_id image_w image_h num_boxes boxes features
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct lx_tsv {
    int fd;
    char *path;
    char *buf;                    /* sequential reads: unread bytes are buf[start, end) */
    size_t cap, start, end, scan; /* scan: how far past start no '\n' was found */
    size_t chunk;                 /* bytes asked of each read(2) */
    uint64_t base;                /* file offset of buf[0] */
    int eof;
    uint64_t line_no;
    char *line;                   /* lx_tsv_read_at's buffer */
    size_t line_cap;
};

lx_tsv *lx_tsv_open(const char *path, size_t bufsize, lx_error *err) {
    lx_tsv *t = calloc(1, sizeof *t);
    if (!t) {
        lx_error_set(err, "out of memory");
        return NULL;
    }
    struct stat st;
    t->fd = lx_file_open(path, &st, err); /* a FIFO is refused, not waited on */
    if (t->fd < 0) {
        free(t);
        return NULL;
    }
    t->chunk = bufsize ? bufsize : LX_TSV_BUFSIZE;
    t->path = strdup(path);
    if (!t->path) {
        lx_error_set(err, "out of memory");
        lx_tsv_close(t);
        return NULL;
    }
    return t;
}

void lx_tsv_close(lx_tsv *t) {
    if (!t) return;
    if (t->fd >= 0) close(t->fd);
    free(t->path);
    free(t->buf);
    free(t->line);
    free(t);
}

uint64_t lx_tsv_line_no(const lx_tsv *t) { return t->line_no; }

/* Make room for one more chunk after end: drop consumed bytes, grow if one line fills
 * the buffer. */
static int make_room(lx_tsv *t, lx_error *err) {
    if (t->start > 0) {
        memmove(t->buf, t->buf + t->start, t->end - t->start);
        t->base += t->start;
        t->end -= t->start;
        t->start = 0;
    }
    if (t->cap - t->end >= t->chunk) return 0;
    if (t->end >= LX_TSV_MAX_LINE)
        return lx_error_set(err, "%s: line %llu is longer than %zu bytes, expected one image "
                                 "per line", t->path, (unsigned long long)t->line_no + 1,
                            (size_t)LX_TSV_MAX_LINE);
    size_t ncap = t->cap ? t->cap : t->chunk;
    while (ncap - t->end < t->chunk) ncap *= 2;
    char *nb = realloc(t->buf, ncap);
    if (!nb) return lx_error_set(err, "out of memory for a %zu-byte line buffer", ncap);
    t->buf = nb;
    t->cap = ncap;
    return 0;
}

int lx_tsv_next(lx_tsv *t, const char **line, size_t *len, uint64_t *offset,
                lx_error *err) {
    for (;;) {
        char *s = t->buf ? t->buf + t->start : NULL; /* no buffer before the first read */
        size_t have = t->end - t->start;
        char *nl = have > t->scan ? memchr(s + t->scan, '\n', have - t->scan) : NULL;
        size_t n;
        if (nl) {
            n = (size_t)(nl - s);
            t->start += n + 1;
        } else if (t->eof) {
            if (have == 0) return 0;
            n = have;                       /* a last line without a newline */
            t->start = t->end;
        } else {
            t->scan = have;
            if (make_room(t, err) < 0) return -1;
            ssize_t r;
            do r = read(t->fd, t->buf + t->end, t->chunk);
            while (r < 0 && errno == EINTR);
            if (r < 0) return lx_error_set(err, "%s: %s", t->path, strerror(errno));
            if (r == 0) t->eof = 1;
            t->end += (size_t)r;
            continue;
        }
        t->scan = 0;
        t->line_no++;
        s = t->buf + (t->start - (nl ? n + 1 : n));
        if (n && s[n - 1] == '\r') n--;
        if (n == 0) continue;               /* blank lines carry no image */
        *line = s;
        *len = n;
        *offset = t->base + (uint64_t)(s - t->buf);
        return 1;
    }
}

int lx_tsv_read_at(lx_tsv *t, uint64_t offset, size_t len, const char **line,
                   lx_error *err) {
    if (len > LX_TSV_MAX_LINE)
        return lx_error_set(err, "%s: a %zu-byte line at offset %llu, expected at most %zu",
                            t->path, len, (unsigned long long)offset, (size_t)LX_TSV_MAX_LINE);
    if (len > t->line_cap || !t->line) {
        size_t ncap = len > 4096 ? len : 4096;
        char *nb = realloc(t->line, ncap);
        if (!nb) return lx_error_set(err, "out of memory for a %zu-byte line", len);
        t->line = nb;
        t->line_cap = ncap;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(t->fd, t->line + got, len - got, (off_t)(offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return lx_error_set(err, "%s: %s", t->path, strerror(errno));
        if (r == 0)
            return lx_error_set(err, "%s: ends at %llu bytes, expected a line at %llu..%llu "
                                     "(was the file truncated?)", t->path,
                                (unsigned long long)(offset + got),
                                (unsigned long long)offset, (unsigned long long)(offset + len));
        got += (size_t)r;
    }
    *line = t->line;
    return 0;
}

/* ---- one line ------------------------------------------------------------------ */

enum { MAX_FIELDS = 10 };

typedef struct field {
    const char *s;
    size_t n;
} field;

/* Split at tabs into f[]; returns the field count (MAX_FIELDS + 1 if there are more). */
static int split(const char *line, size_t len, field *f) {
    int k = 0;
    const char *p = line, *end = line + len;
    for (;;) {
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        if (k == MAX_FIELDS) return MAX_FIELDS + 1;
        f[k].s = p;
        f[k].n = (size_t)((tab ? tab : end) - p);
        k++;
        if (!tab) return k;
        p = tab + 1;
    }
}

static int bad_field_count(int k, lx_error *err) {
    if (k > MAX_FIELDS)
        return lx_error_set(err, "more than %d tab-separated fields, expected 10 (LXMERT) "
                                 "or 6 (bottom-up-attention)", MAX_FIELDS);
    return lx_error_set(err, "%d tab-separated fields, expected 10 (LXMERT) or 6 "
                             "(bottom-up-attention)", k);
}

/* A whole decimal integer (optional '-').  Returns 0 or -1. */
static int parse_int(const field *f, const char *what, int64_t *out, lx_error *err) {
    const char *s = f->s;
    size_t n = f->n, i = 0;
    int neg = 0;
    if (n && s[0] == '-') neg = 1, i = 1;
    if (i == n) goto bad;
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) goto bad;
        if (v > (UINT64_C(1) << 63) / 10) goto big;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg) goto big;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
big:
    return lx_error_set(err, "%s: %.*s is out of range", what, (int)(n > 40 ? 40 : n), s);
bad:
    return lx_error_set(err, "%s: got '%.*s', expected an integer", what,
                        (int)(n > 40 ? 40 : n), s);
}

int lx_tsv_line_key(const char *line, size_t len, char *buf, size_t buflen, int *nfields,
                    lx_error *err) {
    field f[MAX_FIELDS];
    if (len && line[len - 1] == '\r') len--;
    int k = split(line, len, f);
    if (nfields) *nfields = k;
    if (f[0].n == 0) return lx_error_set(err, "an empty image id");
    int64_t id;
    if (k == 6 && parse_int(&f[0], "image_id", &id, NULL) == 0) {
        int n = snprintf(buf, buflen, "%lld", (long long)id);
        if (n < 0 || (size_t)n >= buflen) return lx_error_set(err, "image id is too long");
        return n;
    }
    /* Any other line is keyed by its first field as written, so that a broken line
     * makes an error when (and only when) its image is asked for. */
    if (f[0].n >= buflen)
        return lx_error_set(err, "image id of %zu bytes, expected at most %zu", f[0].n,
                            buflen - 1);
    if (memchr(f[0].s, '\0', f[0].n)) return lx_error_set(err, "a NUL byte in the image id");
    memcpy(buf, f[0].s, f[0].n);
    buf[f[0].n] = '\0';
    return (int)f[0].n;
}

/* Grow *p to hold n bytes; *cap is its size in bytes. */
static int reserve(void **p, size_t *cap, size_t n, lx_error *err) {
    if (n <= *cap && *p) return 0;
    void *np = realloc(*p, n ? n : 1);
    if (!np) return lx_error_set(err, "out of memory for %zu bytes", n);
    *p = np;
    *cap = n;
    return 0;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static void swap_bytes(void *p, size_t n, size_t sz) {
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++, b += sz)
        for (size_t j = 0; j < sz / 2; j++) {
            unsigned char c = b[j];
            b[j] = b[sz - 1 - j];
            b[sz - 1 - j] = c;
        }
}
#else
static void swap_bytes(void *p, size_t n, size_t sz) { (void)p, (void)n, (void)sz; }
#endif

/* Decode a base64 field into *p (grown as needed; *cap in bytes); *count gets the
 * number of sz-byte elements, which must divide the byte count. */
static int decode(const field *f, const char *what, void **p, size_t *cap, size_t sz,
                  int64_t *count, lx_error *err) {
    if (reserve(p, cap, f->n / 4 * 3, err) < 0) return -1;
    int64_t got = lx_base64_decode(*p, *cap, f->s, f->n, err);
    if (got < 0) return lx_error_prefix(err, "%s", what);
    if (got % (int64_t)sz)
        return lx_error_set(err, "%s: %lld bytes, expected a multiple of %zu", what,
                            (long long)got, sz);
    *count = got / (int64_t)sz;
    swap_bytes(*p, (size_t)*count, sz);
    return 0;
}

int lx_regions_parse_tsv(lx_regions *g, const char *line, size_t len, lx_error *err) {
    field f[MAX_FIELDS];
    if (len && line[len - 1] == '\r') len--;
    int k = split(line, len, f);
    if (k != 10 && k != 6) return bad_field_count(k, err);
    /* The key: sized by the line, which is bounded. */
    if (reserve((void **)&g->img_id, &g->cap[0], f[0].n + 24, err) < 0) return -1;
    if (lx_tsv_line_key(line, len, g->img_id, g->cap[0], NULL, err) < 0) return -1;
    int64_t id;
    if (k == 6 && parse_int(&f[0], "image_id", &id, err) < 0) return -1;
    g->id_is_int = k == 6;
    const field *fh = &f[1], *fw = &f[2], *fn = &f[7], *fb = &f[8], *ff = &f[9];
    if (k == 6) fw = &f[1], fh = &f[2], fn = &f[3], fb = &f[4], ff = &f[5];
    if (parse_int(fh, k == 6 ? "image_h" : "img_h", &g->img_h, err) < 0) return -1;
    if (parse_int(fw, k == 6 ? "image_w" : "img_w", &g->img_w, err) < 0) return -1;
    if (parse_int(fn, "num_boxes", &g->num_boxes, err) < 0) return -1;
    int64_t n = g->num_boxes, cnt;
    if (n < 1) return lx_error_set(err, "num_boxes %lld, expected at least 1", (long long)n);
    if ((uint64_t)n > len)
        return lx_error_set(err, "num_boxes %lld is more than the line could hold",
                            (long long)n);

    if (decode(fb, "boxes", (void **)&g->boxes, &g->cap[1], 4, &cnt, err) < 0) return -1;
    if (cnt != 4 * n)
        return lx_error_set(err, "boxes: %lld float32 values, expected num_boxes %lld x 4",
                            (long long)cnt, (long long)n);
    if (decode(ff, "features", (void **)&g->features, &g->cap[2], 4, &cnt, err) < 0)
        return -1;
    if (cnt == 0 || cnt % n)
        return lx_error_set(err, "features: %lld float32 values, expected num_boxes %lld "
                                 "x D", (long long)cnt, (long long)n);
    g->feat_dim = cnt / n;

    g->has_objects = k == 10;
    if (k == 10) {
        static const char *names[4] = {"objects_id", "objects_conf", "attrs_id", "attrs_conf"};
        static const size_t sz[4] = {8, 4, 8, 4};
        void **arr[4] = {(void **)&g->objects_id, (void **)&g->objects_conf,
                         (void **)&g->attrs_id, (void **)&g->attrs_conf};
        for (int i = 0; i < 4; i++) {
            if (decode(&f[3 + i], names[i], arr[i], &g->cap[3 + i], sz[i], &cnt, err) < 0)
                return -1;
            if (cnt != n)
                return lx_error_set(err, "%s: %lld values, expected num_boxes %lld",
                                    names[i], (long long)cnt, (long long)n);
        }
    }
    return lx_regions_check(g, err);
}

/* ---- writing a line ----------------------------------------------------------------- */

/* n elements of sz bytes at src as base64 of their little-endian bytes at *p; advances *p. */
static void put_base64(char **p, const void *src, size_t n, size_t sz) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    /* whole 3-byte groups of little-endian bytes, a few elements at a time */
    unsigned char le[3 * 8 * 16];
    const unsigned char *s = src;
    size_t total = n * sz, done = 0;
    while (done < total) {
        size_t m = total - done < sizeof le ? total - done : sizeof le;
        for (size_t i = 0; i < m; i++) {
            size_t k = done + i;
            le[i] = s[k - k % sz + (sz - 1 - k % sz)];
        }
        *p += lx_base64_encode(*p, le, m);
        done += m;
    }
#else
    *p += lx_base64_encode(*p, src, n * sz);
#endif
}

int lx_regions_write_tsv(const lx_regions *g, FILE *f, lx_error *err) {
    if (!g->img_id || !g->img_id[0]) return lx_error_set(err, "an empty image id");
    if (strpbrk(g->img_id, "\t\r\n"))
        return lx_error_set(err, "image id '%s' holds a tab or a line break, which a TSV "
                                 "line cannot", g->img_id);
    if (!g->has_objects)
        return lx_error_set(err, "image %s: no objects_id/attrs_id, which LXMERT's 10-field "
                                 "layout needs", g->img_id);
    if (lx_regions_check(g, err) < 0) return lx_error_prefix(err, "image %s", g->img_id);
    size_t n = (size_t)g->num_boxes, d = (size_t)g->feat_dim;
    if (n > SIZE_MAX / 64 || d > SIZE_MAX / 8 / n)
        return lx_error_set(err, "image %s: %zu regions of %zu features do not fit in memory",
                            g->img_id, n, d);
    /* id, two sizes and num_boxes as text, then the six arrays, ten fields in all */
    size_t len = strlen(g->img_id) + 3 * 24 + 10 + 2 * lx_base64_encoded_len(8 * n) +
                 2 * lx_base64_encoded_len(4 * n) + lx_base64_encoded_len(16 * n) +
                 lx_base64_encoded_len(4 * n * d);
    char *line = malloc(len), *p = line;
    if (!line) return lx_error_set(err, "out of memory for a %zu-byte TSV line", len);
    p += sprintf(p, "%s\t%" PRId64 "\t%" PRId64 "\t", g->img_id, g->img_h, g->img_w);
    put_base64(&p, g->objects_id, n, 8);
    *p++ = '\t';
    put_base64(&p, g->objects_conf, n, 4);
    *p++ = '\t';
    put_base64(&p, g->attrs_id, n, 8);
    *p++ = '\t';
    put_base64(&p, g->attrs_conf, n, 4);
    p += sprintf(p, "\t%zu\t", n);
    put_base64(&p, g->boxes, 4 * n, 4);
    *p++ = '\t';
    put_base64(&p, g->features, n * d, 4);
    *p++ = '\n';
    size_t k = (size_t)(p - line);
    int rc = fwrite(line, 1, k, f) == k ? 0 : lx_error_set(err, "write error: %s", strerror(errno));
    free(line);
    return rc;
}
