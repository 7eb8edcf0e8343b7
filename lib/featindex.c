/*
 * featindex.c — the offset index of a feature TSV: image key -> (offset, length) of its
 * line, so that a lookup is one pread and one line's decode whatever the file's size.
 *
 * The index file (TSV path + ".lxi" unless told otherwise), all integers little-endian:
 *
 *     0  8  magic "LXFIDX\0\1"
 *     8  4  format version (1)          12  4  0
 *    16  8  the TSV's size in bytes     24  8  its mtime, seconds   32  8  nanoseconds
 *    40  8  n, the number of images    48  8  k, bytes of key text
 *    56     n entries of 24 bytes, sorted by key (bytewise, then shorter first):
 *             u64 line offset, u64 line length, u32 key offset, u32 key length
 *           k bytes of key text (no separators)
 *     end 4 CRC-32 (zlib) of every byte before it
 *
 * An index whose recorded size or mtime differ from the TSV's, or that fails any check,
 * is rebuilt by streaming the TSV once.  The image of the file is also the in-memory
 * form: a loaded index is the file's bytes, a built one is serialised before writing,
 * so lookups (binary search over the entries) have one code path.  The file is written
 * through lx_outfile (a temporary beside it, renamed into place), so a reader never sees
 * half an index and a device or FIFO path is never replaced; when it cannot be written
 * at all the index simply stays in memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "bytes.h"
#include "internal.h"

#define IX_MAGIC "LXFIDX\0\1"
#define IX_VERSION 1u
#define IX_HEAD 56u
#define IX_ENTRY 24u
#define IX_MAX_KEY 1024

struct lx_featindex {
    unsigned char *img;           /* the index file's bytes */
    size_t len;
    uint64_t n;                   /* entries */
    const unsigned char *ent;     /* img + IX_HEAD */
    const char *keys;             /* after the entries */
    uint64_t nkeys;               /* bytes of key text */
    lx_featindex_how how;
    char note[2600];
};


/* zlib's CRC-32 over any length (crc32 takes at most a uInt at a time). */
static uint32_t crc(const unsigned char *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? 1u << 30 : (uInt)n;
        c = crc32(c, p, k);
        p += k, n -= k;
    }
    return (uint32_t)c;
}

/* The TSV's identity as the index records it. */
typedef struct tsv_id {
    uint64_t size;
    int64_t sec, nsec;
} tsv_id;

static int keycmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* Check the image img[0, len) and point ix into it.  Returns 0, or -1 with why in err. */
static int adopt(lx_featindex *ix, unsigned char *img, size_t len, const tsv_id *id,
                 lx_error *err) {
    if (len < IX_HEAD + 4 || memcmp(img, IX_MAGIC, 8) != 0)
        return lx_error_set(err, "not an lx feature index");
    if (lx_rd_u32(img + 8) != IX_VERSION)
        return lx_error_set(err, "index format version %u, expected %u", lx_rd_u32(img + 8),
                            IX_VERSION);
    if (lx_rd_u32(img + len - 4) != crc(img, len - 4))
        return lx_error_set(err, "index checksum mismatch (damaged)");
    if (lx_rd_u64(img + 16) != id->size || (int64_t)lx_rd_u64(img + 24) != id->sec ||
        (int64_t)lx_rd_u64(img + 32) != id->nsec)
        return lx_error_set(err, "index is stale (the TSV's size or mtime changed)");
    uint64_t n = lx_rd_u64(img + 40), k = lx_rd_u64(img + 48);
    uint64_t room = len - IX_HEAD - 4;
    if (n > room / IX_ENTRY || k != room - n * IX_ENTRY)
        return lx_error_set(err, "index of %zu bytes cannot hold %llu entries and %llu key "
                                 "bytes", len, (unsigned long long)n, (unsigned long long)k);
    const unsigned char *e = img + IX_HEAD;
    const char *keys = (const char *)(e + n * IX_ENTRY);
    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *p = e + i * IX_ENTRY;
        uint64_t off = lx_rd_u64(p), ln = lx_rd_u64(p + 8), ko = lx_rd_u32(p + 16), kl = lx_rd_u32(p + 20);
        if (off > id->size || ln > id->size - off || ln > LX_TSV_MAX_LINE || ko > k ||
            kl > k - ko || kl == 0)
            return lx_error_set(err, "index entry %llu is out of range",
                                (unsigned long long)i);
        if (i) {
            const unsigned char *q = p - IX_ENTRY;
            if (keycmp(keys + lx_rd_u32(q + 16), lx_rd_u32(q + 20), keys + ko, kl) >= 0)
                return lx_error_set(err, "index entries are not sorted");
        }
    }
    ix->img = img;
    ix->len = len;
    ix->n = n;
    ix->ent = e;
    ix->keys = keys;
    ix->nkeys = k;
    return 0;
}

/* Read the index file at path into memory and adopt it. */
static int load(lx_featindex *ix, const char *path, const tsv_id *id, lx_error *err) {
    struct stat st;
    int fd = lx_file_open(path, &st, NULL);
    if (fd < 0 && errno == ENOENT) return lx_error_set(err, "no index yet");
    if (fd < 0 && errno) return lx_error_set(err, "%s", strerror(errno));
    if (fd < 0 || st.st_size < (off_t)(IX_HEAD + 4)) {
        if (fd >= 0) close(fd);
        return lx_error_set(err, "not an lx feature index");
    }
    /* An index holds at most a line's worth of bytes per TSV line, so it cannot be
     * bigger than the TSV it describes plus headers: refuse anything larger. */
    if ((uint64_t)st.st_size > id->size + IX_HEAD + 4 + 64 * (id->size / 2 + 1)) {
        close(fd);
        return lx_error_set(err, "index is larger than its TSV allows");
    }
    size_t len = (size_t)st.st_size;
    unsigned char *img = malloc(len);
    if (!img) {
        close(fd);
        return lx_error_set(err, "out of memory for a %zu-byte index", len);
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, img + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len || adopt(ix, img, len, id, err) < 0) {
        if (got != len) lx_error_set(err, "short read");
        free(img);
        return -1;
    }
    return 0;
}

/* ---- building ------------------------------------------------------------------ */

typedef struct bent {
    uint64_t off, len;
    uint32_t ko, kl;
} bent;

static int bent_cmp(const void *a, const void *b, void *keys) {
    const bent *x = a, *y = b;
    const char *k = keys;
    return keycmp(k + x->ko, x->kl, k + y->ko, y->kl);
}

/* 1 if the TSV is still what it was when indexing began. */
static int unchanged(const char *tsv_path, const tsv_id *id) {
    struct stat st;
    return stat(tsv_path, &st) == 0 && (uint64_t)st.st_size == id->size &&
           (int64_t)st.st_mtim.tv_sec == id->sec && (int64_t)st.st_mtim.tv_nsec == id->nsec;
}

/* The error for a TSV that is not what it was when indexing began (appended to,
 * truncated or rewritten meanwhile): the index would not describe it, and what went
 * wrong while reading it is a consequence. */
static int changed(const char *tsv_path, const tsv_id *id, lx_error *err) {
    struct stat st;
    if (stat(tsv_path, &st) < 0)
        return lx_error_set(err, "%s: changed while being indexed (%s)", tsv_path,
                            strerror(errno));
    return lx_error_set(err, "%s: changed while being indexed (%llu bytes when it began, "
                             "%llu now): index it once it is complete", tsv_path,
                        (unsigned long long)id->size, (unsigned long long)st.st_size);
}

/* Stream the TSV once, collecting (key, offset, length), then serialise the image. */
static int build(lx_featindex *ix, const char *tsv_path, size_t bufsize, const tsv_id *id,
                 lx_error *err) {
    lx_tsv *t = lx_tsv_open(tsv_path, bufsize, err);
    if (!t) return -1;
    bent *e = NULL;
    char *keys = NULL;
    size_t n = 0, ecap = 0, k = 0, kcap = 0;
    unsigned char *img = NULL;
    const char *line;
    size_t len;
    uint64_t off;
    int rc;
    char key[IX_MAX_KEY];
    while ((rc = lx_tsv_next(t, &line, &len, &off, err)) == 1) {
        if (off > id->size || len > id->size - off) {   /* written to since the stat */
            changed(tsv_path, id, err);
            goto fail;
        }
        int kl = lx_tsv_line_key(line, len, key, sizeof key, NULL, err);
        if (kl < 0) {
            if (!unchanged(tsv_path, id)) changed(tsv_path, id, err);
            else lx_error_prefix(err, "%s: line %llu", tsv_path,
                                 (unsigned long long)lx_tsv_line_no(t));
            goto fail;
        }
        if (n == ecap) {
            size_t nc = ecap ? 2 * ecap : 1024;
            bent *ne = realloc(e, nc * sizeof *e);
            if (!ne) goto oom;
            e = ne, ecap = nc;
        }
        if (k + (size_t)kl > kcap) {
            size_t nc = kcap ? 2 * kcap : 16384;
            while (nc < k + (size_t)kl) nc *= 2;
            char *nk = realloc(keys, nc);
            if (!nk) goto oom;
            keys = nk, kcap = nc;
        }
        if (k > UINT32_MAX - (size_t)kl) {
            lx_error_set(err, "%s: more than 4 GB of image ids", tsv_path);
            goto fail;
        }
        memcpy(keys + k, key, (size_t)kl);
        e[n++] = (bent){off, len, (uint32_t)k, (uint32_t)kl};
        k += (size_t)kl;
    }
    if (rc < 0 || !unchanged(tsv_path, id)) {   /* truncated or rewritten meanwhile */
        if (!unchanged(tsv_path, id)) changed(tsv_path, id, err);
        goto fail;
    }
    if (n) qsort_r(e, n, sizeof *e, bent_cmp, keys);
    for (size_t i = 1; i < n; i++)
        if (bent_cmp(&e[i - 1], &e[i], keys) == 0) {
            lx_error_set(err, "%s: image id %.*s appears twice (lines at bytes %llu and "
                              "%llu), expected each image once", tsv_path, (int)e[i].kl,
                         keys + e[i].ko, (unsigned long long)e[i - 1].off,
                         (unsigned long long)e[i].off);
            goto fail;
        }
    size_t ilen = IX_HEAD + n * IX_ENTRY + k + 4;
    img = malloc(ilen);
    if (!img) goto oom;
    memset(img, 0, IX_HEAD);
    memcpy(img, IX_MAGIC, 8);
    lx_wr_u32(img + 8, IX_VERSION);
    lx_wr_u64(img + 16, id->size);
    lx_wr_u64(img + 24, (uint64_t)id->sec);
    lx_wr_u64(img + 32, (uint64_t)id->nsec);
    lx_wr_u64(img + 40, n);
    lx_wr_u64(img + 48, k);
    for (size_t i = 0; i < n; i++) {
        unsigned char *p = img + IX_HEAD + i * IX_ENTRY;
        lx_wr_u64(p, e[i].off);
        lx_wr_u64(p + 8, e[i].len);
        lx_wr_u32(p + 16, e[i].ko);
        lx_wr_u32(p + 20, e[i].kl);
    }
    /* Keys in the order of the text the entries point into (file order): fine, any
     * order works since entries carry offsets. */
    if (k) memcpy(img + IX_HEAD + n * IX_ENTRY, keys, k);
    lx_wr_u32(img + ilen - 4, crc(img, ilen - 4));
    free(e);
    free(keys);
    lx_tsv_close(t);
    if (adopt(ix, img, ilen, id, err) < 0) {     /* cannot fail: a bug if it does */
        free(img);
        return lx_error_prefix(err, "%s: the index built", tsv_path);
    }
    return 0;
oom:
    lx_error_set(err, "out of memory while indexing %s", tsv_path);
fail:
    free(e);
    free(keys);
    free(img);
    lx_tsv_close(t);
    return -1;
}

/* Write the image to path (lx_outfile: through a temporary file beside it, renamed into
 * place; never over a device).  Returns 0 or -1 (the reason in err). */
static int save(const lx_featindex *ix, const char *path, lx_error *err) {
    lx_outfile *f = lx_outfile_open(path, err);
    if (!f) return -1;
    if (lx_outfile_write(f, ix->img, ix->len, err) < 0) {
        lx_outfile_abort(f);
        return -1;
    }
    return lx_outfile_commit(f, err);
}

lx_featindex *lx_featindex_open(const char *tsv_path, const char *index_path,
                                size_t bufsize, lx_error *err) {
    struct stat st;
    if (stat(tsv_path, &st) < 0) {
        lx_error_set(err, "%s: %s", tsv_path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        lx_error_set(err, "%s: not a regular file (the index needs a seekable TSV)", tsv_path);
        return NULL;
    }
    tsv_id id = {(uint64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                 (int64_t)st.st_mtim.tv_nsec};
    if (index_path && lx_file_same(index_path, tsv_path)) {
        lx_error_set(err, "%s: is the TSV itself, not a place for its index", index_path);
        return NULL;
    }
    lx_featindex *ix = calloc(1, sizeof *ix);
    char *def = NULL;
    if (!ix) goto oom;
    if (!index_path) {
        size_t l = strlen(tsv_path);
        if (!(def = malloc(l + 5))) goto oom;
        memcpy(def, tsv_path, l);
        memcpy(def + l, ".lxi", 5);
        index_path = def;
    }
    lx_error why;
    if (load(ix, index_path, &id, &why) == 0) {
        ix->how = LX_FEATINDEX_LOADED;
        free(def);
        return ix;
    }
    snprintf(ix->note, sizeof ix->note, "%s: %s; built from the TSV", index_path, why.msg);
    if (build(ix, tsv_path, bufsize, &id, err) < 0) {
        free(def);
        lx_featindex_close(ix);
        return NULL;
    }
    ix->how = LX_FEATINDEX_BUILT;
    if (save(ix, index_path, &why) < 0) {
        ix->how = LX_FEATINDEX_MEMORY;
        snprintf(ix->note, sizeof ix->note, "%s; the index of %s is kept in memory",
                 why.msg, tsv_path);
    }
    free(def);
    return ix;
oom:
    free(ix);
    lx_error_set(err, "out of memory");
    return NULL;
}

lx_featindex_how lx_featindex_status(const lx_featindex *ix) { return ix->how; }
const char *lx_featindex_note(const lx_featindex *ix) { return ix->note; }
size_t lx_featindex_count(const lx_featindex *ix) { return (size_t)ix->n; }

int lx_featindex_find(const lx_featindex *ix, const char *key, size_t keylen,
                      uint64_t *offset, uint64_t *len) {
    uint64_t lo = 0, hi = ix->n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const unsigned char *p = ix->ent + mid * IX_ENTRY;
        int c = keycmp(ix->keys + lx_rd_u32(p + 16), lx_rd_u32(p + 20), key, keylen);
        if (c == 0) {
            *offset = lx_rd_u64(p);
            *len = lx_rd_u64(p + 8);
            return 1;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

void lx_featindex_close(lx_featindex *ix) {
    if (!ix) return;
    free(ix->img);
    free(ix);
}
